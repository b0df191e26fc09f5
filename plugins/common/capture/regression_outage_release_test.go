package capture

// Regression tests for a fixed bug (engine, changelog strategies): while
// the source was down, every checkpoint tried to delete the consumed
// changelog rows, failed, and returned the error, which the agent logs as
// a warning ("input could not release consumed source data"). With the
// fault suite's 200 ms checkpoints a 4 s PostgreSQL restart gave 35 such
// warnings besides Run's one "source unavailable" (69 over two outages),
// although the capture README promises an outage "logged once".
//
// Fix (changelog.go, engine.go): Run shares its outage state; while it is
// reconnecting CheckpointDurable keeps the rows for later without trying,
// and a failed delete is reported only when the next one fails too with
// no outage noticed in between (deleting fails although the source
// answers), once, with an Info line when deletes succeed again.

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/rowflux/rowflux/sdk"
)

// logLines is a JSON slog destination a test reads while the engine logs.
type logLines struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// count returns how many records have level and msg.
func (l *logLines) count(level slog.Level, msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range bytes.Split(l.b.Bytes(), []byte("\n")) {
		var r struct{ Level, Msg string }
		if json.Unmarshal(line, &r) == nil && r.Level == level.String() && r.Msg == msg {
			n++
		}
	}
	return n
}

// atLeast counts records at or above level.
func (l *logLines) atLeast(level slog.Level) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range bytes.Split(l.b.Bytes(), []byte("\n")) {
		var r struct{ Level string }
		var lv slog.Level
		if json.Unmarshal(line, &r) == nil && lv.UnmarshalText([]byte(r.Level)) == nil && lv >= level {
			out = append(out, string(line))
		}
	}
	return out
}

func debugLogger(l *logLines) *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

const (
	logUnavailable = "source unavailable; retrying with backoff"
	logReachable   = "source reachable again; resuming from the last emitted position"
	logReleased    = "consumed changelog rows deleted again"
)

func TestChangelogOutageLoggedOnceNotPerCheckpoint(t *testing.T) {
	for _, strategy := range []string{"trigger", "notify"} {
		t.Run(strategy, func(t *testing.T) {
			var logs logLines
			f := clFake(false)
			addOrders(f, 1, 10)
			rec := newRec()
			e := newEngine(t, clConfig(strategy, 100), f, sdk.Env{Logger: debugLogger(&logs)})
			start(t, e, nil, rec)
			rec.waitEvents(t, 10)
			pos := rec.lastPos()

			// The source goes away and stays away.
			f.failNext("Connect", 1<<30, errConnLost)
			f.loseConnection()
			f.notify()
			waitFor(t, "the outage warning", func() bool { return logs.count(slog.LevelWarn, logUnavailable) == 1 })
			for i := range 5 {
				if err := checkpoint(t, e, pos); err != nil {
					t.Fatalf("checkpoint %d during the outage returned %v: the outage is reported again", i+1, err)
				}
			}
			if calls, _ := f.deleteLog(); len(calls) != 0 {
				t.Fatalf("deletes tried while the source was known to be down: %v", calls)
			}

			// It comes back: the kept rows are deleted at the next checkpoint.
			f.mu.Lock()
			f.rules["Connect"] = nil
			f.mu.Unlock()
			waitFor(t, "the recovery line", func() bool { return logs.count(slog.LevelInfo, logReachable) == 1 })
			if err := checkpoint(t, e, pos); err != nil {
				t.Fatal(err)
			}
			if _, ok := f.deleteLog(); len(ok) != 1 || !slices.Equal(sortedSeqs(ok[0]), seqRange(1, 10)) {
				t.Fatalf("successful deletes %v, want 1..10 once", ok)
			}
			if got := logs.atLeast(slog.LevelWarn); len(got) != 1 {
				t.Fatalf("%d warnings for one outage, want 1:\n%q", len(got), got)
			}
			if n := len(rec.events()); n != 10 {
				t.Fatalf("%d events, want 10", n)
			}
		})
	}
}

func TestFailedDeleteReportedOnceWhileSourceAnswers(t *testing.T) {
	errDenied := errors.New("fake: permission denied for table changelog")
	var logs logLines
	f := clFake(false)
	addOrders(f, 1, 10)
	rec := newRec()
	e := newEngine(t, clConfig("trigger", 100), f, sdk.Env{Logger: debugLogger(&logs)})
	start(t, e, nil, rec)
	rec.waitEvents(t, 10)
	pos := rec.lastPos()

	f.failNext("DeleteChangelog", 3, errDenied)
	want := []bool{false, true, false} // reported: the second failure in a row, once
	for i, report := range want {
		err := checkpoint(t, e, pos)
		if (err != nil) != report || err != nil && !errors.Is(err, errDenied) {
			t.Fatalf("failed delete %d: CheckpointDurable = %v, want an error: %v", i+1, err, report)
		}
	}
	if err := checkpoint(t, e, pos); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.deleteLog(); len(ok) != 1 || !slices.Equal(sortedSeqs(ok[0]), seqRange(1, 10)) {
		t.Fatalf("successful deletes %v, want 1..10 once", ok)
	}
	if n := logs.count(slog.LevelInfo, logReleased); n != 1 {
		t.Fatalf("%d %q lines after the failure was reported and deletes recovered, want 1", n, logReleased)
	}

	// A failure, an outage, a failure: the outage explains both, and the
	// streak starts over after it.
	addOrders(f, 11, 12)
	rec.waitEvents(t, 12)
	pos = rec.lastPos()
	f.failNext("DeleteChangelog", 1, errConnLost)
	if err := checkpoint(t, e, pos); err != nil {
		t.Fatal(err)
	}
	f.failNext("Connect", 2, errConnLost)
	f.loseConnection()
	waitFor(t, "the outage to end", func() bool { return logs.count(slog.LevelInfo, logReachable) == 1 })
	f.failNext("DeleteChangelog", 1, errConnLost)
	if err := checkpoint(t, e, pos); err != nil {
		t.Fatalf("a failed delete after an outage was reported as persistent: %v", err)
	}
	if err := checkpoint(t, e, pos); err != nil {
		t.Fatal(err)
	}
	if got := f.remaining(); len(got) != 0 {
		t.Fatalf("changelog %v, want empty", got)
	}
	if n := logs.count(slog.LevelInfo, logReleased); n != 1 {
		t.Fatalf("%d %q lines, want still 1: the unreported failures needed no recovery line", n, logReleased)
	}
	if got := logs.atLeast(slog.LevelWarn); len(got) != 1 {
		t.Fatalf("warnings %q, want only the outage's", got)
	}
	if n := len(rec.events()); n != 12 {
		t.Fatalf("%d events, want 12", n)
	}
}
