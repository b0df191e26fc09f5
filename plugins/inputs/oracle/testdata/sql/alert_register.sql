-- case: alert_register
-- cqn wait session: subscribe
-- binds:
--   :1  alert name
BEGIN DBMS_ALERT.REGISTER(:1); END;
