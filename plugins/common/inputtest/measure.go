package inputtest

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// idCounter counts events and sums their transaction_id, so that a
// capture of rows 1..want can be checked without keeping the events.
type idCounter struct {
	want  int64
	n     atomic.Int64
	idSum atomic.Int64
	bad   atomic.Int64 // events without an int64 transaction_id
	done  chan struct{}
	once  sync.Once
}

func (c *idCounter) Emit(_ context.Context, b sdk.Batch, _ sdk.Position) error {
	var sum int64
	for i := range b {
		if id, ok := b[i].Field("transaction_id"); ok {
			if v, ok := id.(int64); ok {
				sum += v
				continue
			}
		}
		c.bad.Add(1)
	}
	c.idSum.Add(sum)
	if c.n.Add(int64(len(b))) >= c.want {
		c.once.Do(func() { close(c.done) })
	}
	return nil
}

// CaptureAll runs in until it has emitted want events, stops it, and
// fails unless they are the rows with transaction_id 1..want, each once
// (checked by count and sum). Throughput benchmarks time this.
func CaptureAll(t testing.TB, in sdk.Input, want int64) {
	t.Helper()
	out := &idCounter{want: want, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- in.Run(ctx, nil, out) }()
	select {
	case <-out.done:
	case err := <-runErr:
		t.Fatalf("Run returned after %d of %d events: %v", out.n.Load(), want, err)
	case <-time.After(5 * time.Minute):
		t.Fatalf("only %d of %d events after 5 minutes", out.n.Load(), want)
	}
	cancel()
	if err := <-runErr; err != nil && err != context.Canceled {
		t.Fatalf("Run: %v", err)
	}
	if n := out.n.Load(); n != want {
		t.Fatalf("emitted %d events, want %d", n, want)
	}
	if bad := out.bad.Load(); bad != 0 {
		t.Fatalf("%d events without an int64 transaction_id", bad)
	}
	if sum, wantSum := out.idSum.Load(), want*(want+1)/2; sum != wantSum {
		t.Fatalf("transaction_id sum %d, want %d: rows missed or duplicated", sum, wantSum)
	}
}

// Arrivals is an emitter that records when each transaction_id (0..max)
// leaves the input, for latency measurements.
type Arrivals struct {
	mu      sync.Mutex
	arrived []time.Time // by transaction_id
	count   int
	dups    int
	unknown int
	last    sdk.Position
	signal  chan struct{} // poked after each batch
}

// NewArrivals records transaction_ids 0..max.
func NewArrivals(max int) *Arrivals {
	return &Arrivals{arrived: make([]time.Time, max+1), signal: make(chan struct{}, 1)}
}

func (l *Arrivals) Emit(_ context.Context, b sdk.Batch, p sdk.Position) error {
	now := time.Now()
	l.mu.Lock()
	for i := range b {
		v, _ := b[i].Field("transaction_id")
		id, ok := v.(int64)
		switch {
		case !ok || id < 0 || id >= int64(len(l.arrived)):
			l.unknown++
		case !l.arrived[id].IsZero():
			l.dups++
		default:
			l.arrived[id] = now
			l.count++
		}
	}
	l.last = p
	l.mu.Unlock()
	select {
	case l.signal <- struct{}{}:
	default:
	}
	return nil
}

// WaitCount waits until n distinct ids have arrived; false on timeout.
func (l *Arrivals) WaitCount(n int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if c, _, _ := l.Counts(); c >= n {
			return true
		}
		select {
		case <-l.signal:
		case <-deadline.C:
			return false
		}
	}
}

// Counts returns the distinct ids arrived, the repeats, and the events
// without a known id.
func (l *Arrivals) Counts() (count, dups, unknown int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count, l.dups, l.unknown
}

// Arrived is when id arrived (zero if it did not).
func (l *Arrivals) Arrived(id int) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.arrived[id]
}

// Last is the latest batch's position.
func (l *Arrivals) Last() sdk.Position {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// Percentile is the nearest-rank percentile of sorted values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
