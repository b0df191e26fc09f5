package verdict

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rowflux/rowflux/agent/workload"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// at is t0 plus ms milliseconds plus us microseconds: versions that differ
// only below the millisecond must still be told apart.
func at(ms, us int) time.Time {
	return t0.Add(time.Duration(ms)*time.Millisecond + time.Duration(us)*time.Microsecond)
}

func entry(n int64, op string, id int64, updated time.Time) workload.Entry {
	return workload.Entry{N: n, Tx: n, ID: id, Op: op, UpdatedAt: updated}
}

func ev(op string, id int64, updated time.Time) Event {
	return Event{Op: op, ID: id, UpdatedAt: updated}
}

// ledger: 101 inserted, 102 inserted then updated twice, 103 inserted then
// deleted (a delete's version is the deleted row's).
var ledger = []workload.Entry{
	entry(1, workload.OpInsert, 101, at(1, 0)),
	entry(2, workload.OpInsert, 102, at(2, 0)),
	entry(3, workload.OpUpdate, 102, at(3, 0)),
	entry(4, workload.OpInsert, 103, at(4, 0)),
	entry(5, workload.OpUpdate, 102, at(3, 1)),
	entry(6, workload.OpDelete, 103, at(4, 0)),
}

func TestCompare(t *testing.T) {
	changelogAll := []Event{
		ev("insert", 101, at(1, 0)), ev("insert", 102, at(2, 0)), ev("update", 102, at(3, 0)),
		ev("insert", 103, at(4, 0)), ev("update", 102, at(3, 1)), ev("delete", 103, at(4, 0)),
	}
	cases := []struct {
		name    string
		kind    Kind
		events  []Event
		want    Result // without Matched, which matched checks when set
		matched []int
	}{
		{
			name: "changelog exact match", kind: Changelog, events: changelogAll,
			want:    Result{Checked: 6},
			matched: []int{0, 1, 2, 3, 4, 5},
		},
		{
			name: "changelog timestamps in another zone are the same instant", kind: Changelog,
			events: func() []Event {
				es := slices.Clone(changelogAll)
				for i := range es {
					es[i].UpdatedAt = es[i].UpdatedAt.In(time.FixedZone("X", 5*3600))
				}
				return es
			}(),
			want: Result{Checked: 6},
		},
		{
			name: "changelog missed insert", kind: Changelog, events: changelogAll[1:],
			want: Result{Checked: 6, Missed: 1, MissedSample: []string{"insert id 101 at 2026-11-21T10:00:00.001000000Z"}},
		},
		{
			name: "changelog microsecond apart is another version", kind: Changelog,
			events: []Event{
				ev("insert", 101, at(1, 0)), ev("insert", 102, at(2, 0)), ev("update", 102, at(3, 0)),
				ev("insert", 103, at(4, 0)), ev("update", 102, at(3, 0)), ev("delete", 103, at(4, 0)),
			},
			want: Result{Checked: 6, Missed: 1, Duplicates: 1, MissedSample: []string{"update id 102 at 2026-11-21T10:00:00.003001000Z"}},
		},
		{
			name: "changelog duplicates counted once per extra copy", kind: Changelog,
			events: append(slices.Clone(changelogAll), changelogAll[0], changelogAll[0], changelogAll[4]),
			want:   Result{Checked: 6, Duplicates: 3},
		},
		{
			name: "changelog unexpected events", kind: Changelog,
			events: append(slices.Clone(changelogAll),
				ev("insert", 999, at(1, 0)),  // unknown key
				ev("update", 101, at(1, 0)),  // known version, wrong op
				ev("insert", 101, at(1, 1)),  // never-committed version
				ev("insert", 999, at(1, 0))), // repeated: unexpected again, not a duplicate
			want:    Result{Checked: 6, Unexpected: 4},
			matched: []int{0, 1, 2, 3, 4, 5, -1, -1, -1, -1},
		},
		{
			name: "changelog nothing captured", kind: Changelog, events: nil,
			want: Result{Checked: 6, Missed: 6, MissedSample: []string{
				"insert id 101 at 2026-11-21T10:00:00.001000000Z",
				"insert id 102 at 2026-11-21T10:00:00.002000000Z",
				"update id 102 at 2026-11-21T10:00:00.003000000Z",
				"insert id 103 at 2026-11-21T10:00:00.004000000Z",
				"update id 102 at 2026-11-21T10:00:00.003001000Z",
			}},
		},
		{
			name: "query-based coalescing: the later version covers earlier ones", kind: QueryBased,
			events:  []Event{ev("upsert", 101, at(1, 0)), ev("upsert", 102, at(3, 1))},
			want:    Result{Checked: 4}, // 101 insert, 102 insert+update+update; 103 was deleted
			matched: []int{0, 4},
		},
		{
			name: "query-based key later deleted is not checked", kind: QueryBased,
			events: []Event{ev("upsert", 101, at(1, 0)), ev("upsert", 102, at(3, 1))}, // 103 never seen
			want:   Result{Checked: 4},
		},
		{
			name: "query-based older version only misses the newer changes", kind: QueryBased,
			events: []Event{ev("upsert", 101, at(1, 0)), ev("upsert", 102, at(2, 0))},
			want: Result{Checked: 4, Missed: 2, MissedSample: []string{
				"update id 102 at 2026-11-21T10:00:00.003000000Z",
				"update id 102 at 2026-11-21T10:00:00.003001000Z",
			}},
		},
		{
			name: "query-based missed key", kind: QueryBased,
			events: []Event{ev("upsert", 102, at(3, 1))},
			want:   Result{Checked: 4, Missed: 1, MissedSample: []string{"insert id 101 at 2026-11-21T10:00:00.001000000Z"}},
		},
		{
			name: "query-based duplicates and unexpected", kind: QueryBased,
			events: []Event{
				ev("upsert", 101, at(1, 0)), ev("upsert", 101, at(1, 0)),
				ev("upsert", 102, at(3, 1)),
				ev("upsert", 102, at(9, 0)), // never committed: must not hide a miss either
				ev("upsert", 103, at(4, 0)), // a deleted key's earlier state: known, fine
			},
			want:    Result{Checked: 4, Duplicates: 1, Unexpected: 1},
			matched: []int{0, 0, 4, -1, 5},
		},
		{
			name: "query-based unexpected version does not count as seen", kind: QueryBased,
			events: []Event{ev("upsert", 101, at(99, 0)), ev("upsert", 102, at(3, 1))},
			want:   Result{Checked: 4, Missed: 1, Unexpected: 1, MissedSample: []string{"insert id 101 at 2026-11-21T10:00:00.001000000Z"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Compare(tc.kind, ledger, tc.events)
			if len(got.Matched) != len(tc.events) {
				t.Fatalf("Matched has %d entries for %d events", len(got.Matched), len(tc.events))
			}
			if tc.matched != nil && !slices.Equal(got.Matched, tc.matched) {
				t.Errorf("Matched = %v, want %v", got.Matched, tc.matched)
			}
			unmatched := 0
			for _, j := range got.Matched {
				if j < 0 {
					unmatched++
				}
			}
			if unmatched != got.Unexpected {
				t.Errorf("%d events matched nothing, Unexpected = %d", unmatched, got.Unexpected)
			}
			got.Matched = nil
			if got.Checked != tc.want.Checked || got.Missed != tc.want.Missed || got.Duplicates != tc.want.Duplicates ||
				got.Unexpected != tc.want.Unexpected || !slices.Equal(got.MissedSample, tc.want.MissedSample) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestCompareRepeatedLedgerVersion(t *testing.T) {
	// Two entries with one (op, id, version): one change to capture,
	// matched to the last entry (whose row image is the one to compare).
	l := []workload.Entry{entry(1, "update", 7, at(1, 0)), entry(2, "update", 7, at(1, 0))}
	r := Compare(Changelog, l, nil)
	if r.Checked != 1 || r.Missed != 1 || len(r.MissedSample) != 1 {
		t.Errorf("nothing captured: %+v", r)
	}
	r = Compare(Changelog, l, []Event{ev("update", 7, at(1, 0))})
	if r.Checked != 1 || r.Missed != 0 || r.Matched[0] != 1 {
		t.Errorf("captured once: %+v", r)
	}
}

func TestCompareMissedSampleBounded(t *testing.T) {
	var l []workload.Entry
	for i := range 20 {
		l = append(l, entry(int64(i+1), "insert", int64(i), at(i, 0)))
	}
	r := Compare(Changelog, l, nil)
	if r.Missed != 20 || len(r.MissedSample) != maxSample || !strings.HasPrefix(r.MissedSample[0], "insert id 0 at ") {
		t.Errorf("%+v", r)
	}
}

func TestCompareUnknownKindPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	Compare(Kind(7), ledger, nil)
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestPercentiles(t *testing.T) {
	oneTo100 := make([]time.Duration, 100)
	for i := range oneTo100 {
		oneTo100[i] = ms(100 - i) // unsorted on purpose
	}
	cases := []struct {
		name string
		in   []time.Duration
		want Latency
	}{
		{"none", nil, Latency{}},
		{"one", []time.Duration{ms(7)}, Latency{N: 1, P50: ms(7), P95: ms(7), P99: ms(7), Max: ms(7)}},
		{"1..100 ms nearest rank", oneTo100, Latency{N: 100, P50: ms(50), P95: ms(95), P99: ms(99), Max: ms(100)}},
		// ranks ceil(.5·4)=2, ceil(.95·4)=4, ceil(.99·4)=4
		{"four", []time.Duration{ms(40), ms(10), ms(30), ms(20)}, Latency{N: 4, P50: ms(20), P95: ms(40), P99: ms(40), Max: ms(40)}},
		// ranks ceil(.5·3)=2, ceil(.95·3)=3
		{"three", []time.Duration{ms(3), ms(1), ms(2)}, Latency{N: 3, P50: ms(2), P95: ms(3), P99: ms(3), Max: ms(3)}},
		{"negative kept", []time.Duration{-ms(1), ms(1)}, Latency{N: 2, P50: -ms(1), P95: ms(1), P99: ms(1), Max: ms(1)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.in)
			if got := Percentiles(tc.in); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if !slices.Equal(in, tc.in) {
				t.Error("Percentiles modified its input")
			}
		})
	}
}

func TestCaptureLatency(t *testing.T) {
	commits := map[int64]time.Time{}
	for _, e := range ledger {
		commits[e.N] = e.UpdatedAt.Add(ms(1)) // committed 1 ms after the row was stamped
	}
	arrive := func(e Event, after time.Duration) Event {
		e.Arrived = e.UpdatedAt.Add(ms(1) + after)
		return e
	}
	cases := []struct {
		name    string
		commits map[int64]time.Time
		events  []Event
		want    Latency
	}{
		{
			name: "each version's latency", commits: commits,
			events: []Event{
				arrive(ev("insert", 101, at(1, 0)), ms(10)),
				arrive(ev("insert", 102, at(2, 0)), ms(20)),
				arrive(ev("update", 102, at(3, 0)), ms(30)),
				arrive(ev("insert", 103, at(4, 0)), ms(40)),
				arrive(ev("update", 102, at(3, 1)), ms(50)),
				arrive(ev("delete", 103, at(4, 0)), ms(60)),
			},
			want: Latency{N: 6, P50: ms(30), P95: ms(60), P99: ms(60), Max: ms(60)},
		},
		{
			name: "first arrival counts, not a later replay or an event without arrival time", commits: commits,
			events: []Event{
				arrive(ev("insert", 101, at(1, 0)), ms(90)),
				arrive(ev("insert", 101, at(1, 0)), ms(10)), // earlier, though listed later
				ev("insert", 102, at(2, 0)),                 // Arrived unknown: no sample
				arrive(ev("insert", 999, at(2, 0)), ms(1)),  // not in the ledger
				arrive(ev("update", 101, at(1, 0)), ms(1)),  // wrong op: not that version
			},
			want: Latency{N: 1, P50: ms(10), P95: ms(10), P99: ms(10), Max: ms(10)},
		},
		{
			name: "entries without a commit time give no sample",
			commits: map[int64]time.Time{
				2: commits[2], // only 102's insert is timed
			},
			events: []Event{
				arrive(ev("insert", 101, at(1, 0)), ms(10)),
				arrive(ev("insert", 102, at(2, 0)), ms(20)),
			},
			want: Latency{N: 1, P50: ms(20), P95: ms(20), P99: ms(20), Max: ms(20)},
		},
		{
			name: "upsert stands for the insert or update with its version, not the delete", commits: commits,
			events: []Event{
				arrive(ev("upsert", 101, at(1, 0)), ms(10)),
				arrive(ev("upsert", 102, at(3, 1)), ms(20)), // 102's earlier versions coalesced: no sample
				arrive(ev("upsert", 103, at(4, 0)), ms(30)), // insert of 103 yes, its delete no
			},
			want: Latency{N: 3, P50: ms(20), P95: ms(30), P99: ms(30), Max: ms(30)},
		},
		{name: "no events", commits: commits, want: Latency{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := CaptureLatency(ledger, tc.commits, tc.events); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
