-- case: cqn_delete_unqualified
-- cqn: consume, objects in the current schema
-- binds:
--   :1  RF_SEQ 1
DELETE FROM "ROWFLUX_CHANGELOG" WHERE "RF_SEQ" IN (:1)
