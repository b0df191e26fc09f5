package inputtest

import (
	"context"
	"strconv"
	"testing"

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
