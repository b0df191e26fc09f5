-- doctor, strategy cqn_object, tables orders, user rf_agent

-- check: SELECT on "ORDERS"
SELECT COUNT(*) FROM (SELECT 1 FROM "ORDERS" WHERE 1 = 0);
-- fix:
-- GRANT SELECT ON "ORDERS" TO RF_AGENT;

-- check: the user is not SYS (SYS cannot register change notifications)
SELECT SYS_CONTEXT('USERENV', 'SESSION_USER') FROM DUAL;
-- fix:
-- -- connect as a dedicated capture user: change the dsn's user

-- check: CHANGE NOTIFICATION privilege
SELECT COUNT(*) FROM SESSION_PRIVS WHERE PRIVILEGE = 'CHANGE NOTIFICATION';
-- fix:
-- GRANT CHANGE NOTIFICATION TO RF_AGENT;

-- check: EXECUTE on SYS.DBMS_CQ_NOTIFICATION granted directly to RF_AGENT
SELECT (SELECT COUNT(*) FROM ALL_OBJECTS WHERE OWNER = 'SYS' AND OBJECT_NAME = 'DBMS_CQ_NOTIFICATION' AND OBJECT_TYPE = 'PACKAGE')
  || ',' || (SELECT COUNT(*) FROM ALL_TAB_PRIVS WHERE TABLE_SCHEMA = 'SYS' AND TABLE_NAME = 'DBMS_CQ_NOTIFICATION' AND PRIVILEGE = 'EXECUTE' AND GRANTEE IN (SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA'), 'PUBLIC'))
FROM DUAL;
-- fix:
-- GRANT EXECUTE ON SYS.DBMS_CQ_NOTIFICATION TO RF_AGENT;
-- -- directly to the user, not to a role: the notification handler runs with definer's rights

-- check: EXECUTE on SYS.DBMS_ALERT granted directly to RF_AGENT
SELECT (SELECT COUNT(*) FROM ALL_OBJECTS WHERE OWNER = 'SYS' AND OBJECT_NAME = 'DBMS_ALERT' AND OBJECT_TYPE = 'PACKAGE')
  || ',' || (SELECT COUNT(*) FROM ALL_TAB_PRIVS WHERE TABLE_SCHEMA = 'SYS' AND TABLE_NAME = 'DBMS_ALERT' AND PRIVILEGE = 'EXECUTE' AND GRANTEE IN (SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA'), 'PUBLIC'))
FROM DUAL;
-- fix:
-- GRANT EXECUTE ON SYS.DBMS_ALERT TO RF_AGENT;
-- -- directly to the user, not to a role: the notification handler runs with definer's rights

-- check: CREATE PROCEDURE privilege
SELECT COUNT(*) FROM SESSION_PRIVS WHERE PRIVILEGE = 'CREATE ANY PROCEDURE' OR (PRIVILEGE = 'CREATE PROCEDURE' AND SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') = SYS_CONTEXT('USERENV', 'SESSION_USER'));
-- fix:
-- GRANT CREATE PROCEDURE TO RF_AGENT;

-- check: CREATE TABLE privilege
SELECT COUNT(*) FROM SESSION_PRIVS WHERE PRIVILEGE = 'CREATE ANY TABLE' OR (PRIVILEGE = 'CREATE TABLE' AND SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') = SYS_CONTEXT('USERENV', 'SESSION_USER'));
-- fix:
-- GRANT CREATE TABLE TO RF_AGENT;

-- check: CREATE SEQUENCE privilege
SELECT COUNT(*) FROM SESSION_PRIVS WHERE PRIVILEGE = 'CREATE ANY SEQUENCE' OR (PRIVILEGE = 'CREATE SEQUENCE' AND SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') = SYS_CONTEXT('USERENV', 'SESSION_USER'));
-- fix:
-- GRANT CREATE SEQUENCE TO RF_AGENT;

-- check: job_queue_processes > 0 (notifications are delivered by job queue processes; read from V$PARAMETER)
SELECT VALUE FROM V$PARAMETER WHERE NAME = 'job_queue_processes';
-- fix:
-- -- when V$PARAMETER cannot be read, let doctor read it:
-- GRANT SELECT ON SYS.V_$PARAMETER TO RF_AGENT;
-- -- when it is 0:
-- ALTER SYSTEM SET JOB_QUEUE_PROCESSES = 20;

-- check: sequence "ROWFLUX_CHANGELOG_SEQ"
SELECT COUNT(*) FROM ALL_SEQUENCES WHERE SEQUENCE_OWNER = SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') AND SEQUENCE_NAME = 'ROWFLUX_CHANGELOG_SEQ';
-- fix:
-- -- agent setup --config agent.conf creates it; or run:
-- -- sequence numbering the changelog rows
-- BEGIN
--   EXECUTE IMMEDIATE 'CREATE SEQUENCE "ROWFLUX_CHANGELOG_SEQ" CACHE 1000';
-- EXCEPTION
--   WHEN OTHERS THEN
--     IF SQLCODE != -955 THEN
--       RAISE;
--     END IF;
-- END;
-- /

-- check: changelog table "ROWFLUX_CHANGELOG"
SELECT (SELECT COUNT(*) FROM ALL_TAB_COLUMNS WHERE OWNER = SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') AND TABLE_NAME = 'ROWFLUX_CHANGELOG'
    AND COLUMN_NAME IN ('RF_SEQ', 'RF_TABLE', 'RF_OP', 'RF_ROWID', 'RF_TXID', 'RF_AT'))
  || ',' || (SELECT COUNT(*) FROM ALL_CONSTRAINTS WHERE OWNER = SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') AND TABLE_NAME = 'ROWFLUX_CHANGELOG' AND CONSTRAINT_TYPE = 'P')
FROM DUAL;
-- fix:
-- -- agent setup --config agent.conf creates it; or run:
-- -- changelog the notification handler writes
-- DECLARE
--   v_columns NUMBER;
-- BEGIN
--   EXECUTE IMMEDIATE 'CREATE TABLE "ROWFLUX_CHANGELOG" (
--   "RF_SEQ" NUMBER(19) PRIMARY KEY,
--   "RF_TABLE" VARCHAR2(261),
--   "RF_OP" CHAR(1) NOT NULL,
--   "RF_ROWID" VARCHAR2(4000),
--   "RF_TXID" RAW(8),
--   "RF_AT" TIMESTAMP WITH TIME ZONE DEFAULT SYSTIMESTAMP NOT NULL
-- )';
-- EXCEPTION
--   WHEN OTHERS THEN
--     IF SQLCODE != -955 THEN
--       RAISE;
--     END IF;
--     SELECT COUNT(*) INTO v_columns FROM ALL_TAB_COLUMNS
--       WHERE OWNER = SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') AND TABLE_NAME = 'ROWFLUX_CHANGELOG'
--       AND COLUMN_NAME IN ('RF_SEQ', 'RF_TABLE', 'RF_OP', 'RF_ROWID', 'RF_TXID', 'RF_AT');
--     IF v_columns != 6 THEN
--       RAISE_APPLICATION_ERROR(-20001, '"ROWFLUX_CHANGELOG" exists and is not rowflux''s cqn changelog (choose another changelog_table)');
--     END IF;
-- END;
-- /

-- check: notification handler "ROWFLUX_CHANGELOG$CQN" is VALID
SELECT MAX(STATUS) FROM ALL_OBJECTS WHERE OWNER = SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') AND OBJECT_NAME = 'ROWFLUX_CHANGELOG$CQN' AND OBJECT_TYPE = 'PROCEDURE';
-- fix:
-- -- agent setup --config agent.conf creates it; or run:
-- -- notification handler: records the notified ROWIDs, then wakes the agent
-- CREATE OR REPLACE PROCEDURE "ROWFLUX_CHANGELOG$CQN" (ntfnds IN CQ_NOTIFICATION$_DESCRIPTOR) AS
--   v_regid NUMBER := ntfnds.registration_id;
--   v_txid RAW(8) := ntfnds.transaction_id;
--   v_recorded PLS_INTEGER := 0;
--   PROCEDURE rf_record(p_table IN VARCHAR2, p_op IN VARCHAR2, p_rowid IN VARCHAR2) IS
--   BEGIN
--     INSERT INTO "ROWFLUX_CHANGELOG" ("RF_SEQ", "RF_TABLE", "RF_OP", "RF_ROWID", "RF_TXID")
--       VALUES ("ROWFLUX_CHANGELOG_SEQ".NEXTVAL, p_table, p_op, p_rowid, v_txid);
--     v_recorded := v_recorded + 1;
--   END rf_record;
--   PROCEDURE rf_tables(p_tables IN CQ_NOTIFICATION$_TABLE_ARRAY) IS
--     v_rows CQ_NOTIFICATION$_ROW_ARRAY;
--     v_op VARCHAR2(1);
--   BEGIN
--     IF p_tables IS NULL THEN
--       RETURN;
--     END IF;
--     FOR i IN 1 .. p_tables.COUNT LOOP
--       v_rows := p_tables(i).row_desc_array;
--       IF BITAND(NVL(p_tables(i).opflags, 0), DBMS_CQ_NOTIFICATION.ALL_ROWS) != 0
--          OR BITAND(NVL(p_tables(i).opflags, 0), DBMS_CQ_NOTIFICATION.ALTEROP + DBMS_CQ_NOTIFICATION.DROPOP + DBMS_CQ_NOTIFICATION.UNKNOWNOP) != 0
--          OR v_rows IS NULL THEN
--         -- no ROWIDs (too many rows changed, or DDL): rescan the table
--         rf_record(p_tables(i).table_name, 'R', NULL);
--       ELSE
--         FOR j IN 1 .. v_rows.COUNT LOOP
--           IF BITAND(NVL(v_rows(j).opflags, 0), DBMS_CQ_NOTIFICATION.DELETEOP) != 0 THEN
--             v_op := 'D';
--           ELSIF BITAND(NVL(v_rows(j).opflags, 0), DBMS_CQ_NOTIFICATION.UPDATEOP) != 0 THEN
--             v_op := 'U';
--           ELSIF BITAND(NVL(v_rows(j).opflags, 0), DBMS_CQ_NOTIFICATION.INSERTOP) != 0 THEN
--             v_op := 'I';
--           ELSE
--             v_op := 'R';
--           END IF;
--           IF v_op = 'R' THEN
--             rf_record(p_tables(i).table_name, 'R', NULL);
--           ELSE
--             rf_record(p_tables(i).table_name, v_op, v_rows(j).row_id);
--           END IF;
--         END LOOP;
--       END IF;
--     END LOOP;
--   END rf_tables;
--   PROCEDURE rf_deregistered IS
--     v_live NUMBER;
--   BEGIN
--     -- A registration replaced by agent setup is not a lost one: the
--     -- marker is recorded only when no other registration of this
--     -- handler remains.
--     SELECT COUNT(*) INTO v_live FROM USER_CHANGE_NOTIFICATION_REGS
--       WHERE REGID != v_regid AND REGEXP_LIKE(CALLBACK, '^(plsql://)?([^?]*\.)?"?ROWFLUX_CHANGELOG\$CQN"?(\?.*)?$', 'i');
--     IF v_live = 0 THEN
--       rf_record(NULL, 'X', NULL);
--     END IF;
--   END rf_deregistered;
-- BEGIN
--   IF ntfnds.event_type = DBMS_CQ_NOTIFICATION.EVENT_OBJCHANGE THEN
--     rf_tables(ntfnds.table_desc_array);
--   ELSIF ntfnds.event_type = DBMS_CQ_NOTIFICATION.EVENT_QUERYCHANGE THEN
--     IF ntfnds.query_desc_array IS NOT NULL THEN
--       FOR i IN 1 .. ntfnds.query_desc_array.COUNT LOOP
--         IF ntfnds.query_desc_array(i).queryop = DBMS_CQ_NOTIFICATION.EVENT_DEREG THEN
--           rf_deregistered;
--         ELSE
--           rf_tables(ntfnds.query_desc_array(i).table_desc_array);
--         END IF;
--       END LOOP;
--     END IF;
--   ELSIF ntfnds.event_type = DBMS_CQ_NOTIFICATION.EVENT_DEREG THEN
--     rf_deregistered;
--   END IF;
--   -- other events (startup, shutdown) record nothing
--   IF v_recorded > 0 THEN
--     DBMS_ALERT.SIGNAL('ROWFLUX_CHANGELOG', 'change');
--   END IF;
--   COMMIT;
-- END;
-- /
--
-- -- check that the notification handler compiled
-- DECLARE
--   v_status VARCHAR2(30);
--   v_error VARCHAR2(2000);
-- BEGIN
--   SELECT MAX(STATUS) INTO v_status FROM ALL_OBJECTS
--     WHERE OWNER = SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') AND OBJECT_NAME = 'ROWFLUX_CHANGELOG$CQN' AND OBJECT_TYPE = 'PROCEDURE';
--   IF v_status = 'INVALID' THEN
--     FOR e IN (SELECT LINE, TEXT FROM ALL_ERRORS WHERE OWNER = SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') AND NAME = 'ROWFLUX_CHANGELOG$CQN' AND TYPE = 'PROCEDURE' ORDER BY SEQUENCE) LOOP
--       v_error := SUBSTR(v_error || ' [line ' || e.LINE || '] ' || e.TEXT, 1, 1500);
--     END LOOP;
--     RAISE_APPLICATION_ERROR(-20003, 'notification handler "ROWFLUX_CHANGELOG$CQN" did not compile:' || v_error);
--   END IF;
-- END;
-- /

-- check: exactly one change notification registration of "ROWFLUX_CHANGELOG$CQN"
SELECT COUNT(DISTINCT REGID) FROM USER_CHANGE_NOTIFICATION_REGS WHERE REGEXP_LIKE(CALLBACK, '^(plsql://)?([^?]*\.)?"?ROWFLUX_CHANGELOG\$CQN"?(\?.*)?$', 'i');
-- fix:
-- -- none: agent setup --config agent.conf
-- -- more than one: agent teardown --config agent.conf, then agent setup --config agent.conf

-- check: the registration covers every table
SELECT NVL(LISTAGG(w.T, ', ') WITHIN GROUP (ORDER BY w.T), 'none') FROM (
  SELECT SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') || '.ORDERS' AS T FROM DUAL
) w
WHERE UPPER(w.T) NOT IN (SELECT UPPER(REPLACE(r.TABLE_NAME, '"')) FROM USER_CHANGE_NOTIFICATION_REGS r
  WHERE REGEXP_LIKE(r.CALLBACK, '^(plsql://)?([^?]*\.)?"?ROWFLUX_CHANGELOG\$CQN"?(\?.*)?$', 'i') AND r.TABLE_NAME IS NOT NULL);
-- fix:
-- -- agent setup --config agent.conf registers them
