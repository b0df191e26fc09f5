-- case: cqn_read
-- cqn: read the changelog for two tables (objects in CDC)
-- binds:
--   :1  the last RF_SEQ read
SELECT "RF_SEQ", UPPER("RF_TABLE") AS "RF_TABLE", "RF_OP", "RF_ROWID", "RF_AT"
FROM "CDC"."ROWFLUX_CHANGELOG"
WHERE "RF_SEQ" > :1
  AND (UPPER("RF_TABLE") IN ('SHOP.TRANSACTIONS', 'APP_USER.ORDERS') OR "RF_OP" = 'X')
ORDER BY "RF_SEQ"
FETCH FIRST 500 ROWS ONLY
