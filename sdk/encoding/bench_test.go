package encoding

import "testing"

func BenchmarkEncodeInflux(b *testing.B) { benchmarkEncode(b, FormatInflux) }

func BenchmarkEncodeJSON(b *testing.B) { benchmarkEncode(b, FormatJSON) }

// benchmarkEncode measures an output's steady state: one encoder and one
// buffer reused for batch after batch of 1000 events, each with 2 tags and
// an int64, a float64 and a string field.
func benchmarkEncode(b *testing.B, format string) {
	const events = 1000
	batch := benchBatch(events)
	enc := mustNew(b, format)
	buf, skipped := enc.Encode(nil, batch)
	if skipped != 0 {
		b.Fatalf("%d events skipped", skipped)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		buf, _ = enc.Encode(buf[:0], batch)
	}
	n := float64(b.N) * events
	b.ReportMetric(n/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/event")
}
