-- strategy trigger

-- table public.rowflux_changelog
CREATE TABLE IF NOT EXISTS "public"."rowflux_changelog" (
  seq bigserial PRIMARY KEY,
  table_name text NOT NULL,
  op text NOT NULL,
  row_image jsonb NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- function public.rowflux_changelog__transactions__fn
CREATE OR REPLACE FUNCTION "public"."rowflux_changelog__transactions__fn"() RETURNS trigger LANGUAGE plpgsql AS $rowflux$
BEGIN
  PERFORM pg_current_xact_id();
  IF TG_OP = 'DELETE' THEN
    INSERT INTO "public"."rowflux_changelog" (table_name, op, row_image) VALUES ('public.transactions', 'delete', jsonb_build_object('transaction_id', OLD."transaction_id", 'amount', OLD."amount", 'it''s', OLD."it's", 'we"ird', OLD."we""ird"));
  ELSE
    INSERT INTO "public"."rowflux_changelog" (table_name, op, row_image) VALUES ('public.transactions', lower(TG_OP), jsonb_build_object('transaction_id', NEW."transaction_id", 'amount', NEW."amount", 'it''s', NEW."it's", 'we"ird', NEW."we""ird"));
  END IF;
  RETURN NULL;
END
$rowflux$;

-- trigger rowflux_changelog__transactions__trg
CREATE OR REPLACE TRIGGER "rowflux_changelog__transactions__trg" AFTER INSERT OR UPDATE OR DELETE ON "public"."transactions" FOR EACH ROW EXECUTE FUNCTION "public"."rowflux_changelog__transactions__fn"();

-- sequence public.rowflux_changelog seq
DO $rowflux$
DECLARE
  s regclass := pg_get_serial_sequence('"public"."rowflux_changelog"', 'seq')::regclass;
BEGIN
  IF EXISTS (SELECT 1 FROM pg_sequence WHERE seqrelid = s AND (seqcache <> 1 OR seqcycle)) THEN
    EXECUTE format('ALTER SEQUENCE %s CACHE 1 NO CYCLE', s);
  END IF;
END
$rowflux$;

-- strategy notify

-- table public.rowflux_changelog
CREATE TABLE IF NOT EXISTS "public"."rowflux_changelog" (
  seq bigserial PRIMARY KEY,
  table_name text NOT NULL,
  op text NOT NULL,
  row_image jsonb NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- function public.rowflux_changelog__transactions__fn
CREATE OR REPLACE FUNCTION "public"."rowflux_changelog__transactions__fn"() RETURNS trigger LANGUAGE plpgsql AS $rowflux$
BEGIN
  PERFORM pg_current_xact_id();
  IF TG_OP = 'DELETE' THEN
    INSERT INTO "public"."rowflux_changelog" (table_name, op, row_image) VALUES ('public.transactions', 'delete', jsonb_build_object('transaction_id', OLD."transaction_id", 'amount', OLD."amount", 'it''s', OLD."it's", 'we"ird', OLD."we""ird"));
  ELSE
    INSERT INTO "public"."rowflux_changelog" (table_name, op, row_image) VALUES ('public.transactions', lower(TG_OP), jsonb_build_object('transaction_id', NEW."transaction_id", 'amount', NEW."amount", 'it''s', NEW."it's", 'we"ird', NEW."we""ird"));
  END IF;
  PERFORM pg_notify('rowflux_changelog', '');
  RETURN NULL;
END
$rowflux$;

-- trigger rowflux_changelog__transactions__trg
CREATE OR REPLACE TRIGGER "rowflux_changelog__transactions__trg" AFTER INSERT OR UPDATE OR DELETE ON "public"."transactions" FOR EACH ROW EXECUTE FUNCTION "public"."rowflux_changelog__transactions__fn"();

-- sequence public.rowflux_changelog seq
DO $rowflux$
DECLARE
  s regclass := pg_get_serial_sequence('"public"."rowflux_changelog"', 'seq')::regclass;
BEGIN
  IF EXISTS (SELECT 1 FROM pg_sequence WHERE seqrelid = s AND (seqcache <> 1 OR seqcycle)) THEN
    EXECUTE format('ALTER SEQUENCE %s CACHE 1 NO CYCLE', s);
  END IF;
END
$rowflux$;

