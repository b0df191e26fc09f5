-- case: current_schema
-- owner of unqualified tables
-- binds: none
SELECT SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') FROM DUAL
