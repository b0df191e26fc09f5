// Package verdict judges captured change events against the workload's
// ledger of committed changes: what was missed, what arrived twice, what
// arrived that was never committed, and how long capture took.
//
// It is the one place that says what "captured" means (DESIGN.md, "What
// 'captured' means"), so that `agent bench` and the capture tests cannot
// drift apart. It sees only an event's operation, key and version, not its
// field values: checking row images stays with the caller.
package verdict

import (
	"fmt"
	"slices"
	"time"

	"github.com/rowflux/rowflux/agent/workload"
)

// Event is one captured change as the bench sees it.
type Event struct {
	Op        string    // insert | update | delete | upsert
	ID        int64     // transaction_id
	UpdatedAt time.Time // the row's updated_at: its version
	Arrived   time.Time // when the event was received; zero when unknown
}

// Kind is what a capture strategy promises to deliver.
type Kind int

const (
	// Changelog strategies (trigger, and notify when it drains a changelog)
	// deliver every committed operation with its own row image: each ledger
	// (op, id, updated_at) must arrive.
	Changelog Kind = iota
	// QueryBased strategies (polling, commit_order, notify fetching current
	// rows) deliver each key's latest state: changes between two reads
	// coalesce into one event, usually labelled upsert, and deletes are not
	// seen. An insert or update of a key that is never deleted counts as
	// seen when some event for the key shows that version or a later one.
	QueryBased
)

func (k Kind) String() string {
	switch k {
	case Changelog:
		return "changelog"
	case QueryBased:
		return "query-based"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Result is the verdict on one capture run. Every event is counted exactly
// once: as the first arrival of a ledger version, as a Duplicate, or as
// Unexpected.
type Result struct {
	Checked      int      // committed changes that had to become visible
	Missed       int      // of those, how many never did
	MissedSample []string // up to maxSample missed changes, in ledger order, e.g. "insert id 102 at 2026-…"
	Duplicates   int      // events repeating an (op, id, version) that already arrived, one per extra copy
	Unexpected   int      // events showing a version the ledger does not have
	// Matched[i] is the index in the ledger of the entry that events[i]
	// shows (the last one, if the ledger repeats a version), or -1 when it
	// is Unexpected. It lets callers check row images and name the first
	// offending event.
	Matched []int
}

// maxSample bounds MissedSample: enough to see a pattern in a report,
// small enough to print.
const maxSample = 5

// opUpsert is how query-based strategies label an event (unless the table
// is append-only): they cannot tell an insert from an update.
const opUpsert = "upsert"

// fixedNano is the layout of versions in MissedSample: fixed width, so
// that samples line up and sort in time order.
const fixedNano = "2006-01-02T15:04:05.000000000Z07:00"

// stamp is an instant at nanosecond precision, comparable and ordered the
// same way as the fixed-width UTC text the capture tests compared before,
// without formatting every timestamp. Location and monotonic reading do
// not take part, unlike with == on time.Time.
type stamp struct {
	sec  int64
	nsec int32
}

func stampOf(t time.Time) stamp { return stamp{t.Unix(), int32(t.Nanosecond())} }

func (a stamp) before(b stamp) bool {
	return a.sec < b.sec || a.sec == b.sec && a.nsec < b.nsec
}

// version identifies one state of one row as produced by one operation.
type version struct {
	op string
	id int64
	at stamp
}

// keyAt is a version without its operation: what a query-based event can
// be matched on, since its label does not say which operation made it.
type keyAt struct {
	id int64
	at stamp
}

// Compare judges events against ledger. It panics on an unknown kind, a
// programming error.
func Compare(kind Kind, ledger []workload.Entry, events []Event) Result {
	switch kind {
	case Changelog:
		return compareChangelog(ledger, events)
	case QueryBased:
		return compareQueryBased(ledger, events)
	}
	panic(fmt.Sprintf("verdict: unknown kind %v", kind))
}

func compareChangelog(ledger []workload.Entry, events []Event) Result {
	want := make(map[version]int, len(ledger)) // → index of the last entry with that version
	for i, e := range ledger {
		want[version{e.Op, e.ID, stampOf(e.UpdatedAt)}] = i
	}
	r := Result{Checked: len(want), Matched: make([]int, len(events))}
	seen := make(map[version]int, len(want))
	for i, ev := range events {
		v := version{ev.Op, ev.ID, stampOf(ev.UpdatedAt)}
		j, ok := want[v]
		if !ok {
			r.Matched[i] = -1
			r.Unexpected++
			continue
		}
		r.Matched[i] = j
		if seen[v] > 0 {
			r.Duplicates++
		}
		seen[v]++
	}
	for i, e := range ledger {
		v := version{e.Op, e.ID, stampOf(e.UpdatedAt)}
		// A repeated version is one change to capture: judge it once, at
		// its last entry, so that Missed never exceeds Checked.
		if want[v] != i || seen[v] > 0 {
			continue
		}
		r.miss(e)
	}
	return r
}

func compareQueryBased(ledger []workload.Entry, events []Event) Result {
	deleted := map[int64]bool{}
	known := make(map[keyAt]int, len(ledger)) // → index of the last entry with that version
	for i, e := range ledger {
		if e.Op == workload.OpDelete {
			deleted[e.ID] = true
		}
		// A delete's version is the deleted row's, already known from the
		// change that made it; recording it again is harmless.
		known[keyAt{e.ID, stampOf(e.UpdatedAt)}] = i
	}
	r := Result{Matched: make([]int, len(events))}
	latest := map[int64]stamp{} // newest known version shown per key
	seen := map[version]int{}
	for i, ev := range events {
		k := keyAt{ev.ID, stampOf(ev.UpdatedAt)}
		j, ok := known[k]
		if !ok {
			// Not counted towards latest: a version that was never
			// committed must not hide a miss.
			r.Matched[i] = -1
			r.Unexpected++
			continue
		}
		r.Matched[i] = j
		v := version{ev.Op, ev.ID, k.at}
		if seen[v] > 0 {
			r.Duplicates++
		}
		seen[v]++
		if cur, ok := latest[ev.ID]; !ok || cur.before(k.at) {
			latest[ev.ID] = k.at
		}
	}
	for _, e := range ledger {
		// A key deleted later may legitimately never be seen again: its
		// last state can vanish between two reads, and deletes are not
		// captured at all.
		if e.Op == workload.OpDelete || deleted[e.ID] {
			continue
		}
		r.Checked++
		if l, ok := latest[e.ID]; !ok || l.before(stampOf(e.UpdatedAt)) {
			r.miss(e)
		}
	}
	return r
}

func (r *Result) miss(e workload.Entry) {
	r.Missed++
	if len(r.MissedSample) < maxSample {
		r.MissedSample = append(r.MissedSample, fmt.Sprintf("%s id %d at %s", e.Op, e.ID, e.UpdatedAt.UTC().Format(fixedNano)))
	}
}

// Latency summarises a set of durations. Percentiles are exact and use the
// nearest-rank method: Pp is the smallest sample with at least p% of the
// samples at or below it, so every reported value was actually observed.
type Latency struct {
	N             int // samples
	P50, P95, P99 time.Duration
	Max           time.Duration
}

// Percentiles computes a Latency from ds without modifying it. No samples
// give the zero Latency.
func Percentiles(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	// Nearest rank: ceil(p/100 · n), 1-based; integer arithmetic so that
	// e.g. 95% of 100 is exactly rank 95.
	at := func(p int) time.Duration { return s[(p*n+99)/100-1] }
	return Latency{N: n, P50: at(50), P95: at(95), P99: at(99), Max: s[n-1]}
}

// CaptureLatency measures commit → event: for each ledger entry whose
// commit time is known (commits is keyed by Entry.N), the earliest arrival
// of an event showing exactly that (op, id, updated_at) version. Events
// without an arrival time and entries without a commit time or without such
// an event give no sample; coalesced query-based changes are therefore not
// measured, which is the Missed count's business, not latency's.
//
// An upsert event stands for the insert or update with its version, since
// query-based strategies cannot say which it was. A latency can be slightly
// negative: the agent may see a commit before COMMIT has returned to the
// writer that timed it. It is kept as measured rather than clamped.
func CaptureLatency(ledger []workload.Entry, commits map[int64]time.Time, events []Event) Latency {
	first := map[version]time.Time{}
	for _, ev := range events {
		if ev.Arrived.IsZero() {
			continue
		}
		v := version{ev.Op, ev.ID, stampOf(ev.UpdatedAt)}
		if t, ok := first[v]; !ok || ev.Arrived.Before(t) {
			first[v] = ev.Arrived
		}
	}
	var ds []time.Duration
	for _, e := range ledger {
		committed, ok := commits[e.N]
		if !ok {
			continue
		}
		at := stampOf(e.UpdatedAt)
		arrived, ok := first[version{e.Op, e.ID, at}]
		if e.Op != workload.OpDelete {
			if u, uok := first[version{opUpsert, e.ID, at}]; uok && (!ok || u.Before(arrived)) {
				arrived, ok = u, true
			}
		}
		if ok {
			ds = append(ds, arrived.Sub(committed))
		}
	}
	return Percentiles(ds)
}
