-- case: changed_key_binary_double
-- rowscn, key column BINARY_DOUBLE
-- binds:
--   :1  low: the last horizon (SCN)
--   :2  after[0] (RF$C0, K BINARY_DOUBLE)
SELECT "K", "V", "TS", ORA_ROWSCN AS "RF$V", "K" AS "RF$C0"
FROM "S"."T"
WHERE ORA_ROWSCN >= :1
  AND "K" > :2
ORDER BY "K"
FETCH FIRST 500 ROWS ONLY
