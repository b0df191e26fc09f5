-- setup, strategy cqn_object, tables shop.order_lines, orders, user rf_agent

-- sequence numbering the changelog rows
BEGIN
  EXECUTE IMMEDIATE 'CREATE SEQUENCE "ROWFLUX_CHANGELOG_SEQ" CACHE 1000';
EXCEPTION
  WHEN OTHERS THEN
    IF SQLCODE != -955 THEN
      RAISE;
    END IF;
END;
/

-- changelog the notification handler writes
DECLARE
  v_columns NUMBER;
BEGIN
  EXECUTE IMMEDIATE 'CREATE TABLE "ROWFLUX_CHANGELOG" (
  "RF_SEQ" NUMBER(19) PRIMARY KEY,
  "RF_TABLE" VARCHAR2(261),
  "RF_OP" CHAR(1) NOT NULL,
  "RF_ROWID" VARCHAR2(4000),
  "RF_TXID" RAW(8),
  "RF_AT" TIMESTAMP WITH TIME ZONE DEFAULT SYSTIMESTAMP NOT NULL
)';
EXCEPTION
  WHEN OTHERS THEN
    IF SQLCODE != -955 THEN
      RAISE;
    END IF;
    SELECT COUNT(*) INTO v_columns FROM ALL_TAB_COLUMNS
      WHERE OWNER = SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') AND TABLE_NAME = 'ROWFLUX_CHANGELOG'
      AND COLUMN_NAME IN ('RF_SEQ', 'RF_TABLE', 'RF_OP', 'RF_ROWID', 'RF_TXID', 'RF_AT');
    IF v_columns != 6 THEN
      RAISE_APPLICATION_ERROR(-20001, '"ROWFLUX_CHANGELOG" exists and is not rowflux''s cqn changelog (choose another changelog_table)');
    END IF;
END;
/

-- notification handler: records the notified ROWIDs, then wakes the agent
CREATE OR REPLACE PROCEDURE "ROWFLUX_CHANGELOG$CQN" (ntfnds IN CQ_NOTIFICATION$_DESCRIPTOR) AS
  v_regid NUMBER := ntfnds.registration_id;
  v_txid RAW(8) := ntfnds.transaction_id;
  v_recorded PLS_INTEGER := 0;
  PROCEDURE rf_record(p_table IN VARCHAR2, p_op IN VARCHAR2, p_rowid IN VARCHAR2) IS
  BEGIN
    INSERT INTO "ROWFLUX_CHANGELOG" ("RF_SEQ", "RF_TABLE", "RF_OP", "RF_ROWID", "RF_TXID")
      VALUES ("ROWFLUX_CHANGELOG_SEQ".NEXTVAL, p_table, p_op, p_rowid, v_txid);
    v_recorded := v_recorded + 1;
  END rf_record;
  PROCEDURE rf_tables(p_tables IN CQ_NOTIFICATION$_TABLE_ARRAY) IS
    v_rows CQ_NOTIFICATION$_ROW_ARRAY;
    v_op VARCHAR2(1);
  BEGIN
    IF p_tables IS NULL THEN
      RETURN;
    END IF;
    FOR i IN 1 .. p_tables.COUNT LOOP
      v_rows := p_tables(i).row_desc_array;
      IF BITAND(NVL(p_tables(i).opflags, 0), DBMS_CQ_NOTIFICATION.ALL_ROWS) != 0
         OR BITAND(NVL(p_tables(i).opflags, 0), DBMS_CQ_NOTIFICATION.ALTEROP + DBMS_CQ_NOTIFICATION.DROPOP + DBMS_CQ_NOTIFICATION.UNKNOWNOP) != 0
         OR v_rows IS NULL THEN
        -- no ROWIDs (too many rows changed, or DDL): rescan the table
        rf_record(p_tables(i).table_name, 'R', NULL);
      ELSE
        FOR j IN 1 .. v_rows.COUNT LOOP
          IF BITAND(NVL(v_rows(j).opflags, 0), DBMS_CQ_NOTIFICATION.DELETEOP) != 0 THEN
            v_op := 'D';
          ELSIF BITAND(NVL(v_rows(j).opflags, 0), DBMS_CQ_NOTIFICATION.UPDATEOP) != 0 THEN
            v_op := 'U';
          ELSIF BITAND(NVL(v_rows(j).opflags, 0), DBMS_CQ_NOTIFICATION.INSERTOP) != 0 THEN
            v_op := 'I';
          ELSE
            v_op := 'R';
          END IF;
          IF v_op = 'R' THEN
            rf_record(p_tables(i).table_name, 'R', NULL);
          ELSE
            rf_record(p_tables(i).table_name, v_op, v_rows(j).row_id);
          END IF;
        END LOOP;
      END IF;
    END LOOP;
  END rf_tables;
  PROCEDURE rf_deregistered IS
    v_live NUMBER;
  BEGIN
    -- A registration replaced by agent setup is not a lost one: the
    -- marker is recorded only when no other registration of this
    -- handler remains.
    SELECT COUNT(*) INTO v_live FROM USER_CHANGE_NOTIFICATION_REGS
      WHERE REGID != v_regid AND REGEXP_LIKE(CALLBACK, '^(plsql://)?([^?]*\.)?"?ROWFLUX_CHANGELOG\$CQN"?(\?.*)?$', 'i');
    IF v_live = 0 THEN
      rf_record(NULL, 'X', NULL);
    END IF;
  END rf_deregistered;
BEGIN
  IF ntfnds.event_type = DBMS_CQ_NOTIFICATION.EVENT_OBJCHANGE THEN
    rf_tables(ntfnds.table_desc_array);
  ELSIF ntfnds.event_type = DBMS_CQ_NOTIFICATION.EVENT_QUERYCHANGE THEN
    IF ntfnds.query_desc_array IS NOT NULL THEN
      FOR i IN 1 .. ntfnds.query_desc_array.COUNT LOOP
        IF ntfnds.query_desc_array(i).queryop = DBMS_CQ_NOTIFICATION.EVENT_DEREG THEN
          rf_deregistered;
        ELSE
          rf_tables(ntfnds.query_desc_array(i).table_desc_array);
        END IF;
      END LOOP;
    END IF;
  ELSIF ntfnds.event_type = DBMS_CQ_NOTIFICATION.EVENT_DEREG THEN
    rf_deregistered;
  END IF;
  -- other events (startup, shutdown) record nothing
  IF v_recorded > 0 THEN
    DBMS_ALERT.SIGNAL('ROWFLUX_CHANGELOG', 'change');
  END IF;
  COMMIT;
END;
/

-- check that the notification handler compiled
DECLARE
  v_status VARCHAR2(30);
  v_error VARCHAR2(2000);
BEGIN
  SELECT MAX(STATUS) INTO v_status FROM ALL_OBJECTS
    WHERE OWNER = SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') AND OBJECT_NAME = 'ROWFLUX_CHANGELOG$CQN' AND OBJECT_TYPE = 'PROCEDURE';
  IF v_status = 'INVALID' THEN
    FOR e IN (SELECT LINE, TEXT FROM ALL_ERRORS WHERE OWNER = SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') AND NAME = 'ROWFLUX_CHANGELOG$CQN' AND TYPE = 'PROCEDURE' ORDER BY SEQUENCE) LOOP
      v_error := SUBSTR(v_error || ' [line ' || e.LINE || '] ' || e.TEXT, 1, 1500);
    END LOOP;
    RAISE_APPLICATION_ERROR(-20003, 'notification handler "ROWFLUX_CHANGELOG$CQN" did not compile:' || v_error);
  END IF;
END;
/

-- register the tables for change notification (object mode), reusing an identical registration
DECLARE
  TYPE t_ids IS TABLE OF NUMBER;
  v_ids t_ids;
  v_schema VARCHAR2(128) := SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA');
  v_qos NUMBER := DBMS_CQ_NOTIFICATION.QOS_RELIABLE + DBMS_CQ_NOTIFICATION.QOS_ROWIDS;
  v_regid NUMBER;
  v_reuse BOOLEAN := FALSE;
  v_have NUMBER;
  v_match NUMBER;
  v_min_flags NUMBER;
  v_max_flags NUMBER;
  v_queries NUMBER;
  v_table1 VARCHAR2(261) := 'SHOP.ORDER_LINES';
  v_table2 VARCHAR2(261) := v_schema || '.ORDERS';
BEGIN
  SELECT DISTINCT REGID BULK COLLECT INTO v_ids FROM USER_CHANGE_NOTIFICATION_REGS
    WHERE REGEXP_LIKE(CALLBACK, '^(plsql://)?([^?]*\.)?"?ROWFLUX_CHANGELOG\$CQN"?(\?.*)?$', 'i');
  IF v_ids.COUNT = 1 THEN
    SELECT COUNT(DISTINCT UPPER(REPLACE(TABLE_NAME, '"'))),
        COUNT(DISTINCT CASE WHEN UPPER(REPLACE(TABLE_NAME, '"')) IN (UPPER(v_table1), UPPER(v_table2)) THEN UPPER(REPLACE(TABLE_NAME, '"')) END),
        MIN(REGFLAGS), MAX(REGFLAGS)
      INTO v_have, v_match, v_min_flags, v_max_flags
      FROM USER_CHANGE_NOTIFICATION_REGS WHERE REGID = v_ids(1);
    SELECT COUNT(*) INTO v_queries FROM USER_CQ_NOTIFICATION_QUERIES WHERE REGID = v_ids(1);
    v_reuse := v_have = 2 AND v_match = 2 AND v_min_flags = v_qos AND v_max_flags = v_qos AND v_queries = 0;
  END IF;
  IF NOT v_reuse THEN
    FOR i IN 1 .. v_ids.COUNT LOOP
      DBMS_CQ_NOTIFICATION.DEREGISTER(v_ids(i));
    END LOOP;
    v_regid := DBMS_CQ_NOTIFICATION.NEW_REG_START(
      CQ_NOTIFICATION$_REG_INFO(v_schema || '.ROWFLUX_CHANGELOG$CQN', v_qos, 0, 0, 0));
    BEGIN
      -- running a query inside the registration block registers it
      FOR r IN (SELECT "ORDER_ID", "LINE_NO" FROM "SHOP"."ORDER_LINES" WHERE ROWNUM <= 1) LOOP
        EXIT;
      END LOOP;
      FOR r IN (SELECT "ORDER_ID" FROM "ORDERS" WHERE ROWNUM <= 1) LOOP
        EXIT;
      END LOOP;
      DBMS_CQ_NOTIFICATION.REG_END;
    EXCEPTION
      WHEN OTHERS THEN
        BEGIN
          DBMS_CQ_NOTIFICATION.REG_END;
          DBMS_CQ_NOTIFICATION.DEREGISTER(v_regid);
        EXCEPTION
          WHEN OTHERS THEN
            NULL; -- the registration's own error is the one to report
        END;
        RAISE;
    END;
    -- changes committed while no registration existed were never notified
    INSERT INTO "ROWFLUX_CHANGELOG" ("RF_SEQ", "RF_TABLE", "RF_OP")
      VALUES ("ROWFLUX_CHANGELOG_SEQ".NEXTVAL, v_table1, 'R');
    INSERT INTO "ROWFLUX_CHANGELOG" ("RF_SEQ", "RF_TABLE", "RF_OP")
      VALUES ("ROWFLUX_CHANGELOG_SEQ".NEXTVAL, v_table2, 'R');
    DBMS_ALERT.SIGNAL('ROWFLUX_CHANGELOG', 'change');
    COMMIT;
  END IF;
END;
/
