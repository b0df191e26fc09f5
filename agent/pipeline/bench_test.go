package pipeline

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/rowflux/rowflux/agent/checkpoint"
	"github.com/rowflux/rowflux/sdk"
)

// prebuiltInput emits the same pre-built batch until it has emitted total
// events. Re-emitting one batch is only valid because nothing downstream in
// the benchmark modifies or retains it.
type prebuiltInput struct {
	batch sdk.Batch
	total int
}

func (p *prebuiltInput) Run(ctx context.Context, _ sdk.Position, out sdk.Emitter) error {
	pos := sdk.Position("0")
	for sent := 0; sent < p.total; sent += len(p.batch) {
		if err := out.Emit(ctx, p.batch, pos); err != nil {
			return err
		}
	}
	return nil
}

func eventBatch(n int) sdk.Batch {
	b := make(sdk.Batch, n)
	now := time.Now()
	for i := range b {
		b[i] = sdk.Event{
			Name:   "transactions",
			Tags:   []sdk.Tag{{Key: "currency", Value: "EUR"}, {Key: "product_category", Value: "books"}},
			Fields: []sdk.Field{{Key: "id", Value: int64(i)}, {Key: "amount", Value: 12.5}, {Key: "note", Value: "x"}},
			Time:   now,
		}
	}
	return b
}

// BenchmarkPassThrough measures the pipeline's own overhead: pre-built
// batches → no-op processor → discarding output, with checkpoints running.
// The cost is per batch, so events/s is reported for several batch sizes.
// Run with -cpu 1 for the single-core figure.
func BenchmarkPassThrough(b *testing.B) {
	for _, batchSize := range []int{10, 100, 1000} {
		b.Run("batch="+strconv.Itoa(batchSize), func(b *testing.B) {
			in := &prebuiltInput{batch: eventBatch(batchSize), total: max(b.N, batchSize)}
			sink := &discardOutput{}
			p, err := New(Options{
				Inputs:             []Input{{ID: "inputs.prebuilt", Plugin: in}},
				Processors:         []Processor{{ID: "processors.noop", Plugin: noopProc{}}},
				Outputs:            []Output{{ID: "outputs.discard", Plugin: sink, BatchSize: batchSize, BufferLimit: 10 * batchSize, FlushInterval: time.Second}},
				CheckpointInterval: 100 * time.Millisecond,
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			if err := p.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			if got := sink.n.Load(); got < int64(b.N) {
				b.Fatalf("delivered %d of %d events", got, b.N)
			}
			b.ReportMetric(float64(sink.n.Load())/elapsed.Seconds(), "events/s")
		})
	}
}

// idleInput emits nothing until stopped; its position never changes.
type idleInput struct{ pos sdk.Position }

func (i *idleInput) Run(ctx context.Context, _ sdk.Position, out sdk.Emitter) error {
	if err := out.Emit(ctx, nil, i.pos); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// BenchmarkCheckpointCycle measures one full checkpoint with 3 inputs and 2
// outputs and small state: barrier through the pipeline, both outputs
// flushed and acknowledged, the state file written atomically with fsync.
func BenchmarkCheckpointCycle(b *testing.B) {
	store, err := checkpoint.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	var ins []Input
	for i := range 3 {
		id := "inputs.idle#" + strconv.Itoa(i+1)
		ins = append(ins, Input{ID: id, Plugin: &idleInput{pos: sdk.Position(`{"scn":123456789}`)}})
	}
	var outs []Output
	for i := range 2 {
		outs = append(outs, Output{ID: "outputs.discard#" + strconv.Itoa(i+1), Plugin: &discardOutput{}, BatchSize: 1000, BufferLimit: 10000, FlushInterval: time.Second})
	}
	commit := func(c *Checkpoint) error {
		st := &checkpoint.State{ID: c.ID, Time: time.Now(), Inputs: map[string][]byte{}, Processors: c.States}
		for k, v := range c.Positions {
			st.Inputs[k] = v
		}
		return store.Save(st)
	}
	p, err := New(Options{
		Inputs: ins, Outputs: outs, Processors: []Processor{{ID: "processors.sum", Plugin: &sumProc{}}},
		CheckpointInterval: time.Hour, Commit: commit,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	time.Sleep(10 * time.Millisecond)
	before := p.ckpt.total.Load()
	b.ResetTimer()
	for range b.N {
		p.ckpt.checkpoint(false)
	}
	b.StopTimer()
	if got := p.ckpt.total.Load() - before; got != int64(b.N) {
		b.Fatalf("%d of %d checkpoints committed", got, b.N)
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
