package capture

// Regression test for a fixed bug (engine, changelog strategies): batch numbers restart at 1 in every
// new Engine, but the agent hands the restored position back to
// CheckpointDurable.
//
// The pipeline's input runner starts with pos = the restored position
// (agent/pipeline/input.go: `pos: in.From`), so a checkpoint whose barrier
// is taken before the restarted input emits anything carries the OLD
// position, e.g. {"strategy":"trigger","batch":2}. When that checkpoint
// becomes durable, CheckpointDurable deletes every inflight batch numbered
// <= 2 — but those numbers now belong to batches the NEW engine emitted
// after the barrier, which no durable checkpoint covers. A crash at that
// point loses them: the changelog rows are gone and the checkpoint says to
// resume after them. The same happens when the configured strategy changes
// (trigger -> notify): Run discards the position, CheckpointDurable does not.
//
// Fix (changelog.go / engine.go): in Run, after decoding `from`, continue the
// numbering: `e.batchNo = max(e.batchNo, pos.Batch)` for a changelog
// position (any changelog strategy, so numbers never go backwards), and in
// CheckpointDurable ignore a position whose Strategy differs from
// e.strategy (it cannot refer to this engine's batches).
//
// These tests failed against the engine as first written; the fix above has
// since been applied, and they now guard against a regression.

import (
	"slices"
	"testing"

	"github.com/rowflux/rowflux/sdk"
)

func TestRegressionCheckpointOfRestoredPositionDeletesUndeliveredRows(t *testing.T) {
	f := clFake(false)
	addOrders(f, 1, 10) // first run: batches {1,2,3} {4,5,6} {7,8,9} {10}

	// First run: a checkpoint covering batches 1-2 becomes durable (rows
	// 1..6 deleted); rows 7..10 are emitted, then the agent crashes before
	// the next checkpoint.
	rec1 := newRec()
	e1 := newEngine(t, clConfig("trigger", 3), f, sdk.Env{})
	r1 := start(t, e1, nil, rec1)
	rec1.waitEvents(t, 10)
	cp := rec1.pos()[1]
	f.pauseReads(t)
	if err := checkpoint(t, e1, cp); err != nil {
		t.Fatal(err)
	}
	r1.stop(t)
	f.resumeReads()

	// Restart from cp. The first barrier is taken before the new engine
	// emits, so it carries cp; the new engine then replays 7..10 (not yet
	// delivered anywhere) and the checkpoint becomes durable.
	rec2 := newRec()
	e2 := newEngine(t, clConfig("trigger", 3), f, sdk.Env{})
	r2 := start(t, e2, cp, rec2)
	rec2.waitEvents(t, 4)
	f.pauseReads(t)
	if err := checkpoint(t, e2, cp); err != nil {
		t.Fatal(err)
	}
	if got := f.remaining(); !slices.Equal(got, seqRange(7, 10)) {
		t.Errorf("a durable checkpoint taken before the restarted engine emitted anything deleted rows it emitted afterwards: "+
			"changelog %v, want 7..10 still there", got)
	}
	r2.stop(t) // the agent crashes before the next checkpoint
	f.resumeReads()

	// Restart again from the latest durable checkpoint (still cp): the rows
	// must be replayed, or they are lost.
	rec3 := newRec()
	start(t, newEngine(t, clConfig("trigger", 3), f, sdk.Env{}), cp, rec3)
	settle(t, f, "ReadChangelog", 3)
	if got := ids(t, rec3.events(), "id"); !slices.Equal(got, seqRange(7, 10)) {
		t.Fatalf("rows 7..10 were never delivered past a durable checkpoint, yet the next start replays %v: they are lost", got)
	}
}

func TestRegressionCheckpointOfOtherStrategyPositionDeletesRows(t *testing.T) {
	// The restored checkpoint was taken with strategy trigger; the user
	// switched to notify. Run starts over, but CheckpointDurable still
	// interprets the trigger position's batch number.
	f := clFake(false)
	addOrders(f, 1, 4)
	stale := position{Strategy: Trigger, Batch: 50}.encode()
	cfg := clConfig("notify", 2)
	rec := newRec()
	e := newEngine(t, cfg, f, sdk.Env{})
	start(t, e, stale, rec)
	rec.waitEvents(t, 4)
	f.pauseReads(t)
	defer f.resumeReads()
	if err := checkpoint(t, e, stale); err != nil {
		t.Fatal(err)
	}
	if got := f.remaining(); !slices.Equal(got, seqRange(1, 4)) {
		t.Fatalf("a checkpoint of another strategy deleted this engine's undelivered rows: changelog %v, want 1..4", got)
	}
}
