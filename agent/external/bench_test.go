package external

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// benchBatch is n captured transactions rows: two tags, four fields.
func benchBatch(n int) sdk.Batch {
	t0 := time.Date(2026, 11, 21, 5, 0, 0, 0, time.UTC)
	b := make(sdk.Batch, n)
	for i := range b {
		b[i] = sdk.Event{Name: "transactions", Op: sdk.OpInsert,
			Tags: []sdk.Tag{{Key: "currency", Value: "USD"}, {Key: "product_category", Value: fmt.Sprint("cat", i%8)}},
			Fields: []sdk.Field{{Key: "transaction_id", Value: int64(i)}, {Key: "v", Value: float64(i) * 1.5},
				{Key: "created_at", Value: t0.Add(time.Duration(i) * time.Millisecond)}, {Key: "note", Value: "ok"}},
			Time: t0.Add(time.Duration(i) * time.Millisecond)}
	}
	return b
}

func benchProcessor(b *testing.B) *Processor {
	p := newProcessor()
	p.settings = settingsFor("stateless", map[string]any{"factor": 0.92})
	if err := p.Init(sdk.Env{Logger: slog.New(slog.DiscardHandler)}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p
}

// BenchmarkExternalProcessor is the throughput of a processor in its own
// process: batches of 1000 events through Process, which encodes them,
// calls the plugin over gRPC, where they are decoded, processed (one field
// multiplied, one added) and encoded again, and decodes the result.
func BenchmarkExternalProcessor(b *testing.B) {
	p := benchProcessor(b)
	const size = 1000
	batches := make([]sdk.Batch, 16)
	for i := range batches {
		batches[i] = benchBatch(size)
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// Process returns a new batch, so the input can be sent again.
		if _, err := p.Process(ctx, batches[i%len(batches)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/batch")
}

// BenchmarkExternalCall is the fixed cost of one call: a batch of one
// event.
func BenchmarkExternalCall(b *testing.B) {
	p := benchProcessor(b)
	batch := benchBatch(1)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Process(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "µs/call")
}
