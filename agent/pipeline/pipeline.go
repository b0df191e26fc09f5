package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/rowflux/rowflux/agent/selfmetrics"
	"github.com/rowflux/rowflux/sdk"
)

// Input is an input instance and where it resumes.
type Input struct {
	ID     string
	Plugin sdk.Input
	// From is the position restored from the last checkpoint (nil: fresh start).
	From sdk.Position
}

// Processor is a processor instance. Restoring its state is the caller's job.
type Processor struct {
	ID     string
	Plugin sdk.Processor
}

// Output is an output instance with its buffering settings.
type Output struct {
	ID               string
	Plugin           sdk.Output
	BatchSize        int
	FlushInterval    time.Duration
	BufferLimit      int
	DropOldest       bool
	RetryMaxInterval time.Duration
}

// Checkpoint is what a completed barrier carries to the commit function.
type Checkpoint struct {
	ID        uint64
	Final     bool
	Positions map[string]sdk.Position
	States    map[string][]byte
}

// Options configure a pipeline.
type Options struct {
	Inputs     []Input
	Processors []Processor
	Outputs    []Output

	// ChannelSize is the number of batches buffered between two stages.
	ChannelSize int
	// CheckpointInterval is the time between barriers; 0 disables periodic
	// and final checkpoints (the --test mode).
	CheckpointInterval time.Duration
	// FirstCheckpointID numbers the next checkpoint (restored ID + 1).
	FirstCheckpointID uint64
	// Commit makes a completed checkpoint durable. Nil means there is nothing
	// to persist: inputs are told a checkpoint is durable as soon as every
	// output has acknowledged it.
	Commit func(*Checkpoint) error
	// Finish calls Finisher processors at the end of the input (one-off runs).
	Finish bool
	// ShutdownTimeout bounds the drain after the context is cancelled.
	ShutdownTimeout time.Duration

	Logger  *slog.Logger
	Metrics *selfmetrics.Registry
}

// Pipeline is a running (or runnable) set of stages.
type Pipeline struct {
	opts   Options
	log    *slog.Logger
	inputs []*inputRunner
	procs  []*procStage
	outs   []*outputRunner
	merged chan message
	// fanIn is the channel the fan-out reads: the last processor's output,
	// or the merged channel when there are no processors.
	fanIn <-chan message
	ckpt  *coordinator

	// hardCtx aborts everything: processor failure or shutdown timeout.
	hardCtx    context.Context
	hardCancel context.CancelCauseFunc

	failMu  sync.Mutex
	failErr error
	// stopInputs cancels the inputs' context (graceful stop).
	stopInputs context.CancelFunc
}

// message is a batch or a barrier, never both.
type message struct {
	batch   sdk.Batch
	barrier *barrier
}

// New validates options and builds the stages; Run starts them.
func New(opts Options) (*Pipeline, error) {
	if len(opts.Inputs) == 0 {
		return nil, errors.New("pipeline: no inputs")
	}
	if len(opts.Outputs) == 0 {
		return nil, errors.New("pipeline: no outputs")
	}
	if opts.ChannelSize < 1 {
		opts.ChannelSize = 8
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = selfmetrics.NewRegistry()
	}
	p := &Pipeline{opts: opts, log: opts.Logger, merged: make(chan message, opts.ChannelSize)}
	p.hardCtx, p.hardCancel = context.WithCancelCause(context.Background())
	for _, in := range opts.Inputs {
		p.inputs = append(p.inputs, newInputRunner(p, in))
	}
	prev := p.merged
	for i, pr := range opts.Processors {
		st := newProcStage(p, i, pr, prev)
		p.procs = append(p.procs, st)
		prev = st.out
	}
	for _, o := range opts.Outputs {
		if o.BatchSize < 1 || o.BufferLimit < o.BatchSize || o.FlushInterval <= 0 {
			return nil, fmt.Errorf("pipeline: output %s: need batch_size >= 1, buffer_limit >= batch_size, flush_interval > 0", o.ID)
		}
		p.outs = append(p.outs, newOutputRunner(p, o))
	}
	p.fanIn = prev
	p.ckpt = newCoordinator(p)
	return p, nil
}

// fail records the first fatal error.
func (p *Pipeline) fail(err error) {
	p.failMu.Lock()
	if p.failErr == nil {
		p.failErr = err
	}
	p.failMu.Unlock()
}

func (p *Pipeline) failure() error {
	p.failMu.Lock()
	defer p.failMu.Unlock()
	return p.failErr
}

// abort stops every stage at once; undelivered events are replayed from the
// last checkpoint on the next start.
func (p *Pipeline) abort(err error) {
	p.fail(err)
	p.hardCancel(err)
	p.stopInputs()
}

// Run starts all stages and blocks until the pipeline has drained (after ctx
// is cancelled or every input has finished) or was aborted. It returns the
// first fatal error, or nil after a clean drain.
func (p *Pipeline) Run(ctx context.Context) error {
	inCtx, stopInputs := context.WithCancel(ctx)
	p.stopInputs = stopInputs
	defer stopInputs()
	defer p.hardCancel(nil)

	// Every stage goroutine is counted, so that Run returns only after the
	// last call into any plugin (the caller closes plugins next).
	var stages sync.WaitGroup
	for _, o := range p.outs {
		stages.Go(o.run)
	}
	stages.Go(p.fanOut)
	for _, st := range p.procs {
		stages.Go(st.run)
	}

	var inWG sync.WaitGroup
	for _, in := range p.inputs {
		inWG.Go(func() {
			err := in.run(inCtx)
			switch {
			case err == nil:
			case p.hardCtx.Err() != nil:
				// The pipeline was aborted; the input's error is a consequence.
				p.log.Debug("input stopped by abort", "input", in.id, "error", err)
			default:
				p.log.Error("input failed; stopping the agent", "input", in.id, "error", err)
				p.fail(fmt.Errorf("%s: %w", in.id, err))
				stopInputs()
			}
		})
	}
	inputsDone := make(chan struct{})
	go func() { inWG.Wait(); close(inputsDone) }()

	ckptDone := make(chan struct{})
	go func() { defer close(ckptDone); p.ckpt.run(inputsDone) }()

	drained := make(chan struct{})
	go func() { stages.Wait(); <-ckptDone; close(drained) }()

	select {
	case <-drained:
	case <-p.hardCtx.Done():
		<-drained
	case <-inCtx.Done():
		// A signal, an input failure or an abort: the drain that follows is
		// bounded, whatever state the outputs are in.
		p.log.Info("stopping: inputs stopped, draining processors and outputs")
		timer := time.NewTimer(p.opts.ShutdownTimeout)
		defer timer.Stop()
		select {
		case <-drained:
		case <-p.hardCtx.Done():
			<-drained
		case <-timer.C:
			p.abort(fmt.Errorf("shutdown did not finish within %s; undelivered events will be replayed from the last checkpoint", p.opts.ShutdownTimeout))
			<-drained
		}
	}
	// Inputs may still be inside Run after an abort; wait (boundedly) so
	// that their Close happens after their last use.
	select {
	case <-inputsDone:
	case <-time.After(p.opts.ShutdownTimeout):
		p.fail(fmt.Errorf("an input did not return from Run within %s of being stopped", p.opts.ShutdownTimeout))
	}
	return p.failure()
}
