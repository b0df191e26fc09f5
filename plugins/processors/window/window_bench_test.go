package window

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// Run with: go test -run '^$' -bench . -cpu 1 ./plugins/processors/window/

func benchWindow(b *testing.B, fields map[string]string, maxGroups int, groupBy ...string) *Window {
	b.Helper()
	w := New()
	w.Measurement, w.Time, w.Size = "volume", "time", sdk.Duration(10*time.Second)
	w.GroupBy = groupBy
	w.Fields = fields
	if maxGroups > 0 {
		w.MaxGroups = maxGroups
	}
	w.SetClock(func() time.Time { return time.Unix(0, 0) })
	if err := w.Init(sdk.Env{}); err != nil {
		b.Fatal(err)
	}
	return w
}

// benchBatches builds batches of 1000 events, 10 categories, one event per
// millisecond of event time (a window closes every 10,000 events).
func benchBatches(n int) []sdk.Batch {
	cats := make([]string, 10)
	for i := range cats {
		cats[i] = fmt.Sprintf("category%d", i)
	}
	var out []sdk.Batch
	for i := 0; i < n; i += 1000 {
		batch := make(sdk.Batch, 0, 1000)
		for k := i; k < i+1000 && k < n; k++ {
			batch = append(batch, sdk.Event{
				Name: "transactions", Op: sdk.OpInsert,
				Tags:   []sdk.Tag{{Key: "category", Value: cats[k%10]}, {Key: "currency", Value: "EUR"}},
				Fields: []sdk.Field{{Key: "transaction_id", Value: int64(k)}, {Key: "amount", Value: float64(k%500) + 0.25}},
				Time:   time.Unix(0, int64(k)*int64(time.Millisecond)),
			})
		}
		out = append(out, batch)
	}
	return out
}

func runThroughput(b *testing.B, fields map[string]string) {
	const perRound = 200_000
	batches := benchBatches(perRound)
	w := benchWindow(b, fields, 0, "category")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	events := 0
	offset := time.Duration(0)
	for events < b.N {
		for _, batch := range batches {
			if offset > 0 {
				for i := range batch {
					batch[i].Time = batch[i].Time.Add(offset)
				}
			}
			if _, err := w.Process(ctx, batch); err != nil {
				b.Fatal(err)
			}
			events += len(batch)
			if events >= b.N {
				break
			}
		}
		offset = perRound * time.Millisecond
	}
	b.StopTimer()
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(events), "ns/event")
}

// BenchmarkTumbling: tumbling 10s, group_by one key of 10 values,
// sum/count/avg. Target: ≥ 1,000,000 events/s on one CPU.
func BenchmarkTumbling(b *testing.B) {
	runThroughput(b, map[string]string{"total": "sum(amount)", "n": "count()", "avg": "avg(amount)"})
}

// BenchmarkTumblingPercentile adds percentile(amount, 95). Target:
// ≥ 400,000 events/s on one CPU.
func BenchmarkTumblingPercentile(b *testing.B) {
	runThroughput(b, map[string]string{"total": "sum(amount)", "n": "count()", "avg": "avg(amount)", "p95": "percentile(amount, 95)"})
}

// BenchmarkGroupsMemory opens 1,000,000 distinct groups (max_groups =
// 1,000,000), reports the heap they take per group, then checks that
// further groups are refused and the heap stays bounded.
func BenchmarkGroupsMemory(b *testing.B) {
	const groups = 1_000_000
	for range b.N {
		w := benchWindow(b, map[string]string{"total": "sum(amount)", "n": "count()", "avg": "avg(amount)"}, groups, "id")
		ctx := context.Background()
		batch := make(sdk.Batch, 1000)
		send := func(from, to int) {
			for i := from; i < to; i += len(batch) {
				for k := range batch {
					batch[k] = sdk.Event{
						Name:   "transactions",
						Tags:   []sdk.Tag{{Key: "id", Value: fmt.Sprintf("customer-%08d", i+k)}},
						Fields: []sdk.Field{{Key: "amount", Value: 1.5}},
						Time:   time.Unix(1, 0),
					}
				}
				if _, err := w.Process(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
		}
		var before, after, refusedHeap runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		send(0, groups)
		runtime.GC()
		runtime.ReadMemStats(&after)
		perGroup := float64(after.HeapAlloc-before.HeapAlloc) / groups
		send(groups, groups+100_000)
		runtime.GC()
		runtime.ReadMemStats(&refusedHeap)
		if w.states != groups || w.cRefused.Load() != 100_000 {
			b.Fatalf("states %d, refused %d", w.states, w.cRefused.Load())
		}
		if grew := float64(refusedHeap.HeapAlloc) - float64(after.HeapAlloc); grew > 8<<20 {
			b.Fatalf("heap grew by %.0f bytes while groups were refused", grew)
		}
		if perGroup > 1024 {
			b.Fatalf("%.0f bytes per group", perGroup)
		}
		b.ReportMetric(perGroup, "bytes/group")
		runtime.KeepAlive(w)
	}
}
