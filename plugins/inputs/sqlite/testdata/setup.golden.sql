-- table rowflux_changelog
CREATE TABLE "rowflux_changelog" (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  table_name TEXT NOT NULL,
  op TEXT NOT NULL,
  row_image TEXT NOT NULL,
  changed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);

-- trigger rowflux_changelog__transactions__ins
CREATE TRIGGER "rowflux_changelog__transactions__ins" AFTER INSERT ON "transactions" BEGIN
  INSERT INTO "rowflux_changelog" (table_name, op, row_image) VALUES ('transactions', 'insert', json_array(json_array('transaction_id', 'amount', 'it''s', 'we"ird'), CASE typeof(NEW."transaction_id") WHEN 'blob' THEN json_array(hex(NEW."transaction_id")) ELSE NEW."transaction_id" END, CASE typeof(NEW."amount") WHEN 'blob' THEN json_array(hex(NEW."amount")) ELSE NEW."amount" END, CASE typeof(NEW."it's") WHEN 'blob' THEN json_array(hex(NEW."it's")) ELSE NEW."it's" END, CASE typeof(NEW."we""ird") WHEN 'blob' THEN json_array(hex(NEW."we""ird")) ELSE NEW."we""ird" END));
END;

-- trigger rowflux_changelog__transactions__upd
CREATE TRIGGER "rowflux_changelog__transactions__upd" AFTER UPDATE ON "transactions" BEGIN
  INSERT INTO "rowflux_changelog" (table_name, op, row_image) VALUES ('transactions', 'update', json_array(json_array('transaction_id', 'amount', 'it''s', 'we"ird'), CASE typeof(NEW."transaction_id") WHEN 'blob' THEN json_array(hex(NEW."transaction_id")) ELSE NEW."transaction_id" END, CASE typeof(NEW."amount") WHEN 'blob' THEN json_array(hex(NEW."amount")) ELSE NEW."amount" END, CASE typeof(NEW."it's") WHEN 'blob' THEN json_array(hex(NEW."it's")) ELSE NEW."it's" END, CASE typeof(NEW."we""ird") WHEN 'blob' THEN json_array(hex(NEW."we""ird")) ELSE NEW."we""ird" END));
END;

-- trigger rowflux_changelog__transactions__del
CREATE TRIGGER "rowflux_changelog__transactions__del" AFTER DELETE ON "transactions" BEGIN
  INSERT INTO "rowflux_changelog" (table_name, op, row_image) VALUES ('transactions', 'delete', json_array(json_array('transaction_id', 'amount', 'it''s', 'we"ird'), CASE typeof(OLD."transaction_id") WHEN 'blob' THEN json_array(hex(OLD."transaction_id")) ELSE OLD."transaction_id" END, CASE typeof(OLD."amount") WHEN 'blob' THEN json_array(hex(OLD."amount")) ELSE OLD."amount" END, CASE typeof(OLD."it's") WHEN 'blob' THEN json_array(hex(OLD."it's")) ELSE OLD."it's" END, CASE typeof(OLD."we""ird") WHEN 'blob' THEN json_array(hex(OLD."we""ird")) ELSE OLD."we""ird" END));
END;

