-- rowflux on Oracle: the capture user, every grant each strategy needs, and the
-- transactions table the workload drives.
--
-- Run it as SYS (AS SYSDBA); it switches to the pluggable database FREEPDB1 first:
--   docker exec -i rowflux-oracle sqlplus -s / as sysdba < examples/oracle/setup.sql
-- Change the password below first if the database is reachable by anyone but you.
-- Re-running it is harmless: what exists already fails with ORA-01920 / ORA-00955 and
-- SQL*Plus goes on.

SET VERIFY OFF
DEFINE rowflux_password = rowflux

-- The capture user lives in the pluggable database, not in CDB$ROOT (a common user
-- would need a C## prefix). Remove this line on a database without PDBs.
ALTER SESSION SET CONTAINER = FREEPDB1;

CREATE USER rowflux IDENTIFIED BY "&rowflux_password"
  DEFAULT TABLESPACE users QUOTA UNLIMITED ON users;

-- Every strategy: log in, and create the captured table (the workload does) and
-- the capture objects in the user's own schema.
GRANT CREATE SESSION TO rowflux;
GRANT CREATE TABLE TO rowflux;

-- trigger (and cqn): the changelog's sequence, and the row triggers.
GRANT CREATE SEQUENCE TO rowflux;
GRANT CREATE TRIGGER TO rowflux;

-- cqn: the PL/SQL notification handler, the registration, and the alert the
-- handler signals. The handler runs with its owner's rights, where privileges
-- granted through a role do not count: grant EXECUTE on the packages directly.
GRANT CREATE PROCEDURE TO rowflux;
GRANT CHANGE NOTIFICATION TO rowflux;
GRANT EXECUTE ON SYS.DBMS_CQ_NOTIFICATION TO rowflux;
GRANT EXECUTE ON SYS.DBMS_ALERT TO rowflux;

-- rowscn: the commit horizon, V$DATABASE.CURRENT_SCN, read before every round.
GRANT SELECT ON SYS.V_$DATABASE TO rowflux;

-- polling with bound_by_open_transactions = true: the start of the oldest open
-- transaction, GV$TRANSACTION.START_DATE.
GRANT SELECT ON SYS.GV_$TRANSACTION TO rowflux;

-- Reading job_queue_processes (cqn needs it above 0) from V$PARAMETER.
GRANT SELECT ON SYS.V_$PARAMETER TO rowflux;

-- cqn: notifications are delivered by job queue processes; with
-- JOB_QUEUE_PROCESSES = 0 they pile up and the handler never runs. The default
-- is above 0; check with
--   SELECT value FROM v$parameter WHERE name = 'job_queue_processes';
-- and if it says 0, as SYS in CDB$ROOT:
--   ALTER SYSTEM SET JOB_QUEUE_PROCESSES = 20 SCOPE = BOTH;

-- The table `agent workload --schema-only` creates (it does so itself when the table
-- is missing; this is the same statement, for creating it by hand), in the rowflux
-- schema. ROWDEPENDENCIES makes ORA_ROWSCN track each row instead of its block (the
-- rowscn strategy then reads only changed rows); it cannot be added to an existing
-- table without rebuilding it.
ALTER SESSION SET CURRENT_SCHEMA = rowflux;

CREATE TABLE transactions (
  transaction_id   NUMBER(19)    PRIMARY KEY,
  amount           NUMBER(12,2)  NOT NULL,
  currency         VARCHAR2(3)   NOT NULL,
  product_category VARCHAR2(32)  NOT NULL,
  created_at       TIMESTAMP(6)  NOT NULL,
  updated_at       TIMESTAMP(6)  NOT NULL
) ROWDEPENDENCIES;

CREATE INDEX transactions_updated_at ON transactions (updated_at, transaction_id);

EXIT
