-- case: changed_first_legacy
-- rowscn, first page, 11g pagination
-- binds:
--   :1  low: the last horizon (SCN)
SELECT * FROM (
SELECT "TRANSACTION_ID", "AMOUNT", "CURRENCY", "UPDATED_AT", ORA_ROWSCN AS "RF$V", "TRANSACTION_ID" AS "RF$C0"
FROM "SHOP"."TRANSACTIONS"
WHERE ORA_ROWSCN >= :1
ORDER BY "TRANSACTION_ID"
) WHERE ROWNUM <= 500
