-- case: poll_key_timestamp6_with_time_zone
-- polling, key column TIMESTAMP(6) WITH TIME ZONE
-- binds:
--   :1  upper bound: upperArg(TS, wall, tz)
--   :2  after[0] (RF$C0, TS TIMESTAMP(6))
--   :3  after[0] (RF$C0, TS TIMESTAMP(6))
--   :4  after[1] (RF$C1, K TIMESTAMP(6) WITH TIME ZONE)
SELECT "K", "V", "TS", TO_CHAR("TS", 'YYYY-MM-DD HH24:MI:SS.FF9') AS "RF$C0", TO_CHAR("K", 'YYYY-MM-DD HH24:MI:SS.FF9 TZH:TZM') AS "RF$C1"
FROM "S"."T"
WHERE "TS" < TO_TIMESTAMP(:1, 'YYYY-MM-DD HH24:MI:SS.FF9')
  AND ("TS" > TO_TIMESTAMP(:2, 'YYYY-MM-DD HH24:MI:SS.FF9') OR ("TS" = TO_TIMESTAMP(:3, 'YYYY-MM-DD HH24:MI:SS.FF9') AND "K" > TO_TIMESTAMP_TZ(:4, 'YYYY-MM-DD HH24:MI:SS.FF9 TZH:TZM')))
ORDER BY "TS", "K"
FETCH FIRST 500 ROWS ONLY
