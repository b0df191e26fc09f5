// Package bench compares capture strategies on one source: it runs the
// same seeded workload with no capture installed (the baseline) and then
// under each strategy, with a real agent process capturing, and measures
// what each strategy costs the source (commit latency and throughput
// against the baseline), how fast and how completely it captures (verdict
// against the workload's ledger), and what the agent itself uses.
//
// It is the engine of `agent bench`; the CLI, report.json/html and the
// examples are wired on top of Run and Report.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Run benches cfg's strategies against cfg's source, using the agent
// binary agentBin for setup, capture and teardown. progress, if not nil,
// gets one line per phase. The source's transactions table is dropped and
// recreated for every phase (SQLite: a fresh file beside the DSN's).
func Run(ctx context.Context, cfg Config, agentBin string, progress io.Writer) (*Report, error) {
	kind, err := sourceKind(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("bench: source.dsn: %w", err)
	}
	if progress == nil {
		progress = io.Discard
	}
	dir, err := os.MkdirTemp("", "rowflux-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)

	w := cfg.Workload
	rep := &Report{
		Source: kind, Started: time.Now().UTC(), Strategies: cfg.Strategies,
		Workload: Workload{
			Rate: w.Rate, DurationNS: int64(w.Duration), WarmupNS: int64(w.Warmup), Writers: w.Writers, Mix: w.Mix,
			LongTxEvery: w.LongTxEvery, LongTxHoldNS: int64(w.LongTxHold), Seed: w.Seed, Preload: w.Preload,
			PollIntervalNS: int64(cfg.PollInterval),
		},
	}
	b := &bencher{cfg: cfg, src: &source{kind: kind, dsn: cfg.DSN}, bin: agentBin, progress: progress}
	for i := range cfg.Repeat {
		b.run = fmt.Sprintf("%d/%d", i+1, cfg.Repeat)
		runDir := filepath.Join(dir, fmt.Sprint(i+1))
		res, err := b.round(ctx, runDir)
		if err != nil {
			return rep, fmt.Errorf("bench run %s: %w", b.run, err)
		}
		rep.Runs = append(rep.Runs, res)
	}
	return rep, nil
}

// bencher holds what every phase of a Run shares.
type bencher struct {
	cfg      Config
	src      *source
	bin      string
	progress io.Writer
	run      string // "2/3": which repeat, for progress lines
}

// round is one repeat: the baseline, then each strategy.
func (b *bencher) round(ctx context.Context, dir string) (RunResult, error) {
	var res RunResult
	base, err := b.baseline(ctx, filepath.Join(dir, "baseline"))
	if err != nil {
		return res, fmt.Errorf("baseline: %w", err)
	}
	res.Baseline = base
	for _, s := range b.cfg.Strategies {
		p, err := b.strategy(ctx, filepath.Join(dir, s), s, base)
		if err != nil {
			return res, fmt.Errorf("%s: %w", s, err)
		}
		res.Strategies = append(res.Strategies, p)
	}
	return res, nil
}

func (b *bencher) baseline(ctx context.Context, dir string) (Phase, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Phase{}, fmt.Errorf("phase directory: %w", err)
	}
	db, err := b.src.reset(ctx, "baseline")
	if err != nil {
		return Phase{}, err
	}
	// Best effort: a file left behind is in the bench's own name and the
	// next run's reset removes it.
	defer b.src.cleanup(db)
	if err := createSchema(ctx, db.dsn); err != nil {
		return Phase{}, err
	}
	wr, err := runWorkload(ctx, b.cfg.Workload, db.dsn, dir)
	if err != nil {
		return Phase{}, err
	}
	p := sourcePhase("baseline", wr)
	fmt.Fprintf(b.progress, "bench %s baseline: %d commits, %.1f/s, commit p50 %s p95 %s p99 %s\n",
		b.run, p.Commits, p.Throughput, ms(p.CommitLatency.P50NS), ms(p.CommitLatency.P95NS), ms(p.CommitLatency.P99NS))
	return p, nil
}

// strategy runs one strategy phase: a fresh table, setup, the agent
// capturing the workload until its output goes quiet, teardown.
func (b *bencher) strategy(ctx context.Context, dir, strategy string, base Phase) (_ Phase, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Phase{}, fmt.Errorf("phase directory: %w", err)
	}
	db, err := b.src.reset(ctx, strategy)
	if err != nil {
		return Phase{}, err
	}
	defer b.src.cleanup(db)
	if err := createSchema(ctx, db.dsn); err != nil {
		return Phase{}, err
	}
	conf, err := writePipeline(dir, b.src.kind, db, strategy, b.cfg.PollInterval)
	if err != nil {
		return Phase{}, err
	}
	defer func() {
		// Teardown even after a failure, a failed setup or an interrupt
		// included (setup may have installed part of its objects): capture
		// objects left behind would slow every later phase (and the user's
		// database). Teardown is idempotent.
		if terr := agentCommand(context.WithoutCancel(ctx), b.bin, "teardown", "--config", conf); err == nil {
			err = terr
		}
	}()
	if err := agentCommand(ctx, b.bin, "setup", "--config", conf); err != nil {
		return Phase{}, err
	}
	agent, err := startAgent(b.bin, conf)
	if err != nil {
		return Phase{}, err
	}
	defer agent.kill()
	wr, err := runWorkload(ctx, b.cfg.Workload, db.dsn, dir)
	if err != nil {
		return Phase{}, err
	}
	quiet, limit := b.drainWait(strategy)
	drained, err := agent.waitQuiet(ctx, quiet, limit)
	if err != nil {
		return Phase{}, err
	}
	usage, err := agent.stop()
	if err != nil {
		return Phase{}, err
	}
	if agent.badLines > 0 && len(agent.events) == 0 {
		return Phase{}, errors.New("the agent printed lines but no change event with transaction_id and updated_at")
	}

	p := sourcePhase(strategy, wr)
	compareToBaseline(&p, base)
	p.Capture = capturePhase(b.src.kind, strategy, wr, agent.events, drained)
	p.Agent = &usage
	c := p.Capture
	fmt.Fprintf(b.progress, "bench %s %s: %d commits, %.1f/s (x%.2f), commit p95 %s (x%.2f); %d events, capture p95 %s, missed %d of %d, duplicates %d, unexpected %d; agent cpu %.2fs, rss %.1fMiB\n",
		b.run, strategy, p.Commits, p.Throughput, p.ThroughputRatio, ms(p.CommitLatency.P95NS), p.CommitLatencyRatio.P95,
		c.Events, ms(c.Latency.P95NS), c.Missed, c.Checked, c.Duplicates, c.Unexpected, usage.CPUSeconds, float64(usage.PeakRSSBytes)/(1<<20))
	return p, nil
}

// pollingLag is inputs' default lag: polling stays this far behind now,
// so its last events come that long after the last commit.
const pollingLag = time.Second

// drainWait is how long the agent's output must stay quiet after the
// workload for the bench to call capture complete, and the most it waits
// for that: a quiet spell must outlast a poll (and polling's lag), or a
// strategy between two polls would be cut short.
func (b *bencher) drainWait(strategy string) (quiet, limit time.Duration) {
	quiet = 2*b.cfg.PollInterval + 300*time.Millisecond
	if strategy == "polling" {
		quiet += pollingLag
	}
	return quiet, quiet + 30*time.Second
}
