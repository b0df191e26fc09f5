-- case: poll_mixed_next
-- polling, quoted mixed-case names, RAW key, DATE timestamp
-- binds:
--   :1  upper bound: upperArg(Changed, wall, tz)
--   :2  after[0] (RF$C0, Changed DATE)
--   :3  after[0] (RF$C0, Changed DATE)
--   :4  after[1] (RF$C1, Id RAW(16))
SELECT "Id", "Label", "Changed", TO_CHAR("Changed", 'YYYY-MM-DD HH24:MI:SS') AS "RF$C0", RAWTOHEX("Id") AS "RF$C1"
FROM "App"."Mixed"
WHERE "Changed" < TO_DATE(SUBSTR(:1, 1, 19), 'YYYY-MM-DD HH24:MI:SS')
  AND ("Changed" > TO_DATE(:2, 'YYYY-MM-DD HH24:MI:SS') OR ("Changed" = TO_DATE(:3, 'YYYY-MM-DD HH24:MI:SS') AND "Id" > HEXTORAW(:4)))
ORDER BY "Changed", "Id"
FETCH FIRST 500 ROWS ONLY
