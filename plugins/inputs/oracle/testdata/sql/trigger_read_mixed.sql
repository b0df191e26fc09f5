-- case: trigger_read_mixed
-- trigger, quoted mixed-case table (objects in the current schema)
-- binds:
--   :1  the last RF_SEQ read
SELECT c."RF_SEQ", c."RF_OP", c."RF_AT", c."Id" AS "RF$K0", t."Id", t."Label", t."Changed"
FROM "ROWFLUX_CHANGELOG$MIXED" c
LEFT JOIN "App"."Mixed" t ON t."Id" = c."Id"
WHERE c."RF_SEQ" > :1
ORDER BY c."RF_SEQ"
FETCH FIRST 500 ROWS ONLY
