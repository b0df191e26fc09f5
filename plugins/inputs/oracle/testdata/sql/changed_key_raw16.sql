-- case: changed_key_raw16
-- rowscn, key column RAW(16)
-- binds:
--   :1  low: the last horizon (SCN)
--   :2  after[0] (RF$C0, K RAW(16))
SELECT "K", "V", "TS", ORA_ROWSCN AS "RF$V", RAWTOHEX("K") AS "RF$C0"
FROM "S"."T"
WHERE ORA_ROWSCN >= :1
  AND "K" > HEXTORAW(:2)
ORDER BY "K"
FETCH FIRST 500 ROWS ONLY
