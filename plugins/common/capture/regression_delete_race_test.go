package capture

// Regression test for a fixed bug (engine, changelog strategies on multi-writer sources): a checkpoint
// that completes while a drain is between ReadChangelog and its duplicate
// filter makes the engine emit already-emitted rows a second time.
//
// drain() reads a page (which, on a multi-writer source, starts from seq 0
// and so includes rows already emitted but not yet deleted), releases e.mu
// during the read, then filters the page against e.seen. CheckpointDurable
// runs on the coordinator's goroutine: it deletes the covered rows and then
// removes their seqs from e.seen. If that happens after the read took its
// snapshot but before the filter runs, the filter no longer knows the rows
// and emits them again — inside one running agent, with no crash, which
// DESIGN.md rules out ("an emitted row is not emitted twice") and which
// double-counts in every window aggregate.
//
// Fix (changelog.go): do not forget a seq while a read that may have seen it
// is in flight. E.g. CheckpointDurable, after a successful delete, appends
// the seqs to e.tombstones instead of deleting them from e.seen, and drain,
// under e.mu just BEFORE each ReadChangelog call, removes the current
// tombstones from e.seen (their delete committed before this read started,
// so this read cannot return them). Alternatively serialise the two with a
// mutex held across ReadChangelog+filter in drain and across
// DeleteChangelog+unsee in CheckpointDurable.
//
// These tests failed against the engine as first written; the fix above has
// since been applied, and they now guard against a regression.

import (
	"slices"
	"sync/atomic"
	"testing"

	"github.com/rowflux/rowflux/sdk"
)

func TestRegressionCheckpointDuringReadReemitsRows(t *testing.T) {
	f := clFake(false)
	addOrders(f, 1, 3)
	rec := newRec()
	e := newEngine(t, clConfig("trigger", 100), f, sdk.Env{})
	start(t, e, nil, rec)
	rec.waitEvents(t, 3)
	cp := rec.lastPos()

	// The next read returns rows 1..3 (emitted, not deleted yet); the
	// checkpoint covering them completes right after that read, before the
	// engine filters the page — one possible interleaving of the engine's
	// goroutine and the coordinator's.
	var fired atomic.Bool
	f.setAfterRead(func(changes []Change) {
		if len(changes) > 0 && fired.CompareAndSwap(false, true) {
			if err := checkpoint(t, e, cp); err != nil {
				t.Error(err)
			}
		}
	})
	waitFor(t, "the checkpoint during a read", fired.Load)
	settle(t, f, "ReadChangelog", 3)

	if got := f.remaining(); len(got) != 0 {
		t.Fatalf("checkpoint did not delete: %v", got)
	}
	if got := ids(t, rec.events(), "id"); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Fatalf("ids %v, want [1 2 3]: rows emitted twice without any crash", got)
	}
}
