-- case: poll_upper
-- polling upper bound: now - lag
-- binds:
--   :1  lag in seconds
SELECT TO_CHAR(CAST(SYSTIMESTAMP AS TIMESTAMP(9)) - NUMTODSINTERVAL(:1, 'SECOND'), 'YYYY-MM-DD HH24:MI:SS.FF9'),
  TO_CHAR(SYSTIMESTAMP, 'TZH:TZM')
FROM DUAL
