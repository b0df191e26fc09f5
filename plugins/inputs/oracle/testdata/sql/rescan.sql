-- case: rescan
-- cqn: whole table (ALL_ROWS, re-registration)
-- binds: none
SELECT ROWIDTOCHAR(ROWID) AS "RF$ROWID", "TRANSACTION_ID", "AMOUNT", "CURRENCY", "UPDATED_AT", ROWIDTOCHAR(ROWID)
FROM "SHOP"."TRANSACTIONS"
