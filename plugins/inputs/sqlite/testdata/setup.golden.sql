-- table rowflux_changelog
CREATE TABLE "rowflux_changelog" (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  table_name TEXT NOT NULL,
  op TEXT NOT NULL,
  row_image TEXT NOT NULL,
  changed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);

-- trigger rowflux_transactions_ins
CREATE TRIGGER "rowflux_transactions_ins" AFTER INSERT ON "transactions" BEGIN
  INSERT INTO "rowflux_changelog" (table_name, op, row_image) VALUES ('transactions', 'insert', json_array(json_array('transaction_id', 'amount', 'it''s', 'we"ird'), NEW."transaction_id", NEW."amount", NEW."it's", CASE WHEN NEW."we""ird" IS NULL THEN NULL ELSE hex(NEW."we""ird") END));
END;

-- trigger rowflux_transactions_upd
CREATE TRIGGER "rowflux_transactions_upd" AFTER UPDATE ON "transactions" BEGIN
  INSERT INTO "rowflux_changelog" (table_name, op, row_image) VALUES ('transactions', 'update', json_array(json_array('transaction_id', 'amount', 'it''s', 'we"ird'), NEW."transaction_id", NEW."amount", NEW."it's", CASE WHEN NEW."we""ird" IS NULL THEN NULL ELSE hex(NEW."we""ird") END));
END;

-- trigger rowflux_transactions_del
CREATE TRIGGER "rowflux_transactions_del" AFTER DELETE ON "transactions" BEGIN
  INSERT INTO "rowflux_changelog" (table_name, op, row_image) VALUES ('transactions', 'delete', json_array(json_array('transaction_id', 'amount', 'it''s', 'we"ird'), OLD."transaction_id", OLD."amount", OLD."it's", CASE WHEN OLD."we""ird" IS NULL THEN NULL ELSE hex(OLD."we""ird") END));
END;

