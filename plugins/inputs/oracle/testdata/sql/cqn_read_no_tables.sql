-- case: cqn_read_no_tables
-- cqn: read deregistration markers only
-- binds:
--   :1  the last RF_SEQ read
SELECT "RF_SEQ", UPPER("RF_TABLE") AS "RF_TABLE", "RF_OP", "RF_ROWID", "RF_AT"
FROM "ROWFLUX_CHANGELOG"
WHERE "RF_SEQ" > :1
  AND "RF_OP" = 'X'
ORDER BY "RF_SEQ"
FETCH FIRST 500 ROWS ONLY
