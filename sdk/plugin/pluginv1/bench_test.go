package pluginv1

import (
	"fmt"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// benchBatch is a captured transactions row as the sqlite input emits it:
// two tags and four fields.
func benchBatch(n int) sdk.Batch {
	b := make(sdk.Batch, n)
	for i := range b {
		b[i] = sdk.Event{Name: "transactions", Op: sdk.OpInsert,
			Tags: []sdk.Tag{{Key: "currency", Value: "EUR"}, {Key: "product_category", Value: fmt.Sprint("cat", i%8)}},
			Fields: []sdk.Field{{Key: "transaction_id", Value: int64(i)}, {Key: "amount", Value: float64(i) * 1.5},
				{Key: "created_at", Value: t0.Add(time.Duration(i) * time.Millisecond)}, {Key: "note", Value: "ok"}},
			Time: t0.Add(time.Duration(i) * time.Millisecond)}
	}
	return b
}

// BenchmarkEncodeEvents and BenchmarkDecodeEvents are the two halves of
// one direction of a plugin call carrying a batch of 1000 events.
func BenchmarkEncodeEvents(b *testing.B) {
	batch := benchBatch(1000)
	buf, _ := AppendEvents(nil, batch)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendEvents(buf[:0], batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/event")
}

func BenchmarkDecodeEvents(b *testing.B) {
	batch := benchBatch(1000)
	buf, _ := AppendEvents(nil, batch)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvents(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/event")
}
