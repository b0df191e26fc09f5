package capture

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// clFake has tables orders(id, amount, region) and items(id, name).
func clFake(commitOrdered bool) *fakeSource {
	f := newFake()
	f.addTable("orders", "id INTEGER", "amount REAL", "region TEXT")
	f.addTable("items", "id INTEGER", "name TEXT")
	f.commitOrdered = commitOrdered
	return f
}

var opCycle = []sdk.Op{sdk.OpInsert, sdk.OpUpdate, sdk.OpDelete}

// addOrders writes committed changes with id = from..to (and, on a fresh
// fake, seq = id).
func addOrders(f *fakeSource, from, to int) {
	for i := from; i <= to; i++ {
		f.addChange("orders", opCycle[i%3], int64(i), float64(i), "eu")
	}
}

func clConfig(strategy string, batch int) *Config {
	c := testConfig(strategy,
		TableConfig{Name: "orders", Key: []string{"id"}, Tags: []string{"region"}},
		TableConfig{Name: "items", Key: []string{"id"}})
	c.BatchSize = batch
	return c
}

func checkpoint(t *testing.T, e *Engine, p sdk.Position) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	return e.CheckpointDurable(ctx, p)
}

// sortedSeqs flattens and sorts delete calls.
func sortedSeqs(calls ...[]int64) []int64 {
	var out []int64
	for _, c := range calls {
		out = append(out, c...)
	}
	slices.Sort(out)
	return out
}

func TestTriggerEmitsEveryChangeOnceInSeqOrder(t *testing.T) {
	for _, ordered := range []bool{false, true} {
		t.Run(fmt.Sprint("SeqCommitOrdered=", ordered), func(t *testing.T) {
			f := clFake(ordered)
			addOrders(f, 1, 4)
			f.addChange("items", sdk.OpInsert, int64(100), "pen")          // seq 5
			f.addChange("unwatched", sdk.OpInsert, int64(1))               // seq 6: not a captured table
			f.addChange("orders", sdk.OpDelete, int64(7), 7.0, nil)        // seq 7: NULL tag
			f.addChange("items", sdk.OpUpdate, int64(100), "fountain pen") // seq 8
			addOrders(f, 9, 10)
			rec := newRec()
			start(t, newEngine(t, clConfig("trigger", 3), f, sdk.Env{}), nil, rec)
			rec.waitEvents(t, 9)
			settle(t, f, "ReadChangelog", 4) // several more drains

			evs := rec.events()
			if got := ids(t, evs, "id"); !slices.Equal(got, []int64{1, 2, 3, 4, 100, 7, 100, 9, 10}) {
				t.Fatalf("ids %v", got)
			}
			wantOps := []sdk.Op{opCycle[1], opCycle[2], opCycle[0], opCycle[1], sdk.OpInsert, sdk.OpDelete, sdk.OpUpdate, opCycle[0], opCycle[1]}
			wantSeq := []int64{1, 2, 3, 4, 5, 7, 8, 9, 10}
			for i, ev := range evs {
				if ev.Op != wantOps[i] {
					t.Errorf("event %d op %v, want %v", i, ev.Op, wantOps[i])
				}
				if want := time.Unix(1_700_000_000+wantSeq[i], 0).UTC(); !ev.Time.Equal(want) {
					t.Errorf("event %d time %v, want the change's time %v", i, ev.Time, want)
				}
			}
			if evs[4].Name != "items" || evs[5].Name != "orders" {
				t.Errorf("names %q %q", evs[4].Name, evs[5].Name)
			}
			if _, ok := evs[5].Tag("region"); ok || len(evs[5].Tags) != 0 {
				t.Errorf("NULL tag produced a tag: %v", evs[5].Tags)
			}
			if v, _ := evs[0].Tag("region"); v != "eu" {
				t.Errorf("region tag %q", v)
			}
			// Batches of up to batch_size, numbered 1, 2, 3...
			if got := rec.batchSizes(); !slices.Equal(got, []int{3, 3, 3}) {
				t.Errorf("batch sizes %v", got)
			}
			for i, p := range rec.pos() {
				pos := mustDecode(t, p)
				if pos.Strategy != Trigger || pos.Batch != uint64(i+1) {
					t.Errorf("position %d = %s, want trigger batch %d", i, p, i+1)
				}
			}
		})
	}
}

func TestTriggerCheckpointDeletesExactlyCoveredBatches(t *testing.T) {
	for _, ordered := range []bool{false, true} {
		t.Run(fmt.Sprint("SeqCommitOrdered=", ordered), func(t *testing.T) {
			f := clFake(ordered)
			addOrders(f, 1, 10) // batches {1,2,3} {4,5,6} {7,8,9} {10}
			rec := newRec()
			e := newEngine(t, clConfig("trigger", 3), f, sdk.Env{})
			start(t, e, nil, rec)
			rec.waitEvents(t, 10)
			pos := rec.pos()
			if len(pos) != 4 {
				t.Fatalf("%d batches, want 4", len(pos))
			}

			f.pauseReads(t)
			if err := checkpoint(t, e, pos[1]); err != nil {
				t.Fatal(err)
			}
			calls, _ := f.deleteLog()
			if len(calls) != 1 || !slices.Equal(sortedSeqs(calls[0]), seqRange(1, 6)) {
				t.Fatalf("delete calls %v, want one call with 1..6", calls)
			}
			if got := f.remaining(); !slices.Equal(got, seqRange(7, 10)) {
				t.Fatalf("changelog after checkpoint: %v, want 7..10", got)
			}
			// The same checkpoint again, and an older one, delete nothing.
			for _, p := range []sdk.Position{pos[1], pos[0], nil} {
				if err := checkpoint(t, e, p); err != nil {
					t.Fatal(err)
				}
			}
			if calls, _ := f.deleteLog(); len(calls) != 1 {
				t.Fatalf("repeated checkpoints deleted again: %v", calls)
			}
			f.resumeReads()
			settle(t, f, "ReadChangelog", 3)

			f.pauseReads(t)
			if err := checkpoint(t, e, pos[3]); err != nil {
				t.Fatal(err)
			}
			calls, _ = f.deleteLog()
			if len(calls) != 2 || !slices.Equal(sortedSeqs(calls[1]), seqRange(7, 10)) {
				t.Fatalf("delete calls %v, want a second call with 7..10", calls)
			}
			if got := f.remaining(); len(got) != 0 {
				t.Fatalf("changelog not empty: %v", got)
			}
			f.resumeReads()

			// Nothing was emitted twice, and capture goes on.
			addOrders(f, 11, 11)
			rec.waitEvents(t, 11)
			settle(t, f, "ReadChangelog", 3)
			if got := ids(t, rec.events(), "id"); !slices.Equal(got, seqRange(1, 11)) {
				t.Fatalf("ids %v", got)
			}
			if p := mustDecode(t, rec.lastPos()); p.Batch != 5 {
				t.Fatalf("batch number after the checkpoints: %d, want 5", p.Batch)
			}
		})
	}
}

func TestTriggerFailedDeleteRetriedNotReemitted(t *testing.T) {
	for _, ordered := range []bool{false, true} {
		t.Run(fmt.Sprint("SeqCommitOrdered=", ordered), func(t *testing.T) {
			f := clFake(ordered)
			addOrders(f, 1, 10)
			rec := newRec()
			e := newEngine(t, clConfig("trigger", 3), f, sdk.Env{})
			start(t, e, nil, rec)
			rec.waitEvents(t, 10)
			pos := rec.pos()

			f.failNext("DeleteChangelog", 1, errConnLost)
			f.pauseReads(t)
			// One failed delete is retried at the next checkpoint without
			// a warning (a lost source is Run's to report); one that keeps
			// failing is reported, see regression_outage_release_test.go.
			if err := checkpoint(t, e, pos[1]); err != nil {
				t.Fatalf("a single failed delete was reported: %v", err)
			}
			if calls, _ := f.deleteLog(); len(calls) != 1 {
				t.Fatalf("delete calls %v, want the one that failed", calls)
			}
			if got := f.remaining(); !slices.Equal(got, seqRange(1, 10)) {
				t.Fatalf("changelog %v, want untouched", got)
			}
			f.resumeReads()

			// Meanwhile the engine drains again: the rows whose delete
			// failed are still there, and must not be emitted again.
			settle(t, f, "ReadChangelog", 5)
			addOrders(f, 11, 11)
			rec.waitEvents(t, 11)
			settle(t, f, "ReadChangelog", 3)
			if got := ids(t, rec.events(), "id"); !slices.Equal(got, seqRange(1, 11)) {
				t.Fatalf("ids %v, want 1..11 once each", got)
			}

			// The next checkpoint retries the failed delete with its own.
			f.pauseReads(t)
			if err := checkpoint(t, e, pos[2]); err != nil {
				t.Fatal(err)
			}
			calls, ok := f.deleteLog()
			if len(calls) != 2 || len(ok) != 1 || !slices.Equal(sortedSeqs(ok[0]), seqRange(1, 9)) {
				t.Fatalf("delete calls %v (succeeded %v), want the retry of 1..6 together with 7..9", calls, ok)
			}
			if got := f.remaining(); !slices.Equal(got, []int64{10, 11}) {
				t.Fatalf("changelog %v, want [10 11]", got)
			}
			if err := checkpoint(t, e, rec.lastPos()); err != nil {
				t.Fatal(err)
			}
			if _, ok := f.deleteLog(); len(ok) != 2 || !slices.Equal(sortedSeqs(ok[1]), []int64{10, 11}) {
				t.Fatalf("successful deletes %v", ok)
			}
			f.resumeReads()
			settle(t, f, "ReadChangelog", 3)
			if n := len(rec.events()); n != 11 {
				t.Fatalf("%d events, want 11", n)
			}
		})
	}
}

func TestTriggerLateCommitMultiWriter(t *testing.T) {
	for _, batch := range []int{1, 2, 100} {
		t.Run(fmt.Sprint("batch_size=", batch), func(t *testing.T) {
			f := clFake(false)
			f.addChange("orders", sdk.OpInsert, int64(1), 1.0, "eu")              // seq 1
			late := f.addUncommitted("orders", sdk.OpInsert, int64(2), 2.0, "eu") // seq 2, commits late
			f.addChange("orders", sdk.OpInsert, int64(3), 3.0, "eu")              // seq 3
			f.addChange("orders", sdk.OpInsert, int64(4), 4.0, "eu")              // seq 4
			rec := newRec()
			e := newEngine(t, clConfig("trigger", batch), f, sdk.Env{})
			start(t, e, nil, rec)
			rec.waitEvents(t, 3)
			settle(t, f, "ReadChangelog", 3)
			if got := ids(t, rec.events(), "id"); !slices.Equal(got, []int64{1, 3, 4}) {
				t.Fatalf("before the late commit: ids %v", got)
			}

			f.commit(late)
			rec.waitEvents(t, 4)
			settle(t, f, "ReadChangelog", 4)
			if got := ids(t, rec.events(), "id"); !slices.Equal(got, []int64{1, 3, 4, 2}) {
				t.Fatalf("after the late commit: ids %v, want [1 3 4 2] (the late row once, nothing twice)", got)
			}

			// The checkpoint of everything deletes all four, once.
			f.pauseReads(t)
			if err := checkpoint(t, e, rec.lastPos()); err != nil {
				t.Fatal(err)
			}
			_, ok := f.deleteLog()
			if !slices.Equal(sortedSeqs(ok...), seqRange(1, 4)) {
				t.Fatalf("deleted %v, want 1..4", ok)
			}
			f.resumeReads()
		})
	}
}

func TestTriggerReadsFromHighWaterMarkOnlyWhenCommitOrdered(t *testing.T) {
	for _, ordered := range []bool{false, true} {
		t.Run(fmt.Sprint("SeqCommitOrdered=", ordered), func(t *testing.T) {
			f := clFake(ordered)
			addOrders(f, 1, 5)
			rec := newRec()
			start(t, newEngine(t, clConfig("trigger", 100), f, sdk.Env{}), nil, rec)
			rec.waitEvents(t, 5)
			settle(t, f, "ReadChangelog", 3)
			reads := f.reads()
			if reads[0] != 0 {
				t.Fatalf("first read after %d, want 0", reads[0])
			}
			wantAfter := int64(0) // multi-writer: every drain rereads what is not deleted
			if ordered {
				wantAfter = 5 // one writer: read from the high-water mark
			}
			for i, a := range reads[1:] {
				if a != wantAfter {
					t.Fatalf("read %d after %d, want %d (all reads: %v)", i+1, a, wantAfter, reads)
				}
			}
			addOrders(f, 6, 6)
			rec.waitEvents(t, 6)
			settle(t, f, "ReadChangelog", 3)
			if got := ids(t, rec.events(), "id"); !slices.Equal(got, seqRange(1, 6)) {
				t.Fatalf("ids %v", got)
			}
			if ordered {
				if last := f.reads(); last[len(last)-1] != 6 {
					t.Fatalf("high-water mark did not move to 6: reads %v", last)
				}
			}
		})
	}
}

func TestTriggerRestartReemitsUndeletedOnly(t *testing.T) {
	for _, ordered := range []bool{false, true} {
		t.Run(fmt.Sprint("SeqCommitOrdered=", ordered), func(t *testing.T) {
			f := clFake(ordered)
			addOrders(f, 1, 10)
			rec1 := newRec()
			e1 := newEngine(t, clConfig("trigger", 3), f, sdk.Env{})
			r1 := start(t, e1, nil, rec1)
			rec1.waitEvents(t, 10)
			cp := rec1.pos()[1] // the checkpoint covers batches 1 and 2
			f.pauseReads(t)
			if err := checkpoint(t, e1, cp); err != nil {
				t.Fatal(err)
			}
			if err := r1.stop(t); err != nil {
				t.Fatalf("Run after cancel: %v", err)
			}
			f.resumeReads()

			// A new engine (an agent restart) from the checkpoint: the rows
			// emitted after it (7..10) are replayed, nothing else.
			rec2 := newRec()
			start(t, newEngine(t, clConfig("trigger", 3), f, sdk.Env{}), cp, rec2)
			rec2.waitEvents(t, 4)
			settle(t, f, "ReadChangelog", 3)
			if got := ids(t, rec2.events(), "id"); !slices.Equal(got, seqRange(7, 10)) {
				t.Fatalf("after restart: ids %v, want 7..10", got)
			}
			addOrders(f, 11, 11)
			rec2.waitEvents(t, 5)
			settle(t, f, "ReadChangelog", 3)
			if got := ids(t, rec2.events(), "id"); !slices.Equal(got, seqRange(7, 11)) {
				t.Fatalf("after restart: ids %v, want 7..11", got)
			}
		})
	}
}

func TestTriggerReconnectsAfterConnectionLoss(t *testing.T) {
	f := clFake(false)
	addOrders(f, 1, 9)
	// The second page read loses the connection.
	f.failAfter("ReadChangelog", 1, 1, errConnLost, true)
	rec := newRec()
	e := newEngine(t, clConfig("trigger", 3), f, sdk.Env{})
	r := start(t, e, nil, rec)
	rec.waitEvents(t, 9)
	settle(t, f, "ReadChangelog", 3)
	if got := ids(t, rec.events(), "id"); !slices.Equal(got, seqRange(1, 9)) {
		t.Fatalf("ids %v, want 1..9 once each", got)
	}
	if n := f.count("Connect"); n < 2 {
		t.Fatalf("Connect called %d times, want a reconnect", n)
	}
	// Batch numbers keep increasing across the reconnect.
	for i, p := range rec.pos() {
		if b := mustDecode(t, p).Batch; b != uint64(i+1) {
			t.Fatalf("batch %d numbered %d", i, b)
		}
	}
	if r.returned() {
		t.Fatal("Run returned on a connection loss")
	}
}

func TestCheckpointDurableIgnoredByPolling(t *testing.T) {
	f := pollFake(distinct(1, 3)...)
	rec := newRec()
	e := newEngine(t, pollConfig(10), f, sdk.Env{})
	start(t, e, nil, rec)
	rec.waitEvents(t, 3)
	if err := checkpoint(t, e, rec.lastPos()); err != nil {
		t.Fatal(err)
	}
	if n := f.count("DeleteChangelog"); n != 0 {
		t.Fatalf("polling deleted from a changelog %d times", n)
	}
}

func TestNotifyWakeDrainsPromptly(t *testing.T) {
	f := clFake(false)
	cfg := clConfig("notify", 100)
	cfg.PollInterval = sdk.Duration(time.Hour) // the safety poll never fires during this test
	rec := newRec()
	start(t, newEngine(t, cfg, f, sdk.Env{}), nil, rec)
	waitFor(t, "the engine to wait for a notification", func() bool { return f.count("Wait") >= 1 })

	for i := 1; i <= 3; i++ {
		addOrders(f, i, i)
		f.notify()
		rec.waitEvents(t, i) // well within testDeadline, far below poll_interval
	}
	if got := ids(t, rec.events(), "id"); !slices.Equal(got, seqRange(1, 3)) {
		t.Fatalf("ids %v", got)
	}
	if n := f.timeouts(); n != 0 {
		t.Fatalf("%d waits timed out; the drains must come from the wake-ups", n)
	}
}

func TestNotifyTimeoutIsSafetyPoll(t *testing.T) {
	f := clFake(false)
	rec := newRec()
	start(t, newEngine(t, clConfig("notify", 100), f, sdk.Env{}), nil, rec) // poll_interval 5ms
	waitFor(t, "the engine to wait for a notification", func() bool { return f.count("Wait") >= 1 })
	addOrders(f, 1, 2) // committed without a notification
	rec.waitEvents(t, 2)
	if n := f.timeouts(); n < 1 {
		t.Fatalf("no wait timed out, yet the change was drained")
	}
	settle(t, f, "Wait", 3)
	if got := ids(t, rec.events(), "id"); !slices.Equal(got, seqRange(1, 2)) {
		t.Fatalf("ids %v", got)
	}
}

func TestNotifyWaitErrorReconnects(t *testing.T) {
	f := clFake(false)
	cfg := clConfig("notify", 100)
	cfg.PollInterval = sdk.Duration(time.Hour)
	f.failAfter("Wait", 0, 1, errConnLost, true) // the first wait loses the connection
	addOrders(f, 1, 1)
	rec := newRec()
	r := start(t, newEngine(t, cfg, f, sdk.Env{}), nil, rec)
	rec.waitEvents(t, 1)
	waitFor(t, "a reconnect", func() bool { return f.count("Connect") >= 2 && f.count("Wait") >= 2 })
	addOrders(f, 2, 2)
	f.notify()
	rec.waitEvents(t, 2)
	if got := ids(t, rec.events(), "id"); !slices.Equal(got, seqRange(1, 2)) {
		t.Fatalf("ids %v", got)
	}
	if r.returned() {
		t.Fatal("Run returned")
	}
}
