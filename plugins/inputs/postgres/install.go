package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/sdk"
)

// object is one capture object with the exact SQL that creates it.
type object struct {
	kind, name, create string
	table              *capture.Table // triggers: the table they are on
	body               string         // functions: the body, as pg_proc.prosrc holds it
}

// dollarQuote quotes body with a dollar-quote tag that does not occur in
// it. The body holds table and column names, and a name containing the
// tag (a valid identifier may: rowflux_changelog__a$rowflux$) would end
// the quote early and turn the rest into SQL.
func dollarQuote(body string) string {
	tag := "$rowflux$"
	for i := 1; strings.Contains(body, tag); i++ {
		tag = fmt.Sprintf("$rowflux%d$", i)
	}
	return tag + body + tag
}

func changelogDDL(ref string) string {
	return "CREATE TABLE IF NOT EXISTS " + ref + ` (
  seq bigserial PRIMARY KEY,
  table_name text NOT NULL,
  op text NOT NULL,
  row_image jsonb NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT clock_timestamp()
)`
}

// Object names carry the changelog's name, so two inputs with their own
// changelogs can capture the same table without replacing each other's.
func functionName(changelog string, t *capture.Table) string {
	return changelog + "__" + t.Name + "__fn"
}

func triggerName(changelog string, t *capture.Table) string {
	return changelog + "__" + t.Name + "__trg"
}

// rowImage is jsonb_build_object over the captured columns, in chunks of
// 50 pairs (a function takes at most 100 arguments).
func rowImage(t *capture.Table, row string) string {
	var parts []string
	for start := 0; start < len(t.Columns); start += 50 {
		end := min(start+50, len(t.Columns))
		var args []string
		for _, c := range t.Columns[start:end] {
			args = append(args, literal(c.Name), row+"."+ident(c.Name))
		}
		parts = append(parts, "jsonb_build_object("+strings.Join(args, ", ")+")")
	}
	return strings.Join(parts, " || ")
}

// objects lists what the strategy needs, in creation order.
func (s *source) objects(st capture.Strategy, tables []*capture.Table) ([]object, error) {
	if st != capture.Trigger && st != capture.Notify {
		return nil, nil
	}
	cl := s.changelogRef()
	objs := []object{{kind: "table", name: s.schema + "." + s.changelog, create: changelogDDL(cl)}}
	for _, t := range tables {
		fn, trg := functionName(s.changelog, t), triggerName(s.changelog, t)
		for _, n := range []string{fn, trg} {
			if len(n) > 63 {
				return nil, fmt.Errorf("table %s: object name %s is longer than PostgreSQL's 63 characters (choose a shorter changelog_table)", t.Config.Name, n)
			}
		}
		notify := ""
		if st == capture.Notify {
			// A constant payload: identical notifications of one transaction
			// collapse into one (SOURCES.md: each NOTIFYing commit takes a
			// cluster-wide lock, so one per transaction is the least cost).
			notify = "\n  PERFORM pg_notify(" + literal(s.channel()) + ", '');"
		}
		// pg_current_xact_id() first: the transaction must hold its xid
		// before the changelog's nextval (the reader's floor relies on it),
		// which a write to a foreign table alone does not give it.
		body := fmt.Sprintf(`
BEGIN
  PERFORM pg_current_xact_id();
  IF TG_OP = 'DELETE' THEN
    INSERT INTO %s (table_name, op, row_image) VALUES (%s, 'delete', %s);
  ELSE
    INSERT INTO %s (table_name, op, row_image) VALUES (%s, lower(TG_OP), %s);
  END IF;%s
  RETURN NULL;
END
`, cl, literal(qualified(t)), rowImage(t, "OLD"), cl, literal(qualified(t)), rowImage(t, "NEW"), notify)
		create := fmt.Sprintf("CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS %s", ident(s.schema, fn), dollarQuote(body))
		objs = append(objs, object{kind: "function", name: s.schema + "." + fn, create: create, body: body})
		objs = append(objs, object{kind: "trigger", name: trg, table: t, create: fmt.Sprintf(
			"CREATE OR REPLACE TRIGGER %s AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION %s()",
			ident(trg), tableRef(t), ident(s.schema, fn))})
	}
	// The reader's floor assumes sequence order is the order nextval was
	// called in; a cached sequence hands each session its own block, so a
	// low value can appear after higher ones were read and fenced. Altered
	// only when needed, and last: ALTER SEQUENCE locks the sequence, and
	// taken before the triggers' table locks it deadlocks with a writer
	// whose trigger is about to call nextval.
	objs = append(objs, object{kind: "sequence", name: s.schema + "." + s.changelog + " seq", create: "DO " + dollarQuote(`
DECLARE
  s regclass := pg_get_serial_sequence(`+literal(cl)+`, 'seq')::regclass;
BEGIN
  IF EXISTS (SELECT 1 FROM pg_sequence WHERE seqrelid = s AND (seqcache <> 1 OR seqcycle)) THEN
    EXECUTE format('ALTER SEQUENCE %s CACHE 1 NO CYCLE', s);
  END IF;
END
`)})
	return objs, nil
}

// changelogColumns returns the changelog's columns ("" if it is missing).
func changelogColumns(ctx context.Context, c *pgx.Conn, schema, name string) (string, error) {
	var cols string
	err := c.QueryRow(ctx, `SELECT coalesce(string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum), '')
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped`, schema, name).Scan(&cols)
	return cols, err
}

const wantChangelog = "seq bigint, table_name text, op text, row_image jsonb, changed_at timestamp with time zone"

// Setup creates what is missing and replaces functions and triggers
// (CREATE OR REPLACE), in one transaction: running it twice changes
// nothing. A table of the changelog's name that is not a rowflux changelog
// is an error, not something to write into.
func (s *source) Setup(ctx context.Context, st capture.Strategy, tables []*capture.Table) error {
	objs, err := s.objects(st, tables)
	if err != nil || len(objs) == 0 {
		return err
	}
	return s.use(ctx, func(c *pgx.Conn) error {
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			have, err := changelogColumns(ctx, c, s.schema, s.changelog)
			if err != nil {
				return err
			}
			if have != "" && have != wantChangelog {
				return fmt.Errorf("%s exists with columns (%s); it is not rowflux's changelog (choose another changelog_table)", s.changelogRef(), have)
			}
			for _, o := range objs {
				if _, err := tx.Exec(ctx, o.create); err != nil {
					return fmt.Errorf("create %s %s: %w", o.kind, o.name, err)
				}
			}
			return nil
		})
	})
}

// Teardown drops the triggers and functions of the configured tables, then
// the changelog (and its sequence) once no other rowflux function writes
// into it.
func (s *source) Teardown(ctx context.Context, st capture.Strategy, tables []*capture.Table) error {
	return s.use(ctx, func(c *pgx.Conn) error {
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			for _, t := range tables {
				var exists bool
				if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", tableRef(t)).Scan(&exists); err != nil {
					return err
				}
				if exists {
					if _, err := tx.Exec(ctx, "DROP TRIGGER IF EXISTS "+ident(triggerName(s.changelog, t))+" ON "+tableRef(t)); err != nil {
						return err
					}
				}
				if _, err := tx.Exec(ctx, "DROP FUNCTION IF EXISTS "+ident(s.schema, functionName(s.changelog, t))+"()"); err != nil {
					return err
				}
			}
			var users int
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM pg_proc WHERE strpos(prosrc, $1) > 0",
				"INSERT INTO "+s.changelogRef()+" ").Scan(&users); err != nil {
				return err
			}
			if users == 0 {
				if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+s.changelogRef()); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// Doctor checks privileges and capture objects and prints the statements
// that would fix what is missing.
func (s *source) Doctor(ctx context.Context, st capture.Strategy, tables []*capture.Table) ([]sdk.Check, error) {
	var checks []sdk.Check
	err := s.use(ctx, func(c *pgx.Conn) error {
		var user string
		if err := c.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil {
			return err
		}
		for _, t := range tables {
			var ok bool
			if err := c.QueryRow(ctx, "SELECT has_table_privilege($1::regclass, 'SELECT')", tableRef(t)).Scan(&ok); err != nil {
				return err
			}
			checks = append(checks, sdk.Check{Name: "SELECT on " + qualified(t), OK: ok, Detail: detail(ok, "granted", "missing"),
				Fix: fix(ok, fmt.Sprintf("GRANT SELECT ON %s TO %s;", tableRef(t), ident(user)))})
		}
		switch st {
		case capture.Polling:
			for _, t := range tables {
				ts := t.Columns[t.TSIdx].Name
				var ok bool
				err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE i.indrelid = $1::regclass AND a.attname = $2)`, tableRef(t), ts).Scan(&ok)
				if err != nil {
					return err
				}
				cols := []string{ident(ts)}
				for _, k := range t.KeyIdx {
					cols = append(cols, ident(t.Columns[k].Name))
				}
				checks = append(checks, sdk.Check{Name: fmt.Sprintf("index on %s (%s) for polling", qualified(t), ts), OK: ok,
					Detail: detail(ok, "present", "missing: every poll scans the table"),
					Fix:    fix(ok, fmt.Sprintf("CREATE INDEX %s ON %s (%s);", ident("rowflux_"+t.Name+"_poll"), tableRef(t), strings.Join(cols, ", ")))})
			}
			if s.bounded {
				var ok bool
				if err := c.QueryRow(ctx, "SELECT pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER')").Scan(&ok); err != nil {
					return err
				}
				checks = append(checks, sdk.Check{Name: "pg_read_all_stats (or pg_monitor) for bound_by_open_transactions", OK: ok,
					Detail: detail(ok, "member", "not a member: other users' open transactions are invisible, so polling can pass them and miss their rows"),
					Fix:    fix(ok, fmt.Sprintf("GRANT pg_read_all_stats TO %s;", ident(user)))})
			}
		case capture.CommitOrder:
			checks = append(checks, sdk.Check{Name: "commit_order reads xmin", OK: true,
				Detail: "xmin cannot be indexed: every poll is a sequential scan of each table (fine for moderate tables); an open writing transaction anywhere in the cluster holds the horizon back"})
		case capture.Trigger, capture.Notify:
			objs, err := s.objects(st, tables)
			if err != nil {
				return err
			}
			for _, o := range objs {
				var ok bool
				var err error
				switch o.kind {
				case "table":
					var cols string
					cols, err = changelogColumns(ctx, c, s.schema, s.changelog)
					ok = cols == wantChangelog
				case "function":
					var src string
					err = c.QueryRow(ctx, "SELECT coalesce((SELECT prosrc FROM pg_proc WHERE oid = to_regprocedure($1)), '')",
						ident(s.schema, o.name[len(s.schema)+1:])+"()").Scan(&src)
					ok = src != "" && src == o.body
				case "trigger":
					err = c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname = $2 AND NOT tgisinternal)",
						tableRef(o.table), o.name).Scan(&ok)
				case "sequence":
					// The sequence owned by the changelog's seq column (by
					// pg_depend: pg_get_serial_sequence fails on a missing table).
					err = c.QueryRow(ctx, `SELECT coalesce((SELECT q.seqcache = 1 AND NOT q.seqcycle FROM pg_sequence q
JOIN pg_depend d ON d.objid = q.seqrelid AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE d.refobjid = to_regclass($1) AND a.attname = 'seq' AND d.deptype = 'a'), false)`, s.changelogRef()).Scan(&ok)
				}
				if err != nil {
					return err
				}
				checks = append(checks, sdk.Check{Name: o.kind + " " + o.name, OK: ok,
					Detail: detail(ok, "installed", "missing or different (agent setup installs it)"), Fix: fix(ok, o.create+";")})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return checks, nil
}

func detail(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}

func fix(ok bool, s string) string {
	if ok {
		return ""
	}
	return s
}
