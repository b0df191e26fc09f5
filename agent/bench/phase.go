package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/rowflux/rowflux/agent/bench/verdict"
	"github.com/rowflux/rowflux/agent/workload"
)

// workloadRun is what one phase's workload committed and when.
type workloadRun struct {
	stats      workload.Stats      // timed run
	latencies  []time.Duration     // committed − began, per timed transaction
	commits    map[int64]time.Time // timed entries' commit times by Entry.N
	warm       []workload.Entry    // warm-up ledger (preload included)
	timed      []workload.Entry    // timed-run ledger
	timedStart time.Time
	// firstBegan is when the first timed transaction began: capture
	// throughput counts from there, not from the workload's own start-up
	// (connecting, reading the table).
	firstBegan time.Time
}

// createSchema creates the (empty) transactions table, before any capture
// object is installed on it.
func createSchema(ctx context.Context, dsn string) error {
	if _, err := workload.Run(ctx, workload.Options{DSN: dsn, SchemaOnly: true}); err != nil {
		return fmt.Errorf("create the transactions table: %w", err)
	}
	return nil
}

// runWorkload runs the warm-up, then the timed run with a fresh ledger,
// both seeded alike in every phase. Preloaded rows go into the first run,
// whose own clock starts after them.
func runWorkload(ctx context.Context, w WorkloadConfig, dsn, dir string) (*workloadRun, error) {
	opts := workload.Options{
		DSN: dsn, Rate: w.Rate, Writers: w.Writers, Mix: w.Mix,
		LongTxEvery: w.LongTxEvery, LongTxHold: w.LongTxHold, Seed: w.Seed, Preload: w.Preload,
	}
	res := &workloadRun{commits: map[int64]time.Time{}}
	if w.Warmup > 0 {
		warm := opts
		warm.Duration = w.Warmup
		warm.Ledger = filepath.Join(dir, "warmup.jsonl")
		if _, err := workload.Run(ctx, warm); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		es, err := workload.ReadLedger(warm.Ledger)
		if err != nil {
			return nil, err
		}
		res.warm = es
		opts.Preload = 0
	}
	var mu sync.Mutex
	timed := opts
	timed.Duration = w.Duration
	timed.Ledger = filepath.Join(dir, "timed.jsonl")
	timed.OnCommit = func(e workload.Entry, began, committed time.Time, _ bool) {
		mu.Lock()
		res.latencies = append(res.latencies, committed.Sub(began))
		res.commits[e.N] = committed
		if res.firstBegan.IsZero() || began.Before(res.firstBegan) {
			res.firstBegan = began
		}
		mu.Unlock()
	}
	res.timedStart = time.Now()
	st, err := workload.Run(ctx, timed)
	if err != nil {
		return nil, fmt.Errorf("timed run: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res.stats = st
	if res.timed, err = workload.ReadLedger(timed.Ledger); err != nil {
		return nil, err
	}
	return res, nil
}

// sourcePhase fills the source-side metrics of a phase.
func sourcePhase(name string, wr *workloadRun) Phase {
	p := Phase{
		Strategy:      name,
		Commits:       wr.stats.Commits,
		ElapsedNS:     int64(wr.stats.Elapsed),
		CommitLatency: latencyOf(verdict.Percentiles(wr.latencies)),
	}
	if wr.stats.Elapsed > 0 {
		p.Throughput = float64(wr.stats.Commits) / wr.stats.Elapsed.Seconds()
	}
	return p
}

// compareToBaseline sets a strategy phase's ratios to the baseline's.
func compareToBaseline(p *Phase, base Phase) {
	p.CommitLatencyRatio = &Ratios{
		P50: ratio(p.CommitLatency.P50NS, base.CommitLatency.P50NS),
		P95: ratio(p.CommitLatency.P95NS, base.CommitLatency.P95NS),
		P99: ratio(p.CommitLatency.P99NS, base.CommitLatency.P99NS),
	}
	if base.Throughput > 0 {
		p.ThroughputRatio = p.Throughput / base.Throughput
	}
}

// kindOf is what a strategy promises on SQLite and PostgreSQL, where
// notify drains a changelog (on Oracle, cqn fetches current rows).
func kindOf(strategy string) verdict.Kind {
	switch strategy {
	case "trigger", "notify":
		return verdict.Changelog
	}
	return verdict.QueryBased
}

// kindOn is how a strategy's events are judged on source src. Oracle's
// trigger and cqn record which rows changed, not their images, and read
// the rows' current values (plugins/inputs/oracle/README.md, "latest
// state"): several changes of a key between two reads arrive as one
// event, so every Oracle strategy is judged query-based.
func kindOn(src, strategy string) verdict.Kind {
	if src == "oracle" {
		return verdict.QueryBased
	}
	return kindOf(strategy)
}

// capturePhase judges what the agent delivered. Both ledgers are judged,
// since capture ran through the warm-up as well; latency and throughput
// cover the timed run's changes only.
func capturePhase(src, strategy string, wr *workloadRun, events []verdict.Event, drained bool) *Capture {
	kind := kindOn(src, strategy)
	ledger := append(append([]workload.Entry(nil), wr.warm...), wr.timed...)
	r := verdict.Compare(kind, ledger, events)
	c := &Capture{
		Kind: kind.String(), Events: len(events),
		Latency: latencyOf(verdict.CaptureLatency(wr.timed, wr.commits, events)),
		Checked: r.Checked, Missed: r.Missed, MissedSample: r.MissedSample,
		Duplicates: r.Duplicates, Unexpected: r.Unexpected, Drained: drained,
	}
	n, last := 0, time.Time{}
	for i, ev := range events {
		if r.Matched[i] >= len(wr.warm) {
			n++
			if ev.Arrived.After(last) {
				last = ev.Arrived
			}
		}
	}
	from := wr.firstBegan
	if from.IsZero() {
		from = wr.timedStart
	}
	if span := last.Sub(from); n > 0 && span > 0 {
		c.Throughput = float64(n) / span.Seconds()
	}
	return c
}
