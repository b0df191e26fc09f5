-- case: alert_wait
-- cqn wait session: wait
-- binds:
--   :1  alert name
--   :2  OUT message VARCHAR2(1800)
--   :3  OUT status (0 alert, 1 timeout)
--   :4  timeout in seconds
BEGIN DBMS_ALERT.WAITONE(:1, :2, :3, :4); END;
