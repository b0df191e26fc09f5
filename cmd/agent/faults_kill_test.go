//go:build faults

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rowflux/rowflux/agent/bench/verdict"
	"github.com/rowflux/rowflux/agent/faultreport"
	"github.com/rowflux/rowflux/agent/workload"
	"github.com/rowflux/rowflux/plugins/common/pgtest"
)

// Fault scenario 1: kill -9 the agent at random moments, ten times in a row
// during one workload run, on SQLite and PostgreSQL with every strategy
// they support, with the window processor in the pipeline. No change may be
// missed, and the window results, de-duplicated by (measurement, tags,
// time), must equal an uninterrupted run's.
//
// How "equal to an uninterrupted run's" is made sound:
//
//   - One pipeline gives both verdicts. The window processor runs with
//     drop_original = false, so every captured change reaches the output
//     beside the window results and is judged against the workload's ledger
//     by agent/bench/verdict (changelog strategies: every operation once;
//     query-based ones: each key's latest state). A change that reached the
//     output has passed through the window processor, in order.
//   - The windows aggregate only what the ledger fixes and no capture timing
//     can change: event time = created_at, grouped by currency (both set at
//     insert, never updated; product_category and amount change on update,
//     and a query-based strategy sees only some of their versions, so any
//     aggregate over them differs between two runs even without a kill), and
//     idempotent aggregates of the immutable key: count_distinct, min and
//     max of transaction_id. An update repeats its row's id in its row's
//     window and changes none of them.
//   - No deletes (--mix 70,30,0): a row inserted and deleted between two
//     reads is never seen by polling or commit_order, so with deletes the
//     set of rows a query-based run sees depends on timing. Deletes under
//     a kill are judged by the capture suites (TestSQLiteCaptureMatchesLedger,
//     TestPostgresConcurrencySuite), which keep the default mix.
//   - Updates of old rows arrive with an old created_at, long after their
//     window closed. late = "emit" with a retention longer than the run
//     keeps closed windows for them: each such update re-emits its window's
//     result (counted in late_corrections), and since the id is already in
//     the set, with the same values. A result that changes on re-emission
//     would mean an insert arrived after its window closed; the
//     de-duplication refuses it ("emitted twice with different values"), so
//     allowed_lateness (6 s) must and does cover the longest gap between a
//     row's created_at and its first capture: a long transaction's hold, the
//     polling lag, and after a kill the replay from the last checkpoint.
//     late_events (events dropped as too late) must stay 0 in every run.
//   - Windows close during the run (the watermark trails the newest
//     created_at by allowed_lateness) and, after the workload, by
//     idle_timeout, so every window is emitted by the same configuration
//     before the final SIGTERM (open windows at SIGTERM would go into the
//     checkpoint, not to the output).
//   - The uninterrupted reference is a second agent over the same source
//     after the workload: polling from the beginning (no deletes, so every
//     strategy's (id, currency, created_at) set is the table's), a --test
//     run with a lateness larger than the run so that no window closes
//     before Finish emits them all. It is cross-checked against the windows
//     computed from the ledger directly.
//
// A subtest fails when a committed change never reaches the output (or one
// arrives that was never committed, or with another row image), when a
// window result is emitted again with other values, when the window
// processor drops a late event, when the results differ from the reference
// (or the reference from the ledger), when fewer than half of the killed
// runs delivered anything (kills that never interrupt capture would test
// restarts, not kills), or when the agent does not catch up within 90 s or
// does not exit 0 on SIGTERM.
//
// The kill moments are seeded (ROWFLUX_FAULT_SEED replays a schedule; the
// seed is logged). Each kill is followed by an immediate restart with the
// same configuration and state_dir; after the tenth, the agent runs until
// the output holds every change and every window, then gets SIGTERM.
func TestFaultKillNineTenTimes(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("ROWFLUX_FAULT_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("ROWFLUX_FAULT_SEED=%q: %v", s, err)
		}
	}
	t.Logf("seed %d (ROWFLUX_FAULT_SEED=%d replays the kill schedule)", seed, seed)
	cases := []struct {
		source, strategy string
		kind             verdict.Kind
	}{
		{"sqlite", "polling", verdict.QueryBased},
		{"sqlite", "trigger", verdict.Changelog},
		{"sqlite", "notify", verdict.Changelog},
		{"postgres", "polling", verdict.QueryBased},
		{"postgres", "trigger", verdict.Changelog},
		{"postgres", "commit_order", verdict.QueryBased},
		{"postgres", "notify", verdict.Changelog},
	}
	for i, tc := range cases {
		t.Run(tc.source+"/"+tc.strategy, func(t *testing.T) {
			killNineScenario(t, tc.source, tc.strategy, tc.kind, seed, rand.New(rand.NewPCG(uint64(seed), uint64(i))))
		})
	}
}

// The scenario's dimensions.
const (
	killRounds      = 10
	minKillInterval = 500 * time.Millisecond
	maxKillInterval = 2 * time.Second
	windowSize      = time.Second
	killWindowName  = "tx_per_currency"
)

// killSource is one database under test: how the agent captures it and how
// the workload drives it.
type killSource struct {
	dsn   string // for agent workload
	input func(strategy string) string
	// workload arguments that differ per database. On SQLite a long
	// transaction holds the one write lock, so they are rarer there: at
	// 150 tx/s every 50th held 200 ms keeps the lock 60% of the time for
	// them alone; every 25th would need it 120% of the time, a saturated
	// database on which the workload cannot keep its rate.
	workload []string
}

func newKillSource(t *testing.T, source string) killSource {
	t.Helper()
	switch source {
	case "sqlite":
		db := filepath.Join(t.TempDir(), "shop.db")
		return killSource{
			dsn: "sqlite://" + db,
			input: func(strategy string) string {
				// lag exceeds the long transactions' hold: their rows carry
				// a timestamp taken before COMMIT.
				return fmt.Sprintf(`
[[inputs.sqlite]]
  path = %q
  strategy = %q
  auto_setup = true
  poll_interval = "100ms"
  lag = "700ms"
  [[inputs.sqlite.tables]]
    name = "transactions"
    key = ["transaction_id"]
    tags = ["currency"]
    timestamp_column = "updated_at"
`, db, strategy)
			},
			workload: []string{"--writers", "3", "--long-tx-every", "50", "--long-tx-hold", "200ms"},
		}
	case "postgres":
		dsn := pgtest.DB(t)
		return killSource{
			dsn: dsn,
			input: func(strategy string) string {
				return fmt.Sprintf(`
[[inputs.postgres]]
  dsn = %q
  strategy = %q
  auto_setup = true
  poll_interval = "50ms"
  lag = "50ms"
  bound_by_open_transactions = true
  [[inputs.postgres.tables]]
    name = "transactions"
    key = ["transaction_id"]
    tags = ["currency"]
    timestamp_column = "updated_at"
`, dsn, strategy)
			},
			workload: []string{"--writers", "4", "--long-tx-every", "20", "--long-tx-hold", "400ms"},
		}
	}
	t.Fatalf("unknown source %q", source)
	return killSource{}
}

// windowSection is the window processor of the scenario. The faulty run
// and the reference differ only in what may change across a restart
// (lateness, idleness, drop_original), never in what the results are a
// function of.
func windowSection(lateness, idle string, dropOriginal bool) string {
	return fmt.Sprintf(`
[[processors.window]]
  measurement = %q
  where = "op != 'delete'"
  time = "created_at"
  group_by = ["currency"]
  type = "tumbling"
  size = %q
  allowed_lateness = %q
  late = "emit"
  late_retention = "10m"
  idle_timeout = %q
  drop_original = %t
  [processors.window.fields]
    n = "count_distinct(transaction_id)"
    lo = "min(transaction_id)"
    hi = "max(transaction_id)"
`, killWindowName, windowSize, lateness, idle, dropOriginal)
}

func killNineScenario(t *testing.T, source, strategy string, kind verdict.Kind, seed int64, rng *rand.Rand) {
	began := time.Now()
	src := newKillSource(t, source)
	dir := t.TempDir()
	ledgerPath, stateDir, addr := filepath.Join(dir, "ledger.jsonl"), filepath.Join(dir, "state"), freeAddr(t)
	if r := runAgent(t, nil, "workload", "--dsn", src.dsn, "--schema-only"); r.code != 0 {
		t.Fatalf("schema: %d %s", r.code, r.stderr)
	}
	conf := writeConfig(t, fmt.Sprintf(`
[agent]
  checkpoint_interval = "200ms"
  state_dir = %q
  http_listen = %q
`, stateDir, addr)+src.input(strategy)+windowSection("6s", "2s", false)+`
[[outputs.stdout]]
  format = "json"
  flush_interval = "50ms"
`)
	// Capture objects exist before the first write: triggers see only
	// changes made after they are installed.
	if r := runAgent(t, nil, "setup", "--config", conf); r.code != 0 {
		t.Fatalf("setup: %d %s", r.code, r.stderr)
	}

	intervals := make([]time.Duration, killRounds)
	var total time.Duration
	for i := range intervals {
		intervals[i] = minKillInterval + time.Duration(rng.Int64N(int64(maxKillInterval-minKillInterval)))
		total += intervals[i]
	}
	// The workload outlasts the last kill (with room for ten process
	// starts and scrapes on a loaded machine), so that every kill hits a
	// live workload; the last run then sees it end.
	wlDuration := total + 4*time.Second
	wl := exec.Command(agentBin, append([]string{"workload", "--dsn", src.dsn, "--rate", "150",
		"--duration", wlDuration.String(), "--mix", "70,30,0",
		"--seed", strconv.FormatInt(rng.Int64(), 10), "--ledger", ledgerPath}, src.workload...)...)
	var wlErr syncBuffer
	wl.Stderr = &wlErr
	if err := wl.Start(); err != nil {
		t.Fatal(err)
	}
	var wlResult error
	wlDone := make(chan struct{})
	go func() {
		wlResult = wl.Wait()
		close(wlDone)
	}()
	t.Cleanup(func() {
		select {
		case <-wlDone:
		default:
			wl.Process.Kill()
			<-wlDone
		}
	})

	var (
		runs      []*runningAgent
		lateDrops []string // runs whose window dropped late events
		lateTotal float64
		killedAt  []string
	)
	// A counter is per process: scraped just before each kill (a run
	// killed before it serves /metrics has nothing to say) and before the
	// final SIGTERM.
	scrape := func(run int) bool {
		late, ok := lateEvents(addr)
		if ok && late != 0 {
			lateDrops = append(lateDrops, fmt.Sprintf("run %d: %v", run, late))
			lateTotal += late
		}
		return ok
	}
	for i, d := range intervals {
		a := startAgentWithLog(t, conf)
		runs = append(runs, a)
		time.Sleep(d)
		scrape(i + 1)
		if a.exited() {
			t.Fatalf("run %d ended by itself before its kill: %v", i+1, a.err)
		}
		a.kill9(t)
		killedAt = append(killedAt, d.Round(time.Millisecond).String())
		select {
		case <-wlDone:
			t.Fatalf("the workload ended before kill %d; the kills are meant to hit a live workload", i+1)
		default:
		}
	}
	t.Logf("killed after %s", strings.Join(killedAt, ", "))
	if _, err := os.Stat(filepath.Join(stateDir, "checkpoint.json")); err != nil {
		t.Fatalf("no checkpoint was written during %d runs: %v", killRounds, err)
	}
	killPhase := parseKillOutput(t, runs...)
	perRun, busy := make([]string, len(runs)), 0
	for i, a := range runs {
		o := parseKillOutput(t, a)
		perRun[i] = fmt.Sprintf("%d+%d", len(o.raw), len(o.results))
		if len(o.raw) > 0 {
			busy++
		}
	}
	t.Logf("changes+window results printed by each killed run: %s", strings.Join(perRun, " "))
	// Kills that never interrupt capture would test restarts, not kills.
	if busy < killRounds/2 {
		t.Errorf("only %d of %d killed runs delivered any change before their kill", busy, killRounds)
	}

	final := startAgentWithLog(t, conf)
	runs = append(runs, final)
	select {
	case <-wlDone:
		if wlResult != nil {
			t.Fatalf("workload: %v\n%s", wlResult, wlErr.Bytes())
		}
	case <-time.After(wlDuration + time.Minute):
		t.Fatalf("the workload did not end within %s", wlDuration+time.Minute)
	}
	ledger, err := workload.ReadLedger(ledgerPath)
	if err != nil || len(ledger) < 500 {
		t.Fatalf("ledger: %d entries, %v", len(ledger), err)
	}
	for _, e := range ledger {
		if e.Op == workload.OpDelete {
			t.Fatalf("the ledger holds a delete (--mix 70,30,0): %+v", e)
		}
	}
	want := ledgerWindows(ledger)

	// Caught up: every change delivered and every window emitted.
	caughtUp := false
	for deadline := time.Now().Add(90 * time.Second); !caughtUp && time.Now().Before(deadline); {
		time.Sleep(250 * time.Millisecond)
		out := killPhase.plus(parseKillOutput(t, final))
		caughtUp = verdict.Compare(kind, ledger, verdictEvents(t, out.raw)).Missed == 0 &&
			hasAll(windowResults(out.results).values, want)
	}
	if !scrape(killRounds + 1) {
		t.Errorf("the last run's /metrics did not answer: its late_events are unknown")
	}
	if code := final.stop(t); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
	all := killPhase.plus(parseKillOutput(t, final))
	got := windowResults(all.results)
	reference := referenceWindows(t, src.input("polling"))

	r := verdict.Compare(kind, ledger, verdictEvents(t, all.raw))
	equal := "= uninterrupted"
	if !sameWindows(got.values, reference) {
		equal = fmt.Sprintf("≠ uninterrupted (%d)", len(reference))
	}
	faultreport.Record(t, faultreport.Row{
		Scenario: fmt.Sprintf("kill -9 x%d / %s / %s", killRounds, source, strategy),
		Injected: fmt.Sprintf("kill -9 x%d at seeded random moments %s–%s apart (seed %d), restart after each, "+
			"during one workload (150 tx/s, long transactions, no deletes); window processor in the pipeline",
			killRounds, minKillInterval, maxKillInterval, seed),
		Ledger:     len(ledger),
		Delivered:  len(all.raw),
		Missed:     r.Missed,
		Duplicates: r.Duplicates,
		Notes: fmt.Sprintf("window results: %d %s (%d emitted, %d of them by killed runs); %v late events dropped; %s",
			len(got.values), equal, got.emitted, len(killPhase.results), lateTotal, time.Since(began).Round(time.Second)),
	})

	// Row images and labels: the capture suite's checks, which also fail
	// on any event the ledger does not have.
	if kind == verdict.Changelog {
		checkChangelog(t, ledger, all.raw)
	} else {
		checkPolling(t, ledger, all.raw)
	}
	if !caughtUp {
		t.Errorf("within 90s of the workload's end the output did not hold every change and every window")
	}
	for i, c := range got.conflicts {
		if i == 5 {
			t.Errorf("… %d more window results emitted again with other values", len(got.conflicts)-i)
			break
		}
		t.Errorf("%s", c)
	}
	if len(lateDrops) > 0 {
		t.Errorf("the window processor dropped late events (allowed_lateness too small, or a watermark wrong after a restart): %s", strings.Join(lateDrops, "; "))
	}
	if !sameWindows(reference, want) {
		t.Errorf("the uninterrupted reference differs from the windows computed from the ledger (-ledger +reference):\n%s", diffWindows(want, reference))
	}
	if !sameWindows(got.values, reference) {
		t.Errorf("after %d kills the window results differ from the uninterrupted run's (-uninterrupted +killed):\n%s", killRounds, diffWindows(reference, got.values))
	}
	t.Logf("%d window results (%d emitted, %d repeats), ledger %d, delivered %d, duplicates %d, %s",
		len(got.values), got.emitted, got.repeats, len(ledger), len(all.raw), r.Duplicates, time.Since(began).Round(time.Second))
}

// outLine is one JSON line of outputs.stdout.
type outLine struct {
	Name   string            `json:"name"`
	Op     string            `json:"op"`
	Tags   map[string]string `json:"tags"`
	Fields map[string]any    `json:"fields"`
	Time   string            `json:"time"`
}

// killOutput splits what the runs printed into captured changes and window
// results.
type killOutput struct {
	raw     []captured
	results []outLine
}

func (k killOutput) plus(o killOutput) killOutput {
	return killOutput{raw: append(slices.Clip(k.raw), o.raw...), results: append(slices.Clip(k.results), o.results...)}
}

func parseKillOutput(t *testing.T, runs ...*runningAgent) killOutput {
	t.Helper()
	var k killOutput
	for _, a := range runs {
		sc := bufio.NewScanner(bytes.NewReader(a.out.Bytes()))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l outLine
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				continue // the line a kill -9 cut short
			}
			switch l.Name {
			case "transactions":
				k.raw = append(k.raw, captured{Op: l.Op, Tags: l.Tags, Fields: l.Fields})
			case killWindowName:
				k.results = append(k.results, l)
			default:
				t.Fatalf("unexpected event in the output: %s", sc.Bytes())
			}
		}
	}
	return k
}

// windows maps a window result's identity, "measurement,tag=value,… @time"
// (time in Unix nanoseconds), to its values, "n=… lo=… hi=…".
type windows struct {
	values           map[string]string
	emitted, repeats int
	conflicts        []string // identities emitted with different values
}

// windowResults de-duplicates results by (measurement, tags, time): an
// idempotent sink keeps one point per identity, so repeats are fine when
// they carry the same values, and a fault when they do not.
func windowResults(results []outLine) windows {
	w := windows{values: map[string]string{}}
	for _, l := range results {
		ts, err := time.Parse(time.RFC3339Nano, l.Time)
		if err != nil {
			w.conflicts = append(w.conflicts, fmt.Sprintf("window result with a bad time %q", l.Time))
			continue
		}
		keys := make([]string, 0, len(l.Tags))
		for k := range l.Tags {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		id := l.Name
		for _, k := range keys {
			id += "," + k + "=" + l.Tags[k]
		}
		id += fmt.Sprintf(" @%d", ts.UnixNano())
		val := fmt.Sprintf("n=%s lo=%s hi=%s", number(l.Fields["n"]), number(l.Fields["lo"]), number(l.Fields["hi"]))
		w.emitted++
		if prev, ok := w.values[id]; ok {
			w.repeats++
			if prev != val {
				w.conflicts = append(w.conflicts, fmt.Sprintf("window %s emitted twice with different values: %s, then %s", id, prev, val))
			}
			continue
		}
		w.values[id] = val
	}
	return w
}

// number formats a JSON number without exponent, so that ids read the same
// from the output and from the ledger.
func number(v any) string {
	f, ok := v.(float64)
	if !ok {
		return fmt.Sprintf("%v", v)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// ledgerWindows computes the windows from the ledger: per currency and
// tumbling window of created_at, the inserted ids.
func ledgerWindows(ledger []workload.Entry) map[string]string {
	type agg struct{ n, lo, hi int64 }
	aggs := map[string]*agg{}
	for _, e := range ledger {
		if e.Op != workload.OpInsert {
			continue
		}
		end := e.CreatedAt.Truncate(windowSize).Add(windowSize)
		id := fmt.Sprintf("%s,currency=%s @%d", killWindowName, e.Currency, end.UnixNano())
		a := aggs[id]
		if a == nil {
			a = &agg{lo: e.ID, hi: e.ID}
			aggs[id] = a
		}
		a.n++ // ids are inserted once: no deletes, so never reused
		a.lo, a.hi = min(a.lo, e.ID), max(a.hi, e.ID)
	}
	out := make(map[string]string, len(aggs))
	for id, a := range aggs {
		out[id] = fmt.Sprintf("n=%d lo=%d hi=%d", a.n, a.lo, a.hi)
	}
	return out
}

// referenceWindows runs the uninterrupted reference over the source: input
// (polling) from the beginning, no lateness in reach, every window emitted
// by --test's Finish.
func referenceWindows(t *testing.T, input string) map[string]string {
	t.Helper()
	conf := writeConfig(t, input+windowSection("24h", "0s", true)+"\n[[outputs.stdout]]\n")
	r := runAgent(t, nil, "--config", conf, "--test", "--test-duration", "4s")
	if r.code != 0 {
		t.Fatalf("reference run: exit %d: %s", r.code, r.stderr)
	}
	var results []outLine
	for _, line := range strings.Split(r.stdout, "\n") {
		var l outLine
		if json.Unmarshal([]byte(line), &l) == nil && l.Name == killWindowName {
			results = append(results, l)
		}
	}
	w := windowResults(results)
	if len(w.conflicts) > 0 || w.repeats > 0 {
		t.Fatalf("the reference run emitted a window more than once: %d repeats, %v", w.repeats, w.conflicts)
	}
	return w.values
}

// hasAll reports whether got holds every window of want (whatever values).
func hasAll(got, want map[string]string) bool {
	for k := range want {
		if _, ok := got[k]; !ok {
			return false
		}
	}
	return true
}

func sameWindows(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// diffWindows lists up to 10 differences, "-" for want, "+" for got.
func diffWindows(want, got map[string]string) string {
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	var b strings.Builder
	n := 0
	for _, k := range sorted {
		w, wok := want[k]
		g, gok := got[k]
		if wok == gok && w == g {
			continue
		}
		if n++; n > 10 {
			b.WriteString("…\n")
			break
		}
		if wok {
			fmt.Fprintf(&b, "- %s %s\n", k, w)
		}
		if gok {
			fmt.Fprintf(&b, "+ %s %s\n", k, g)
		}
	}
	return b.String()
}

// lateEvents scrapes the window processor's late_events (events dropped
// as too late) from a running agent; false when it does not answer.
func lateEvents(addr string) (float64, bool) {
	c := http.Client{Timeout: 250 * time.Millisecond}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil || resp.StatusCode != http.StatusOK {
		return 0, false
	}
	return metric(body.String(), "rowflux_processor_late_events_total", "processors.window")
}
