package pipeline

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// dropOnce emits one batch and then fails, like a capture input that loses
// its database connection.
type dropOnce struct{}

func (dropOnce) Run(ctx context.Context, _ sdk.Position, out sdk.Emitter) error {
	b := sdk.Batch{{Name: "s", Fields: []sdk.Field{{Key: "seq", Value: int64(1)}}}}
	if err := out.Emit(ctx, b, encodePos(2)); err != nil {
		return err
	}
	return errors.New("connection lost")
}

// An input failure stops the agent, and that stop must be bounded by the
// shutdown timeout like a signal-initiated one. Today Run only starts the
// shutdown timer when the caller's ctx is cancelled, so with a destination
// that is down the agent never exits after an input failure.
func TestInputFailureDrainIsBoundedByShutdownTimeout(t *testing.T) {
	down := newRecOutput()
	down.failAll = true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := New(Options{
		Inputs:             []Input{{ID: "inputs.bad", Plugin: dropOnce{}}},
		Outputs:            []Output{out("outputs.down", down)},
		CheckpointInterval: time.Hour,
		ShutdownTimeout:    100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("want the input's error")
		}
	case <-time.After(5 * time.Second):
		cancel() // unblock Run so the test does not leak it
		<-done
		t.Fatal("Run still draining 5s after an input failure with shutdown_timeout = 100ms: the agent would never exit")
	}
}

// ctxProc blocks in Process until the pipeline is aborted and then takes a
// moment to unwind, like an external (gRPC) processor whose call is
// cancelled.
type ctxProc struct {
	entered chan struct{}
	inside  atomic.Bool
}

func (c *ctxProc) Process(ctx context.Context, b sdk.Batch) (sdk.Batch, error) {
	c.inside.Store(true)
	defer c.inside.Store(false)
	close(c.entered)
	<-ctx.Done()
	time.Sleep(time.Second)
	return nil, ctx.Err()
}

// After Run returns, the agent closes every plugin (sdk.Closer: "after the
// plugin's last use"). Run waits for inputs and outputs but not for the
// processor goroutines, so after an abort Close can run concurrently with a
// processor's Process, Tick or Snapshot.
func TestRunWaitsForProcessorsAfterAbort(t *testing.T) {
	proc := &ctxProc{entered: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := New(Options{
		Inputs:          []Input{{ID: "inputs.seq", Plugin: &seqInput{name: "s", batch: 1, total: 1}}, {ID: "inputs.idle", Plugin: &seqInput{name: "idle", batch: 1, pause: time.Hour}}},
		Processors:      []Processor{{ID: "processors.ctx", Plugin: proc}},
		Outputs:         []Output{out("o", newRecOutput())},
		ShutdownTimeout: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-proc.entered
	cancel() // graceful stop; the processor does not return, so the timeout aborts
	if err := <-done; err == nil {
		t.Fatal("want the shutdown timeout error")
	}
	if proc.inside.Load() {
		t.Fatal("Run returned while a processor was still inside Process; Close would race with it")
	}
}
