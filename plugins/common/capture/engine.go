package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// Engine runs one capture input's strategy over a dialect. A database
// input embeds Config, builds its dialect in Init, and forwards Run,
// CheckpointDurable, Setup, Teardown and Doctor to an Engine.
type Engine struct {
	cfg      *Config
	src      Source
	log      *slog.Logger
	strategy Strategy
	test     bool

	tables []*Table

	// round is the commit_order strategy's progress.
	round round

	// Changelog bookkeeping, shared with CheckpointDurable.
	mu        sync.Mutex
	batchNo   uint64
	inflight  []emitted          // batches emitted and not yet deleted, in order
	seen      map[int64]struct{} // their sequence numbers (multi-writer sources only)
	leftovers []int64            // sequence numbers whose delete failed; retried
	// tombstones are deleted sequence numbers still in seen: a read that
	// started before their delete committed may return them, so they leave
	// seen only right before the next read starts.
	tombstones []int64
	// floor: no changelog row at or below it can still appear, so drains
	// of a multi-writer source read above it. floorNext/floorXmax: the
	// highest sequence read by a drain and the fence taken after it; once
	// the horizon reaches floorXmax, every transaction that could hold a
	// sequence value up to floorNext has ended.
	floor, floorNext, floorXmax uint64
	lastFence                   time.Time
	hw                          int64 // highest emitted sequence (commit-ordered sources)

	// Outages, shared with CheckpointDurable so that a lost source is
	// reported once, by Run, and not again by every checkpoint's delete.
	// down: Run has logged the outage and not yet reconnected. outages
	// counts them, so that a failed delete can tell whether an outage came
	// between it and the previous one.
	down    bool
	outages uint64
	release releaseState
}

// releaseState tracks failed changelog deletes.
type releaseState struct {
	// failing: the last delete failed, during the outage count in epoch.
	failing bool
	epoch   uint64
	// reported: the failure was returned (and so logged by the agent); the
	// next successful delete says that it has recovered.
	reported bool
}

type emitted struct {
	batch uint64
	seqs  []int64
}

// NewEngine validates cfg against what src supports. Errors name the key.
func NewEngine(cfg *Config, src Source, env sdk.Env) (*Engine, error) {
	st, err := cfg.Validate(src.Name(), Supported(src))
	if err != nil {
		return nil, err
	}
	if err := cfg.checkTableOptions(src); err != nil {
		return nil, err
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{cfg: cfg, src: src, log: log, strategy: st, test: env.Test}
	if _, ok := src.(Changelog); ok && !src.(Changelog).SeqCommitOrdered() {
		e.seen = map[int64]struct{}{}
	}
	return e, nil
}

// Strategy is the resolved strategy.
func (e *Engine) Strategy() Strategy { return e.strategy }

// Tables are the resolved tables (after the first successful connect).
func (e *Engine) Tables() []*Table { return e.tables }

// connect (re)opens the source and resolves the tables once.
func (e *Engine) connect(ctx context.Context) error {
	if err := e.src.Connect(ctx); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if e.tables != nil {
		return nil
	}
	var tables []*Table
	for _, tc := range e.cfg.Tables {
		t, err := resolve(ctx, e.src, tc, e.cfg.ColumnCase)
		if err != nil {
			return err
		}
		tables = append(tables, t)
	}
	e.tables = tables
	return nil
}

// errStop wraps errors that retrying cannot fix.
type errStop struct{ error }

// Permanent marks a dialect error that retrying cannot fix (a lost
// privilege, a registration the database refuses): the engine stops with
// it instead of reconnecting with backoff.
func Permanent(err error) error { return errStop{err} }

func (e errStop) Unwrap() error { return e.error }

// Run captures until ctx is cancelled (after auto_setup, if configured and
// not a --test run). Losing the source is not an error:
// the engine reconnects with backoff and resumes from the last position it
// emitted, so nothing is lost and only a crash of the agent replays.
func (e *Engine) Run(ctx context.Context, from sdk.Position, out sdk.Emitter) error {
	pos, err := decodePosition(from)
	if err != nil {
		return err
	}
	if pos.Strategy != "" && pos.Strategy != e.strategy {
		e.log.Warn("checkpoint was taken with another strategy; starting this one from its beginning", "checkpointed", pos.Strategy, "configured", e.strategy)
		pos = position{}
	}
	var cursors map[string][]any
	if e.strategy == CommitOrder {
		if e.round, err = roundFrom(pos); err != nil {
			return err
		}
	} else if cursors, err = decodeCursors(pos); err != nil {
		return err
	}
	// Batch numbers continue from the restored position: a checkpoint taken
	// before this run emits anything carries that position, and it must not
	// cover batches this run emits later.
	e.mu.Lock()
	e.batchNo = max(e.batchNo, pos.Batch)
	e.mu.Unlock()
	backoff := 100 * time.Millisecond
	down := time.Time{}
	setupDone := !e.cfg.AutoSetup || e.test
	if _, ok := e.src.(Installer); !ok && !setupDone {
		return fmt.Errorf("auto_setup: %s does not manage capture objects", e.src.Name())
	}
	for {
		err := e.connect(ctx)
		if err == nil && !setupDone {
			// An unreachable source is retried like any outage, but a setup
			// that fails once connected (privileges, a clashing object) will
			// not fix itself.
			if err = e.src.(Installer).Setup(ctx, e.strategy, e.tables); err != nil {
				return fmt.Errorf("auto_setup: %w", err)
			}
			setupDone = true
		}
		if err == nil {
			if !down.IsZero() {
				e.log.Info("source reachable again; resuming from the last emitted position", "outage", time.Since(down).Round(time.Millisecond))
				down, backoff = time.Time{}, 100*time.Millisecond
				e.setDown(false)
			}
			switch e.strategy {
			case Polling:
				err = e.poll(ctx, out, cursors)
			case Trigger, Notify:
				err = e.drainLoop(ctx, out)
			case CommitOrder:
				err = e.commitOrder(ctx, out)
			default:
				// Unreachable: Validate admits only strategies the dialect's
				// capabilities cover.
				err = errStop{fmt.Errorf("strategy %s: %s offers no reader for it", e.strategy, e.src.Name())}
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		var stop errStop
		if errors.As(err, &stop) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrBadData) {
			return err
		}
		if down.IsZero() {
			down = time.Now()
			e.setDown(true)
			e.log.Warn("source unavailable; retrying with backoff", "error", err)
		} else {
			e.log.Debug("source still unavailable", "error", err)
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (e *Engine) setDown(down bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.down = down
	if down {
		e.outages++
	}
}

// emit wraps out.Emit so that a pipeline shutdown stops the engine instead
// of being retried as a source error.
func emit(ctx context.Context, out sdk.Emitter, b sdk.Batch, pos sdk.Position) error {
	if err := out.Emit(ctx, b, pos); err != nil {
		return errStop{err}
	}
	return nil
}

// SetupTables resolves the tables if needed and calls fn with the Installer.
func (e *Engine) withInstaller(ctx context.Context, fn func(Installer) error) error {
	inst, ok := e.src.(Installer)
	if !ok {
		return fmt.Errorf("%s does not manage capture objects", e.src.Name())
	}
	if err := e.connect(ctx); err != nil {
		return err
	}
	return fn(inst)
}

// Setup installs the capture objects the strategy needs (idempotent).
func (e *Engine) Setup(ctx context.Context) error {
	return e.withInstaller(ctx, func(i Installer) error { return i.Setup(ctx, e.strategy, e.tables) })
}

// Teardown removes what Setup installed.
func (e *Engine) Teardown(ctx context.Context) error {
	return e.withInstaller(ctx, func(i Installer) error { return i.Teardown(ctx, e.strategy, e.tables) })
}

// Doctor checks prerequisites. A table that cannot be resolved is reported
// as a failed check rather than an error.
func (e *Engine) Doctor(ctx context.Context) ([]sdk.Check, error) {
	inst, ok := e.src.(Installer)
	if !ok {
		return nil, fmt.Errorf("%s does not manage capture objects", e.src.Name())
	}
	if err := e.src.Connect(ctx); err != nil {
		return []sdk.Check{{Name: "connect to the source", Detail: err.Error()}}, nil
	}
	checks := []sdk.Check{{Name: "connect to the source", OK: true}}
	if e.tables == nil {
		var tables []*Table
		for _, tc := range e.cfg.Tables {
			t, err := resolve(ctx, e.src, tc, e.cfg.ColumnCase)
			if err != nil {
				checks = append(checks, sdk.Check{Name: "table " + tc.Name, Detail: err.Error(), Fix: "create the table, or correct the configured name and columns"})
				continue
			}
			checks = append(checks, sdk.Check{Name: "table " + tc.Name, OK: true, Detail: fmt.Sprintf("%d captured columns", len(t.Columns))})
			tables = append(tables, t)
		}
		if len(tables) < len(e.cfg.Tables) {
			return checks, nil
		}
		e.tables = tables
	}
	more, err := inst.Doctor(ctx, e.strategy, e.tables)
	return append(checks, more...), err
}

// Close releases the source.
func (e *Engine) Close() error { return e.src.Close() }
