-- case: cqn_read_legacy
-- cqn: read, 11g pagination (objects in the current schema)
-- binds:
--   :1  the last RF_SEQ read
SELECT * FROM (
SELECT "RF_SEQ", UPPER("RF_TABLE") AS "RF_TABLE", "RF_OP", "RF_ROWID", "RF_AT"
FROM "ROWFLUX_CHANGELOG"
WHERE "RF_SEQ" > :1
  AND (UPPER("RF_TABLE") IN ('SHOP.TRANSACTIONS') OR "RF_OP" = 'X')
ORDER BY "RF_SEQ"
) WHERE ROWNUM <= 500
