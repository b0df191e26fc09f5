-- case: trigger_read
-- trigger: changelog joined with the table (objects in CDC)
-- binds:
--   :1  the last RF_SEQ read
SELECT c."RF_SEQ", c."RF_OP", c."RF_AT", c."TRANSACTION_ID" AS "RF$K0", t."TRANSACTION_ID", t."AMOUNT", t."CURRENCY", t."UPDATED_AT"
FROM "CDC"."ROWFLUX_CHANGELOG$TRANSACTIONS" c
LEFT JOIN "SHOP"."TRANSACTIONS" t ON t."TRANSACTION_ID" = c."TRANSACTION_ID"
WHERE c."RF_SEQ" > :1
ORDER BY c."RF_SEQ"
FETCH FIRST 500 ROWS ONLY
