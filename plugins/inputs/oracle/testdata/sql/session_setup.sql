-- case: session_setup
-- first statement of every session
-- binds: none
ALTER SESSION SET NLS_NUMERIC_CHARACTERS = '.,' NLS_SORT = BINARY NLS_COMP = BINARY
