package selfmetrics

import (
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
)

// RegisterRuntime adds the process gauges an operator watches for leaks:
// goroutines, heap in use, and resident memory. They use the names of the
// Prometheus Go client, so existing dashboards and alerts apply unchanged.
func (r *Registry) RegisterRuntime() {
	r.Gauge("go_goroutines", "Number of goroutines that currently exist.", func() float64 {
		return float64(runtime.NumGoroutine())
	})
	r.Gauge("go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use.", func() float64 {
		// runtime/metrics reads without stopping the world, unlike ReadMemStats.
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
		metrics.Read(s)
		var v float64
		for _, x := range s {
			if x.Value.Kind() == metrics.KindUint64 {
				v += float64(x.Value.Uint64())
			}
		}
		return v
	})
	if _, ok := residentBytes(); ok {
		r.Gauge("process_resident_memory_bytes", "Resident memory size in bytes.", func() float64 {
			v, _ := residentBytes()
			return float64(v)
		})
	}
}

// residentBytes reads the resident set size from /proc/self/statm (Linux);
// elsewhere the gauge is not registered rather than reported as zero.
func residentBytes() (int64, bool) {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}
