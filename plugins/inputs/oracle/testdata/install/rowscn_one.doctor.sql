-- doctor, strategy rowscn, tables orders, user rf_agent

-- check: SELECT on "ORDERS"
SELECT COUNT(*) FROM (SELECT 1 FROM "ORDERS" WHERE 1 = 0);
-- fix:
-- GRANT SELECT ON "ORDERS" TO RF_AGENT;

-- check: SELECT on V$DATABASE (the commit horizon CURRENT_SCN)
SELECT CURRENT_SCN FROM V$DATABASE;
-- fix:
-- GRANT SELECT ON SYS.V_$DATABASE TO RF_AGENT;

-- check: ROWDEPENDENCIES on "ORDERS" (ORA_ROWSCN per row)
SELECT DEPENDENCIES FROM ALL_TABLES WHERE OWNER = SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') AND TABLE_NAME = 'ORDERS';
-- fix:
-- -- ROWDEPENDENCIES cannot be added by ALTER TABLE: the table must be rebuilt, e.g. in a maintenance window without writes:
-- CREATE TABLE "ORDERS$RD" ROWDEPENDENCIES AS SELECT * FROM "ORDERS";
-- -- recreate on "ORDERS$RD" the indexes, constraints, defaults, grants, triggers and comments of "ORDERS"
-- -- (DBMS_METADATA.GET_DDL and GET_DEPENDENT_DDL print them), then swap the names:
-- ALTER TABLE "ORDERS" RENAME TO "ORDERS$OLD";
-- ALTER TABLE "ORDERS$RD" RENAME TO "ORDERS";
-- -- and once verified: DROP TABLE "ORDERS$OLD";
-- -- or online, with DBMS_REDEFINITION (START_REDEF_TABLE, COPY_TABLE_DEPENDENTS, FINISH_REDEF_TABLE)
-- -- into an interim table created with ROWDEPENDENCIES
