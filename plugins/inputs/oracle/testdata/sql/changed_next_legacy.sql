-- case: changed_next_legacy
-- rowscn, next page, 11g pagination
-- binds:
--   :1  low: the last horizon (SCN)
--   :2  after[0] (RF$C0, TRANSACTION_ID NUMBER(10,0))
SELECT * FROM (
SELECT "TRANSACTION_ID", "AMOUNT", "CURRENCY", "UPDATED_AT", ORA_ROWSCN AS "RF$V", "TRANSACTION_ID" AS "RF$C0"
FROM "SHOP"."TRANSACTIONS"
WHERE ORA_ROWSCN >= :1
  AND "TRANSACTION_ID" > TO_NUMBER(:2)
ORDER BY "TRANSACTION_ID"
) WHERE ROWNUM <= 500
