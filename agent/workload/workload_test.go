package workload

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests run against real SQLite files in t.TempDir().

type paths struct{ db, dsn, ledger string }

func tempPaths(t *testing.T) paths {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "shop.db")
	return paths{db: db, dsn: "sqlite://" + db, ledger: filepath.Join(dir, "ledger.jsonl")}
}

func mustRun(t *testing.T, ctx context.Context, opts Options) Stats {
	t.Helper()
	st, err := Run(ctx, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("%+v", st)
	return st
}

// openTable opens the database the way a capture input would: its own
// pool, read-only use.
func openTable(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_time_format=sqlite")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// readTable returns the table's rows by id, as ledger entries (Op empty).
func readTable(t *testing.T, path string) map[int64]Entry {
	t.Helper()
	return readRows(t, openTable(t, path), `SELECT transaction_id, printf('%.2f', amount), currency, product_category, created_at, updated_at FROM transactions`)
}

// readRows runs query, which selects the table's columns in order with the
// amount as text with 2 decimals, and returns the rows by id.
func readRows(t *testing.T, db *sql.DB, query string) map[int64]Entry {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	m := map[int64]Entry{}
	for rows.Next() {
		var e Entry
		if err := rows.Scan(&e.ID, &e.Amount, &e.Currency, &e.Category, &e.CreatedAt, &e.UpdatedAt); err != nil {
			t.Fatal(err)
		}
		e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
		m[e.ID] = e
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// replay applies the ledger in N order and returns the rows it implies. On
// the way it checks what a ledger promises: N is 1..k without gaps, every
// op makes sense for the state before it, and updated_at moves strictly
// forward per id.
func replay(t *testing.T, es []Entry) map[int64]Entry {
	t.Helper()
	state := map[int64]Entry{}
	lastUpdated := map[int64]time.Time{}
	for i, e := range es {
		if e.N != int64(i+1) {
			t.Fatalf("ledger line %d has n=%d, want %d", i+1, e.N, i+1)
		}
		if e.Tx <= 0 {
			t.Fatalf("n=%d: tx %d", e.N, e.Tx)
		}
		_, live := state[e.ID]
		switch e.Op {
		case OpInsert:
			if live {
				t.Fatalf("n=%d: insert of live id %d", e.N, e.ID)
			}
			if _, seen := lastUpdated[e.ID]; seen {
				t.Fatalf("n=%d: id %d reused", e.N, e.ID)
			}
			if !e.CreatedAt.Equal(e.UpdatedAt) {
				t.Fatalf("n=%d: insert with created_at %v != updated_at %v", e.N, e.CreatedAt, e.UpdatedAt)
			}
		case OpUpdate, OpDelete:
			if !live {
				t.Fatalf("n=%d: %s of id %d, which is not live", e.N, e.Op, e.ID)
			}
		default:
			t.Fatalf("n=%d: op %q", e.N, e.Op)
		}
		if e.Op != OpDelete {
			if prev, ok := lastUpdated[e.ID]; ok && !e.UpdatedAt.After(prev) {
				t.Fatalf("n=%d: id %d updated_at %v not after %v", e.N, e.ID, e.UpdatedAt, prev)
			}
			lastUpdated[e.ID] = e.UpdatedAt
			e.Op, e.N, e.Tx = "", 0, 0
			state[e.ID] = e
		} else {
			if prev := state[e.ID]; e.Amount != prev.Amount || !e.UpdatedAt.Equal(prev.UpdatedAt) {
				t.Fatalf("n=%d: delete records %+v, the row was %+v", e.N, e, prev)
			}
			delete(state, e.ID)
		}
	}
	return state
}

// checkLedgerMatchesTable replays the ledger and compares with the table.
func checkLedgerMatchesTable(t *testing.T, p paths) []Entry {
	t.Helper()
	return checkLedgerMatches(t, p.ledger, func() map[int64]Entry { return readTable(t, p.db) })
}

// checkLedgerMatches replays the ledger file and compares with the rows
// that table returns.
func checkLedgerMatches(t *testing.T, ledger string, table func() map[int64]Entry) []Entry {
	t.Helper()
	es, err := ReadLedger(ledger)
	if err != nil {
		t.Fatal(err)
	}
	want, got := replay(t, es), table()
	if len(want) != len(got) {
		t.Errorf("ledger leaves %d rows, table has %d", len(want), len(got))
	}
	for id, w := range want {
		g, ok := got[id]
		switch {
		case !ok:
			t.Errorf("id %d: in the ledger, not in the table", id)
		case g.Amount != w.Amount || g.Currency != w.Currency || g.Category != w.Category ||
			!g.CreatedAt.Equal(w.CreatedAt) || !g.UpdatedAt.Equal(w.UpdatedAt):
			t.Errorf("id %d: table %+v, ledger %+v", id, g, w)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("id %d: in the table, not in the ledger", id)
		}
	}
	return es
}

func TestReplayReproducesTable(t *testing.T) {
	cases := []struct {
		name string
		opts Options
	}{
		{"unpaced", Options{Rate: 0, Duration: 700 * time.Millisecond, Writers: 2, Mix: [3]int{50, 30, 20}, Seed: 1}},
		{"paced", Options{Rate: 300, Duration: time.Second, Writers: 2, Mix: [3]int{40, 30, 30}, Seed: 2}},
		{"one writer, default mix", Options{Rate: 0, Duration: 300 * time.Millisecond, Seed: 3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tempPaths(t)
			var progress bytes.Buffer
			opts := tc.opts
			opts.DSN, opts.Ledger, opts.Progress, opts.ProgressEvery = p.dsn, p.ledger, &progress, 200*time.Millisecond
			st := mustRun(t, context.Background(), opts)
			es := checkLedgerMatchesTable(t, p)

			if st.Commits == 0 || st.Commits != int64(len(es)) || st.Inserts+st.Updates+st.Deletes != st.Commits {
				t.Fatalf("stats %+v, ledger has %d entries", st, len(es))
			}
			if st.Updates == 0 || st.Deletes == 0 {
				t.Errorf("stats %+v: want updates and deletes too", st)
			}
			if opts.Rate > 0 {
				// Slots are due at k/rate from the start; the run ends at
				// Duration, so at most rate×duration (+1 per writer in flight).
				limit := int64(opts.Rate*opts.Duration.Seconds()) + int64(opts.Writers) + 1
				// The lower bound only catches a broken pacer: a loaded
				// machine under -race may not reach the rate.
				if st.Commits > limit || st.Commits < limit/10 {
					t.Errorf("%d commits at rate %v over %v, want about %d", st.Commits, opts.Rate, opts.Duration, limit)
				}
			}
			out := progress.String()
			if !strings.Contains(out, " commits (") || !strings.Contains(out, "long tx open\n") {
				t.Errorf("no progress line in %q", out)
			}
			if !strings.Contains(out, "workload: done: ") {
				t.Errorf("no summary line in %q", out)
			}
		})
	}
}

func TestLongTransactions(t *testing.T) {
	t.Parallel() // mostly waiting on the held transactions
	p := tempPaths(t)
	st := mustRun(t, context.Background(), Options{
		DSN: p.dsn, Ledger: p.ledger, Rate: 0, Duration: time.Second, Writers: 2,
		LongTxEvery: 5, LongTxHold: 200 * time.Millisecond, Seed: 4,
	})
	es := checkLedgerMatchesTable(t, p)
	if st.LongTx == 0 || st.Commits != int64(len(es)) {
		t.Fatalf("stats %+v, ledger has %d entries", st, len(es))
	}
}

func TestPreload(t *testing.T) {
	t.Parallel()
	p := tempPaths(t)
	var progress bytes.Buffer
	st := mustRun(t, context.Background(), Options{
		DSN: p.dsn, Ledger: p.ledger, Rate: 0, Duration: 200 * time.Millisecond, Preload: 10_000, Seed: 5, Progress: &progress,
	})
	es, err := ReadLedger(p.ledger)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 10_000+int(st.Commits) {
		t.Fatalf("%d ledger entries, want 10000 preloaded + %d", len(es), st.Commits)
	}
	txs := map[int64]int{}
	for _, e := range es[:10_000] {
		if e.Op != OpInsert {
			t.Fatalf("preload entry %+v", e)
		}
		txs[e.Tx]++
	}
	if len(txs) != 10_000/preloadBatch {
		t.Errorf("preload used %d transactions, want %d", len(txs), 10_000/preloadBatch)
	}
	// Counting, not comparing every row: under -race reading 10000 rows
	// back costs seconds, and the other tests compare row by row.
	var count int
	if err := openTable(t, p.db).QueryRow(`SELECT count(*) FROM transactions`).Scan(&count); err != nil {
		t.Fatal(err)
	}
	if live := len(replay(t, es)); count != live {
		t.Fatalf("table has %d rows, ledger says %d live", count, live)
	}
	if !strings.Contains(progress.String(), "workload: preloaded 10000 rows") {
		t.Errorf("progress: %q", progress.String())
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		opts Options
		msg  string
	}{
		{"other scheme", Options{DSN: "mysql://app@db/shop"}, `unsupported DSN scheme "mysql" (supported: sqlite, postgres, oracle)`},
		{"no scheme", Options{DSN: "shop.db"}, "DSN has no scheme"},
		{"no DSN", Options{}, "no DSN"},
		{"no path", Options{DSN: "sqlite://"}, "sqlite DSN has no path"},
		{"directory", Options{DSN: "sqlite://" + dir}, "sqlite://" + dir + " is a directory"},
		{"missing directory", Options{DSN: "sqlite://" + dir + "/nope/shop.db"}, "sqlite://" + dir + "/nope/shop.db: directory " + dir + "/nope does not exist"},
		{"ledger in missing directory", Options{DSN: "sqlite://" + dir + "/shop.db", Ledger: dir + "/nope/l.jsonl"}, "directory " + dir + "/nope does not exist"},
		{"negative rate", Options{DSN: "sqlite://" + dir + "/shop.db", Rate: -1}, "rate -1"},
		{"negative mix", Options{DSN: "sqlite://" + dir + "/shop.db", Mix: [3]int{1, -1, 0}}, "must not be negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), tc.opts)
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v (%T), want a ConfigError containing %q", err, err, tc.msg)
			}
		})
	}
	if _, err := os.Stat(dir + "/shop.db"); err == nil {
		t.Error("a rejected configuration created the database")
	}
}

// watch is a progress writer that calls fn the first time a line contains
// want.
type watch struct {
	mu   sync.Mutex
	want string
	fn   func()
	seen bool
}

func (w *watch) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.seen && bytes.Contains(b, []byte(w.want)) {
		w.seen = true
		w.fn()
	}
	return len(b), nil
}

func TestCancelMidRunKeepsLedgerAndTableEqual(t *testing.T) {
	p := tempPaths(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Every third transaction holds far longer than the run lasts; the
	// cancel comes once progress reports one open, so it lands mid-hold.
	var cancelled time.Time
	w := &watch{want: ", 1 long tx open", fn: func() { cancelled = time.Now(); cancel() }}
	st := mustRun(t, ctx, Options{
		DSN: p.dsn, Ledger: p.ledger, Rate: 0, Writers: 2,
		LongTxEvery: 3, LongTxHold: time.Minute, Seed: 6,
		Progress: w, ProgressEvery: 50 * time.Millisecond,
	})
	if cancelled.IsZero() {
		t.Fatal("no long transaction was ever reported open")
	}
	if d := time.Since(cancelled); d > 6*time.Second {
		t.Errorf("Run took %v after the cancel", d)
	}
	es := checkLedgerMatchesTable(t, p)
	// With two writers a second long transaction can begin before the
	// cancel lands; what matters is that every one that committed is in
	// the ledger, which matches the table.
	if st.LongTx < 1 || st.Commits != int64(len(es)) {
		t.Fatalf("stats %+v, ledger has %d entries; want every commit, long transactions included, in the ledger", st, len(es))
	}
}

func TestReaderWhileWriting(t *testing.T) {
	p := tempPaths(t)
	// Create the schema first so the reader has a table from the start.
	mustRun(t, context.Background(), Options{DSN: p.dsn, Ledger: p.ledger, Preload: 10, Duration: time.Millisecond})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		wg    sync.WaitGroup
		reads int
		last  int
		rerr  error
	)
	reader := openTable(t, p.db)
	wg.Go(func() {
		for ctx.Err() == nil {
			var n int
			if err := reader.QueryRow(`SELECT count(*) FROM transactions`).Scan(&n); err != nil {
				rerr = err
				return
			}
			reads++
			last = n
			time.Sleep(5 * time.Millisecond)
		}
	})
	mustRun(t, context.Background(), Options{DSN: p.dsn, Ledger: p.ledger, Rate: 0, Duration: 600 * time.Millisecond, Mix: [3]int{1, 0, 0}})
	cancel()
	wg.Wait()
	if rerr != nil {
		t.Fatalf("reader: %v", rerr)
	}
	if reads < 5 || last <= 10 {
		t.Fatalf("reader made %d reads, last saw %d rows", reads, last)
	}
	checkLedgerMatchesTable(t, p)
}

func TestLedgerContinuesAcrossRuns(t *testing.T) {
	p := tempPaths(t)
	for i := range 3 {
		mustRun(t, context.Background(), Options{DSN: p.dsn, Ledger: p.ledger, Rate: 0, Duration: 150 * time.Millisecond, Seed: int64(i)})
	}
	es := checkLedgerMatchesTable(t, p)
	for i := 1; i < len(es); i++ {
		if es[i].Tx <= es[i-1].Tx {
			t.Fatalf("tx goes from %d to %d at n=%d", es[i-1].Tx, es[i].Tx, es[i].N)
		}
	}

	// A cut last line (a killed run) is refused rather than appended to.
	f, err := os.OpenFile(p.ledger, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"n":`)
	f.Close()
	_, err = Run(context.Background(), Options{DSN: p.dsn, Ledger: p.ledger, Duration: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "partial line") {
		t.Fatalf("error %v, want one about the partial line", err)
	}
	if _, err := ReadLedger(p.ledger); err == nil || !strings.Contains(err.Error(), "ledger.jsonl:") {
		t.Fatalf("ReadLedger: %v, want an error naming the line", err)
	}
}

func TestParseMix(t *testing.T) {
	cases := []struct {
		in   string
		want [3]int
		err  string
	}{
		{"60,30,10", [3]int{60, 30, 10}, ""},
		{" 1, 0 ,0", [3]int{1, 0, 0}, ""},
		{"60,30", [3]int{}, "want three"},
		{"60,-30,10", [3]int{}, "want three"},
		{"a,b,c", [3]int{}, "want three"},
		{"0,0,0", [3]int{}, "add up to 0"},
	}
	for _, tc := range cases {
		got, err := ParseMix(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseMix(%q): %v, want error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseMix(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestDecimalText(t *testing.T) {
	for in, want := range map[any]string{int64(12): "12.00", 12.5: "12.50", 999.99: "999.99", "7.1": "7.10", "3": "3.00"} {
		if got, err := decimalText(in); err != nil || got != want {
			t.Errorf("decimalText(%v) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestSQLiteRetryableErrors(t *testing.T) {
	p := tempPaths(t)
	mustRun(t, context.Background(), Options{DSN: p.dsn, Duration: time.Millisecond})
	holder, waiter := openTable(t, p.db), openTable(t, p.db)
	waiter.SetMaxOpenConns(1)
	if _, err := waiter.Exec(`PRAGMA busy_timeout = 0`); err != nil {
		t.Fatal(err)
	}
	tx, err := holder.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`DELETE FROM transactions`); err != nil {
		t.Fatal(err)
	}
	d := &sqliteDialect{}
	_, busy := waiter.Exec(`DELETE FROM transactions`)
	if busy == nil || !d.retryable(busy) {
		t.Errorf("write while another connection writes: %v; want a retryable error", busy)
	}
	_, syntax := waiter.Exec(`DELETE FROM nosuch`)
	if syntax == nil || d.retryable(syntax) {
		t.Errorf("bad statement: %v; want a non-retryable error", syntax)
	}
	if d.retryable(errors.New("database is locked")) {
		t.Error("a plain error that merely says locked is retryable")
	}
}

func TestSchemaOnly(t *testing.T) {
	p := tempPaths(t)
	var progress bytes.Buffer
	st := mustRun(t, context.Background(), Options{DSN: p.dsn, Ledger: p.ledger, SchemaOnly: true, Progress: &progress})
	if st != (Stats{}) || progress.Len() != 0 {
		t.Fatalf("stats %+v, progress %q", st, progress.String())
	}
	if n := len(readTable(t, p.db)); n != 0 {
		t.Fatalf("%d rows after --schema-only", n)
	}
	if _, err := os.Stat(p.ledger); err == nil {
		t.Fatal("--schema-only created a ledger")
	}
}
