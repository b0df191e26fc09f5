package pipeline

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rowflux/rowflux/agent/selfmetrics"
	"github.com/rowflux/rowflux/sdk"
)

// outputRunner owns one output's buffer and its writer goroutine. The
// fan-out pushes into the buffer; the writer takes up to batch_size events
// at a time and writes them, retrying with backoff until they are accepted.
// Barriers wait in the buffer behind the events they follow, so an output
// acknowledges a barrier only after writing everything before it.
type outputRunner struct {
	p   *Pipeline
	cfg Output
	log *slog.Logger

	mu       sync.Mutex
	queue    []message // FIFO of batches and barriers; queue[head:] is live
	head     int
	n        int // events queued (not counting the batch being written)
	barriers int // barriers queued
	closed   bool

	wake  chan struct{} // data, barrier or close arrived
	space chan struct{} // the writer freed room

	scratch sdk.Batch

	written, dropped, errors *sdk.Counter
	dropLog                  sdk.LogThrottle
}

func newOutputRunner(p *Pipeline, o Output) *outputRunner {
	if o.RetryMaxInterval <= 0 {
		o.RetryMaxInterval = 30 * time.Second
	}
	l := selfmetrics.Label{Name: "instance", Value: o.ID}
	r := &outputRunner{
		p: p, cfg: o, log: p.log.With("output", o.ID),
		wake:    make(chan struct{}, 1),
		space:   make(chan struct{}, 1),
		written: p.opts.Metrics.Counter("rowflux_output_events_written_total", "Events an output wrote successfully.", l),
		dropped: p.opts.Metrics.Counter("rowflux_output_events_dropped_total", "Events an output dropped because its buffer was full (on_full = \"drop_oldest\").", l),
		errors:  p.opts.Metrics.Counter("rowflux_output_write_errors_total", "Failed write attempts of an output (each is retried).", l),
	}
	p.opts.Metrics.Gauge("rowflux_output_buffer_events", "Events waiting in an output's buffer.", func() float64 {
		r.mu.Lock()
		defer r.mu.Unlock()
		return float64(r.n)
	}, l)
	return r
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// push appends a message, blocking while the buffer is full unless the
// output drops its oldest events instead. It returns false on abort.
func (o *outputRunner) push(m message) bool {
	o.mu.Lock()
	if m.batch != nil && !o.cfg.DropOldest {
		// A batch goes in as far as there is room and the rest waits, so
		// that the buffer never holds more than buffer_limit events:
		// batches from inputs are sized by the source, not by the buffer.
		for len(m.batch) > 0 {
			for o.n >= o.cfg.BufferLimit {
				o.mu.Unlock()
				select {
				case <-o.space:
				case <-o.p.hardCtx.Done():
					return false
				}
				o.mu.Lock()
			}
			k := min(len(m.batch), o.cfg.BufferLimit-o.n)
			o.queue = append(o.queue, message{batch: m.batch[:k:k]})
			o.n += k
			m.batch = m.batch[k:]
			signal(o.wake)
		}
		o.mu.Unlock()
		return true
	}
	o.queue = append(o.queue, m)
	if m.barrier != nil {
		o.barriers++
	} else {
		o.n += len(m.batch)
		if over := o.n - o.cfg.BufferLimit; over > 0 && o.cfg.DropOldest {
			o.dropOldest(over)
		}
	}
	o.mu.Unlock()
	signal(o.wake)
	return true
}

// dropOldest removes k events from the front of the buffer, leaving
// barriers in place. Called with mu held.
func (o *outputRunner) dropOldest(k int) {
	// Emptied batches are removed at once: the writer may be stuck retrying
	// and not popping, and an emptied entry would still pin its batch.
	left, w, i := k, o.head, o.head
	for ; i < len(o.queue) && left > 0; i++ {
		m := o.queue[i]
		if d := min(left, len(m.batch)); d > 0 {
			m.batch, left = m.batch[d:], left-d
		}
		if m.barrier != nil || len(m.batch) > 0 {
			o.queue[w] = m
			w++
		}
	}
	if w < i {
		n := copy(o.queue[w:], o.queue[i:])
		clear(o.queue[w+n:])
		o.queue = o.queue[:w+n]
	}
	dropped := int64(k - left)
	o.n -= int(dropped)
	o.dropped.Add(dropped)
	if c := o.dropLog.Note(time.Now(), dropped); c > 0 {
		o.log.Warn("output buffer full, dropped oldest events (on_full = \"drop_oldest\")", "dropped", c, "buffer_limit", o.cfg.BufferLimit)
	}
}

// close marks the end of input; the writer flushes what is left and exits.
func (o *outputRunner) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	signal(o.wake)
}

func (o *outputRunner) popHead() {
	o.queue[o.head] = message{}
	o.head++
	if o.head == len(o.queue) {
		o.queue, o.head = o.queue[:0], 0
	} else if o.head > 1024 && o.head > len(o.queue)/2 {
		n := copy(o.queue, o.queue[o.head:])
		clear(o.queue[n:])
		o.queue, o.head = o.queue[:n], 0
	}
}

// take removes up to batch_size events from the front of the buffer,
// stopping at a barrier. The head batch is handed over without copying when
// it alone fills the write; otherwise events are gathered into a reused
// scratch batch. Called with mu held and a non-empty batch at the head.
func (o *outputRunner) take() sdk.Batch {
	limit := o.cfg.BatchSize
	first := o.queue[o.head].batch
	nextIsBatch := o.head+1 < len(o.queue) && len(o.queue[o.head+1].batch) > 0
	if len(first) >= limit || !nextIsBatch {
		k := min(len(first), limit)
		out := first[:k:k]
		o.queue[o.head].batch = first[k:]
		if len(o.queue[o.head].batch) == 0 {
			o.popHead()
		}
		o.n -= k
		return out
	}
	o.scratch = o.scratch[:0]
	for o.head < len(o.queue) && len(o.scratch) < limit {
		m := o.queue[o.head]
		if m.barrier != nil {
			break
		}
		k := min(len(m.batch), limit-len(o.scratch))
		o.scratch = append(o.scratch, m.batch[:k]...)
		o.queue[o.head].batch = m.batch[k:]
		o.n -= k
		if len(o.queue[o.head].batch) == 0 {
			o.popHead()
		}
	}
	return o.scratch
}

func (o *outputRunner) run() {
	ticker := time.NewTicker(o.cfg.FlushInterval)
	defer ticker.Stop()
	flushDue := false
	for {
		o.mu.Lock()
		for o.head < len(o.queue) {
			m := o.queue[o.head]
			if m.barrier != nil {
				o.popHead()
				o.barriers--
				o.mu.Unlock()
				m.barrier.ack()
				o.mu.Lock()
				continue
			}
			if len(m.batch) == 0 {
				o.popHead()
				continue
			}
			break
		}
		if o.n == 0 {
			flushDue = false
			if o.closed && o.head == len(o.queue) {
				o.mu.Unlock()
				return
			}
		}
		if o.n > 0 && (o.n >= o.cfg.BatchSize || o.barriers > 0 || o.closed || flushDue) {
			batch := o.take()
			o.mu.Unlock()
			signal(o.space)
			if !o.write(batch) {
				return
			}
			continue
		}
		o.mu.Unlock()
		select {
		case <-o.wake:
		case <-ticker.C:
			flushDue = true
		case <-o.p.hardCtx.Done():
			return
		}
	}
}

// write sends one batch, retrying with exponential backoff and jitter until
// it succeeds; it gives up only when the pipeline is aborted.
func (o *outputRunner) write(b sdk.Batch) bool {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := o.safeWrite(b)
		if err == nil {
			o.written.Add(int64(len(b)))
			if attempt > 1 {
				o.log.Info("output recovered", "attempts", attempt)
			}
			return true
		}
		o.errors.Inc()
		if attempt == 1 || attempt%10 == 0 {
			o.log.Warn("output write failed; retrying with backoff", "attempt", attempt, "events", len(b), "error", err)
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-time.After(wait):
		case <-o.p.hardCtx.Done():
			return false
		}
		backoff = min(backoff*2, o.cfg.RetryMaxInterval)
	}
}

func (o *outputRunner) safeWrite(b sdk.Batch) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	return o.cfg.Plugin.Write(o.p.hardCtx, b)
}
