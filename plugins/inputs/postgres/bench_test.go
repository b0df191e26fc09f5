package postgres

// Capture benchmarks (make bench). They never run without -bench, and skip
// without a server (pgtest.DB); every database they create is dropped when
// its benchmark ends.
//
//	go test -run '^$' -bench . -benchmem -cpu 1 ./plugins/inputs/postgres/

import (
	"context"
	"fmt"
	"github.com/rowflux/rowflux/plugins/common/inputtest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/plugins/common/pgtest"
	"github.com/rowflux/rowflux/sdk"
)

const (
	// benchRows is the size of the throughput fixture.
	benchRows = 200_000
	// benchCopyRows is how many rows one fixture COPY (one transaction) loads.
	benchCopyRows = 50_000
)

// benchTableDDL is the seed table of DESIGN.md in schema %s.
const benchTableDDL = `CREATE TABLE %s.transactions (
  transaction_id   integer       PRIMARY KEY,
  amount           numeric(12,2) NOT NULL,
  currency         varchar(3)    NOT NULL,
  product_category varchar(32)   NOT NULL,
  created_at       timestamp     NOT NULL,
  updated_at       timestamp     NOT NULL
)`

var (
	benchColumns    = []string{"transaction_id", "amount", "currency", "product_category", "created_at", "updated_at"}
	benchCurrencies = []string{"EUR", "USD", "GBP", "CHF"}
	benchCategories = []string{"books", "toys", "garden", "food", "music", "sports", "electronics", "clothing"}
)

// benchInput is a capture input on schema.transactions as the benchmarks
// configure it: batch_size 5000, lag 0. The changelog (trigger, notify)
// lives in the same schema.
func benchInput(dsn, schema, strategy string, poll time.Duration) (*Postgres, error) {
	in := &Postgres{DSN: dsn, Config: capture.DefaultConfig()}
	in.Strategy = strategy
	in.PollInterval = sdk.Duration(poll)
	in.BatchSize = 5000
	in.Lag = 0
	in.Tables = []capture.TableConfig{{
		Name:            schema + ".transactions",
		Key:             []string{"transaction_id"},
		Tags:            []string{"currency", "product_category"},
		TimestampColumn: "updated_at",
	}}
	if err := in.Init(sdk.Env{}); err != nil {
		return nil, err
	}
	return in, nil
}

// benchCreateTable creates schema and its transactions table.
func benchCreateTable(ctx context.Context, c *pgx.Conn, schema string) error {
	for _, s := range []string{
		"CREATE SCHEMA " + ident(schema),
		fmt.Sprintf(benchTableDDL, ident(schema)),
	} {
		if _, err := c.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// benchSetup installs strategy's capture objects on schema.transactions.
func benchSetup(ctx context.Context, dsn, schema, strategy string) error {
	in, err := benchInput(dsn, schema, strategy, time.Second)
	if err != nil {
		return err
	}
	defer in.Close()
	return in.Setup(ctx)
}

// benchRow is fixture row id: updated_at values distinct and increasing,
// one millisecond apart, ending two days before now (so that polling with
// lag 0 sees them all, whatever the server's TimeZone).
func benchRow(base time.Time, id int) []any {
	at := base.Add(time.Duration(id) * time.Millisecond)
	return []any{int32(id), float64(id%100_000) / 100, benchCurrencies[id%len(benchCurrencies)], benchCategories[id%len(benchCategories)], at.Add(-time.Second), at}
}

// throughputFixture is one strategy's 200,000-row schema in the benchmark's
// database, built on first use.
type throughputFixture struct {
	once  sync.Once
	stats string
	err   error
}

// buildThroughputFixture creates schema fx_<strategy>: the table, the
// strategy's capture objects (trigger and notify: installed first, so that
// their triggers fill the changelog as the rows are loaded), then
// benchRows rows by COPY, then VACUUM ANALYZE. Polling gets its index
// on (updated_at, transaction_id).
func buildThroughputFixture(dsn, strategy string) (string, error) {
	ctx := context.Background()
	schema := "fx_" + strategy
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer c.Close(context.Background())
	start := time.Now()
	if err := benchCreateTable(ctx, c, schema); err != nil {
		return "", err
	}
	if err := benchSetup(ctx, dsn, schema, strategy); err != nil {
		return "", fmt.Errorf("setup: %w", err)
	}
	base := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Second).Add(-benchRows * time.Millisecond)
	for first := 1; first <= benchRows; first += benchCopyRows {
		last := min(first+benchCopyRows-1, benchRows)
		src := pgx.CopyFromFunc(func() func() ([]any, error) {
			id := first - 1
			return func() ([]any, error) {
				if id >= last {
					return nil, nil
				}
				id++
				return benchRow(base, id), nil
			}
		}())
		n, err := c.CopyFrom(ctx, pgx.Identifier{schema, "transactions"}, benchColumns, src)
		if err != nil {
			return "", fmt.Errorf("copy rows %d-%d: %w", first, last, err)
		}
		if n != int64(last-first+1) {
			return "", fmt.Errorf("copy rows %d-%d: copied %d", first, last, n)
		}
	}
	loaded := time.Since(start)
	if strategy == "polling" {
		if _, err := c.Exec(ctx, fmt.Sprintf("CREATE INDEX transactions_poll ON %s (updated_at, transaction_id)", ident(schema, "transactions"))); err != nil {
			return "", err
		}
	}
	counts := []string{"transactions"}
	if strategy == "trigger" || strategy == "notify" {
		counts = append(counts, "rowflux_changelog")
	}
	for _, t := range counts {
		if _, err := c.Exec(ctx, "VACUUM ANALYZE "+ident(schema, t)); err != nil {
			return "", err
		}
	}
	total := time.Since(start)
	var size int64
	for _, t := range counts {
		var n, sz int64
		if err := c.QueryRow(ctx, fmt.Sprintf("SELECT count(*), pg_total_relation_size('%s') FROM %s", ident(schema, t), ident(schema, t))).Scan(&n, &sz); err != nil {
			return "", err
		}
		if n != benchRows {
			return "", fmt.Errorf("%s.%s holds %d rows, want %d", schema, t, n, benchRows)
		}
		size += sz
	}
	what := "table"
	switch strategy {
	case "polling":
		what = "table + polling index"
	case "trigger", "notify":
		what = "table + " + strategy + "'s trigger filling the changelog"
	}
	return fmt.Sprintf("%s (%s): %d rows built in %.1fs (COPY %.1fs, %.0f rows/s), %d MB",
		schema, what, benchRows, total.Seconds(), loaded.Seconds(), benchRows/loaded.Seconds(), size>>20), nil
}

// BenchmarkCaptureThroughput measures how fast each strategy captures a
// 200,000-row backlog: a fresh input per iteration (nothing is ever
// deleted: CheckpointDurable is never called), run until it has emitted
// every row. One database holds a schema per strategy, each built once
// (outside the timer) by the first run of its sub-benchmark.
func BenchmarkCaptureThroughput(b *testing.B) {
	dsn := pgtest.DB(b)
	if dsn == "" {
		return
	}
	for _, strategy := range []string{"polling", "trigger", "commit_order", "notify"} {
		fx := &throughputFixture{}
		b.Run("strategy="+strategy, func(b *testing.B) {
			b.StopTimer()
			fx.once.Do(func() {
				fx.stats, fx.err = buildThroughputFixture(dsn, strategy)
				if fx.err == nil {
					b.Logf("fixture %s", fx.stats)
				}
			})
			if fx.err != nil {
				b.Fatalf("fixture fx_%s: %v", strategy, fx.err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				in, err := benchInput(dsn, "fx_"+strategy, strategy, 10*time.Millisecond)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				inputtest.CaptureAll(b, in, benchRows)
				b.StopTimer()
				in.Close()
			}
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

const benchInsert = `INSERT INTO bench.transactions (transaction_id, amount, currency, product_category, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)`

// benchInsertArgs are row id's values for benchInsert, stamped now.
func benchInsertArgs(id int) []any {
	now := time.Now().UTC()
	return []any{int32(id), float64(id%10_000) / 100, benchCurrencies[id%len(benchCurrencies)], benchCategories[id%len(benchCategories)], now, now}
}

// benchDB creates a database with schema bench and its empty
// transactions table; it is dropped when b's run ends.
func benchDB(b *testing.B) string {
	b.Helper()
	dsn := pgtest.DB(b)
	if dsn == "" {
		b.SkipNow()
	}
	c := pgtest.Conn(b, dsn)
	if err := benchCreateTable(context.Background(), c, "bench"); err != nil {
		b.Fatal(err)
	}
	return dsn
}

// latencyRun writes latencyRate single-row autocommit transactions per
// second for latencyDuration into a fresh database captured by notify
// (safety poll 1s), and returns commit → emit latencies plus the achieved
// write rate. Every checkpoint (0: never, as under the agent's default
// checkpoint_interval of 10s in a 3s run) the latest emitted position is
// made durable, as the agent does: the consumed changelog rows are deleted.
func latencyRun(b *testing.B, checkpoint time.Duration) ([]time.Duration, float64) {
	b.Helper()
	const poll = time.Second
	dsn := benchDB(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := benchSetup(ctx, dsn, "bench", "notify"); err != nil {
		b.Fatal(err)
	}
	in, err := benchInput(dsn, "bench", "notify", poll)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()

	app := pgtest.Conn(b, dsn) // the application: one connection
	insert := func(id int) error {
		_, err := app.Exec(ctx, benchInsert, benchInsertArgs(id)...)
		return err
	}

	n := int(latencyDuration / time.Second * latencyRate)
	interval := time.Second / latencyRate
	out := inputtest.NewArrivals(n)
	runErr := make(chan error, 1)
	go func() { runErr <- in.Run(ctx, nil, out) }()
	ckptDone := make(chan struct{})
	go func() {
		defer close(ckptDone)
		if checkpoint <= 0 {
			return
		}
		tick := time.NewTicker(checkpoint)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			p := out.Last()
			if p == nil {
				continue
			}
			if err := in.CheckpointDurable(ctx, p); err != nil && ctx.Err() == nil {
				b.Errorf("CheckpointDurable: %v", err)
			}
		}
	}()
	stop := func() {
		cancel()
		<-ckptDone
		if err := <-runErr; err != nil && err != context.Canceled {
			b.Errorf("Run: %v", err)
		}
	}

	// Warm-up: row 0 must arrive before measuring, so that connecting,
	// LISTEN and resolving the table are not counted.
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
		b.Fatalf("notify: only %d of %d committed rows arrived", count-1, n)
	}
	if dups != 0 || unknown != 0 {
		b.Fatalf("notify: %d duplicate and %d unknown events", dups, unknown)
	}
	lat := make([]time.Duration, 0, n)
	for id := 1; id <= n; id++ {
		lat = append(lat, out.Arrived(id).Sub(committed[id]))
	}
	return lat, rate
}

// BenchmarkNotifyLatency measures commit → event latency of strategy
// notify (safety poll 1s) at 1,000 single-row transactions per second, for
// about 3 s per iteration. Commit time is when the application's COMMIT
// returns; the event's, when the input hands it to the emitter. Two
// sub-benchmarks: no checkpoint during the run (the agent's default
// checkpoint_interval is 10s), and a durable checkpoint every 100ms, whose
// deletes keep the changelog short.
func BenchmarkNotifyLatency(b *testing.B) {
	for _, c := range []struct {
		name       string
		checkpoint time.Duration
	}{
		{"checkpoint=none", 0},
		{"checkpoint=100ms", 100 * time.Millisecond},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.StopTimer()
			var all []time.Duration
			var rates []float64
			for i := 0; i < b.N; i++ {
				lat, rate := latencyRun(b, c.checkpoint)
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

const (
	costWriters  = 4               // concurrent writers
	costDuration = 2 * time.Second // each writer's run per iteration
)

// benchObjects counts the capture objects in schema bench: triggers on
// user tables, functions and tables besides transactions.
func benchObjects(ctx context.Context, c *pgx.Conn) (int, error) {
	var n int
	err := c.QueryRow(ctx, `SELECT
  (SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal)
+ (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'bench')
+ (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'bench' AND c.relkind = 'r' AND c.relname <> 'transactions')`).Scan(&n)
	return n, err
}

// costRun runs costWriters writers of single-row autocommit inserts for
// costDuration on a fresh database with the capture objects of install
// ("" for none), and returns every commit's latency and the elapsed time.
// No input runs: this is what the objects cost the application.
func costRun(b *testing.B, install string) ([]time.Duration, time.Duration) {
	b.Helper()
	dsn := benchDB(b)
	ctx := context.Background()
	admin := pgtest.Conn(b, dsn)
	if install == "" {
		// polling and commit_order install nothing: their source cost is
		// this configuration's.
		for _, st := range []string{"polling", "commit_order"} {
			if err := benchSetup(ctx, dsn, "bench", st); err != nil {
				b.Fatalf("setup %s: %v", st, err)
			}
		}
	} else if err := benchSetup(ctx, dsn, "bench", install); err != nil {
		b.Fatalf("setup %s: %v", install, err)
	}
	objs, err := benchObjects(ctx, admin)
	if err != nil {
		b.Fatal(err)
	}
	if install == "" && objs != 0 {
		b.Fatalf("polling/commit_order setup created %d objects, want none", objs)
	}
	if install != "" && objs != 3 {
		b.Fatalf("%s setup created %d objects, want 3 (changelog, function, trigger)", install, objs)
	}

	conns := make([]*pgx.Conn, costWriters)
	for w := range conns {
		conns[w] = pgtest.Conn(b, dsn)
		// Warm up: prepare the statement, load the catalog caches.
		if _, err := conns[w].Exec(ctx, benchInsert, benchInsertArgs(1<<30+w)...); err != nil {
			b.Fatal(err)
		}
	}
	lats := make([][]time.Duration, costWriters)
	errs := make([]error, costWriters)
	var wg sync.WaitGroup
	b.StartTimer()
	begin := time.Now()
	deadline := begin.Add(costDuration)
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := make([]time.Duration, 0, 20_000)
			for id := w + 1; ; id += costWriters {
				t := time.Now()
				if !t.Before(deadline) {
					break
				}
				if _, err := conns[w].Exec(ctx, benchInsert, benchInsertArgs(id)...); err != nil {
					errs[w] = fmt.Errorf("writer %d, insert %d: %w", w, id, err)
					return
				}
				l = append(l, time.Since(t))
			}
			lats[w] = l
		}()
	}
	wg.Wait()
	elapsed := time.Since(begin)
	b.StopTimer()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	return all, elapsed
}

// BenchmarkSourceCost measures what the capture objects cost the source:
// commit latency of single-row insert transactions, costWriters concurrent
// writers for about 2 s, on a table with no capture objects (none; polling
// and commit_order install nothing, which the benchmark checks), with
// trigger's objects (changelog + AFTER ROW trigger), and with notify's
// (the same plus pg_notify, whose commit takes a cluster-wide lock).
func BenchmarkSourceCost(b *testing.B) {
	for _, install := range []string{"", "trigger", "notify"} {
		name := install
		if name == "" {
			name = "none"
		}
		b.Run("objects="+name, func(b *testing.B) {
			b.StopTimer()
			var all []time.Duration
			var elapsed time.Duration
			for i := 0; i < b.N; i++ {
				lat, d := costRun(b, install)
				all = append(all, lat...)
				elapsed += d
			}
			if len(all) == 0 {
				b.Fatal("no commit measured")
			}
			var sum time.Duration
			for _, d := range all {
				sum += d
			}
			slices.Sort(all)
			us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
			b.ReportMetric(us(sum)/float64(len(all)), "mean-µs")
			b.ReportMetric(us(inputtest.Percentile(all, 99)), "p99-µs")
			b.ReportMetric(float64(len(all))/elapsed.Seconds(), "tx/s")
		})
	}
}
