package sqlite

// Capture benchmarks (make bench). They never run without -bench, and the
// fixtures they build live in one directory under os.TempDir() that
// TestMain removes when the test binary finishes.
//
//	go test -run '^$' -bench . -benchmem -cpu 1 ./plugins/inputs/sqlite/

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/rowflux/rowflux/plugins/common/inputtest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/sdk"

	"github.com/rowflux/rowflux/plugins/common/sqlitedb"
)

const (
	// benchRows is the size of the throughput fixture.
	benchRows = 1_000_000
	// benchTxRows is how many rows one fixture transaction inserts.
	benchTxRows = 100_000
)

// benchSchema is the seed table of DESIGN.md.
const benchSchema = `CREATE TABLE transactions (
  transaction_id   INTEGER PRIMARY KEY,
  amount           NUMERIC(12,2) NOT NULL,
  currency         VARCHAR(3)    NOT NULL,
  product_category VARCHAR(32)   NOT NULL,
  created_at       TIMESTAMP     NOT NULL,
  updated_at       TIMESTAMP     NOT NULL
)`

const benchInsert = `INSERT INTO transactions (transaction_id, amount, currency, product_category, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`

var (
	benchCurrencies = []string{"EUR", "USD", "GBP", "CHF"}
	benchCategories = []string{"books", "toys", "garden", "food", "music", "sports", "electronics", "clothing"}
)

// TestMain removes the benchmark fixtures (hundreds of MB) once every test
// and benchmark of the package has run.
func TestMain(m *testing.M) {
	code := m.Run()
	benchDir.mu.Lock()
	if benchDir.path != "" {
		os.RemoveAll(benchDir.path)
	}
	benchDir.mu.Unlock()
	os.Exit(code)
}

// benchDir is the process-wide fixture directory, made on first use.
var benchDir struct {
	mu   sync.Mutex
	path string
}

func benchFixtureDir() (string, error) {
	benchDir.mu.Lock()
	defer benchDir.mu.Unlock()
	if benchDir.path == "" {
		dir, err := os.MkdirTemp("", "rowflux-sqlite-bench-")
		if err != nil {
			return "", err
		}
		benchDir.path = dir
	}
	return benchDir.path, nil
}

// benchFixture is a 1M-row database file built once per process.
type benchFixture struct {
	file string
	// changelog: install the trigger strategy's changelog and triggers
	// before loading, so that the triggers fill the changelog. Otherwise
	// the table gets the polling index and no triggers.
	changelog bool

	once  sync.Once
	path  string
	stats string
	err   error
}

var (
	pollingFixture   = &benchFixture{file: "polling.db"}
	changelogFixture = &benchFixture{file: "changelog.db", changelog: true}
)

func (f *benchFixture) get(b *testing.B) string {
	b.Helper()
	f.once.Do(func() {
		f.path, f.stats, f.err = buildFixture(f.file, f.changelog)
		if f.err == nil {
			b.Logf("fixture %s", f.stats)
		}
	})
	if f.err != nil {
		b.Fatalf("fixture %s: %v", f.file, f.err)
	}
	return f.path
}

// createBenchDB creates the database file with the seed table. sqlitedb.DSN(path, false) has
// mode=rw and refuses to create a file, so this uses a plain open.
func createBenchDB(path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(benchSchema)
	return err
}

// benchInput is a capture input on the transactions table as the benchmarks
// configure it: batch_size 5000, lag 0.
func benchInput(path, strategy string, poll, check time.Duration) (*SQLite, error) {
	in := &SQLite{Path: path, NotifyCheckInterval: sdk.Duration(check), Config: capture.DefaultConfig()}
	in.Strategy = strategy
	in.PollInterval = sdk.Duration(poll)
	in.BatchSize = 5000
	in.Lag = 0
	in.Tables = []capture.TableConfig{{
		Name:            "transactions",
		Key:             []string{"transaction_id"},
		Tags:            []string{"currency", "product_category"},
		TimestampColumn: "updated_at",
	}}
	if err := in.Init(sdk.Env{}); err != nil {
		return nil, err
	}
	return in, nil
}

// buildFixture writes benchRows rows with distinct, increasing updated_at
// values (UTC, one millisecond apart, ending well before now so that
// polling with lag 0 sees them all) in transactions of benchTxRows rows.
func buildFixture(file string, changelog bool) (path, stats string, err error) {
	dir, err := benchFixtureDir()
	if err != nil {
		return "", "", err
	}
	path = filepath.Join(dir, file)
	start := time.Now()
	if err := createBenchDB(path); err != nil {
		return "", "", err
	}
	ctx := context.Background()
	if changelog {
		in, err := benchInput(path, "trigger", time.Second, 10*time.Millisecond)
		if err != nil {
			return "", "", err
		}
		err = in.Setup(ctx)
		in.Close()
		if err != nil {
			return "", "", fmt.Errorf("setup: %w", err)
		}
	}

	db, err := sql.Open("sqlite", sqlitedb.DSN(path, false))
	if err != nil {
		return "", "", err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return "", "", err
	}
	defer conn.Close()
	// A fixture needs no durability; a larger cache helps the changelog's
	// JSON pages.
	for _, p := range []string{"PRAGMA synchronous = OFF", "PRAGMA cache_size = -65536"} {
		if _, err := conn.ExecContext(ctx, p); err != nil {
			return "", "", err
		}
	}

	base := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)
	for first := 1; first <= benchRows; first += benchTxRows {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return "", "", err
		}
		stmt, err := tx.PrepareContext(ctx, benchInsert)
		if err != nil {
			tx.Rollback()
			return "", "", err
		}
		for id := first; id < first+benchTxRows && id <= benchRows; id++ {
			at := base.Add(time.Duration(id) * time.Millisecond)
			amount := float64(id%100_000) / 100
			if _, err := stmt.ExecContext(ctx, id, amount, benchCurrencies[id%len(benchCurrencies)], benchCategories[id%len(benchCategories)], at.Add(-time.Second), at); err != nil {
				stmt.Close()
				tx.Rollback()
				return "", "", fmt.Errorf("insert row %d: %w", id, err)
			}
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			return "", "", err
		}
	}
	loaded := time.Since(start)

	if !changelog {
		if _, err := conn.ExecContext(ctx, `CREATE INDEX "rowflux_transactions_poll" ON transactions (updated_at, transaction_id)`); err != nil {
			return "", "", err
		}
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return "", "", err
	}
	total := time.Since(start)

	counts := []string{"transactions"}
	if changelog {
		counts = append(counts, "rowflux_changelog")
	}
	for _, t := range counts {
		var n int
		if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM "+quote(t)).Scan(&n); err != nil {
			return "", "", err
		}
		if n != benchRows {
			return "", "", fmt.Errorf("%s holds %d rows, want %d", t, n, benchRows)
		}
	}
	var size int64
	if fi, err := os.Stat(path); err == nil {
		size = fi.Size()
	}
	what := "table + polling index"
	if changelog {
		what = "table + triggers filling the changelog"
	}
	stats = fmt.Sprintf("%s (%s): %d rows built in %.1fs (inserts %.1fs, %.0f rows/s), %d MB",
		file, what, benchRows, total.Seconds(), loaded.Seconds(), benchRows/loaded.Seconds(), size>>20)
	return path, stats, nil
}

// BenchmarkCaptureThroughput measures how fast each strategy captures a
// 1,000,000-row backlog: a fresh input per iteration (nothing is ever
// deleted: CheckpointDurable is never called), run until it has emitted
// every row.
func BenchmarkCaptureThroughput(b *testing.B) {
	for _, strategy := range []string{"polling", "trigger", "notify"} {
		b.Run("strategy="+strategy, func(b *testing.B) {
			fx := changelogFixture
			if strategy == "polling" {
				fx = pollingFixture
			}
			path := fx.get(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				in, err := benchInput(path, strategy, 10*time.Millisecond, 10*time.Millisecond)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				inputtest.CaptureAll(b, in, benchRows)
				b.StopTimer()
				in.Close()
				b.StartTimer()
			}
			b.StopTimer()
			perRow := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / benchRows
			b.ReportMetric(1e9/perRow, "rows/s")
			b.ReportMetric(perRow, "ns/row")
		})
	}
}

const (
	latencyRate     = 1000            // changes per second
	latencyDuration = 3 * time.Second // of changes per iteration
)

// latencyRun writes latencyRate single-row transactions per second for
// latencyDuration into a fresh database captured by strategy, and returns
// commit → emit latencies plus the achieved write rate.
func latencyRun(b *testing.B, strategy string, poll time.Duration) ([]time.Duration, float64) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "latency.db")
	if err := createBenchDB(path); err != nil {
		b.Fatal(err)
	}
	in, err := benchInput(path, strategy, poll, 10*time.Millisecond)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := in.Setup(ctx); err != nil {
		b.Fatal(err)
	}

	// The application: one connection, as SQLite has one writer at a time,
	// with synchronous=NORMAL, the usual setting in WAL mode: commits are
	// atomic but not fsynced one by one. With FULL, an fsync per commit on
	// this machine's disk takes up to ~100ms and the writer cannot hold
	// 1,000 commits/s; what is measured here is capture, not the disk.
	db, err := sql.Open("sqlite", sqlitedb.DSN(path, false)+"&_pragma=synchronous(NORMAL)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	stmt, err := db.PrepareContext(ctx, benchInsert)
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	insert := func(id int) error {
		now := time.Now().UTC()
		_, err := stmt.ExecContext(ctx, id, float64(id%10_000)/100, benchCurrencies[id%len(benchCurrencies)], benchCategories[id%len(benchCategories)], now, now)
		return err
	}

	n := int(latencyDuration / time.Second * latencyRate)
	interval := time.Second / latencyRate
	out := inputtest.NewArrivals(n)
	runErr := make(chan error, 1)
	go func() { runErr <- in.Run(ctx, nil, out) }()
	stop := func() {
		cancel()
		if err := <-runErr; err != nil {
			b.Errorf("Run: %v", err)
		}
	}

	// Warm-up: row 0 must arrive before measuring, so that connecting and
	// resolving the table are not counted.
	if err := insert(0); err != nil {
		stop()
		b.Fatal(err)
	}
	if !out.WaitCount(1, poll+10*time.Second) {
		stop()
		b.Fatal("warm-up row never arrived")
	}

	b.StartTimer()
	committed := make([]time.Time, n+1)
	begin := time.Now()
	for id := 1; id <= n; id++ {
		// Paced by elapsed time: a late write does not push the later ones.
		if d := time.Until(begin.Add(time.Duration(id-1) * interval)); d > 0 {
			time.Sleep(d)
		}
		if err := insert(id); err != nil { // autocommit: returns after COMMIT
			stop()
			b.Fatalf("insert %d: %v", id, err)
		}
		committed[id] = time.Now()
	}
	rate := float64(n) / time.Since(begin).Seconds()
	arrived := out.WaitCount(n+1, poll+10*time.Second)
	b.StopTimer()
	stop()

	count, dups, unknown := out.Counts()
	if !arrived {
		b.Fatalf("%s: only %d of %d committed rows arrived", strategy, count-1, n)
	}
	if dups != 0 || unknown != 0 {
		b.Fatalf("%s: %d duplicate and %d unknown events", strategy, dups, unknown)
	}
	lat := make([]time.Duration, 0, n)
	for id := 1; id <= n; id++ {
		lat = append(lat, out.Arrived(id).Sub(committed[id]))
	}
	return lat, rate
}

// BenchmarkNotifyLatency measures commit → event latency at 1,000
// single-row transactions per second, for about 3 s per iteration: notify
// (data_version checked every 10ms, safety poll 1s) and, for comparison,
// trigger polling the changelog every 100ms.
func BenchmarkNotifyLatency(b *testing.B) {
	for _, c := range []struct {
		strategy string
		poll     time.Duration
	}{
		{"notify", time.Second},
		{"trigger", 100 * time.Millisecond},
	} {
		b.Run("strategy="+c.strategy, func(b *testing.B) {
			b.StopTimer()
			var all []time.Duration
			var rates []float64
			for i := 0; i < b.N; i++ {
				lat, rate := latencyRun(b, c.strategy, c.poll)
				all = append(all, lat...)
				rates = append(rates, rate)
			}
			if len(all) == 0 {
				b.Fatal("no latency measured")
			}
			slices.Sort(all)
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(inputtest.Percentile(all, 50)), "p50-ms")
			b.ReportMetric(ms(inputtest.Percentile(all, 99)), "p99-ms")
			b.ReportMetric(ms(all[len(all)-1]), "max-ms")
			b.ReportMetric(float64(len(all)), "events")
			b.ReportMetric(slices.Min(rates), "changes/s")
			if r := slices.Min(rates); r < 0.95*latencyRate {
				b.Logf("the writer reached only %.0f of %d changes/s (machine overloaded?): these latencies include its queueing", r, latencyRate)
			}
		})
	}
}
