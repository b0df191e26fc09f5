// Package inputtest helps test inputs: a recording sdk.Emitter and a
// runner that stops the input when the test ends.
package inputtest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// Recorder is an sdk.Emitter that keeps every event, when it arrived, and
// every position.
type Recorder struct {
	mu     sync.Mutex
	events []sdk.Event
	at     []time.Time
	pos    []sdk.Position
}

// Emit records the batch and its position.
func (r *Recorder) Emit(_ context.Context, b sdk.Batch, p sdk.Position) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for range b {
		r.at = append(r.at, now)
	}
	r.events = append(r.events, b...)
	r.pos = append(r.pos, p)
	return nil
}

// Snapshot returns the events so far and the last position.
func (r *Recorder) Snapshot() ([]sdk.Event, sdk.Position) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var last sdk.Position
	if len(r.pos) > 0 {
		last = r.pos[len(r.pos)-1]
	}
	return append([]sdk.Event(nil), r.events...), last
}

// ArrivedAt is when the i-th event was emitted.
func (r *Recorder) ArrivedAt(i int) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.at[i]
}

// WaitFor waits up to 10 s for at least n events and returns them.
func (r *Recorder) WaitFor(t testing.TB, n int) []sdk.Event {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ev, _ := r.Snapshot(); len(ev) >= n {
			return ev
		}
	}
	ev, _ := r.Snapshot()
	t.Fatalf("got %d events, want %d: %s", len(ev), n, describe(ev))
	return nil
}

func describe(ev []sdk.Event) string {
	s := ""
	for i, e := range ev {
		if i == 10 {
			return s + " …"
		}
		s += fmt.Sprintf(" %s/%s%v", e.Name, e.Op, e.Fields)
	}
	return s
}

// Start runs in with a fresh Recorder from no position. The returned stop
// cancels it and reports a Run error; it also runs when the test ends.
func Start(t testing.TB, in sdk.Input) (*Recorder, func()) {
	t.Helper()
	rec := &Recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, nil, rec) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return rec, stop
}
