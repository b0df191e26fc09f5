package influxdb

import (
	"fmt"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// BenchmarkEncodeGzip measures the CPU cost of a write before the network:
// encoding 5000 events (2 tags, 3 fields) to line protocol and compressing
// them, into the reused buffers. Run with -cpu 1.
func BenchmarkEncodeGzip(b *testing.B) {
	p := New()
	p.Database = "x"
	if err := p.Init(sdk.Env{}); err != nil {
		b.Fatal(err)
	}
	const n = 5000
	t0 := time.Date(2026, 11, 21, 5, 47, 3, 0, time.UTC)
	batch := make(sdk.Batch, n)
	for i := range batch {
		batch[i] = sdk.Event{
			Name: "transactions", Op: sdk.OpInsert,
			Tags: []sdk.Tag{{Key: "currency", Value: []string{"EUR", "USD", "GBP"}[i%3]}, {Key: "shop", Value: fmt.Sprintf("shop-%d", i%50)}},
			Fields: []sdk.Field{
				{Key: "amount", Value: float64(i) * 1.25},
				{Key: "id", Value: int64(1_000_000 + i)},
				{Key: "status", Value: "paid"},
			},
			Time: t0.Add(time.Duration(i) * time.Millisecond),
		}
	}
	var raw, packed int
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		out, skipped := p.enc.Encode(p.buf[:0], batch)
		if skipped != 0 {
			b.Fatal(skipped)
		}
		p.buf = out
		raw, packed = len(out), len(p.body(out))
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(raw)/float64(packed), "ratio")
}
