-- case: trigger_read_composite
-- trigger, composite key, unqualified table (objects in the current schema)
-- binds:
--   :1  the last RF_SEQ read
SELECT c."RF_SEQ", c."RF_OP", c."RF_AT", c."REGION" AS "RF$K0", c."ORDER_NO" AS "RF$K1", t."REGION", t."ORDER_NO", t."TOTAL", t."NOTE", t."CHANGED_AT"
FROM "ROWFLUX_CHANGELOG$ORDERS" c
LEFT JOIN "ORDERS" t ON t."REGION" = c."REGION" AND t."ORDER_NO" = c."ORDER_NO"
WHERE c."RF_SEQ" > :1
ORDER BY c."RF_SEQ"
FETCH FIRST 500 ROWS ONLY
