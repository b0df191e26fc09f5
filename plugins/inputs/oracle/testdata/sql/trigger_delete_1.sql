-- case: trigger_delete_1
-- trigger: consume one changelog row (objects in CDC)
-- binds:
--   :1  RF_SEQ 1
DELETE FROM "CDC"."ROWFLUX_CHANGELOG$TRANSACTIONS" WHERE "RF_SEQ" IN (:1)
