-- case: changed_key_timestamp6
-- rowscn, key column TIMESTAMP(6)
-- binds:
--   :1  low: the last horizon (SCN)
--   :2  after[0] (RF$C0, K TIMESTAMP(6))
SELECT "K", "V", "TS", ORA_ROWSCN AS "RF$V", TO_CHAR("K", 'YYYY-MM-DD HH24:MI:SS.FF9') AS "RF$C0"
FROM "S"."T"
WHERE ORA_ROWSCN >= :1
  AND "K" > TO_TIMESTAMP(:2, 'YYYY-MM-DD HH24:MI:SS.FF9')
ORDER BY "K"
FETCH FIRST 500 ROWS ONLY
