-- case: horizon
-- rowscn: commit horizon, read before each round
-- binds: none
SELECT CURRENT_SCN FROM V$DATABASE
