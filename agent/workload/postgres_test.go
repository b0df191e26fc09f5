package workload

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rowflux/rowflux/plugins/common/pgtest"
)

// These tests run against a real PostgreSQL server through pgtest: each
// gets a fresh database ($ROWFLUX_PG_DSN, default the local server), dropped
// afterwards; without a server they skip, or fail under
// ROWFLUX_REQUIRE_SERVICES=1.

func pgOpen(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func pgTable(t *testing.T, dsn string) func() map[int64]Entry {
	return func() map[int64]Entry {
		// NUMERIC(12,2) prints with exactly 2 decimals.
		return readRows(t, pgOpen(t, dsn), `SELECT transaction_id, amount::text, currency, product_category, created_at, updated_at FROM transactions`)
	}
}

func TestPostgresReplayReproducesTable(t *testing.T) {
	dsn := pgtest.DB(t)
	ledger := filepath.Join(t.TempDir(), "ledger.jsonl")
	// A preload first, so updates and deletes have rows from the start;
	// then four unpaced writers.
	mustRun(t, context.Background(), Options{DSN: dsn, Ledger: ledger, Preload: 200, Duration: time.Millisecond, Seed: 1})
	st := mustRun(t, context.Background(), Options{
		DSN: dsn, Ledger: ledger, Rate: 0, Duration: time.Second, Writers: 4, Mix: [3]int{50, 30, 20}, Seed: 2,
	})
	es := checkLedgerMatches(t, ledger, pgTable(t, dsn))
	if st.Commits == 0 || st.Inserts+st.Updates+st.Deletes != st.Commits {
		t.Fatalf("stats %+v", st)
	}
	if st.Updates == 0 || st.Deletes == 0 {
		t.Errorf("stats %+v: want updates and deletes too", st)
	}
	if len(es) < 200+int(st.Commits) {
		t.Errorf("%d ledger entries, want at least 200 preloaded + %d", len(es), st.Commits)
	}
}

// With several writers, a long transaction on PostgreSQL holds only its
// row lock: writers that began after it commit first, and its updated_at
// (taken when the change was made) is earlier than theirs although its n
// is higher. That is the case that makes unbounded timestamp polling miss
// rows.
func TestPostgresLongTransactionsCommitOutOfOrder(t *testing.T) {
	dsn := pgtest.DB(t)
	ledger := filepath.Join(t.TempDir(), "ledger.jsonl")
	type txInfo struct {
		e                Entry
		began, committed time.Time
		long             bool
	}
	var (
		mu  sync.Mutex
		txs = map[int64]txInfo{} // by N
	)
	st := mustRun(t, context.Background(), Options{
		DSN: dsn, Ledger: ledger, Rate: 0, Duration: 1500 * time.Millisecond, Writers: 4,
		LongTxEvery: 10, LongTxHold: 300 * time.Millisecond, Seed: 3,
		OnCommit: func(e Entry, began, committed time.Time, long bool) {
			mu.Lock()
			defer mu.Unlock()
			txs[e.N] = txInfo{e, began, committed, long}
		},
	})
	es := checkLedgerMatches(t, ledger, pgTable(t, dsn))
	if st.LongTx == 0 || st.Commits != int64(len(es)) || len(txs) != len(es) {
		t.Fatalf("stats %+v, ledger has %d entries, hook saw %d", st, len(es), len(txs))
	}
	if st.Retries != 0 {
		t.Errorf("%d retries: writers on distinct rows should never conflict on PostgreSQL", st.Retries)
	}

	// Started before, committed after: a long transaction L and an entry E
	// with a smaller n whose transaction began after L's.
	var held, outOfOrder, stampedEarlier int
	for _, l := range txs {
		if !l.long {
			continue
		}
		// The stop at the end cuts the last holds short.
		if l.committed.Sub(l.began) >= 300*time.Millisecond {
			held++
		}
		for n := int64(1); n < l.e.N; n++ {
			if e, ok := txs[n]; ok && e.began.After(l.began) {
				outOfOrder++
				break
			}
		}
		// The ledger shows it too: the entry just before has a later
		// updated_at (a delete records the old row's stamp, so skip those).
		if l.e.N < 2 || l.e.Op == OpDelete {
			continue
		}
		if prev := es[l.e.N-2]; prev.Op != OpDelete && l.e.UpdatedAt.Before(prev.UpdatedAt) {
			stampedEarlier++
		}
	}
	if held == 0 {
		t.Error("no long transaction was held open for 300ms")
	}
	t.Logf("%d long transactions: %d committed after a transaction that began later, %d stamped earlier than the entry before them",
		st.LongTx, outOfOrder, stampedEarlier)
	if outOfOrder == 0 {
		t.Error("no long transaction committed after a transaction that began later than it")
	}
	if stampedEarlier == 0 {
		t.Error("no long transaction's updated_at is earlier than that of the entry just before it in n order")
	}
}

func TestPostgresSchemaOnlyAndPreload(t *testing.T) {
	dsn := pgtest.DB(t)
	ledger := filepath.Join(t.TempDir(), "ledger.jsonl")
	st := mustRun(t, context.Background(), Options{DSN: dsn, Ledger: ledger, SchemaOnly: true})
	if st != (Stats{}) {
		t.Fatalf("stats %+v", st)
	}
	db := pgOpen(t, dsn)
	var cols, idx int
	if err := db.QueryRow(`SELECT count(*) FROM information_schema.columns WHERE table_name = 'transactions'`).Scan(&cols); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM pg_indexes WHERE tablename = 'transactions' AND indexdef LIKE '%(updated_at, transaction_id)'`).Scan(&idx); err != nil {
		t.Fatal(err)
	}
	if cols != 6 || idx != 1 {
		t.Fatalf("after --schema-only: %d columns, %d (updated_at, transaction_id) indexes", cols, idx)
	}
	var typ string
	if err := db.QueryRow(`SELECT data_type FROM information_schema.columns WHERE table_name = 'transactions' AND column_name = 'updated_at'`).Scan(&typ); err != nil || typ != "timestamp without time zone" {
		t.Fatalf("updated_at is %q (%v)", typ, err)
	}
	if _, err := os.Stat(ledger); err == nil {
		t.Fatal("--schema-only created a ledger")
	}
	// Idempotent.
	mustRun(t, context.Background(), Options{DSN: dsn, SchemaOnly: true})

	const preload = 2*preloadBatch + 1234
	st = mustRun(t, context.Background(), Options{DSN: dsn, Ledger: ledger, Preload: preload, Duration: 200 * time.Millisecond, Seed: 4})
	es := checkLedgerMatches(t, ledger, pgTable(t, dsn))
	if len(es) != preload+int(st.Commits) {
		t.Fatalf("%d ledger entries, want %d preloaded + %d", len(es), preload, st.Commits)
	}
	txs := map[int64]int{}
	for _, e := range es[:preload] {
		if e.Op != OpInsert {
			t.Fatalf("preload entry %+v", e)
		}
		txs[e.Tx]++
	}
	if len(txs) != 3 {
		t.Errorf("preload used %d transactions, want 3", len(txs))
	}
}

func TestPostgresRetryableErrors(t *testing.T) {
	dsn := pgtest.DB(t)
	mustRun(t, context.Background(), Options{DSN: dsn, Preload: 1, Duration: time.Millisecond})
	db := pgOpen(t, dsn)
	ctx := context.Background()
	d := &postgresDialect{}

	// lock_not_available: NOWAIT on a row another transaction holds.
	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.Exec(`SELECT 1 FROM transactions WHERE transaction_id = 1 FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	_, nowait := db.Exec(`SELECT 1 FROM transactions WHERE transaction_id = 1 FOR UPDATE NOWAIT`)
	if !d.retryable(nowait) {
		t.Errorf("NOWAIT on a locked row: %v; want a retryable error", nowait)
	}

	// serialization_failure: a REPEATABLE READ transaction updating a row
	// changed since its snapshot.
	rr, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Rollback()
	if _, err := rr.Exec(`SELECT count(*) FROM transactions`); err != nil { // takes the snapshot
		t.Fatal(err)
	}
	if _, err := holder.Exec(`UPDATE transactions SET amount = amount + 1 WHERE transaction_id = 1`); err != nil {
		t.Fatal(err)
	}
	if err := holder.Commit(); err != nil {
		t.Fatal(err)
	}
	_, serial := rr.Exec(`UPDATE transactions SET amount = amount + 1 WHERE transaction_id = 1`)
	if !d.retryable(serial) {
		t.Errorf("update after a concurrent commit at REPEATABLE READ: %v; want a retryable error", serial)
	}

	_, syntax := db.Exec(`DELETE FROM nosuch`)
	if syntax == nil || d.retryable(syntax) {
		t.Errorf("bad statement: %v; want a non-retryable error", syntax)
	}
	for _, code := range []string{"40001", "40P01", "55P03"} {
		if !d.retryable(fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code})) {
			t.Errorf("SQLSTATE %s is not retryable", code)
		}
	}
	if d.retryable(errors.New("deadlock detected")) {
		t.Error("a plain error that merely says deadlock is retryable")
	}
}

// The password never appears in an error, whatever goes wrong. These need
// no server.
func TestPostgresDSNPasswordNotInErrors(t *testing.T) {
	const pw = "s3cret-Pw"
	cases := []struct {
		name, dsn string
		config    bool // want a ConfigError
	}{
		{"unreachable", "postgres://app:" + pw + "@127.0.0.1:1/shop?sslmode=disable&connect_timeout=2", false},
		{"postgresql scheme", "postgresql://app:" + pw + "@127.0.0.1:1/shop?sslmode=disable&connect_timeout=2", false},
		{"upper-case scheme", "POSTGRES://app:" + pw + "@127.0.0.1:1/shop?sslmode=disable&connect_timeout=2", false},
		{"password parameter", "postgres://app@127.0.0.1:1/shop?password=" + pw + "&sslmode=disable&connect_timeout=2", false},
		{"escaped password", (&url.URL{Scheme: "postgres", User: url.UserPassword("app", pw+"@/:?"), Host: "127.0.0.1:1", Path: "/shop", RawQuery: "sslmode=disable&connect_timeout=2"}).String(), false},
		{"bad URL escape", "postgres://app:" + pw + "%zz@127.0.0.1/shop", true},
		{"bad parameter", "postgres://app:" + pw + "@127.0.0.1/shop?sslmode=bogus", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), Options{DSN: tc.dsn, Duration: time.Millisecond})
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			if strings.Contains(err.Error(), pw) {
				t.Fatalf("the password is in the error: %v", err)
			}
			var ce *ConfigError
			if errors.As(err, &ce) != tc.config {
				t.Fatalf("error %v (%T): ConfigError %v, want %v", err, err, !tc.config, tc.config)
			}
		})
	}
}

// A wrong database on a real server: the server's own error, still without
// the password.
func TestPostgresDSNPasswordNotInServerErrors(t *testing.T) {
	base := pgtest.DB(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	const pw = "s3cret-Pw"
	u.User = url.UserPassword(u.User.Username(), pw)
	u.Path = "/rowflux_no_such_database"
	_, err = Run(context.Background(), Options{DSN: u.String(), Duration: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("error %v, want one saying the database does not exist", err)
	}
	t.Log(err)
	if strings.Contains(err.Error(), pw) {
		t.Fatalf("the password is in the error: %v", err)
	}
	if !strings.Contains(err.Error(), ":"+redacted+"@") {
		t.Errorf("error %v does not name the (redacted) DSN", err)
	}
}

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://app:pw@db:5432/shop?sslmode=disable":     "postgres://app:xxxxx@db:5432/shop?sslmode=disable",
		"postgres://app@db/shop?password=pw&sslmode=disable": "postgres://app@db/shop?password=xxxxx&sslmode=disable",
		"postgresql://db/shop":                               "postgresql://db/shop",
		"postgres://app:p%40ss@db/shop":                      "postgres://app:xxxxx@db/shop",
	} {
		d, err := newPostgres(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if d.safe != want {
			t.Errorf("redacted %s = %s, want %s", in, d.safe, want)
		}
	}
}
