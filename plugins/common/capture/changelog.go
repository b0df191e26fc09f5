package capture

import (
	"context"
	"fmt"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// drainLoop drains the changelog, then waits: for a source signal
// (notify; a timeout is the safety poll) or poll_interval (trigger).
func (e *Engine) drainLoop(ctx context.Context, out sdk.Emitter) error {
	w, _ := e.src.(Waiter)
	for {
		if err := e.drain(ctx, out); err != nil {
			return err
		}
		if e.strategy == Notify && w != nil {
			if _, err := w.Wait(ctx, time.Duration(e.cfg.PollInterval)); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("wait for change notification: %w", err)
			}
			continue
		}
		if !sdk.Sleep(ctx, time.Duration(e.cfg.PollInterval)) {
			return ctx.Err()
		}
	}
}

// drain emits every changelog row not emitted yet, batch by batch.
//
// A multi-writer source can commit a row below the highest sequence read,
// so its drains start at a floor below which no row can still appear (0
// without a Snapshotter) and skip rows already seen. The floor moves up to
// the highest sequence an earlier drain read (floorNext) once every
// transaction that could hold a sequence up to it has ended: such a
// transaction had its id before that drain's reads finished (its first
// write precedes the trigger's nextval), so it is below a fence taken
// after them (floorXmax); when a later horizon reaches that, its rows were
// visible to this drain's reads — so the floor moves only after this drain
// has read and emitted everything.
func (e *Engine) drain(ctx context.Context, out sdk.Emitter) error {
	cl := e.src.(Changelog)
	sn, snapshots := e.src.(Snapshotter)
	snapshots = snapshots && e.seen != nil
	var advanceTo uint64
	if snapshots {
		xmin, err := sn.Horizon(ctx)
		if err != nil {
			return fmt.Errorf("read transaction horizon: %w", err)
		}
		e.mu.Lock()
		if e.floorXmax != 0 && xmin >= e.floorXmax {
			advanceTo = e.floorNext
		}
		e.mu.Unlock()
	}
	e.mu.Lock()
	after := int64(e.floor)
	if e.seen == nil {
		after = e.hw
	}
	e.mu.Unlock()
	var b builder
	for {
		e.mu.Lock()
		for _, s := range e.tombstones {
			delete(e.seen, s)
		}
		e.tombstones = e.tombstones[:0]
		e.mu.Unlock()
		changes, err := cl.ReadChangelog(ctx, e.tables, after, e.cfg.BatchSize)
		if err != nil {
			return fmt.Errorf("read changelog: %w", err)
		}
		if len(changes) == 0 {
			break
		}
		after = changes[len(changes)-1].Seq
		batch := make(sdk.Batch, 0, len(changes))
		seqs := make([]int64, 0, len(changes))
		b.reset(changes[0].Table, len(changes))
		e.mu.Lock()
		for _, c := range changes {
			if e.seen != nil {
				if _, dup := e.seen[c.Seq]; dup {
					continue
				}
			}
			batch = append(batch, b.event(c.Table, c.Op, c.Values, c.Time))
			seqs = append(seqs, c.Seq)
		}
		e.mu.Unlock()
		if len(batch) > 0 {
			if err := e.emitChanges(ctx, out, batch, seqs); err != nil {
				return err
			}
		}
		if len(changes) < e.cfg.BatchSize {
			break
		}
	}
	if !snapshots {
		return nil
	}
	e.mu.Lock()
	if advanceTo > e.floor {
		e.floor, e.floorXmax = advanceTo, 0
	}
	// A new candidate needs a fence, which may cost the source a
	// transaction id: at most one per poll_interval.
	candidate := e.floorXmax == 0 && uint64(e.hw) > e.floor && time.Since(e.lastFence) >= time.Duration(e.cfg.PollInterval)
	next := uint64(e.hw)
	e.mu.Unlock()
	if !candidate {
		return nil
	}
	fence, err := sn.Fence(ctx)
	if err != nil {
		return fmt.Errorf("read transaction fence: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastFence = time.Now()
	e.floorNext, e.floorXmax = next, fence
	return nil
}

// emitChanges records a batch's sequence numbers, then emits it. Recording
// first is safe: a checkpoint can only carry this batch number if Emit
// succeeded, and if it fails the engine stops anyway.
func (e *Engine) emitChanges(ctx context.Context, out sdk.Emitter, batch sdk.Batch, seqs []int64) error {
	e.mu.Lock()
	e.batchNo++
	n := e.batchNo
	e.inflight = append(e.inflight, emitted{batch: n, seqs: seqs})
	if e.seen != nil {
		for _, s := range seqs {
			e.seen[s] = struct{}{}
		}
	}
	e.hw = max(e.hw, seqs[len(seqs)-1])
	e.mu.Unlock()
	return emit(ctx, out, batch, position{Strategy: e.strategy, Batch: n}.encode())
}

// CheckpointDurable deletes the changelog rows of every batch the durable
// checkpoint covers. A failed delete is retried at the next checkpoint; the
// rows stay marked as emitted meanwhile, so they are not emitted again.
//
// A lost source is Run's to report, once per outage: while Run is
// reconnecting no delete is tried, and a failed delete is returned (so
// logged by the agent) only when the next one fails too without an outage
// noticed in between, i.e. when deleting fails although the source answers
// (a revoked privilege, a locked table). Then, once, and once more (Info)
// when a delete succeeds again; every attempt in between logs at Debug.
func (e *Engine) CheckpointDurable(ctx context.Context, p sdk.Position) error {
	if e.strategy != Trigger && e.strategy != Notify {
		return nil
	}
	pos, err := decodePosition(p)
	if err != nil {
		return err
	}
	if pos.Strategy != e.strategy {
		// A position of another strategy (restored after the configuration
		// changed) cannot refer to this engine's batches.
		return nil
	}
	e.mu.Lock()
	seqs := e.leftovers
	e.leftovers = nil
	i := 0
	for ; i < len(e.inflight) && e.inflight[i].batch <= pos.Batch; i++ {
		seqs = append(seqs, e.inflight[i].seqs...)
	}
	e.inflight = append(e.inflight[:0:0], e.inflight[i:]...)
	if e.down && len(seqs) > 0 {
		e.leftovers = seqs
		e.mu.Unlock()
		e.log.Debug("source unavailable; consumed changelog rows are deleted once it is back", "rows", len(seqs))
		return nil
	}
	e.mu.Unlock()
	if len(seqs) == 0 {
		return nil
	}
	start := time.Now()
	if err := e.src.(Changelog).DeleteChangelog(ctx, seqs); err != nil {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.leftovers = append(e.leftovers, seqs...)
		r := &e.release
		persistent := r.failing && r.epoch == e.outages && !e.down
		if !r.failing || r.epoch != e.outages {
			r.failing, r.epoch = true, e.outages
		}
		if persistent && !r.reported {
			r.reported = true
			return fmt.Errorf("delete %d consumed changelog rows: %w", len(seqs), err)
		}
		e.log.Debug("could not delete consumed changelog rows; retrying at the next checkpoint", "rows", len(seqs), "error", err)
		return nil
	}
	e.mu.Lock()
	if e.seen != nil {
		e.tombstones = append(e.tombstones, seqs...)
	}
	reported := e.release.reported
	e.release = releaseState{}
	e.mu.Unlock()
	if reported {
		e.log.Info("consumed changelog rows deleted again", "rows", len(seqs))
	}
	e.log.Debug("deleted consumed changelog rows", "rows", len(seqs), "took", time.Since(start))
	return nil
}
