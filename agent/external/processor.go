package external

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rowflux/rowflux/sdk"
	"github.com/rowflux/rowflux/sdk/plugin/pluginv1"
)

// Processor stands in the pipeline for a processor in another process.
//
// A crashed plugin is restarted and the call that failed is made again.
// For a stateful plugin that is not enough: the state it built since the
// last checkpoint died with it. Processor therefore keeps what it sent
// since the last Snapshot (batches and ticks, up to replay_limit events)
// and, after a restart, restores the last snapshot and replays them,
// discarding their results, which already went downstream. The plugin is
// then where it was, provided it is deterministic. Beyond replay_limit a
// crash stops the agent instead, and the restart replays from the
// checkpoint, as for any failure.
type Processor struct {
	settings
	ReplayLimit int `toml:"replay_limit"`

	h        host
	state    []byte // the last snapshot or restored state
	hasState bool
	replay   []replayed
	replayN  int  // events in replay
	overflow bool // replay_limit was exceeded since the last snapshot
	buf      []byte
}

type replayed struct {
	batch []byte // an encoded EventList, nil for a tick
	tick  time.Time
}

func newProcessor() *Processor {
	return &Processor{settings: defaultSettings(), ReplayLimit: 100_000}
}

// Init starts the plugin; its configuration errors are returned as the
// plugin words them.
func (p *Processor) Init(env sdk.Env) error {
	if p.ReplayLimit < 0 {
		return fmt.Errorf("replay_limit: must not be negative, got %d", p.ReplayLimit)
	}
	p.h.settings = p.settings
	return p.h.init(sdk.KindProcessor, env)
}

func client(pr *process) pluginv1.ProcessorClient { return pr.rpc.(pluginv1.ProcessorClient) }

// call runs f against the current process, restarting the plugin and
// replaying its state when the process is lost, until f succeeds, the
// plugin returns an error, or ctx ends.
func (p *Processor) call(ctx context.Context, f func(pluginv1.ProcessorClient) (*pluginv1.BatchResponse, error)) (*pluginv1.BatchResponse, error) {
	for {
		pr := p.h.current()
		if pr == nil {
			return nil, fmt.Errorf("plugin %s is closed", p.Command[0])
		}
		resp, err := f(client(pr))
		if err == nil {
			p.h.count(pr, resp.GetCounts())
			p.h.backoff.reset()
			return resp, nil
		}
		if expired(ctx, err) {
			return nil, p.timedOut(ctx, "")
		}
		if !lost(pr, err) {
			return nil, err
		}
		reason := p.h.crashed(pr, err)
		if p.h.caps.Stateful && p.overflow {
			return nil, fmt.Errorf("plugin %s crashed (%s) and its state since the last checkpoint cannot be rebuilt: more than replay_limit (%d) events went through it since; the agent stops so that its restart replays them from the checkpoint (raise replay_limit or shorten checkpoint_interval to recover in place)",
				p.Command[0], reason, p.ReplayLimit)
		}
		if err := p.h.restart(ctx, p.resume); err != nil {
			if ctx.Err() != nil {
				return nil, p.timedOut(ctx, reason)
			}
			return nil, err
		}
	}
}

// timedOut explains a call that ran out of time: the pipeline stopping
// (context.Canceled, passed on as it is) or call_timeout, possibly while
// the plugin kept crashing.
func (p *Processor) timedOut(ctx context.Context, crash string) error {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ctx.Err()
	}
	if crash != "" {
		return fmt.Errorf("plugin %s crashed (%s) and was not back within call_timeout (%s)", p.Command[0], crash, time.Duration(p.CallTimeout))
	}
	return fmt.Errorf("plugin %s did not answer within call_timeout (%s)", p.Command[0], time.Duration(p.CallTimeout))
}

// resume brings a new process to where the dead one was.
func (p *Processor) resume(ctx context.Context, pr *process) error {
	if !p.h.caps.Stateful {
		return nil
	}
	c := client(pr)
	if p.hasState {
		if _, err := c.Restore(ctx, &pluginv1.State{Data: p.state}); err != nil {
			return err
		}
	}
	for _, r := range p.replay {
		var resp *pluginv1.BatchResponse
		var err error
		if r.batch != nil {
			resp, err = c.Process(ctx, &pluginv1.Batch{Events: r.batch})
		} else {
			resp, err = c.Tick(ctx, &pluginv1.TickRequest{Now: pluginv1.FromTime(r.tick)})
		}
		if err != nil {
			return err
		}
		p.h.rebase(pr, resp.GetCounts())
	}
	if len(p.replay) > 0 {
		p.h.log.Info("external plugin state rebuilt", "plugin", p.h.name, "replayed_calls", len(p.replay), "replayed_events", p.replayN)
	}
	return nil
}

// remember keeps a call for replay; only stateful plugins need it.
func (p *Processor) remember(r replayed, events int) {
	if !p.h.caps.Stateful || p.overflow {
		return
	}
	if p.replayN+events > p.ReplayLimit {
		p.overflow = true
		p.replay, p.replayN = nil, 0
		return
	}
	p.replay = append(p.replay, r)
	p.replayN += events
}

func (p *Processor) Process(ctx context.Context, batch sdk.Batch) (sdk.Batch, error) {
	// The encoding is kept for replay when the plugin is stateful;
	// otherwise gRPC has copied it by the time the call returns, and the
	// buffer serves the next call.
	var buf []byte
	if !p.h.caps.Stateful {
		buf = p.buf[:0]
	}
	data, err := pluginv1.AppendEvents(buf, batch)
	if err != nil {
		return nil, fmt.Errorf("encoding the batch for the plugin: %w", err)
	}
	if !p.h.caps.Stateful {
		p.buf = data
	}
	resp, err := p.call(ctx, func(c pluginv1.ProcessorClient) (*pluginv1.BatchResponse, error) {
		return c.Process(ctx, &pluginv1.Batch{Events: data})
	})
	if err != nil {
		return nil, wrapCall("process", err)
	}
	p.remember(replayed{batch: data}, len(batch))
	return p.decode(resp)
}

func (p *Processor) decode(resp *pluginv1.BatchResponse) (sdk.Batch, error) {
	out, err := pluginv1.DecodeEvents(resp.GetBatch().GetEvents())
	if err != nil {
		return nil, fmt.Errorf("plugin %s returned a batch the agent cannot read: %w", p.Command[0], err)
	}
	return out, nil
}

// TickInterval is the plugin's, as it reported at Configure.
func (p *Processor) TickInterval() time.Duration {
	if p.h.caps == nil {
		return 0
	}
	return time.Duration(p.h.caps.TickIntervalNanos)
}

func (p *Processor) Tick(ctx context.Context, now time.Time) (sdk.Batch, error) {
	if p.h.caps.TickIntervalNanos == 0 {
		return nil, nil
	}
	resp, err := p.call(ctx, func(c pluginv1.ProcessorClient) (*pluginv1.BatchResponse, error) {
		return c.Tick(ctx, &pluginv1.TickRequest{Now: pluginv1.FromTime(now)})
	})
	if err != nil {
		return nil, wrapCall("tick", err)
	}
	p.remember(replayed{tick: now}, 1) // counted, so ticks alone cannot grow the log unbounded
	return p.decode(resp)
}

func (p *Processor) Finish(ctx context.Context) (sdk.Batch, error) {
	if !p.h.caps.Finisher {
		return nil, nil
	}
	resp, err := p.call(ctx, func(c pluginv1.ProcessorClient) (*pluginv1.BatchResponse, error) {
		return c.Finish(ctx, &pluginv1.Empty{})
	})
	if err != nil {
		return nil, wrapCall("finish", err)
	}
	return p.decode(resp)
}

// Snapshot asks a stateful plugin for its state; from here on, a restart
// restores this state and replays only what follows.
func (p *Processor) Snapshot() ([]byte, error) {
	if !p.h.caps.Stateful {
		return nil, nil
	}
	// The sdk gives Snapshot no context; call_timeout bounds it, crash
	// restarts included, so that a hung plugin cannot hold a stop.
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(p.CallTimeout))
	defer cancel()
	var data []byte
	_, err := p.call(ctx, func(c pluginv1.ProcessorClient) (*pluginv1.BatchResponse, error) {
		st, err := c.Snapshot(ctx, &pluginv1.Empty{})
		if err != nil {
			return nil, err
		}
		data = st.Data
		return &pluginv1.BatchResponse{}, nil
	})
	if err != nil {
		return nil, wrapCall("snapshot", err)
	}
	p.state, p.hasState = data, true
	p.replay, p.replayN, p.overflow = nil, 0, false
	return data, nil
}

// Restore hands the plugin the state of the last checkpoint.
func (p *Processor) Restore(state []byte) error {
	if !p.h.caps.Stateful {
		if len(state) > 0 {
			p.h.log.Warn("the checkpoint holds state for this instance but the plugin is no longer stateful; the state is ignored", "plugin", p.h.name)
		}
		return nil
	}
	if len(state) == 0 {
		// The plugin had no state to snapshot (or was not stateful when the
		// checkpoint was taken): it starts fresh, as without a checkpoint.
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(p.CallTimeout))
	defer cancel()
	_, err := p.call(ctx, func(c pluginv1.ProcessorClient) (*pluginv1.BatchResponse, error) {
		if _, err := c.Restore(ctx, &pluginv1.State{Data: state}); err != nil {
			return nil, err
		}
		return &pluginv1.BatchResponse{}, nil
	})
	if err != nil {
		return wrapCall("restore", err)
	}
	p.state, p.hasState = state, true
	p.replay, p.replayN, p.overflow = nil, 0, false
	return nil
}

// Close closes the plugin and ends its process.
func (p *Processor) Close() error {
	return p.h.stop()
}
