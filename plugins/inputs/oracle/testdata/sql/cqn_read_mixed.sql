-- case: cqn_read_mixed
-- cqn: read, quoted mixed-case table (RF_TABLE compared upper-cased)
-- binds:
--   :1  the last RF_SEQ read
SELECT "RF_SEQ", UPPER("RF_TABLE") AS "RF_TABLE", "RF_OP", "RF_ROWID", "RF_AT"
FROM "ROWFLUX_CHANGELOG"
WHERE "RF_SEQ" > :1
  AND (UPPER("RF_TABLE") IN ('APP.MIXED') OR "RF_OP" = 'X')
ORDER BY "RF_SEQ"
FETCH FIRST 500 ROWS ONLY
