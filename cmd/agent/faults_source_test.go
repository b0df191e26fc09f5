//go:build faults

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rowflux/rowflux/agent/bench/verdict"
	"github.com/rowflux/rowflux/agent/faultreport"
	"github.com/rowflux/rowflux/agent/workload"
	"github.com/rowflux/rowflux/plugins/common/pgtest"
)

// Fault scenario 2: the source database goes away under a running agent.
// Every test runs its own PostgreSQL cluster (pgtest.NewCluster): the
// shared server is not ours to stop.

// The engine's log messages for an outage (plugins/common/capture).
const (
	msgSourceDown      = "source unavailable; retrying with backoff"
	msgSourceStillDown = "source still unavailable"
	msgSourceBack      = "source reachable again; resuming from the last emitted position"
	msgSourceNoRelease = "input could not release consumed source data; it will retry at the next checkpoint"
)

// faultPGStrategies are the PostgreSQL strategies, with what each promises.
var faultPGStrategies = []struct {
	strategy string
	kind     verdict.Kind
	// dupFree: no event may arrive twice while the agent itself keeps
	// running ("only a crash of the agent replays", DESIGN.md). commit_order
	// documents first-round duplicates: a row committed above the horizon
	// while the first round reads is read again in the next.
	dupFree bool
}{
	{"polling", verdict.QueryBased, true},
	{"trigger", verdict.Changelog, true},
	{"commit_order", verdict.QueryBased, false},
	{"notify", verdict.Changelog, true},
}

// TestFaultSourceRestart: PostgreSQL is stopped twice under a running
// workload, once cleanly (fast shutdown: sessions terminated, open
// transactions rolled back) and once as a crash (immediate: crash recovery
// on the next start), each time kept down a few seconds. The agent must
// ride through both without exiting: one warning and one recovery line per
// outage, a bounded number of attempts in between (backoff, no busy loop),
// and in the end every committed change captured as its strategy promises.
func TestFaultSourceRestart(t *testing.T) {
	outages := []struct {
		mode pgtest.StopMode
		down time.Duration
	}{{pgtest.Fast, 3 * time.Second}, {pgtest.Immediate, 4 * time.Second}}
	for _, st := range faultPGStrategies {
		t.Run(st.strategy, func(t *testing.T) {
			start := time.Now()
			rig := newSourceRig(t, st.strategy, false, 100*time.Millisecond)
			rig.setup(t)
			a := rig.startAgent(t)
			wl := rig.startWorkload(t)
			if !waitEvery(30*time.Second, 50*time.Millisecond, func() bool { return printedEvents(&a.out) >= 200 }) {
				t.Fatalf("the agent captured %d events in 30 s before any fault", printedEvents(&a.out))
			}
			var notes []string
			for i, o := range outages {
				before := printedEvents(&a.out)
				cpu0, stopBegin := procCPUTicks(t, a.pid()), time.Now()
				if err := rig.cluster.Stop(o.mode); err != nil {
					t.Fatal(err)
				}
				stopped := time.Now()
				time.Sleep(o.down) // the injected outage
				if err := rig.cluster.Start(); err != nil {
					t.Fatalf("restart the server: %v\n%s", err, rig.cluster.Log())
				}
				up := time.Now()
				var back agentLogRecord
				if !waitEvery(60*time.Second, 50*time.Millisecond, func() bool {
					recs := agentLogged(t, a, msgSourceBack)
					if len(recs) > i {
						back = recs[i]
						return true
					}
					return false
				}) {
					t.Fatalf("outage %d (%s): the agent did not log %q within 60 s of the server's return", i+1, o.mode, msgSourceBack)
				}
				cpu := float64(procCPUTicks(t, a.pid())-cpu0) / userHZ / time.Since(stopBegin).Seconds()
				if warns := logBetween(agentLogged(t, a, msgSourceDown), stopBegin, back.Time); len(warns) != 1 {
					t.Errorf("outage %d (%s): %d %q lines, want 1", i+1, o.mode, len(warns), msgSourceDown)
				}
				if a.exited() {
					t.Fatalf("the agent exited during outage %d: %v", i+1, a.err)
				}
				// Traffic flows again before the next fault: the workload
				// came back and the agent captures its changes.
				if !waitEvery(60*time.Second, 50*time.Millisecond, func() bool { return printedEvents(&a.out) >= before+100 }) {
					t.Fatalf("outage %d (%s): no new events within 60 s after it", i+1, o.mode)
				}
				attempts := len(logBetween(agentLogged(t, a, msgSourceStillDown), stopBegin, back.Time))
				notes = append(notes, fmt.Sprintf("%s stop: down %.1f s, engine saw %.1f s, back %.1f s after the server, %d retries, agent CPU %.0f%%",
					o.mode, up.Sub(stopped).Seconds(), back.Outage.Seconds(), back.Time.Sub(up).Seconds(), attempts, 100*cpu))
				t.Logf("outage %d: %s", i+1, notes[len(notes)-1])
				// A busy loop would show as hundreds of attempts and a
				// core's worth of CPU; backoff doubling from 100 ms gives
				// about log2(down / 100 ms) attempts.
				if attempts > 15 {
					t.Errorf("outage %d: %d connection attempts in %s: backoff is not backing off", i+1, attempts, o.down)
				}
				if cpu > 0.5 {
					t.Errorf("outage %d: the agent used %.0f%% of a core while the source was down", i+1, 100*cpu)
				}
			}
			ledger := wl.stop(t)
			events := rig.finish(t, a, st.kind, ledger)
			warns, backs := checkOutageLog(t, a, len(outages))
			notes = append(notes, fmt.Sprintf("%d outages, %d warnings, %d recovery lines; workload restarted %d times, %d in-doubt commits settled from the table; %.0f s",
				len(outages), warns, backs, wl.restarts, wl.inDoubt, time.Since(start).Seconds()))
			judgeSourceFault(t, st.kind, st.dupFree, ledger, events, faultreport.Row{
				Scenario: "postgres restart / " + st.strategy,
				Injected: fmt.Sprintf("server stopped twice under load: -m fast %s, -m immediate %s", outages[0].down, outages[1].down),
				Notes:    strings.Join(notes, "; "),
			})
		})
	}
}

// TestFaultConnectionsDropped: the server stays up but the agent's
// sessions die under it while it fetches a large backlog: first the server
// terminates them (pg_terminate_backend, every 300–700 ms for a few
// seconds), then the network goes away (a TCP proxy between agent and
// server resets every connection and refuses new ones for a moment),
// twice. For notify this includes the LISTEN session: after it comes back
// the engine must drain again, since notifications sent while nobody
// listened are lost.
func TestFaultConnectionsDropped(t *testing.T) {
	const (
		killFor  = 5 * time.Second
		cuts     = 2
		cutFor   = 1500 * time.Millisecond
		steadyOK = 100 // events that must arrive between faults
	)
	for _, st := range faultPGStrategies {
		t.Run(st.strategy, func(t *testing.T) {
			start := time.Now()
			rig := newSourceRig(t, st.strategy, true, 100*time.Millisecond)
			rig.setup(t)
			// The backlog is committed before the agent starts, so that
			// its first fetches are big and the kills land mid-fetch. The
			// query-based strategies read it about three times as fast as
			// the changelog ones (no row images to decode, nothing to
			// delete), so they get more of it to stay busy as long.
			backlog := 100000
			if st.kind == verdict.QueryBased {
				backlog = 250000
			}
			rig.preload(t, backlog)
			a := rig.startAgent(t)
			wl := rig.startWorkload(t)
			if !waitEvery(60*time.Second, 50*time.Millisecond, func() bool { return printedEvents(&a.out) > 0 }) {
				t.Fatal("the agent captured nothing in 60 s")
			}

			// Phase 1: the server terminates the agent's sessions.
			killStart := time.Now()
			k := rig.terminateSessions(t, killFor, func() bool { return printedEvents(&a.out) < backlog })
			killEnd := time.Now()
			inBacklog := printedEvents(&a.out) < backlog
			if !waitEvery(60*time.Second, 50*time.Millisecond, func() bool {
				return len(agentLogged(t, a, msgSourceBack)) == len(agentLogged(t, a, msgSourceDown))
			}) {
				t.Fatal("the agent did not recover within 60 s of the last terminated session")
			}
			killWarns := len(logBetween(agentLogged(t, a, msgSourceDown), killStart, killEnd.Add(time.Second)))
			t.Logf("terminated %d sessions (%d mid-query, %d of those while the backlog was read) in %d of %d rounds over %s; %d outages logged; backlog still being fetched at the end: %v",
				k.killed, k.midFetch, k.inBacklog, k.hits, k.rounds, killEnd.Sub(killStart).Round(time.Millisecond), killWarns, inBacklog)
			if k.hits == 0 {
				t.Fatal("no round found an agent session to terminate: is application_name set?")
			}
			if k.inBacklog < 2 {
				t.Errorf("only %d terminated sessions were running a query while the backlog was read: the scenario no longer cuts fetches", k.inBacklog)
			}
			// One line per outage, never one per failed query or retry:
			// a round that ends several sessions is one outage, and a
			// round can find the agent still reconnecting from the last.
			if killWarns == 0 || killWarns > k.hits {
				t.Errorf("%d %q lines for %d rounds that terminated sessions: want between 1 and %d", killWarns, msgSourceDown, k.hits, k.hits)
			}
			beforeCut := printedEvents(&a.out)
			if !waitEvery(60*time.Second, 50*time.Millisecond, func() bool { return printedEvents(&a.out) >= beforeCut+steadyOK }) {
				t.Fatal("no new events within 60 s after the terminations")
			}

			// Phase 2: the network between agent and server goes away.
			var cutNotes []string
			for i := range cuts {
				warned := len(agentLogged(t, a, msgSourceDown))
				n := rig.proxy.cut()
				time.Sleep(cutFor) // the injected outage: new connections are reset too
				rig.proxy.restore()
				restored := time.Now()
				var back agentLogRecord
				if !waitEvery(60*time.Second, 50*time.Millisecond, func() bool {
					recs := agentLogged(t, a, msgSourceBack)
					if len(recs) > warned {
						back = recs[warned]
						return true
					}
					return false
				}) {
					t.Fatalf("cut %d: the agent did not recover within 60 s", i+1)
				}
				if got := len(agentLogged(t, a, msgSourceDown)) - warned; got != 1 {
					t.Errorf("cut %d reset %d connections and gave %d %q lines, want 1", i+1, n, got, msgSourceDown)
				}
				cutNotes = append(cutNotes, fmt.Sprintf("cut %d: %d connections reset, back %.1f s after the network", i+1, n, back.Time.Sub(restored).Seconds()))
				t.Log(cutNotes[len(cutNotes)-1])
				before := printedEvents(&a.out)
				if !waitEvery(60*time.Second, 50*time.Millisecond, func() bool { return printedEvents(&a.out) >= before+steadyOK }) {
					t.Fatalf("cut %d: no new events within 60 s after it", i+1)
				}
			}
			if a.exited() {
				t.Fatalf("the agent exited: %v", a.err)
			}

			ledger := wl.stop(t)
			events := rig.finish(t, a, st.kind, ledger)
			warns, backs := checkOutageLog(t, a, -1)
			attempts := len(agentLogged(t, a, msgSourceStillDown))
			if attempts > 3*warns+10 {
				t.Errorf("%d connection attempts for %d outages of at most %s: backoff is not backing off", attempts, warns, cutFor)
			}
			judgeSourceFault(t, st.kind, st.dupFree, ledger, events, faultreport.Row{
				Scenario: "postgres connections dropped / " + st.strategy,
				Injected: fmt.Sprintf("agent sessions terminated every 300–700 ms for %s during a %d-row backlog (%d sessions, %d mid-query, in %d rounds); TCP proxy reset all connections %d× for %s",
					killFor, backlog, k.killed, k.midFetch, k.hits, cuts, cutFor),
				Notes: fmt.Sprintf("%d outages (%d while sessions were terminated): %d warnings, %d recovery lines, %d retries; %s; %.0f s",
					warns, killWarns, warns, backs, attempts, strings.Join(cutNotes, "; "), time.Since(start).Seconds()),
			})
		})
	}
}

// TestFaultNotifyListenerLost: notify's LISTEN session is the one that
// must come back for capture to stay prompt, and changes committed while
// nobody listened are signalled to no one. With the safety poll pushed to
// 30 s, only a re-established LISTEN and a drain right after reconnecting
// can deliver within seconds. First the server ends only the LISTEN
// session; then the network goes away while changes are committed, and
// comes back with no further commit.
func TestFaultNotifyListenerLost(t *testing.T) {
	const (
		safetyPoll = 30 * time.Second
		prompt     = 5 * time.Second // far below the safety poll
	)
	start := time.Now()
	rig := newSourceRig(t, "notify", true, safetyPoll)
	rig.setup(t)
	a := rig.startAgent(t)
	caughtUp := func(what string, since time.Time) time.Duration {
		t.Helper()
		ledger, err := workload.ReadLedger(rig.ledgerPath)
		if err != nil {
			t.Fatal(err)
		}
		if !waitEvery(prompt, 50*time.Millisecond, func() bool {
			return verdict.Compare(verdict.Changelog, ledger, verdictEvents(t, parseCaptured(t, &a.out))).Missed == 0
		}) {
			t.Fatalf("%s: not captured within %s; the safety poll is %s away", what, prompt, safetyPoll)
		}
		return time.Since(since)
	}
	rig.burst(t, 300*time.Millisecond)
	caughtUp("the first changes", time.Now())

	// The server ends the LISTEN session alone; the query pool is fine.
	kill := time.Now()
	ended := rig.terminate(t, "query LIKE 'LISTEN%'")
	if ended != 1 {
		t.Fatalf("ended %d LISTEN sessions, want 1", ended)
	}
	var down, back agentLogRecord
	if !waitEvery(prompt, 20*time.Millisecond, func() bool {
		d, b := agentLogged(t, a, msgSourceDown), agentLogged(t, a, msgSourceBack)
		if len(d) == 1 && len(b) == 1 {
			down, back = d[0], b[0]
			return true
		}
		return false
	}) {
		t.Fatalf("a lost LISTEN session was not noticed and replaced within %s", prompt)
	}
	noticed := down.Time.Sub(kill)
	rig.burst(t, 300*time.Millisecond)
	afterListen := caughtUp("changes after the LISTEN session was replaced", time.Now())

	// The network goes away, changes commit while nobody listens, the
	// network comes back, nothing else is committed.
	n := rig.proxy.cut()
	if !waitEvery(prompt, 20*time.Millisecond, func() bool { return len(agentLogged(t, a, msgSourceDown)) == 2 }) {
		t.Fatalf("a reset of %d connections was not noticed within %s", n, prompt)
	}
	rig.burst(t, 300*time.Millisecond)
	rig.proxy.restore()
	var back2 agentLogRecord
	if !waitEvery(30*time.Second, 20*time.Millisecond, func() bool {
		b := agentLogged(t, a, msgSourceBack)
		if len(b) == 2 {
			back2 = b[1]
			return true
		}
		return false
	}) {
		t.Fatal("the agent did not reconnect within 30 s of the network's return")
	}
	redrained := caughtUp("changes committed while nobody listened", back2.Time)

	ledger, err := workload.ReadLedger(rig.ledgerPath)
	if err != nil {
		t.Fatal(err)
	}
	events := rig.finish(t, a, verdict.Changelog, ledger)
	warns, backs := checkOutageLog(t, a, 2)
	notes := fmt.Sprintf("LISTEN session ended: noticed after %s, back %s later, the next burst all captured %s after its last commit; network cut (%d connections): changes committed meanwhile all captured %s after reconnecting; %d warnings, %d recovery lines; safety poll %s; %.0f s",
		noticed.Round(time.Millisecond), back.Time.Sub(down.Time).Round(time.Millisecond), afterListen.Round(time.Millisecond),
		n, redrained.Round(time.Millisecond), warns, backs, safetyPoll, time.Since(start).Seconds())
	judgeSourceFault(t, verdict.Changelog, true, ledger, events, faultreport.Row{
		Scenario: "postgres notify listener lost",
		Injected: "LISTEN session terminated; then network cut while changes committed",
		Notes:    notes,
	})
}

// sourceRig is one scenario's cluster, database, agent configuration and
// ledger.
type sourceRig struct {
	cluster    *pgtest.Cluster
	dsn        string // the database, as the workload and the test reach it
	proxy      *cutProxy
	dir        string
	ledgerPath string
	conf       string
}

// newSourceRig starts a cluster with a fresh database and writes the
// agent's configuration; proxied puts a cutProxy between agent and server.
func newSourceRig(t *testing.T, strategy string, proxied bool, pollInterval time.Duration) *sourceRig {
	t.Helper()
	c := pgtest.NewCluster(t)
	r := &sourceRig{cluster: c, dsn: c.DB(t), dir: t.TempDir()}
	r.ledgerPath = filepath.Join(r.dir, "ledger.jsonl")
	agentDSN := r.dsn
	if proxied {
		r.proxy = startCutProxy(t, c.Addr())
		agentDSN = strings.Replace(r.dsn, c.Addr(), r.proxy.addr(), 1)
	}
	extra := ""
	if strategy == "polling" {
		// The concurrency suite's setting: bounded by open transactions,
		// a lag only for clock skew between workload and server.
		extra = `lag = "50ms"`
	}
	r.conf = writeConfig(t, fmt.Sprintf(`
[agent]
  checkpoint_interval = "200ms"
  state_dir = %q
  log_format = "json"
[[inputs.postgres]]
  dsn = %q
  strategy = %q
  poll_interval = %q
  %s
  [[inputs.postgres.tables]]
    name = "transactions"
    key = ["transaction_id"]
    tags = ["currency"]
    timestamp_column = "updated_at"
[[outputs.stdout]]
  format = "json"
  flush_interval = "50ms"
`, filepath.Join(r.dir, "state"), agentDSN, strategy, pollInterval.String(), extra))
	return r
}

// setup creates the table and installs the capture objects before the
// first change: triggers see only what is written after them.
func (r *sourceRig) setup(t *testing.T) {
	t.Helper()
	if _, err := workload.Run(context.Background(), workload.Options{DSN: r.dsn, SchemaOnly: true}); err != nil {
		t.Fatalf("schema: %v", err)
	}
	if res := runAgent(t, nil, "setup", "--config", r.conf); res.code != 0 {
		t.Fatalf("setup: %d %s", res.code, res.stderr)
	}
}

func (r *sourceRig) preload(t *testing.T, rows int) {
	t.Helper()
	if _, err := workload.Run(context.Background(), workload.Options{DSN: r.dsn, Preload: rows, Duration: time.Millisecond, Rate: 1, Ledger: r.ledgerPath}); err != nil {
		t.Fatalf("preload: %v", err)
	}
}

// burst runs the workload for d, ledgered, while nothing else writes.
func (r *sourceRig) burst(t *testing.T, d time.Duration) {
	t.Helper()
	if _, err := workload.Run(context.Background(), workload.Options{DSN: r.dsn, Rate: 50, Duration: d, Ledger: r.ledgerPath, Seed: rand.Int64()}); err != nil {
		t.Fatalf("workload: %v", err)
	}
}

// terminate ends the agent's sessions that match the SQL condition where
// and returns how many it ended.
func (r *sourceRig) terminate(t *testing.T, where string) int {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(r.dsn)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, r.cluster.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = $1 AND application_name = 'rowflux' AND `+where, cfg.Database).Scan(&n); err != nil {
		t.Fatalf("terminate the agent's sessions: %v", err)
	}
	return n
}

func (r *sourceRig) startAgent(t *testing.T) *runningAgent {
	t.Helper()
	a := startAgentWithLog(t, r.conf)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", r.cluster.Log())
		}
	})
	return a
}

// finish waits until the output shows every ledgered change (or 90 s
// pass: judgeSourceFault then names what is missing), stops the agent with
// SIGTERM and returns what it printed.
func (r *sourceRig) finish(t *testing.T, a *runningAgent, kind verdict.Kind, ledger []workload.Entry) []captured {
	t.Helper()
	// Caught up: the output has not grown for a second and shows every
	// change. Judging only quiet outputs keeps the parsing, which costs
	// as much as the agent's work, off a two-core machine.
	last, quiet := -1, time.Now()
	caught := waitEvery(90*time.Second, 200*time.Millisecond, func() bool {
		if n := a.out.Len(); n != last {
			last, quiet = n, time.Now()
			return false
		}
		return time.Since(quiet) >= time.Second &&
			verdict.Compare(kind, ledger, verdictEvents(t, parseCaptured(t, &a.out))).Missed == 0
	})
	if !caught {
		t.Errorf("the agent had not caught up 90 s after the workload stopped")
	}
	if a.exited() {
		t.Fatalf("the agent exited on its own: %v", a.err)
	}
	if code := a.stop(t); code != 0 {
		t.Fatalf("the agent exited with status %d on SIGTERM", code)
	}
	return parseCaptured(t, &a.out)
}

// judgeSourceFault records row with the verdict's figures, then applies
// verdict's definition of captured: nothing missed, nothing the ledger
// lacks, and (dupFree) nothing twice. For query-based strategies that
// includes polling: bounded by open transactions it promises no miss
// (checkPolling), and a stopped server aborts the open transactions
// rather than committing them late. The row is recorded first so that
// the report shows a failing scenario's figures too.
func judgeSourceFault(t *testing.T, kind verdict.Kind, dupFree bool, ledger []workload.Entry, events []captured, row faultreport.Row) {
	t.Helper()
	res := verdict.Compare(kind, ledger, verdictEvents(t, events))
	row.Ledger, row.Delivered, row.Missed, row.Duplicates = len(ledger), len(events), res.Missed, res.Duplicates
	faultreport.Record(t, row)
	switch kind {
	case verdict.Changelog:
		checkChangelog(t, ledger, events)
	default:
		checkPolling(t, ledger, events)
	}
	if dupFree && res.Duplicates > 0 {
		t.Errorf("%d duplicates: the agent never restarted, so nothing may be replayed", res.Duplicates)
	}
}

// printedEvents counts the events the agent has printed so far, without
// parsing them.
func printedEvents(out *syncBuffer) int {
	out.mu.Lock()
	defer out.mu.Unlock()
	return bytes.Count(out.b.Bytes(), []byte{'\n'})
}

// waitEvery is waitFor at a gentler pace, for conditions that cost a scan of
// the agent's output or log: the agent needs the machine's two cores.
func waitEvery(d, every time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); ; {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(every)
	}
}

// ---- the agent's log ----

// agentLogRecord is one line of the agent's JSON log.
type agentLogRecord struct {
	Time   time.Time     `json:"time"`
	Level  string        `json:"level"`
	Msg    string        `json:"msg"`
	Error  string        `json:"error"`
	Outage time.Duration `json:"outage"` // slog writes a duration as nanoseconds
}

// agentLogged returns the agent's log records with message msg.
func agentLogged(t *testing.T, a *runningAgent, msg string) []agentLogRecord {
	t.Helper()
	var out []agentLogRecord
	sc := bufio.NewScanner(bytes.NewReader(a.log.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r agentLogRecord
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Msg == msg {
			out = append(out, r)
		}
	}
	return out
}

// logBetween keeps the records logged from from to to, both included.
func logBetween(recs []agentLogRecord, from, to time.Time) []agentLogRecord {
	var out []agentLogRecord
	for _, r := range recs {
		if !r.Time.Before(from) && !r.Time.After(to) {
			out = append(out, r)
		}
	}
	return out
}

// checkOutageLog: every outage gives exactly one warning and, once the
// source answers again, exactly one recovery line, alternating; want < 0
// accepts any number of outages. It returns the counts.
func checkOutageLog(t *testing.T, a *runningAgent, want int) (warns, backs int) {
	t.Helper()
	var seq []string
	sc := bufio.NewScanner(bytes.NewReader(a.log.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r agentLogRecord
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		switch r.Msg {
		case msgSourceDown:
			warns++
			seq = append(seq, "down")
		case msgSourceBack:
			backs++
			seq = append(seq, "up")
		}
	}
	for i, s := range seq {
		if s != []string{"down", "up"}[i%2] {
			t.Errorf("outage log out of order (one %q, then one %q, per outage): %v", msgSourceDown, msgSourceBack, seq)
			break
		}
	}
	if warns != backs {
		t.Errorf("%d %q lines but %d %q lines", warns, msgSourceDown, backs, msgSourceBack)
	}
	if want >= 0 && warns != want {
		t.Errorf("%d %q lines for %d outages, want one per outage", warns, msgSourceDown, want)
	}
	// The checkpoints' deletes fail during an outage too; it is still
	// one outage, already reported.
	if n := len(agentLogged(t, a, msgSourceNoRelease)); n > 0 {
		t.Errorf("%d %q lines besides the outage warnings", n, msgSourceNoRelease)
	}
	return warns, backs
}

// userHZ is USER_HZ, the unit of /proc/PID/stat's CPU times: 100 on
// every Linux architecture Go supports.
const userHZ = 100

// procCPUTicks is the user + system CPU time pid has used, in clock ticks.
func procCPUTicks(t *testing.T, pid int) int64 {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("agent CPU time: %v", err)
	}
	// Fields after "(comm)": state is the first, utime the 12th, stime the 13th.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatalf("agent CPU time: %v", err)
	}
	return utime + stime
}

// ---- the workload, through outages ----

// outageWorkload runs the workload until stopped, through server outages.
// workload.Run ends at the first error that is not "busy, retry", a lost
// server included, so it is started again once the server answers. A
// transaction whose COMMIT was cut off may or may not have committed; its
// ledger line is then missing, so before each new run the table is
// compared with the ledger and any change the table proves committed is
// ledgered (an "in-doubt" commit). The ledger then holds exactly the
// committed changes.
type outageWorkload struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error

	restarts, inDoubt int
	dsn, ledgerPath   string
}

func (r *sourceRig) startWorkload(t *testing.T) *outageWorkload {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &outageWorkload{cancel: cancel, done: make(chan struct{}), dsn: r.dsn, ledgerPath: r.ledgerPath}
	go func() {
		defer close(w.done)
		w.err = w.run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-w.done })
	return w
}

func (w *outageWorkload) run(ctx context.Context) error {
	dsn := w.dsn
	for run := 1; ctx.Err() == nil; run++ {
		_, err := workload.Run(ctx, workload.Options{
			DSN: dsn, Rate: 200, Writers: 3, LongTxEvery: 20, LongTxHold: 300 * time.Millisecond,
			Ledger: w.ledgerPath, Seed: int64(run),
		})
		if err == nil {
			return nil // stopped
		}
		var ce *workload.ConfigError
		if errors.As(err, &ce) {
			return err
		}
		w.restarts++
		// The server is away: wait for it, then settle what the cut-off
		// transactions left behind before the next run reads the table.
		if werr := waitPostgres(ctx, dsn); werr != nil {
			return fmt.Errorf("workload run %d ended (%v): %w", run, err, werr)
		}
		n, serr := settleInDoubt(context.WithoutCancel(ctx), dsn, w.ledgerPath)
		if serr != nil {
			return fmt.Errorf("workload run %d ended (%v): settle its in-doubt commits: %w", run, err, serr)
		}
		w.inDoubt += n
	}
	return nil
}

// stop ends the workload (every writer finishes its transaction) and
// returns the ledger.
func (w *outageWorkload) stop(t *testing.T) []workload.Entry {
	t.Helper()
	w.cancel()
	select {
	case <-w.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the workload did not stop within 60 s")
	}
	if w.err != nil {
		t.Fatalf("workload: %v", w.err)
	}
	// After a clean stop nothing is in doubt: a difference now would be
	// a ledger that does not match the table.
	if n, err := settleInDoubt(context.Background(), w.dsn, w.ledgerPath); err != nil || n != 0 {
		t.Fatalf("the table differs from the ledger replayed in %d rows (%v)", n, err)
	}
	ledger, err := workload.ReadLedger(w.ledgerPath)
	if err != nil {
		t.Fatal(err)
	}
	return ledger
}

func waitPostgres(ctx context.Context, dsn string) error {
	deadline := time.Now().Add(90 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		c, err := pgx.Connect(cctx, dsn)
		if err == nil {
			err = c.Ping(cctx)
			c.Close(context.Background())
		}
		cancel()
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("the server did not come back within 90 s: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// settleInDoubt compares the table with the ledger replayed and appends,
// for every row where they differ, the change the table shows committed.
// Only the workload writes the table and no run is going, so a difference
// can only be a transaction whose COMMIT succeeded without the workload
// hearing of it.
func settleInDoubt(ctx context.Context, dsn, ledgerPath string) (int, error) {
	ledger, err := workload.ReadLedger(ledgerPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	want := map[int64]workload.Entry{} // live rows by id
	var last workload.Entry
	for _, e := range ledger {
		if e.Op == workload.OpDelete {
			delete(want, e.ID)
		} else {
			want[e.ID] = e
		}
		last = e
	}
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer c.Close(context.Background())
	rows, err := c.Query(ctx, "SELECT transaction_id, amount::text, currency, product_category, created_at, updated_at FROM transactions ORDER BY transaction_id")
	if err != nil {
		return 0, err
	}
	var fixes []workload.Entry
	seen := map[int64]bool{}
	for rows.Next() {
		var e workload.Entry
		if err := rows.Scan(&e.ID, &e.Amount, &e.Currency, &e.Category, &e.CreatedAt, &e.UpdatedAt); err != nil {
			return 0, err
		}
		e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
		seen[e.ID] = true
		w, live := want[e.ID]
		switch {
		case !live:
			e.Op = workload.OpInsert
		case !w.UpdatedAt.Equal(e.UpdatedAt) || w.Amount != e.Amount || w.Category != e.Category || w.Currency != e.Currency:
			e.Op = workload.OpUpdate
		default:
			continue
		}
		fixes = append(fixes, e)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	ids := make([]int64, 0, len(want))
	for id := range want {
		if !seen[id] {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		e := want[id] // a delete's entry carries the deleted row
		e.Op = workload.OpDelete
		fixes = append(fixes, e)
	}
	if len(fixes) == 0 {
		return 0, nil
	}
	f, err := os.OpenFile(ledgerPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return 0, err
	}
	var buf bytes.Buffer
	for i := range fixes {
		fixes[i].N, fixes[i].Tx = last.N+int64(i)+1, last.Tx+int64(i)+1
		b, err := json.Marshal(&fixes[i])
		if err != nil {
			f.Close()
			return 0, err
		}
		buf.Write(append(b, '\n'))
	}
	_, err = f.Write(buf.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return len(fixes), err
}

// ---- faults ----

// sessionKills sums up terminateSessions.
type sessionKills struct {
	rounds, hits int // rounds run, rounds that ended at least one session
	killed       int // sessions ended
	midFetch     int // of those, sessions that were running a query
	inBacklog    int // sessions running a query ended while the backlog was read
}

// terminateSessions ends the agent's sessions (found by the
// application_name the postgres input gives them) every 300–700 ms for d.
// Each round waits up to 300 ms for one of them to be running a query, so
// that most kills land mid-fetch rather than between two polls.
func (r *sourceRig) terminateSessions(t *testing.T, d time.Duration, backlog func() bool) sessionKills {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, r.cluster.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	cfg, err := pgx.ParseConfig(r.dsn)
	if err != nil {
		t.Fatal(err)
	}
	// One snapshot of the agent's sessions: it both decides whether to
	// strike (one of them is active, or force) and names what is ended.
	const strike = `WITH s AS (SELECT pid, state FROM pg_stat_activity
  WHERE datname = $1 AND application_name = 'rowflux' AND pid <> pg_backend_pid())
SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)), count(*) FILTER (WHERE state = 'active')
FROM s WHERE $2 OR EXISTS (SELECT 1 FROM s WHERE state = 'active')`
	var k sessionKills
	for end := time.Now().Add(d); time.Now().Before(end); {
		var killed, active int
		for wait := time.Now().Add(300 * time.Millisecond); ; time.Sleep(2 * time.Millisecond) {
			force := time.Now().After(wait)
			if err := admin.QueryRow(ctx, strike, cfg.Database, force).Scan(&killed, &active); err != nil {
				t.Fatalf("terminate the agent's sessions: %v", err)
			}
			if killed > 0 || force {
				break
			}
		}
		k.rounds++
		if killed > 0 {
			k.hits++
			k.killed += killed
			k.midFetch += active
			if backlog() {
				k.inBacklog += active
			}
		}
		time.Sleep(300*time.Millisecond + rand.N(400*time.Millisecond))
	}
	return k
}

// cutProxy forwards loopback connections to the server. cut resets every
// connection at once (RST, as when a firewall or a peer's kernel drops the
// session) and resets new ones until restore: "the network went away",
// which the agent sees differently from a server saying goodbye.
type cutProxy struct {
	ln       net.Listener
	upstream string

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	refuse  bool
	handled atomic.Int64
}

func startCutProxy(t *testing.T, upstream string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.cut()
	})
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse
		p.mu.Unlock()
		if refuse {
			resetConn(down)
			continue
		}
		up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
		if err != nil {
			resetConn(down)
			continue
		}
		p.mu.Lock()
		p.conns[down], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.handled.Add(1)
		go p.pipe(up, down)
		go p.pipe(down, up)
	}
}

// pipe copies one direction; when it ends, the pair is closed.
func (p *cutProxy) pipe(dst, src net.Conn) {
	io.Copy(dst, src)
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
	dst.Close()
	src.Close()
}

// cut resets every proxied connection and refuses new ones until restore;
// it returns the number of agent connections reset.
func (p *cutProxy) cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = true
	n := len(p.conns) / 2
	for c := range p.conns {
		resetConn(c)
		delete(p.conns, c)
	}
	return n
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	p.refuse = false
	p.mu.Unlock()
}

// resetConn closes c with an RST rather than a FIN.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
