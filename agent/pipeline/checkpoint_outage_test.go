package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// recHandler keeps every log record, with its time, for the test to read.
type recHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recHandler) WithGroup(string) slog.Handler            { return h }

func (h *recHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}

func (h *recHandler) records(level slog.Level, msgPart string) []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []slog.Record
	for _, r := range h.recs {
		if r.Level == level && strings.Contains(r.Message, msgPart) {
			out = append(out, r)
		}
	}
	return out
}

func attr(r slog.Record, key string) slog.Value {
	var v slog.Value
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value
			return false
		}
		return true
	})
	return v
}

// TestCheckpointOutageIsLoggedOnceAndItsEndToo is the regression test for
// a full or read-only state_dir logging one ERROR line per
// checkpoint_interval for as long as it lasted, and nothing when it ended.
// Now an outage is logged when it starts, when its cause changes and at
// most every remindEvery; its end is logged with how long it lasted; and no
// input hears of a checkpoint that was not written.
func TestCheckpointOutageIsLoggedOnceAndItsEndToo(t *testing.T) {
	const fails = 60
	enospc := errors.New("write checkpoint /state/checkpoint.json: no space left on device")
	erofs := errors.New("create a temporary checkpoint file in state_dir /state: read-only file system")
	cases := []struct {
		name     string
		remind   time.Duration
		cause    func(n int) error // the error of the n-th failure, from 1
		min, max int               // ERROR lines for the outage
	}{
		{"one cause", time.Hour, func(int) error { return enospc }, 1, 1},
		{"cause changes once", time.Hour, func(n int) error {
			if n <= fails/2 {
				return enospc
			}
			return erofs
		}, 2, 2},
		{"long outage is recalled", 20 * time.Millisecond, func(int) error { return enospc }, 2, fails},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := &seqInput{name: "s", batch: 10, pause: 200 * time.Microsecond, durable: make(chan sdk.Position, 1000)}
			logs := &recHandler{}
			var (
				mu        sync.Mutex
				failed    int
				succeeded int
				committed = map[string]bool{}
			)
			recovered := make(chan struct{})
			commit := func(c *Checkpoint) error {
				mu.Lock()
				defer mu.Unlock()
				// One good checkpoint first, so that the outage follows a
				// durable one as it does in a running agent.
				if succeeded > 0 && failed < fails {
					failed++
					return tc.cause(failed)
				}
				succeeded++
				committed[string(c.Positions["inputs.seq"])] = true
				if failed == fails && succeeded == 4 {
					close(recovered)
				}
				return nil
			}
			p, err := New(Options{
				Inputs: []Input{{ID: "inputs.seq", Plugin: in}}, Outputs: []Output{out("o", newRecOutput())},
				CheckpointInterval: time.Millisecond, Commit: commit, Logger: slog.New(logs),
			})
			if err != nil {
				t.Fatal(err)
			}
			p.ckpt.remindEvery = tc.remind
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx) }()
			select {
			case <-recovered:
			case <-time.After(30 * time.Second):
				t.Fatalf("no recovery within 30s: %d failed checkpoints", failed)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("run: %v", err)
			}

			errs := logs.records(slog.LevelError, "checkpoint")
			if len(errs) < tc.min || len(errs) > tc.max {
				for _, r := range errs {
					t.Logf("%s %s error=%v", r.Time.Format(time.StampMicro), r.Message, attr(r, "error"))
				}
				t.Fatalf("%d ERROR lines for an outage of %d failed checkpoints, want %d to %d", len(errs), fails, tc.min, tc.max)
			}
			if got := attr(errs[0], "error").String(); got != enospc.Error() {
				t.Errorf("first ERROR line gives %q, want the cause %q", got, enospc)
			}
			for i := 1; i < len(errs); i++ {
				gap := errs[i].Time.Sub(errs[i-1].Time)
				newCause := attr(errs[i], "error").String() != attr(errs[i-1], "error").String()
				// The record's time is taken a moment after the coordinator's
				// decision, so two records can sit a little closer than the
				// decisions did: allow a tenth.
				if !newCause && gap < tc.remind*9/10 {
					t.Errorf("ERROR line %d repeats the same cause %s after the previous one, less than the %s between reminders", i, gap, tc.remind)
				}
			}
			ok := logs.records(slog.LevelInfo, "checkpoint written again")
			if len(ok) != 1 {
				t.Fatalf("%d lines saying checkpoints are written again, want 1", len(ok))
			}
			if n := attr(ok[0], "failed_checkpoints").Int64(); n != fails {
				t.Errorf("the recovery line counts %d failed checkpoints, want %d", n, fails)
			}
			if attr(ok[0], "failing_for").Duration() <= 0 {
				t.Errorf("the recovery line says nothing of how long checkpoints failed: %v", attr(ok[0], "failing_for"))
			}
			close(in.durable)
			mu.Lock()
			defer mu.Unlock()
			for pos := range in.durable {
				if !committed[string(pos)] {
					t.Fatalf("the input was told position %s is durable, which was never written", pos)
				}
			}
		})
	}
}
