package postgres

import (
	"context"
	"flag"
	"github.com/rowflux/rowflux/plugins/common/inputtest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/plugins/common/pgtest"
	"github.com/rowflux/rowflux/sdk"
)

var update = flag.Bool("update", false, "rewrite golden files")

// objectCount counts rowflux's objects in the catalogs.
func objectCount(t *testing.T, dsn string) map[string]int {
	t.Helper()
	c := pgtest.Conn(t, dsn)
	out := map[string]int{}
	for name, q := range map[string]string{
		"class":   "SELECT count(*) FROM pg_class WHERE relname LIKE 'rowflux_changelog%'",
		"proc":    "SELECT count(*) FROM pg_proc WHERE proname LIKE 'rowflux_changelog%'",
		"trigger": "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'rowflux_changelog%'",
	} {
		var n int
		if err := c.QueryRow(context.Background(), q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[name] = n
	}
	return out
}

func TestSetupIdempotentTeardownLeavesNoTrace(t *testing.T) {
	for _, strategy := range []string{"trigger", "notify"} {
		t.Run(strategy, func(t *testing.T) {
			dsn, app := newDB(t)
			in := newInput(t, dsn, strategy)
			ctx := context.Background()
			if err := in.Setup(ctx); err != nil {
				t.Fatal(err)
			}
			once := objectCount(t, dsn)
			// table, its sequence and primary key index; a function; a trigger
			if once["class"] != 3 || once["proc"] != 1 || once["trigger"] != 1 {
				t.Fatalf("after setup: %v", once)
			}
			if err := in.Setup(ctx); err != nil {
				t.Fatal(err)
			}
			if twice := objectCount(t, dsn); twice["class"] != once["class"] || twice["proc"] != once["proc"] || twice["trigger"] != once["trigger"] {
				t.Fatalf("setup twice: %v, once: %v", twice, once)
			}
			checks, err := in.Doctor(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range checks {
				if !c.OK {
					t.Errorf("doctor after setup: %+v", c)
				}
			}
			exec(t, app, "INSERT INTO transactions (transaction_id, amount, currency, product_category, created_at, updated_at) VALUES (1, 1, 'EUR', 'a', now(), now())")
			if err := in.Teardown(ctx); err != nil {
				t.Fatal(err)
			}
			if after := objectCount(t, dsn); after["class"]+after["proc"]+after["trigger"] != 0 {
				t.Fatalf("after teardown: %v", after)
			}
			if err := in.Teardown(ctx); err != nil {
				t.Fatalf("second teardown: %v", err)
			}
			// The application keeps writing without the trigger.
			exec(t, app, "INSERT INTO transactions (transaction_id, amount, currency, product_category, created_at, updated_at) VALUES (2, 1, 'EUR', 'a', now(), now())")
			checks, err = in.Doctor(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var fixes []string
			for _, c := range checks {
				if !c.OK {
					fixes = append(fixes, c.Fix)
				}
			}
			if len(fixes) != 4 || !strings.HasPrefix(fixes[0], "CREATE TABLE IF NOT EXISTS") || !strings.HasPrefix(fixes[2], "CREATE OR REPLACE TRIGGER") || !strings.HasPrefix(fixes[3], "DO $rowflux$") {
				t.Fatalf("doctor after teardown: %q", fixes)
			}
		})
	}
}

// TestTeardownKeepsSharedChangelog: two inputs sharing one changelog for
// different tables; tearing one down keeps the changelog for the other.
func TestTeardownKeepsSharedChangelog(t *testing.T) {
	dsn, _ := newDB(t)
	pgtest.Exec(t, dsn, "CREATE TABLE other (id int PRIMARY KEY, v text)")
	a := newInput(t, dsn, "trigger")
	b := newInput(t, dsn, "trigger", func(p *Postgres) {
		p.Tables = []capture.TableConfig{{Name: "other", Key: []string{"id"}}}
	})
	ctx := context.Background()
	for _, in := range []*Postgres{a, b} {
		if err := in.Setup(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	if n := objectCount(t, dsn); n["class"] != 3 || n["proc"] != 1 || n["trigger"] != 1 {
		t.Fatalf("after tearing down one of two: %v", n)
	}
	if err := b.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	if n := objectCount(t, dsn); n["class"]+n["proc"]+n["trigger"] != 0 {
		t.Fatalf("after tearing down both: %v", n)
	}
}

func TestSetupRefusesForeignChangelog(t *testing.T) {
	dsn, _ := newDB(t)
	pgtest.Exec(t, dsn, "CREATE TABLE rowflux_changelog (id int)")
	in := newInput(t, dsn, "trigger")
	err := in.Setup(context.Background())
	if err == nil || !strings.Contains(err.Error(), "not rowflux's changelog") {
		t.Fatalf("got %v", err)
	}
}

func TestSetupGolden(t *testing.T) {
	tables := []*capture.Table{{
		Config: capture.TableConfig{Name: "transactions"},
		Name:   "transactions",
		Columns: []capture.Column{
			{Name: "transaction_id", Type: "integer"},
			{Name: "amount", Type: "numeric(12,2)"},
			{Name: "it's", Type: "text"},
			{Name: `we"ird`, Type: "text"},
		},
	}}
	src := &source{schema: "public", changelog: "rowflux_changelog"}
	var b strings.Builder
	for _, st := range []capture.Strategy{capture.Trigger, capture.Notify} {
		objs, err := src.objects(st, tables)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("-- strategy " + string(st) + "\n\n")
		for _, o := range objs {
			b.WriteString("-- " + o.kind + " " + o.name + "\n" + o.create + ";\n\n")
		}
	}
	golden := filepath.Join("testdata", "setup.golden.sql")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Fatalf("setup SQL changed (run with -update if intended):\n%s", b.String())
	}
	if objs, _ := src.objects(capture.Polling, tables); objs != nil {
		t.Fatal("polling needs no capture objects")
	}
	if objs, _ := src.objects(capture.CommitOrder, tables); objs != nil {
		t.Fatal("commit_order needs no capture objects")
	}
}

// TestGoldenSetupRuns applies the golden table's SQL to a real server:
// odd column names survive quoting and the image round-trips.
func TestOddColumnNames(t *testing.T) {
	dsn := pgtest.DB(t)
	pgtest.Exec(t, dsn, `CREATE TABLE transactions (transaction_id integer PRIMARY KEY, amount numeric(12,2), "it's" text, "we""ird" text)`)
	in := newInput(t, dsn, "trigger", func(p *Postgres) {
		p.Tables = []capture.TableConfig{{Name: "transactions", Key: []string{"transaction_id"}}}
	})
	if err := in.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec, stop := inputtest.Start(t, in)
	pgtest.Exec(t, dsn, `INSERT INTO transactions VALUES (1, 2.5, 'a''b', 'c"d')`)
	ev := rec.WaitFor(t, 1)
	stop()
	a, _ := ev[0].Field("it's")
	w, _ := ev[0].Field(`we"ird`)
	if a != "a'b" || w != `c"d` {
		t.Fatalf("got %#v %#v", a, w)
	}
}

func TestDoctorPolling(t *testing.T) {
	dsn, _ := newDB(t)
	in := newInput(t, dsn, "polling")
	checks, err := in.Doctor(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var idx, stats *sdk.Check
	for i := range checks {
		switch {
		case strings.HasPrefix(checks[i].Name, "index on"):
			idx = &checks[i]
		case strings.HasPrefix(checks[i].Name, "pg_read_all_stats"):
			stats = &checks[i]
		}
	}
	if idx == nil || idx.OK || idx.Fix != `CREATE INDEX "rowflux_transactions_poll" ON "public"."transactions" ("updated_at", "transaction_id");` {
		t.Fatalf("index check: %+v", idx)
	}
	if stats == nil || !stats.OK { // the test user is a superuser
		t.Fatalf("stats check: %+v", stats)
	}
	pgtest.Exec(t, dsn, idx.Fix)
	checks, _ = in.Doctor(context.Background())
	for _, c := range checks {
		if !c.OK {
			t.Errorf("after the fix: %+v", c)
		}
	}
	co := newInput(t, dsn, "commit_order")
	checks, err = co.Doctor(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if last := checks[len(checks)-1]; !strings.Contains(last.Detail, "sequential scan") {
		t.Fatalf("commit_order doctor: %+v", checks)
	}
}

// TestDoctorNonSuperuser: a plain role sees the missing grants.
func TestDoctorNonSuperuser(t *testing.T) {
	dsn, _ := newDB(t)
	role := "rowflux_doc_" + strings.TrimPrefix(strings.SplitN(strings.TrimPrefix(dsn[strings.LastIndex(dsn, "/"):], "/"), "?", 2)[0], "rowflux_test_")
	pgtest.Exec(t, dsn, "CREATE ROLE "+role+" LOGIN")
	t.Cleanup(func() { pgtest.Exec(t, pgtest.DB(t), "DROP ROLE IF EXISTS "+role) })
	roleDSN := strings.Replace(dsn, "postgres://postgres@", "postgres://"+role+"@", 1)
	if roleDSN == dsn {
		t.Skip("DSN is not of the default form")
	}
	in := newInput(t, roleDSN, "polling")
	checks, err := in.Doctor(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fixes := map[string]bool{}
	for _, c := range checks {
		if !c.OK {
			fixes[c.Fix] = true
		}
	}
	for _, want := range []string{
		`GRANT SELECT ON "public"."transactions" TO "` + role + `";`,
		`GRANT pg_read_all_stats TO "` + role + `";`,
	} {
		if !fixes[want] {
			t.Errorf("missing fix %s in %v", want, fixes)
		}
	}
}

// The changelog reader's floor needs sequence values in the order nextval
// was called; a cached sequence breaks that (each session takes a block),
// so setup puts the cache back to 1 and doctor reports a change.
func TestSetupKeepsTheChangelogSequenceUncached(t *testing.T) {
	dsn, _ := newDB(t)
	in := newInput(t, dsn, "trigger")
	ctx := context.Background()
	if err := in.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	cacheOK := func() bool {
		t.Helper()
		checks, err := in.Doctor(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range checks {
			if strings.HasPrefix(c.Name, "sequence ") {
				return c.OK
			}
		}
		t.Fatal("doctor has no sequence check")
		return false
	}
	if !cacheOK() {
		t.Fatal("doctor: sequence not right after setup")
	}
	pgtest.Exec(t, dsn, "ALTER SEQUENCE rowflux_changelog_seq_seq CACHE 20")
	if cacheOK() {
		t.Fatal("doctor did not notice CACHE 20")
	}
	if err := in.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	var cache int64
	if err := pgtest.Conn(t, dsn).QueryRow(ctx, "SELECT seqcache FROM pg_sequence WHERE seqrelid = 'rowflux_changelog_seq_seq'::regclass").Scan(&cache); err != nil {
		t.Fatal(err)
	}
	if cache != 1 || !cacheOK() {
		t.Fatalf("after setup: cache %d", cache)
	}
}
