package pipeline

import (
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// With on_full = "drop_oldest" and a destination that is down, the writer is
// stuck in write() retrying one batch and never pops the queue. dropOldest
// empties the oldest batches but leaves them in the queue, so the queue
// grows by one entry per incoming batch (and each emptied entry still pins
// its batch's backing array): memory is not bounded by buffer_limit, and
// every push rescans all emptied entries (quadratic CPU).
func TestDropOldestQueueStaysBoundedWhileWriterIsStuck(t *testing.T) {
	p, err := New(Options{
		Inputs: []Input{{ID: "in", Plugin: &seqInput{name: "s", batch: 1}}},
		Outputs: []Output{{ID: "o", Plugin: &discardOutput{}, BatchSize: 10, BufferLimit: 100,
			FlushInterval: time.Hour, DropOldest: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	o := p.outs[0]
	// The writer goroutine is not started: it behaves as if stuck retrying.
	const pushes = 5000
	for i := 0; i < pushes; i++ {
		if !o.push(message{batch: sdk.Batch{{Name: "s"}}}) {
			t.Fatal("push failed")
		}
	}
	o.mu.Lock()
	live, n := len(o.queue)-o.head, o.n
	o.mu.Unlock()
	if n != o.cfg.BufferLimit {
		t.Fatalf("buffer holds %d events, want buffer_limit %d", n, o.cfg.BufferLimit)
	}
	if live > 2*o.cfg.BufferLimit {
		t.Fatalf("queue holds %d entries for %d buffered events after %d pushes: emptied batches are never removed while the writer is stuck", live, n, pushes)
	}
}
