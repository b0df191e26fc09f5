package postgres

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/plugins/common/inputtest"
	"github.com/rowflux/rowflux/sdk"
)

// Every configuration key of this input that reaches SQL as an identifier,
// with where a validation error names it. tables[].name is tried as the
// table and as the schema of schema.table; the first table's schema also
// holds the changelog, its sequence and the trigger functions, and the
// changelog's name is the NOTIFY channel.
var identifierKeys = []struct {
	key string
	set func(p *Postgres, v string)
}{
	{"changelog_table", func(p *Postgres, v string) { p.ChangelogTable = v }},
	{"tables[0].name", func(p *Postgres, v string) { p.Tables[0].Name = v }},
	{"tables[0].name", func(p *Postgres, v string) { p.Tables[0].Name = v + ".transactions" }},
	{"tables[0] (transactions).key", func(p *Postgres, v string) { p.Tables[0].Key = []string{"transaction_id", v} }},
	{"tables[0] (transactions).columns", func(p *Postgres, v string) { p.Tables[0].Columns = []string{"amount", v} }},
	{"tables[0] (transactions).tags", func(p *Postgres, v string) { p.Tables[0].Tags = []string{v} }},
	{"tables[0] (transactions).timestamp_column", func(p *Postgres, v string) { p.Tables[0].TimestampColumn = v }},
}

var hostileIdentifiers = []string{
	`x"; DROP TABLE canary; --`,
	`x'; DROP TABLE canary; --`,
	"x`; DROP TABLE canary; --",
	"x]; DROP TABLE canary; --",
	"x$$; DROP TABLE canary; --",
	"a;b", "a b", " transactions", "transactions\n", "a\tb",
	"tàble", "表", "a\u202eb" /* right-to-left override */, "a\u200bb", /* zero-width space */
	"a\x00b", strings.Repeat("t", 129),
	"`t`", "[t]", "a-b", "a/*c*/", "1abc", "$a", "",
}

// canaryDB is a fresh database with the transactions table and a canary
// table holding three rows.
func canaryDB(t *testing.T) (string, *pgx.Conn) {
	t.Helper()
	dsn, c := newDB(t)
	exec(t, c, "CREATE TABLE canary (id int PRIMARY KEY, v text)")
	exec(t, c, "INSERT INTO canary VALUES (1, 'a'), (2, 'b'), (3, 'c')")
	return dsn, c
}

func checkCanary(t *testing.T, c *pgx.Conn) {
	t.Helper()
	var n int
	var vs string
	err := c.QueryRow(context.Background(), "SELECT count(*), string_agg(v, '' ORDER BY id) FROM canary").Scan(&n, &vs)
	if err != nil || n != 3 || vs != "abc" {
		t.Fatalf("canary: %d rows %q, %v", n, vs, err)
	}
}

// schemaObjects lists every relation, function and trigger outside the
// system schemas.
func schemaObjects(t *testing.T, c *pgx.Conn) []string {
	t.Helper()
	rows, err := c.Query(context.Background(), `SELECT o FROM (
  SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'S' THEN 'sequence' WHEN 'i' THEN 'index' ELSE c.relkind::text END
         || ' ' || n.nspname || '.' || c.relname AS o
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
  UNION ALL
  SELECT 'function ' || n.nspname || '.' || p.proname
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  UNION ALL
  SELECT 'trigger ' || tgname FROM pg_trigger WHERE NOT tgisinternal
) x ORDER BY o`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestHostileIdentifiersRefused: every identifier key refuses every
// hostile value with an error that names the key, shows the value and says
// what is allowed; the server is not touched.
func TestHostileIdentifiersRefused(t *testing.T) {
	dsn, c := canaryDB(t)
	before := schemaObjects(t, c)
	for _, k := range identifierKeys {
		for _, v := range hostileIdentifiers {
			if v == "" && strings.HasSuffix(k.key, "timestamp_column") {
				continue // empty means "none"
			}
			t.Run(k.key+"="+strconv.Quote(v), func(t *testing.T) {
				p := &Postgres{DSN: dsn, Config: capture.DefaultConfig()}
				p.Tables = []capture.TableConfig{{Name: "transactions", Key: []string{"transaction_id"}}}
				k.set(p, v)
				err := p.Init(sdk.Env{})
				want := fmt.Sprintf("%s: invalid identifier %q (letters, digits, _ and $ only, not starting with a digit, at most 128 characters)", k.key, v)
				if err == nil || err.Error() != want {
					t.Fatalf("got  %v\nwant %s", err, want)
				}
				p.Close()
			})
		}
	}
	if after := schemaObjects(t, c); !slices.Equal(before, after) {
		t.Fatalf("schema changed: %v -> %v", before, after)
	}
	checkCanary(t, c)
}

// TestIdentifiersLongerThanPostgresAllows: PostgreSQL truncates a longer
// quoted identifier to 63 bytes without an error, so such a name could
// reach another object than the one configured; it is refused at load.
func TestIdentifiersLongerThanPostgresAllows(t *testing.T) {
	for _, n := range []int{63, 64, 128} {
		v := "t" + strings.Repeat("x", n-1)
		for _, k := range identifierKeys {
			p := &Postgres{DSN: "postgres://u@localhost/db", Config: capture.DefaultConfig()}
			p.Tables = []capture.TableConfig{{Name: "transactions", Key: []string{"transaction_id"}}}
			k.set(p, v)
			err := p.Init(sdk.Env{})
			want := fmt.Sprintf("%s: identifier %q is %d bytes long; PostgreSQL identifiers are at most 63", k.key, v, n)
			switch {
			case n == 63 && err != nil:
				t.Errorf("%s of 63 bytes: %v", k.key, err)
			case n > 63 && (err == nil || err.Error() != want):
				t.Errorf("%s of %d bytes:\n got %v\nwant %s", k.key, n, err, want)
			}
			p.Close()
		}
	}
}

// TestUnusualValidIdentifiersQuoted: identifiers that pass validation but
// are unusual ($, the dollar-quote tag $rowflux$ of the trigger functions,
// mixed case, 63 bytes) reach exactly the objects of those names under
// every strategy, and setup and teardown create and drop exactly the
// capture objects and nothing else.
func TestUnusualValidIdentifiersQuoted(t *testing.T) {
	table := "Victim$rowflux$" + strings.Repeat("v", 63-len("Victim$rowflux$")-len("cl$rowflux$__")-len("__trg"))
	for _, strategy := range []string{"polling", "trigger", "notify", "commit_order"} {
		t.Run(strategy, func(t *testing.T) {
			dsn, c := canaryDB(t)
			exec(t, c, `CREATE SCHEMA "Sch$rowflux$"`)
			exec(t, c, fmt.Sprintf(`CREATE TABLE "Sch$rowflux$".%s ("ID$" int PRIMARY KEY, "Amount$rowflux$" float8, "_Tag" text, "TS$" timestamp)`, ident(table)))
			before := schemaObjects(t, c)
			in := newInput(t, dsn, strategy, func(p *Postgres) {
				p.ChangelogTable = "cl$rowflux$"
				p.ColumnCase = "preserve"
				p.Tables = []capture.TableConfig{{Name: "Sch$rowflux$." + table, Key: []string{"ID$"}, Columns: []string{"Amount$rowflux$"},
					Tags: []string{"_Tag"}, TimestampColumn: "TS$"}}
			})
			ctx := context.Background()
			if err := in.Setup(ctx); err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(before)
			if strategy == "trigger" || strategy == "notify" {
				want = append(want,
					"table Sch$rowflux$.cl$rowflux$", "index Sch$rowflux$.cl$rowflux$_pkey", "sequence Sch$rowflux$.cl$rowflux$_seq_seq",
					"function Sch$rowflux$.cl$rowflux$__"+table+"__fn", "trigger cl$rowflux$__"+table+"__trg")
			}
			slices.Sort(want)
			if got := schemaObjects(t, c); !slices.Equal(got, want) {
				t.Fatalf("after setup:\n got %q\nwant %q", got, want)
			}
			rec, stop := inputtest.Start(t, in)
			for i := 1; i <= 3; i++ {
				exec(t, c, fmt.Sprintf(`INSERT INTO "Sch$rowflux$".%s VALUES ($1, $2, $3, $4)`, ident(table)),
					i, float64(i)/2, "t"+strconv.Itoa(i), t0.Add(time.Duration(i)*time.Millisecond))
			}
			ev := rec.WaitFor(t, 3)
			stop()
			// Each event must carry its own row's values under the quoted
			// names; commit_order promises each key's latest state, not an
			// order across keys, so the events are matched by key.
			seen := map[int64]bool{}
			for i, e := range ev {
				id, _ := e.Field("ID$")
				n, _ := id.(int64)
				amount, _ := e.Field("Amount$rowflux$")
				tag, _ := e.Tag("_Tag")
				if e.Name != table || n < 1 || n > 3 || amount != float64(n)/2 || tag != "t"+strconv.FormatInt(n, 10) {
					t.Errorf("event %d: %s %v %v", i, e.Name, e.Fields, e.Tags)
				}
				seen[n] = true
			}
			if len(seen) != 3 {
				t.Errorf("captured rows %v, want 1, 2 and 3", seen)
			}
			if err := in.Teardown(ctx); err != nil {
				t.Fatal(err)
			}
			if got := schemaObjects(t, c); !slices.Equal(got, before) {
				t.Fatalf("after teardown:\n got %q\nwant %q", got, before)
			}
			checkCanary(t, c)
		})
	}
}

// TestHostileStoredColumnNames: column names come from the database too
// (columns = [] captures all of them), unvalidated. Whoever may add a
// column to a captured table must not get SQL run by setup or capture: the
// names are quoted everywhere (including inside the trigger function's
// dollar-quoted body) and the events carry them exactly.
func TestHostileStoredColumnNames(t *testing.T) {
	hostile := []string{
		`x"); DROP TABLE canary; --`,
		`x'); DROP TABLE canary; --`,
		"$rowflux$); DROP TABLE canary; --",
		"x$rowflux$1$", "$$", "$rowflux1$",
		"a b", "表", "a\u202eb", "a\u200bb", "'", `"`, `\`,
	}
	for _, strategy := range []string{"polling", "trigger", "commit_order"} {
		t.Run(strategy, func(t *testing.T) {
			dsn, c := canaryDB(t)
			cols := []string{"id int PRIMARY KEY", "ts timestamp"}
			for _, h := range hostile {
				cols = append(cols, ident(h)+" text")
			}
			exec(t, c, "CREATE TABLE victim ("+strings.Join(cols, ", ")+")")
			in := newInput(t, dsn, strategy, func(p *Postgres) {
				p.ColumnCase = "preserve"
				p.Tables = []capture.TableConfig{{Name: "victim", Key: []string{"id"}, TimestampColumn: "ts"}}
			})
			ctx := context.Background()
			if err := in.Setup(ctx); err != nil {
				t.Fatal(err)
			}
			if checks, err := in.Doctor(ctx); err != nil {
				t.Fatal(err)
			} else {
				for _, ch := range checks {
					if strings.HasPrefix(ch.Name, "function") && !ch.OK {
						t.Errorf("doctor after setup: %+v", ch)
					}
				}
			}
			rec, stop := inputtest.Start(t, in)
			args := []any{1, t0}
			marks := []string{"$1", "$2"}
			for i := range hostile {
				args = append(args, "v"+strconv.Itoa(i))
				marks = append(marks, "$"+strconv.Itoa(i+3))
			}
			exec(t, c, "INSERT INTO victim VALUES ("+strings.Join(marks, ", ")+")", args...)
			e := rec.WaitFor(t, 1)[0]
			stop()
			for i, h := range hostile {
				if v, ok := e.Field(h); !ok || v != "v"+strconv.Itoa(i) {
					t.Errorf("column %q: %v %v", h, v, ok)
				}
			}
			if err := in.Teardown(ctx); err != nil {
				t.Fatal(err)
			}
			checkCanary(t, c)
		})
	}
}

// TestDollarQuote: the tag never occurs in the quoted text.
func TestDollarQuote(t *testing.T) {
	for _, body := range []string{"", "x", "$rowflux$", "a$rowflux$b$rowflux1$c", "$rowflux1$$rowflux2$$rowflux$"} {
		q := dollarQuote(body)
		end := strings.Index(q[1:], "$") + 2
		tag := q[:end]
		if !strings.HasPrefix(q, tag) || !strings.HasSuffix(q, tag) || q[len(tag):len(q)-len(tag)] != body || strings.Contains(body, tag) {
			t.Errorf("dollarQuote(%q) = %q", body, q)
		}
	}
}

// TestUpperCaseNamesFindFoldedTables: a configuration written for Oracle
// (SHOP.TRANSACTIONS) finds the tables PostgreSQL folded to lower case, and
// every statement quotes the stored spelling. Quoting the configured one
// named a relation that does not exist, and capture retried forever.
func TestUpperCaseNamesFindFoldedTables(t *testing.T) {
	for _, strategy := range []string{"polling", "trigger", "commit_order"} {
		t.Run(strategy, func(t *testing.T) {
			dsn, c := canaryDB(t)
			exec(t, c, "CREATE SCHEMA shop")
			exec(t, c, "CREATE TABLE shop.orders (order_id int PRIMARY KEY, total numeric(10,2), currency text, updated_at timestamp)")
			before := schemaObjects(t, c)
			in := newInput(t, dsn, strategy, func(p *Postgres) {
				p.Tables = []capture.TableConfig{{Name: "SHOP.ORDERS", Key: []string{"ORDER_ID"}, Tags: []string{"CURRENCY"}, TimestampColumn: "UPDATED_AT"}}
			})
			ctx := context.Background()
			if err := in.Setup(ctx); err != nil {
				t.Fatal(err)
			}
			rec, stop := inputtest.Start(t, in)
			exec(t, c, "INSERT INTO shop.orders VALUES (1, 9.5, 'EUR', $1)", t0)
			e := rec.WaitFor(t, 1)[0]
			stop()
			id, _ := e.Field("order_id")
			cur, _ := e.Tag("currency")
			if e.Name != "orders" || id != int64(1) || cur != "EUR" {
				t.Fatalf("event %s %v %v", e.Name, e.Fields, e.Tags)
			}
			if strategy == "trigger" {
				objs := schemaObjects(t, c)
				if !slices.Contains(objs, "table shop.rowflux_changelog") || !slices.Contains(objs, "trigger rowflux_changelog__orders__trg") {
					t.Fatalf("capture objects: %q", objs)
				}
			}
			if err := in.Teardown(ctx); err != nil {
				t.Fatal(err)
			}
			if got := schemaObjects(t, c); !slices.Equal(got, before) {
				t.Fatalf("after teardown:\n got %q\nwant %q", got, before)
			}
			checkCanary(t, c)
		})
	}
}
