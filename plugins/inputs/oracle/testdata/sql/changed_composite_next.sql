-- case: changed_composite_next
-- rowscn, composite key, unqualified table
-- binds:
--   :1  low: the last horizon (SCN)
--   :2  after[0] (RF$C0, REGION CHAR(2))
--   :3  after[0] (RF$C0, REGION CHAR(2))
--   :4  after[1] (RF$C1, ORDER_NO NUMBER(19,0))
SELECT "REGION", "ORDER_NO", "TOTAL", "NOTE", "CHANGED_AT", ORA_ROWSCN AS "RF$V", "REGION" AS "RF$C0", "ORDER_NO" AS "RF$C1"
FROM "ORDERS"
WHERE ORA_ROWSCN >= :1
  AND ("REGION" > :2 OR ("REGION" = :3 AND "ORDER_NO" > TO_NUMBER(:4)))
ORDER BY "REGION", "ORDER_NO"
FETCH FIRST 500 ROWS ONLY
