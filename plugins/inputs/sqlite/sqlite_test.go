package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/rowflux/rowflux/plugins/common/inputtest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/sdk"
)

const schema = `CREATE TABLE transactions (
  transaction_id INTEGER PRIMARY KEY,
  amount NUMERIC(12,2) NOT NULL,
  currency VARCHAR(3) NOT NULL,
  product_category VARCHAR(32) NOT NULL,
  created_at TIMESTAMP NOT NULL,
  updated_at TIMESTAMP NOT NULL,
  note BLOB
)`

// newDB creates a database file with the transactions table and returns
// its path and a writer connection (the "application").
func newDB(t *testing.T) (string, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shop.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_time_format=sqlite")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(schema); err != nil {
		t.Fatal(err)
	}
	return path, db
}

func newInput(t *testing.T, path, strategy string, mutate ...func(*SQLite)) *SQLite {
	t.Helper()
	in := &SQLite{Path: path, NotifyCheckInterval: sdk.Duration(2 * time.Millisecond), Config: capture.DefaultConfig()}
	in.Strategy = strategy
	in.PollInterval = sdk.Duration(20 * time.Millisecond)
	in.Lag = 0
	in.Tables = []capture.TableConfig{{Name: "transactions", Key: []string{"transaction_id"}, Tags: []string{"currency"}, TimestampColumn: "updated_at"}}
	for _, m := range mutate {
		m(in)
	}
	if err := in.Init(sdk.Env{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

var t0 = time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC)

func writeChanges(t *testing.T, db *sql.DB) {
	t.Helper()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"INSERT INTO transactions VALUES (1, 12.50, 'EUR', 'books', ?, ?, x'00ff')", []any{t0, t0}},
		{"INSERT INTO transactions VALUES (2, 7, 'USD', 'toys', ?, ?, NULL)", []any{t0, t0.Add(time.Millisecond)}},
		{"UPDATE transactions SET amount = 13.00, updated_at = ? WHERE transaction_id = 1", []any{t0.Add(2 * time.Millisecond)}},
		{"DELETE FROM transactions WHERE transaction_id = 2", nil},
	} {
		if _, err := db.Exec(q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
}

func summary(e sdk.Event) string {
	id, _ := e.Field("transaction_id")
	amount, _ := e.Field("amount")
	cur, _ := e.Tag("currency")
	return fmt.Sprintf("%s %s id=%v amount=%v(%T) currency=%s", e.Name, e.Op, id, amount, amount, cur)
}

func TestChangelogStrategiesCaptureEveryChange(t *testing.T) {
	for _, strategy := range []string{"trigger", "notify"} {
		t.Run(strategy, func(t *testing.T) {
			path, db := newDB(t)
			in := newInput(t, path, strategy)
			if err := in.Setup(context.Background()); err != nil {
				t.Fatal(err)
			}
			rec, stop := inputtest.Start(t, in)
			writeChanges(t, db)
			ev := rec.WaitFor(t, 4)
			stop()
			var got []string
			for _, e := range ev {
				got = append(got, summary(e))
			}
			want := []string{
				"transactions insert id=1 amount=12.5(float64) currency=EUR",
				"transactions insert id=2 amount=7(float64) currency=USD",
				"transactions update id=1 amount=13(float64) currency=EUR",
				"transactions delete id=2 amount=7(float64) currency=USD",
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			note, _ := ev[0].Field("note")
			if b, ok := note.([]byte); !ok || string(b) != "\x00\xff" {
				t.Errorf("blob column: %#v", note)
			}
			created, _ := ev[0].Field("created_at")
			if ts, ok := created.(time.Time); !ok || !ts.Equal(t0) {
				t.Errorf("created_at: %#v", created)
			}
		})
	}
}

func TestPollingSeesLatestStateNotDeletes(t *testing.T) {
	path, db := newDB(t)
	in := newInput(t, path, "polling")
	writeChanges(t, db)
	rec, stop := inputtest.Start(t, in)
	ev := rec.WaitFor(t, 1)
	time.Sleep(100 * time.Millisecond)
	stop()
	ev, pos := rec.Snapshot()
	var got []string
	for _, e := range ev {
		got = append(got, summary(e))
	}
	if want := "transactions upsert id=1 amount=13(float64) currency=EUR"; strings.Join(got, "\n") != want {
		t.Fatalf("got %v, want %s", got, want)
	}
	// Resuming from the position reads nothing old, and picks up a new row.
	if _, err := db.Exec("INSERT INTO transactions VALUES (3, 1, 'GBP', 'garden', ?, ?, NULL)", t0, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	in2 := newInput(t, path, "polling", func(s *SQLite) { s.Tables[0].AppendOnly = true })
	rec2 := &inputtest.Recorder{}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := in2.Run(ctx, pos, rec2); err != nil {
		t.Fatal(err)
	}
	ev2, _ := rec2.Snapshot()
	if len(ev2) != 1 || summary(ev2[0]) != "transactions insert id=3 amount=1(float64) currency=GBP" {
		t.Fatalf("after resume: %v", ev2)
	}
}

func TestConsumedChangelogRowsAreDeletedOnlyWhenDurable(t *testing.T) {
	path, db := newDB(t)
	in := newInput(t, path, "trigger")
	if err := in.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec, stop := inputtest.Start(t, in)
	writeChanges(t, db)
	rec.WaitFor(t, 4)
	stop()
	count := func() (n int) {
		db.QueryRow("SELECT count(*) FROM rowflux_changelog").Scan(&n)
		return n
	}
	if n := count(); n != 4 {
		t.Fatalf("changelog holds %d rows before any checkpoint, want 4", n)
	}
	_, pos := rec.Snapshot()
	if err := in.CheckpointDurable(context.Background(), pos); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("changelog holds %d rows after the durable checkpoint, want 0", n)
	}
}

func masterRows(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query("SELECT type, name, coalesce(sql, '') FROM sqlite_master WHERE name != 'sqlite_sequence' ORDER BY type, name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a, b, c string
		rows.Scan(&a, &b, &c)
		out = append(out, a+" "+b+" "+c)
	}
	return out
}

func TestSetupIsIdempotentAndTeardownLeavesNoTrace(t *testing.T) {
	path, db := newDB(t)
	before := masterRows(t, db)
	in := newInput(t, path, "notify")
	ctx := context.Background()
	if err := in.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	once := masterRows(t, db)
	if err := in.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if twice := masterRows(t, db); strings.Join(twice, "\n") != strings.Join(once, "\n") {
		t.Fatalf("second setup changed the schema:\n%v\n%v", once, twice)
	}
	if len(once) != len(before)+4 {
		t.Fatalf("setup made %d objects, want the changelog and 3 triggers", len(once)-len(before))
	}
	// Capture something so that the changelog has a sequence entry.
	writeChanges(t, db)
	if err := in.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	if after := masterRows(t, db); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Fatalf("teardown left objects behind:\n%v", after)
	}
	var seqRows int
	db.QueryRow("SELECT count(*) FROM sqlite_sequence WHERE name = 'rowflux_changelog'").Scan(&seqRows)
	if seqRows != 0 {
		t.Fatal("teardown left the changelog's sqlite_sequence entry")
	}
	if err := in.Teardown(ctx); err != nil {
		t.Fatalf("teardown twice: %v", err)
	}
}

func TestDoctor(t *testing.T) {
	path, _ := newDB(t)
	in := newInput(t, path, "trigger")
	ctx := context.Background()
	checks, err := in.Doctor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	for _, c := range checks {
		if !c.OK {
			missing++
			if !strings.HasPrefix(c.Fix, "CREATE ") {
				t.Errorf("%s: fix %q is not the statement to run", c.Name, c.Fix)
			}
		}
	}
	if missing != 4 {
		t.Fatalf("want changelog + 3 triggers missing, got %d: %+v", missing, checks)
	}
	if err := in.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	checks, _ = in.Doctor(ctx)
	for _, c := range checks {
		if !c.OK {
			t.Errorf("after setup: %s: %s", c.Name, c.Detail)
		}
	}

	poll := newInput(t, path, "polling")
	checks, _ = poll.Doctor(ctx)
	var idx *sdk.Check
	for i := range checks {
		if strings.HasPrefix(checks[i].Name, "index on transactions") {
			idx = &checks[i]
		}
	}
	if idx == nil || idx.OK || idx.Fix != `CREATE INDEX "rowflux_transactions_poll" ON "transactions" ("updated_at", "transaction_id");` {
		t.Fatalf("index check: %+v", idx)
	}

	gone := newInput(t, filepath.Join(t.TempDir(), "missing.db"), "trigger")
	checks, err = gone.Doctor(ctx)
	if err != nil || len(checks) != 1 || checks[0].OK || !strings.Contains(checks[0].Detail, "missing.db") {
		t.Fatalf("missing file: %+v %v", checks, err)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := map[string]struct {
		mutate func(*SQLite)
		want   string
	}{
		"commit_order refused": {func(s *SQLite) { s.Strategy = "commit_order" }, `strategy: "commit_order" is not supported by sqlite (supported: polling, trigger, notify)`},
		"xmin alias refused":   {func(s *SQLite) { s.Strategy = "xmin" }, `strategy: "xmin" is not supported by sqlite (supported: polling, trigger, notify)`},
		"no path":              {func(s *SQLite) { s.Path = "" }, "path: required (the SQLite database file)"},
		"injection in table":   {func(s *SQLite) { s.Tables[0].Name = "transactions; DROP TABLE x" }, `tables[0].name: invalid identifier "transactions; DROP TABLE x"`},
		"quote in key":         {func(s *SQLite) { s.Tables[0].Key = []string{`id"--`} }, `tables[0] (transactions).key: invalid identifier "id\"--"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			in := &SQLite{Path: "x.db", NotifyCheckInterval: sdk.Duration(time.Millisecond), Config: capture.DefaultConfig()}
			in.Tables = []capture.TableConfig{{Name: "transactions", Key: []string{"transaction_id"}}}
			tc.mutate(in)
			err := in.Init(sdk.Env{})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestMissingTableStopsWithClearError(t *testing.T) {
	path, _ := newDB(t)
	in := newInput(t, path, "trigger", func(s *SQLite) { s.Tables[0].Name = "orders" })
	err := in.Run(context.Background(), nil, &inputtest.Recorder{})
	if err == nil || !strings.Contains(err.Error(), "table orders") || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("got %v", err)
	}
}

func TestSampleConfigDecodesAndValidates(t *testing.T) {
	var conf struct {
		Inputs struct {
			SQLite []toml.Primitive `toml:"sqlite"`
		} `toml:"inputs"`
	}
	md, err := toml.Decode(sampleConfig, &conf)
	if err != nil || len(conf.Inputs.SQLite) != 1 {
		t.Fatal(err)
	}
	in := &SQLite{Config: capture.DefaultConfig()}
	if err := md.PrimitiveDecode(conf.Inputs.SQLite[0], in); err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) != 0 {
		t.Fatalf("sample.conf keys the plugin does not know: %v", u)
	}
	if err := in.Init(sdk.Env{}); err != nil {
		t.Fatal(err)
	}
	if in.Strategy != "notify" || in.Tables[0].TimestampColumn != "updated_at" || len(in.Tables[0].Tags) != 2 {
		t.Fatalf("decoded %+v", in)
	}
}

func TestKinds(t *testing.T) {
	cases := []struct {
		decl string
		in   any
		want any
	}{
		{"NUMERIC(12,2)", int64(12), 12.0},
		{"NUMERIC(12,2)", 12.5, 12.5},
		{"NUMERIC(10)", 12.0, int64(12)},
		{"INTEGER", 3.0, int64(3)},
		{"VARCHAR(3)", int64(5), "5"},
		{"TIMESTAMP", "2026-11-21 06:00:00.5+00:00", t0.Add(500 * time.Millisecond)},
		{"TIMESTAMP", "not a time", "not a time"},
		{"", int64(1), int64(1)},
		{"REAL", int64(2), 2.0},
	}
	for _, tc := range cases {
		got := normalize(kindOf(tc.decl), tc.in)
		if gt, ok := got.(time.Time); ok {
			if !gt.Equal(tc.want.(time.Time)) {
				t.Errorf("%s %v: %v", tc.decl, tc.in, got)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("%s %#v: got %#v, want %#v", tc.decl, tc.in, got, tc.want)
		}
	}
}

// Rows sharing one timestamp across page boundaries, stored as text
// without an offset (what CURRENT_TIMESTAMP writes): the cursor must compare
// with the stored text, not with a re-formatted time.
func TestPollingPagesThroughEqualTimestamps(t *testing.T) {
	path, db := newDB(t)
	for i := 1; i <= 10; i++ {
		if _, err := db.Exec("INSERT INTO transactions VALUES (?, 1, 'EUR', 'books', '2026-01-01 00:00:00', '2026-01-01 00:00:00', NULL)", i); err != nil {
			t.Fatal(err)
		}
	}
	in := newInput(t, path, "polling", func(s *SQLite) { s.BatchSize = 3 })
	rec, stop := inputtest.Start(t, in)
	ev := rec.WaitFor(t, 10)
	time.Sleep(100 * time.Millisecond)
	stop()
	ev, _ = rec.Snapshot()
	if len(ev) != 10 {
		t.Fatalf("captured %d of 10 rows sharing a timestamp", len(ev))
	}
	for i, e := range ev {
		if id, _ := e.Field("transaction_id"); id != int64(i+1) {
			t.Fatalf("event %d has id %v", i, id)
		}
	}
}
