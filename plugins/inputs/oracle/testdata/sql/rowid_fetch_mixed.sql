-- case: rowid_fetch_mixed
-- cqn: ROWID fetch, quoted mixed-case table
-- binds:
--   :1  ROWID text 1
--   :2  ROWID text 2
SELECT ROWIDTOCHAR(ROWID) AS "RF$ROWID", "Id", "Label", "Changed", ROWIDTOCHAR(ROWID)
FROM "App"."Mixed"
WHERE ROWID IN (CHARTOROWID(:1), CHARTOROWID(:2))
