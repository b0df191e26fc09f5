package main

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rowflux/rowflux/agent/pipeline"
	"github.com/rowflux/rowflux/plugins/inputs/generate"
	"github.com/rowflux/rowflux/sdk"
)

type noop struct{}

func (noop) Process(_ context.Context, b sdk.Batch) (sdk.Batch, error) { return b, nil }

type discard struct{ n atomic.Int64 }

func (d *discard) Write(_ context.Context, b sdk.Batch) error { d.n.Add(int64(len(b))); return nil }

// BenchmarkGeneratedPassThrough is the pass-through pipeline with the real
// generate input building every event (2 tags, 3 fields, batches of 1000)
// → no-op processor → discarding output, checkpoints every 100ms. Unlike
// the pipeline package's pre-built benchmark it includes event construction.
func BenchmarkGeneratedPassThrough(b *testing.B) {
	in := generate.New()
	in.Rate, in.BatchSize, in.Count = 0, 1000, int64(max(b.N, 1000))
	in.Fields = []generate.Generator{{Name: "seq", Type: "sequence"}, {Name: "amount", Type: "float", Min: 1, Max: 500}, {Name: "category", Type: "choice", Values: []string{"books", "toys"}}}
	in.Tags = []generate.Generator{{Name: "currency", Type: "choice", Values: []string{"EUR", "USD"}}, {Name: "region", Type: "choice", Values: []string{"eu", "us"}}}
	if err := in.Init(sdk.Env{}); err != nil {
		b.Fatal(err)
	}
	sink := &discard{}
	p, err := pipeline.New(pipeline.Options{
		Inputs:             []pipeline.Input{{ID: "inputs.generate", Plugin: in}},
		Processors:         []pipeline.Processor{{ID: "processors.noop", Plugin: noop{}}},
		Outputs:            []pipeline.Output{{ID: "outputs.discard", Plugin: sink, BatchSize: 1000, BufferLimit: 10_000, FlushInterval: time.Second}},
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
	if sink.n.Load() != in.Count {
		b.Fatalf("delivered %d of %d", sink.n.Load(), in.Count)
	}
	b.ReportMetric(float64(in.Count)/elapsed.Seconds(), "events/s")
}
