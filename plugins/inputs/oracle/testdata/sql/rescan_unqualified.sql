-- case: rescan_unqualified
-- cqn: whole unqualified table
-- binds: none
SELECT ROWIDTOCHAR(ROWID) AS "RF$ROWID", "REGION", "ORDER_NO", "TOTAL", "NOTE", "CHANGED_AT", ROWIDTOCHAR(ROWID)
FROM "ORDERS"
