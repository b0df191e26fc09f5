package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/rowflux/rowflux/agent/selfmetrics"
	"github.com/rowflux/rowflux/sdk"
)

// inputRunner is the Emitter handed to an input. Its mutex is what makes
// barrier alignment exact: the coordinator holds every input's mutex while
// it reads their positions and sends the barrier.
type inputRunner struct {
	p      *Pipeline
	id     string
	plugin sdk.Input
	from   sdk.Position

	mu sync.Mutex
	// pos is the position after the last batch sent into the pipeline.
	pos sdk.Position
	// closed is set once the final barrier is sent; late Emit calls fail.
	closed bool

	events *sdk.Counter
}

var errPipelineClosed = errors.New("pipeline closed: input emitted after its Run returned")

func newInputRunner(p *Pipeline, in Input) *inputRunner {
	l := selfmetrics.Label{Name: "instance", Value: in.ID}
	return &inputRunner{
		p: p, id: in.ID, plugin: in.Plugin, from: in.From, pos: in.From,
		events: p.opts.Metrics.Counter("rowflux_input_events_total", "Events emitted by an input.", l),
	}
}

// Emit implements sdk.Emitter.
func (r *inputRunner) Emit(ctx context.Context, batch sdk.Batch, pos sdk.Position) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errPipelineClosed
	}
	if len(batch) > 0 {
		select {
		case r.p.merged <- message{batch: batch}:
		case <-ctx.Done():
			return ctx.Err()
		case <-r.p.hardCtx.Done():
			return fmt.Errorf("pipeline aborted: %w", context.Cause(r.p.hardCtx))
		}
		r.events.Add(int64(len(batch)))
	}
	r.pos = pos
	return nil
}

// run calls the plugin's Run; a stop requested through ctx is not an error.
func (r *inputRunner) run(ctx context.Context) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	err = r.plugin.Run(ctx, r.from, r)
	if err != nil && ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return nil
	}
	return err
}
