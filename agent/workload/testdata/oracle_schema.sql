-- agent workload: createSchema on Oracle (each block ignores "already exists")
BEGIN
  EXECUTE IMMEDIATE 'CREATE TABLE transactions (
  transaction_id   NUMBER(19)    PRIMARY KEY,
  amount           NUMBER(12,2)  NOT NULL,
  currency         VARCHAR2(3)   NOT NULL,
  product_category VARCHAR2(32)  NOT NULL,
  created_at       TIMESTAMP(6)  NOT NULL,
  updated_at       TIMESTAMP(6)  NOT NULL
) ROWDEPENDENCIES';
EXCEPTION
  WHEN OTHERS THEN
    IF SQLCODE != -955 THEN
      RAISE;
    END IF;
END;
/
BEGIN
  EXECUTE IMMEDIATE 'CREATE INDEX transactions_updated_at ON transactions (updated_at, transaction_id)';
EXCEPTION
  WHEN OTHERS THEN
    IF SQLCODE != -955 AND SQLCODE != -1408 THEN
      RAISE;
    END IF;
END;
/
