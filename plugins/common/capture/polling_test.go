package capture

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

var t0 = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

func sec(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }

// pollFake has table orders(id, ts, amount) and rows with the given
// (id, ts seconds) pairs.
func pollFake(rows ...[2]int) *fakeSource {
	f := newFake()
	f.addTable("orders", "id INTEGER", "ts TIMESTAMP", "amount REAL")
	addRows(f, rows...)
	return f
}

func addRows(f *fakeSource, rows ...[2]int) {
	for _, r := range rows {
		f.insert("orders", []any{int64(r[0]), sec(r[1]), float64(r[0]) / 2})
	}
}

// distinct returns rows id=ts=from..to.
func distinct(from, to int) [][2]int {
	var out [][2]int
	for i := from; i <= to; i++ {
		out = append(out, [2]int{i, i})
	}
	return out
}

func pollConfig(batch int) *Config {
	c := testConfig("polling", TableConfig{Name: "orders", Key: []string{"id"}, TimestampColumn: "ts"})
	c.BatchSize = batch
	return c
}

// settle waits until the engine has gone through n more poll passes, so
// that anything it would emit has been emitted.
func settle(t *testing.T, f *fakeSource, method string, n int) {
	t.Helper()
	c := f.count(method)
	waitFor(t, fmt.Sprintf("%d more %s calls", n, method), func() bool { return f.count(method) >= c+n })
}

func TestPollingPagesAndCursor(t *testing.T) {
	f := pollFake(distinct(1, 10)...)
	rec := newRec()
	start(t, newEngine(t, pollConfig(3), f, sdk.Env{}), nil, rec)
	evs := rec.waitEvents(t, 10)
	settle(t, f, "PollUpper", 3)

	if got := rec.batchSizes(); !slices.Equal(got, []int{3, 3, 3, 1}) {
		t.Errorf("batch sizes %v, want [3 3 3 1]", got)
	}
	if got := ids(t, rec.events(), "id"); !slices.Equal(got, seqRange(1, 10)) {
		t.Errorf("ids %v, want 1..10 once each", got)
	}
	// Every batch's position is the cursor of its last row.
	for i, p := range rec.pos() {
		pos := mustDecode(t, p)
		last := min(3*(i+1), 10)
		want := []string{"t:" + sec(last).Format(time.RFC3339Nano), fmt.Sprintf("i:%d", last)}
		if pos.Strategy != Polling || !slices.Equal(pos.Cursors["orders"], want) {
			t.Errorf("position %d = %s, want cursor %v", i, p, want)
		}
	}
	for _, ev := range evs {
		if ev.Name != "orders" || len(ev.Fields) != 3 {
			t.Errorf("event %+v", ev)
		}
	}
}

func TestPollingEqualTimestampsAcrossPages(t *testing.T) {
	for _, batch := range []int{1, 2, 3, 4, 100} {
		t.Run(fmt.Sprint("batch_size=", batch), func(t *testing.T) {
			// Inserted out of order; many rows share a timestamp, so page
			// boundaries fall inside a group of equal timestamps.
			f := pollFake([2]int{7, 5}, [2]int{1, 5}, [2]int{3, 5}, [2]int{2, 5}, [2]int{9, 6}, [2]int{4, 5},
				[2]int{8, 6}, [2]int{5, 5}, [2]int{6, 5}, [2]int{10, 4})
			rec := newRec()
			start(t, newEngine(t, pollConfig(batch), f, sdk.Env{}), nil, rec)
			rec.waitEvents(t, 10)
			settle(t, f, "PollUpper", 2)
			want := []int64{10, 1, 2, 3, 4, 5, 6, 7, 8, 9} // (ts, id) order
			if got := ids(t, rec.events(), "id"); !slices.Equal(got, want) {
				t.Fatalf("ids %v, want %v", got, want)
			}
		})
	}
}

func TestPollingCompositeKeyEqualTimestamps(t *testing.T) {
	f := newFake()
	f.addTable("stock", "site VARCHAR", "id INTEGER", "ts TIMESTAMP")
	var want []string
	for _, site := range []string{"b", "a", "c"} {
		for id := int64(3); id >= 1; id-- {
			f.insert("stock", []any{site, id, t0})
		}
	}
	for _, site := range []string{"a", "b", "c"} {
		for id := 1; id <= 3; id++ {
			want = append(want, fmt.Sprintf("%s/%d", site, id))
		}
	}
	cfg := testConfig("polling", TableConfig{Name: "stock", Key: []string{"site", "id"}, TimestampColumn: "ts"})
	cfg.BatchSize = 2
	rec := newRec()
	start(t, newEngine(t, cfg, f, sdk.Env{}), nil, rec)
	rec.waitEvents(t, 9)
	settle(t, f, "PollUpper", 2)
	var got []string
	for _, ev := range rec.events() {
		s, _ := ev.Field("site")
		id, _ := ev.Field("id")
		got = append(got, fmt.Sprintf("%s/%d", s, id))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	last := mustDecode(t, rec.lastPos()).Cursors["stock"]
	if want := []string{"t:" + t0.Format(time.RFC3339Nano), "s:c", "i:3"}; !slices.Equal(last, want) {
		t.Fatalf("cursor %v, want %v", last, want)
	}
}

func TestPollingUpperBound(t *testing.T) {
	f := pollFake(distinct(1, 10)...)
	f.setUpper(sec(6)) // exclusive: the row at ts 6 is not safe yet
	rec := newRec()
	start(t, newEngine(t, pollConfig(4), f, sdk.Env{}), nil, rec)
	rec.waitEvents(t, 5)
	settle(t, f, "PollUpper", 3)
	if got := ids(t, rec.events(), "id"); !slices.Equal(got, seqRange(1, 5)) {
		t.Fatalf("below the bound: ids %v, want 1..5", got)
	}

	f.setUpper(sec(8))
	rec.waitEvents(t, 7)
	settle(t, f, "PollUpper", 3)
	if got := ids(t, rec.events(), "id"); !slices.Equal(got, seqRange(1, 7)) {
		t.Fatalf("after moving the bound: ids %v, want 1..7", got)
	}

	f.setUpper(nil)
	rec.waitEvents(t, 10)
	settle(t, f, "PollUpper", 2)
	if got := ids(t, rec.events(), "id"); !slices.Equal(got, seqRange(1, 10)) {
		t.Fatalf("unbounded: ids %v, want 1..10", got)
	}
}

func TestPollingOp(t *testing.T) {
	for _, tc := range []struct {
		appendOnly bool
		want       sdk.Op
	}{{false, sdk.OpUpsert}, {true, sdk.OpInsert}} {
		t.Run(fmt.Sprint("append_only=", tc.appendOnly), func(t *testing.T) {
			f := pollFake(distinct(1, 3)...)
			cfg := pollConfig(2)
			cfg.Tables[0].AppendOnly = tc.appendOnly
			rec := newRec()
			start(t, newEngine(t, cfg, f, sdk.Env{}), nil, rec)
			for _, ev := range rec.waitEvents(t, 3) {
				if ev.Op != tc.want {
					t.Fatalf("op %v, want %v", ev.Op, tc.want)
				}
			}
		})
	}
}

func TestPollingResumeFromPosition(t *testing.T) {
	f := pollFake(distinct(1, 10)...)

	// First run: the pipeline accepts two batches of 3, then shuts down.
	rec1 := newRec()
	rec1.failAfter = 2
	r1 := start(t, newEngine(t, pollConfig(3), f, sdk.Env{}), nil, rec1)
	if err := r1.wait(t); !errors.Is(err, errPipelineDown) {
		t.Fatalf("first run returned %v, want the emit error", err)
	}
	if got := ids(t, rec1.events(), "id"); !slices.Equal(got, seqRange(1, 6)) {
		t.Fatalf("first run ids %v", got)
	}

	// While stopped: a row with the same timestamp as the last emitted one
	// but a greater key, and later rows.
	f.insert("orders", []any{int64(60), sec(6), 1.0})
	addRows(f, [2]int{11, 11})

	// Second run, new engine, from the last emitted position.
	rec2 := newRec()
	r2 := start(t, newEngine(t, pollConfig(3), f, sdk.Env{}), rec1.lastPos(), rec2)
	rec2.waitEvents(t, 6)
	settle(t, f, "PollUpper", 3)
	if got := ids(t, rec2.events(), "id"); !slices.Equal(got, []int64{60, 7, 8, 9, 10, 11}) {
		t.Fatalf("second run ids %v, want [60 7 8 9 10 11] (no gap, no repeat)", got)
	}
	if err := r2.stop(t); err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}

	// Third run from the end: nothing is repeated; new rows follow.
	rec3 := newRec()
	start(t, newEngine(t, pollConfig(3), f, sdk.Env{}), rec2.lastPos(), rec3)
	settle(t, f, "PollUpper", 3)
	if n := len(rec3.events()); n != 0 {
		t.Fatalf("restart at the end re-emitted %d events", n)
	}
	addRows(f, [2]int{12, 12})
	rec3.waitEvents(t, 1)
	settle(t, f, "PollUpper", 2)
	if got := ids(t, rec3.events(), "id"); !slices.Equal(got, []int64{12}) {
		t.Fatalf("third run ids %v, want [12]", got)
	}
}

func TestPollingPositionOfAnotherStrategyStartsOver(t *testing.T) {
	f := pollFake(distinct(1, 3)...)
	rec := newRec()
	from := position{Strategy: Trigger, Batch: 7}.encode()
	start(t, newEngine(t, pollConfig(10), f, sdk.Env{}), from, rec)
	rec.waitEvents(t, 3)
	if got := ids(t, rec.events(), "id"); !slices.Equal(got, seqRange(1, 3)) {
		t.Fatalf("ids %v", got)
	}
}

func TestPollingReconnectsAfterConnectionLoss(t *testing.T) {
	f := pollFake(distinct(1, 9)...)
	// The second page read loses the connection; the first reconnect
	// attempt fails too.
	f.failAfter("PollPage", 1, 1, errConnLost, true)
	f.failAfter("Connect", 1, 1, errConnLost, false)
	rec := newRec()
	r := start(t, newEngine(t, pollConfig(3), f, sdk.Env{}), nil, rec)
	rec.waitEvents(t, 9)

	if n := f.count("Connect"); n < 3 {
		t.Errorf("Connect called %d times, want at least 3 (start, failed retry, retry)", n)
	}
	// The engine is connected and polling again: new rows still arrive.
	addRows(f, [2]int{10, 10})
	rec.waitEvents(t, 10)
	settle(t, f, "PollUpper", 2)
	if got := ids(t, rec.events(), "id"); !slices.Equal(got, seqRange(1, 10)) {
		t.Fatalf("ids %v, want 1..10 once each", got)
	}
	if got := rec.batchSizes(); !slices.Equal(got[:3], []int{3, 3, 3}) {
		t.Errorf("batch sizes %v", got)
	}
	if r.returned() {
		t.Fatal("Run returned on a connection loss")
	}
}

func TestPollingRetriesTransientErrors(t *testing.T) {
	for _, method := range []string{"Connect", "Describe", "PollUpper", "PollPage"} {
		t.Run(method, func(t *testing.T) {
			f := pollFake(distinct(1, 4)...)
			f.failNext(method, 1, errConnLost)
			rec := newRec()
			start(t, newEngine(t, pollConfig(3), f, sdk.Env{}), nil, rec)
			rec.waitEvents(t, 4)
			settle(t, f, "PollUpper", 2)
			if got := ids(t, rec.events(), "id"); !slices.Equal(got, seqRange(1, 4)) {
				t.Fatalf("ids %v", got)
			}
		})
	}
}

func TestRunStopsOnNotFound(t *testing.T) {
	for _, tc := range []struct {
		name     string
		strategy string
		table    TableConfig
	}{
		{"polling, missing table", "polling", TableConfig{Name: "nosuch", Key: []string{"id"}, TimestampColumn: "ts"}},
		{"polling, missing timestamp column", "polling", TableConfig{Name: "orders", Key: []string{"id"}, TimestampColumn: "updated_at"}},
		{"trigger, missing key column", "trigger", TableConfig{Name: "orders", Key: []string{"order_id"}}},
		{"notify, missing table", "notify", TableConfig{Name: "shop.orders", Key: []string{"id"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := pollFake(distinct(1, 3)...)
			rec := newRec()
			r := start(t, newEngine(t, testConfig(tc.strategy, tc.table), f, sdk.Env{}), nil, rec)
			err := r.wait(t)
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("Run returned %v, want an error wrapping ErrNotFound", err)
			}
			if n := f.count("Connect"); n != 1 {
				t.Errorf("Connect called %d times; a missing table must not be retried", n)
			}
			if len(rec.events()) != 0 {
				t.Error("events emitted")
			}
		})
	}
}

func TestRunRejectsCorruptPosition(t *testing.T) {
	for _, p := range []string{`{not json`, `{"strategy":"polling","cursors":{"orders":["q:1"]}}`} {
		f := pollFake()
		r := start(t, newEngine(t, pollConfig(3), f, sdk.Env{}), sdk.Position(p), newRec())
		if err := r.wait(t); err == nil {
			t.Errorf("position %s accepted", p)
		}
	}
}
