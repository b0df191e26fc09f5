-- doctor, strategy polling, tables orders, user rf_agent

-- check: SELECT on "ORDERS"
SELECT COUNT(*) FROM (SELECT 1 FROM "ORDERS" WHERE 1 = 0);
-- fix:
-- GRANT SELECT ON "ORDERS" TO RF_AGENT;

-- check: SELECT on GV$TRANSACTION (bound_by_open_transactions)
SELECT COUNT(*) FROM GV$TRANSACTION;
-- fix:
-- GRANT SELECT ON SYS.GV_$TRANSACTION TO RF_AGENT;
-- -- or set bound_by_open_transactions = false (polling may then pass rows of long transactions)

-- check: index on "ORDERS" leading with "UPDATED_AT" (polling)
SELECT COUNT(*) FROM ALL_IND_COLUMNS WHERE TABLE_OWNER = SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') AND TABLE_NAME = 'ORDERS' AND COLUMN_NAME = 'UPDATED_AT' AND COLUMN_POSITION = 1;
-- fix:
-- CREATE INDEX "ORDERS$UPDATED_AT$IX" ON "ORDERS" ("UPDATED_AT", "ORDER_ID");
