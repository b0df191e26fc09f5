-- case: changed_key_date
-- rowscn, key column DATE
-- binds:
--   :1  low: the last horizon (SCN)
--   :2  after[0] (RF$C0, K DATE)
SELECT "K", "V", "TS", ORA_ROWSCN AS "RF$V", TO_CHAR("K", 'YYYY-MM-DD HH24:MI:SS') AS "RF$C0"
FROM "S"."T"
WHERE ORA_ROWSCN >= :1
  AND "K" > TO_DATE(:2, 'YYYY-MM-DD HH24:MI:SS')
ORDER BY "K"
FETCH FIRST 500 ROWS ONLY
