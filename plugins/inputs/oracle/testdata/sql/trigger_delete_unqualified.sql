-- case: trigger_delete_unqualified
-- trigger: consume, objects in the current schema
-- binds:
--   :1  RF_SEQ 1
--   :2  RF_SEQ 2
DELETE FROM "ROWFLUX_CHANGELOG$ORDERS" WHERE "RF_SEQ" IN (:1, :2)
