-- case: poll_ts_date
-- polling, timestamp column DATE
-- binds:
--   :1  upper bound: upperArg(TS, wall, tz)
--   :2  after[0] (RF$C0, TS DATE)
--   :3  after[0] (RF$C0, TS DATE)
--   :4  after[1] (RF$C1, K NUMBER(10,0))
SELECT "K", "V", "TS", TO_CHAR("TS", 'YYYY-MM-DD HH24:MI:SS') AS "RF$C0", "K" AS "RF$C1"
FROM "S"."T"
WHERE "TS" < TO_DATE(SUBSTR(:1, 1, 19), 'YYYY-MM-DD HH24:MI:SS')
  AND ("TS" > TO_DATE(:2, 'YYYY-MM-DD HH24:MI:SS') OR ("TS" = TO_DATE(:3, 'YYYY-MM-DD HH24:MI:SS') AND "K" > TO_NUMBER(:4)))
ORDER BY "TS", "K"
FETCH FIRST 500 ROWS ONLY
