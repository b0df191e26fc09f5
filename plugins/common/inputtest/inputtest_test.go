package inputtest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// counter emits n one-event batches, then waits to be stopped.
type counter struct{ n int }

func (c counter) Run(ctx context.Context, _ sdk.Position, out sdk.Emitter) error {
	for i := 1; i <= c.n; i++ {
		b := sdk.Batch{{Name: "n", Fields: []sdk.Field{{Key: "i", Value: int64(i)}}}}
		if err := out.Emit(ctx, b, sdk.Position(strconv.Itoa(i))); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

func TestRecorderAndStart(t *testing.T) {
	rec, stop := Start(t, counter{n: 3})
	ev := rec.WaitFor(t, 3)
	stop()
	stop() // a second stop is harmless
	if len(ev) != 3 {
		t.Fatalf("got %d events", len(ev))
	}
	all, pos := rec.Snapshot()
	if len(all) != 3 || string(pos) != "3" {
		t.Fatalf("snapshot %d events, position %q", len(all), pos)
	}
	if rec.ArrivedAt(2).IsZero() {
		t.Fatal("arrival time not recorded")
	}
}

func idBatch(ids ...int64) sdk.Batch {
	b := make(sdk.Batch, len(ids))
	for i, id := range ids {
		b[i] = sdk.Event{Name: "t", Fields: []sdk.Field{{Key: "transaction_id", Value: id}}}
	}
	return b
}

// ids emits transaction_id 1..n in batches of 10.
type ids struct{ n int64 }

func (s ids) Run(ctx context.Context, _ sdk.Position, out sdk.Emitter) error {
	for i := int64(1); i <= s.n; i += 10 {
		var b []int64
		for j := i; j < i+10 && j <= s.n; j++ {
			b = append(b, j)
		}
		if err := out.Emit(ctx, idBatch(b...), nil); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

func TestCaptureAll(t *testing.T) {
	CaptureAll(t, ids{n: 95}, 95)
}

func TestArrivals(t *testing.T) {
	a := NewArrivals(5)
	a.Emit(context.Background(), idBatch(1, 2, 2, 9), sdk.Position("p"))
	if !a.WaitCount(2, time.Second) || a.WaitCount(3, 10*time.Millisecond) {
		t.Fatal("WaitCount")
	}
	if c, d, u := a.Counts(); c != 2 || d != 1 || u != 1 {
		t.Fatalf("counts %d %d %d", c, d, u)
	}
	if a.Arrived(1).IsZero() || !a.Arrived(3).IsZero() || string(a.Last()) != "p" {
		t.Fatal("arrival times or position")
	}
}

func TestPercentile(t *testing.T) {
	v := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for p, want := range map[float64]time.Duration{50: 5, 99: 10, 0: 1, 100: 10} {
		if got := Percentile(v, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
}
