-- case: changed_mixed_next
-- rowscn, quoted mixed-case names, RAW key
-- binds:
--   :1  low: the last horizon (SCN)
--   :2  after[0] (RF$C0, Id RAW(16))
SELECT "Id", "Label", "Changed", ORA_ROWSCN AS "RF$V", RAWTOHEX("Id") AS "RF$C0"
FROM "App"."Mixed"
WHERE ORA_ROWSCN >= :1
  AND "Id" > HEXTORAW(:2)
ORDER BY "Id"
FETCH FIRST 500 ROWS ONLY
