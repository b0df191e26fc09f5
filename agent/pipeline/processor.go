package pipeline

import (
	"fmt"
	"time"

	"github.com/rowflux/rowflux/agent/selfmetrics"
	"github.com/rowflux/rowflux/sdk"
)

// procStage runs one processor on its own goroutine, so the processor's
// Process, Tick, Snapshot and Finish never run concurrently.
type procStage struct {
	p      *Pipeline
	id     string
	plugin sdk.Processor
	in     <-chan message
	out    chan message

	eventsIn, eventsOut *sdk.Counter
}

func newProcStage(p *Pipeline, idx int, pr Processor, in <-chan message) *procStage {
	l := selfmetrics.Label{Name: "instance", Value: pr.ID}
	return &procStage{
		p: p, id: pr.ID, plugin: pr.Plugin, in: in,
		out:       make(chan message, p.opts.ChannelSize),
		eventsIn:  p.opts.Metrics.Counter("rowflux_processor_events_in_total", "Events received by a processor.", l),
		eventsOut: p.opts.Metrics.Counter("rowflux_processor_events_out_total", "Events passed on by a processor.", l),
	}
}

func (s *procStage) run() {
	defer close(s.out)
	ctx := s.p.hardCtx
	var tick <-chan time.Time
	ticker, _ := s.plugin.(sdk.Ticker)
	if ticker != nil && ticker.TickInterval() > 0 {
		t := time.NewTicker(ticker.TickInterval())
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case m, ok := <-s.in:
			if !ok {
				if f, isF := s.plugin.(sdk.Finisher); isF && s.p.opts.Finish {
					out, err := s.call(func() (sdk.Batch, error) { return f.Finish(ctx) })
					if err != nil {
						s.p.abort(fmt.Errorf("%s: finish: %w", s.id, err))
						return
					}
					s.send(out)
				}
				return
			}
			if m.barrier != nil {
				s.snapshot(m.barrier)
				if !s.sendMsg(m) {
					return
				}
				continue
			}
			s.eventsIn.Add(int64(len(m.batch)))
			out, err := s.call(func() (sdk.Batch, error) { return s.plugin.Process(ctx, m.batch) })
			if err != nil {
				s.p.abort(fmt.Errorf("%s: %w", s.id, err))
				return
			}
			if !s.send(out) {
				return
			}
		case now := <-tick:
			out, err := s.call(func() (sdk.Batch, error) { return ticker.Tick(ctx, now) })
			if err != nil {
				s.p.abort(fmt.Errorf("%s: tick: %w", s.id, err))
				return
			}
			if !s.send(out) {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// snapshot stores the processor's state in the barrier. A failure spoils
// only this checkpoint: the barrier still travels so that outputs flush.
func (s *procStage) snapshot(b *barrier) {
	st, ok := s.plugin.(sdk.Stateful)
	if !ok || b.states == nil {
		return
	}
	_, err := s.call(func() (sdk.Batch, error) {
		data, err := st.Snapshot()
		if err == nil {
			b.states[s.id] = data
		}
		return nil, err
	})
	if err != nil && b.err == nil {
		b.err = fmt.Errorf("%s: snapshot: %w", s.id, err)
	}
}

// call runs a plugin method, turning a panic into an error.
func (s *procStage) call(f func() (sdk.Batch, error)) (out sdk.Batch, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	return f()
}

func (s *procStage) send(b sdk.Batch) bool {
	if len(b) == 0 {
		return true
	}
	s.eventsOut.Add(int64(len(b)))
	return s.sendMsg(message{batch: b})
}

func (s *procStage) sendMsg(m message) bool {
	select {
	case s.out <- m:
		return true
	case <-s.p.hardCtx.Done():
		return false
	}
}

// fanOut hands every message to every output buffer, in order. A full
// buffer (on_full = "block") blocks here, which is how backpressure from one
// output reaches the inputs.
func (p *Pipeline) fanOut() {
	defer func() {
		for _, o := range p.outs {
			o.close()
		}
	}()
	for {
		select {
		case m, ok := <-p.fanIn:
			if !ok {
				return
			}
			for _, o := range p.outs {
				if !o.push(m) {
					return
				}
			}
		case <-p.hardCtx.Done():
			return
		}
	}
}
