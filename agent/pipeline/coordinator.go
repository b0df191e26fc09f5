package pipeline

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// barrier travels through the pipeline behind the batches it covers.
type barrier struct {
	id        uint64
	final     bool
	positions map[string]sdk.Position
	// states is filled by processor stages one after another (the barrier
	// moves through them in sequence, so no lock is needed).
	states map[string][]byte
	err    error

	pending atomic.Int32
	done    chan struct{}
}

func (b *barrier) ack() {
	if b.pending.Add(-1) == 0 {
		close(b.done)
	}
}

// coordinator triggers barriers, waits for every output to acknowledge them,
// commits the checkpoint and tells the inputs it is durable.
type coordinator struct {
	p          *Pipeline
	nextID     uint64
	last       atomic.Int64 // unix nanos of the last durable checkpoint (or start)
	lastMicros atomic.Int64 // duration of the last checkpoint

	total, failures *sdk.Counter
}

func newCoordinator(p *Pipeline) *coordinator {
	c := &coordinator{p: p, nextID: max(p.opts.FirstCheckpointID, 1)}
	c.last.Store(time.Now().UnixNano())
	m := p.opts.Metrics
	c.total = m.Counter("rowflux_checkpoints_total", "Checkpoints completed and committed.")
	c.failures = m.Counter("rowflux_checkpoint_failures_total", "Checkpoints that could not be completed or committed.")
	m.Gauge("rowflux_checkpoint_age_seconds", "Seconds since the last durable checkpoint (or since start).", func() float64 {
		return time.Since(time.Unix(0, c.last.Load())).Seconds()
	})
	m.Gauge("rowflux_checkpoint_duration_seconds", "Duration of the last completed checkpoint, from barrier to commit.", func() float64 {
		return float64(c.lastMicros.Load()) / 1e6
	})
	return c
}

func (c *coordinator) enabled() bool { return c.p.opts.CheckpointInterval > 0 }

func (c *coordinator) run(inputsDone <-chan struct{}) {
	var tick <-chan time.Time
	if c.enabled() {
		t := time.NewTicker(c.p.opts.CheckpointInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-tick:
			c.checkpoint(false)
		case <-inputsDone:
			c.checkpoint(true)
			return
		case <-c.p.hardCtx.Done():
			return
		}
	}
}

// checkpoint runs one barrier to completion. The final one also closes the
// merged channel, which starts the drain of the stages behind it.
func (c *coordinator) checkpoint(final bool) {
	p := c.p
	start := time.Now()
	var b *barrier
	if c.enabled() {
		b = &barrier{id: c.nextID, final: final, positions: make(map[string]sdk.Position, len(p.inputs)),
			states: map[string][]byte{}, done: make(chan struct{})}
		c.nextID++
		b.pending.Store(int32(len(p.outs)))
	}

	for _, in := range p.inputs {
		in.mu.Lock()
	}
	sent := true
	if b != nil {
		for _, in := range p.inputs {
			b.positions[in.id] = in.pos
		}
		select {
		case p.merged <- message{barrier: b}:
		case <-p.hardCtx.Done():
			sent = false
		}
	}
	if final {
		for _, in := range p.inputs {
			in.closed = true
		}
		close(p.merged)
	}
	for _, in := range p.inputs {
		in.mu.Unlock()
	}
	if b == nil || !sent {
		return
	}

	select {
	case <-b.done:
	case <-p.hardCtx.Done():
		return
	}
	if b.err != nil {
		c.failures.Inc()
		p.log.Error("checkpoint failed", "checkpoint", b.id, "error", b.err)
		if final {
			p.fail(fmt.Errorf("final checkpoint failed (the next start replays events since the last checkpoint): %w", b.err))
		}
		return
	}
	cp := &Checkpoint{ID: b.id, Final: final, Positions: b.positions, States: b.states}
	if p.opts.Commit != nil {
		if err := p.opts.Commit(cp); err != nil {
			c.failures.Inc()
			p.log.Error("checkpoint not written; inputs keep their source resources until one succeeds", "checkpoint", b.id, "error", err)
			if final {
				p.fail(fmt.Errorf("final checkpoint not written (the next start replays events since the last checkpoint): %w", err))
			}
			return
		}
	}
	c.total.Inc()
	c.last.Store(time.Now().UnixNano())
	c.lastMicros.Store(time.Since(start).Microseconds())
	p.log.Debug("checkpoint durable", "checkpoint", b.id, "final", final, "took", time.Since(start))
	c.notify(cp)
}

// notify tells inputs the checkpoint is durable so they may release source
// resources. Errors are logged: the resources are released at the next one.
func (c *coordinator) notify(cp *Checkpoint) {
	for _, in := range c.p.inputs {
		l, ok := in.plugin.(sdk.CheckpointListener)
		pos := cp.Positions[in.id]
		if !ok || pos == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := l.CheckpointDurable(ctx, pos)
		cancel()
		if err != nil {
			c.p.log.Warn("input could not release consumed source data; it will retry at the next checkpoint", "input", in.id, "checkpoint", cp.ID, "error", err)
		}
	}
}
