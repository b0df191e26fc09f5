package pipeline

import (
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// With on_full = "block", push used to wait only while the buffer was
// already full, then append the whole incoming batch: a buffer of 3,000 fed
// batches of 70 held 3,030 events while its destination was down, and one
// incoming batch larger than the buffer went in whole. buffer_limit is a
// bound on what the buffer holds (and what rowflux_output_buffer_events
// reports), so the part of a batch that does not fit must wait.
func TestBlockingBufferNeverHoldsMoreThanLimit(t *testing.T) {
	const limit, batchSize = 100, 10
	p, err := New(Options{
		Inputs: []Input{{ID: "in", Plugin: &seqInput{name: "s", batch: 1}}},
		Outputs: []Output{{ID: "o", Plugin: &discardOutput{}, BatchSize: batchSize, BufferLimit: limit,
			FlushInterval: time.Hour}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.hardCancel(nil)
	o := p.outs[0]
	buffered := func() int {
		o.mu.Lock()
		defer o.mu.Unlock()
		return o.n
	}

	// Batches of 7 (not a divisor of the limit), then one larger than the
	// whole buffer, numbered in order. The writer is not started: the
	// test takes from the buffer itself, as a writer stuck retrying and
	// then recovering would.
	sizes := []int{}
	for range 20 {
		sizes = append(sizes, 7)
	}
	sizes = append(sizes, 3*limit+5, 3)
	total := 0
	for _, n := range sizes {
		total += n
	}
	pushed := make(chan bool, 1)
	go func() {
		seq := int64(0)
		for _, n := range sizes {
			b := make(sdk.Batch, n)
			for i := range b {
				b[i] = sdk.Event{Name: "s", Fields: []sdk.Field{{Key: "seq", Value: seq}}}
				seq++
			}
			if !o.push(message{batch: b}) {
				pushed <- false
				return
			}
		}
		pushed <- true
	}()

	deadline := time.Now().Add(10 * time.Second)
	for buffered() < limit {
		if time.Now().After(deadline) {
			t.Fatalf("the buffer holds %d events 10s after %d were pushed, want it full at %d", buffered(), total, limit)
		}
		time.Sleep(time.Millisecond)
	}
	// The pusher is now blocked; give it time to overfill, as it used to.
	time.Sleep(50 * time.Millisecond)
	if n := buffered(); n != limit {
		t.Fatalf("the buffer holds %d events with %d pushed, want exactly buffer_limit %d", n, total, limit)
	}
	select {
	case <-pushed:
		t.Fatal("push returned while the buffer was full")
	default:
	}

	var got []int64
	for len(got) < total {
		o.mu.Lock()
		for o.head < len(o.queue) && len(o.queue[o.head].batch) == 0 {
			o.popHead()
		}
		if o.n == 0 {
			o.mu.Unlock()
			if time.Now().After(deadline) {
				t.Fatalf("took %d of %d events, then the buffer stayed empty", len(got), total)
			}
			time.Sleep(time.Millisecond)
			continue
		}
		b := o.take()
		for _, ev := range b {
			got = append(got, ev.Fields[0].Value.(int64))
		}
		o.mu.Unlock()
		signal(o.space)
		if n := buffered(); n > limit {
			t.Fatalf("the buffer holds %d events, over buffer_limit %d", n, limit)
		}
		if len(b) > batchSize {
			t.Fatalf("took a batch of %d, batch_size is %d", len(b), batchSize)
		}
	}
	if ok := <-pushed; !ok {
		t.Fatal("push failed")
	}
	for i, v := range got {
		if v != int64(i) {
			t.Fatalf("event %d of %d out of the buffer has seq %d: lost or reordered", i, total, v)
		}
	}
}
