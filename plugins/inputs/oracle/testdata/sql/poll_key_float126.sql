-- case: poll_key_float126
-- polling, key column FLOAT(126)
-- binds:
--   :1  upper bound: upperArg(TS, wall, tz)
--   :2  after[0] (RF$C0, TS TIMESTAMP(6))
--   :3  after[0] (RF$C0, TS TIMESTAMP(6))
--   :4  after[1] (RF$C1, K FLOAT(126))
SELECT "K", "V", "TS", TO_CHAR("TS", 'YYYY-MM-DD HH24:MI:SS.FF9') AS "RF$C0", "K" AS "RF$C1"
FROM "S"."T"
WHERE "TS" < TO_TIMESTAMP(:1, 'YYYY-MM-DD HH24:MI:SS.FF9')
  AND ("TS" > TO_TIMESTAMP(:2, 'YYYY-MM-DD HH24:MI:SS.FF9') OR ("TS" = TO_TIMESTAMP(:3, 'YYYY-MM-DD HH24:MI:SS.FF9') AND "K" > TO_NUMBER(:4)))
ORDER BY "TS", "K"
FETCH FIRST 500 ROWS ONLY
