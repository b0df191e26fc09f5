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

	// outage is the run of failed checkpoints since the last durable one.
	outage outage
	// remindEvery bounds how often a continuing outage is logged again.
	remindEvery time.Duration
}

// outage: a full or read-only state_dir fails every checkpoint until an
// operator acts. The log says why at the first failure, again when the
// cause changes or every remindEvery, and once more when a checkpoint
// succeeds again; an ERROR line per interval would bury everything else.
type outage struct {
	since    time.Time // first failure
	failures int
	cause    string // the last error logged
	logged   time.Time
}

// failureReminder is how often a continuing checkpoint outage is logged.
const failureReminder = time.Minute

func newCoordinator(p *Pipeline) *coordinator {
	c := &coordinator{p: p, nextID: max(p.opts.FirstCheckpointID, 1), remindEvery: failureReminder}
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
		c.failed(b.id, final, "checkpoint failed", b.err)
		if final {
			p.fail(fmt.Errorf("final checkpoint failed (the next start replays events since the last checkpoint): %w", b.err))
		}
		return
	}
	cp := &Checkpoint{ID: b.id, Final: final, Positions: b.positions, States: b.states}
	if p.opts.Commit != nil {
		if err := p.opts.Commit(cp); err != nil {
			c.failed(b.id, final, "checkpoint not written; inputs keep their source resources until one succeeds, and a restart replays from the last durable checkpoint", err)
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
	if o := c.outage; o.failures > 0 {
		p.log.Info("checkpoint written again; inputs may release source resources", "checkpoint", b.id,
			"failed_checkpoints", o.failures, "failing_for", time.Since(o.since).Round(time.Millisecond))
		c.outage = outage{}
	}
	c.notify(cp)
}

// failed counts a failed checkpoint and logs it unless the same cause was
// logged less than remindEvery ago. The final checkpoint is always logged:
// it is the last word before the agent exits.
func (c *coordinator) failed(id uint64, final bool, msg string, err error) {
	c.failures.Inc()
	now := time.Now()
	o := &c.outage
	if o.failures == 0 {
		o.since = now
	}
	o.failures++
	cause := err.Error()
	age := now.Sub(time.Unix(0, c.last.Load())).Round(time.Millisecond)
	switch {
	case o.failures == 1 || final || cause != o.cause:
		c.p.log.Error(msg, "checkpoint", id, "error", err, "last_durable_ago", age)
	case now.Sub(o.logged) >= c.remindEvery:
		c.p.log.Error("checkpoints still failing: "+msg, "checkpoint", id, "error", err,
			"failed_checkpoints", o.failures, "failing_for", now.Sub(o.since).Round(time.Millisecond), "last_durable_ago", age)
	default:
		c.p.log.Debug("checkpoint failed again, same cause", "checkpoint", id, "failed_checkpoints", o.failures)
		return
	}
	o.cause, o.logged = cause, now
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
