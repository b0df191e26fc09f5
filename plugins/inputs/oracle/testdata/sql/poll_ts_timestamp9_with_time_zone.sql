-- case: poll_ts_timestamp9_with_time_zone
-- polling, timestamp column TIMESTAMP(9) WITH TIME ZONE
-- binds:
--   :1  upper bound: upperArg(TS, wall, tz)
--   :2  after[0] (RF$C0, TS TIMESTAMP(9) WITH TIME ZONE)
--   :3  after[0] (RF$C0, TS TIMESTAMP(9) WITH TIME ZONE)
--   :4  after[1] (RF$C1, K NUMBER(10,0))
SELECT "K", "V", "TS", TO_CHAR("TS", 'YYYY-MM-DD HH24:MI:SS.FF9 TZH:TZM') AS "RF$C0", "K" AS "RF$C1"
FROM "S"."T"
WHERE "TS" < TO_TIMESTAMP_TZ(:1, 'YYYY-MM-DD HH24:MI:SS.FF9 TZH:TZM')
  AND ("TS" > TO_TIMESTAMP_TZ(:2, 'YYYY-MM-DD HH24:MI:SS.FF9 TZH:TZM') OR ("TS" = TO_TIMESTAMP_TZ(:3, 'YYYY-MM-DD HH24:MI:SS.FF9 TZH:TZM') AND "K" > TO_NUMBER(:4)))
ORDER BY "TS", "K"
FETCH FIRST 500 ROWS ONLY
