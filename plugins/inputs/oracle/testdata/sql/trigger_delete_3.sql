-- case: trigger_delete_3
-- trigger: consume three changelog rows (objects in CDC)
-- binds:
--   :1  RF_SEQ 1
--   :2  RF_SEQ 2
--   :3  RF_SEQ 3
DELETE FROM "CDC"."ROWFLUX_CHANGELOG$TRANSACTIONS" WHERE "RF_SEQ" IN (:1, :2, :3)
