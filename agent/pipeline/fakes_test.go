package pipeline

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// seqInput emits events carrying consecutive sequence numbers (from 1); its
// position is the next number to emit.
type seqInput struct {
	name  string
	batch int
	total int64 // 0: until stopped
	pause time.Duration

	emitted atomic.Int64 // highest sequence number handed to Emit successfully
	durable chan sdk.Position
}

func encodePos(next int64) sdk.Position { return sdk.Position(strconv.FormatInt(next, 10)) }

func decodePos(p sdk.Position) int64 {
	if p == nil {
		return 1
	}
	n, err := strconv.ParseInt(string(p), 10, 64)
	if err != nil {
		panic(err)
	}
	return n
}

func (s *seqInput) Run(ctx context.Context, from sdk.Position, out sdk.Emitter) error {
	next := decodePos(from)
	for s.total == 0 || next <= s.total {
		n := int64(s.batch)
		if s.total > 0 && next+n-1 > s.total {
			n = s.total - next + 1
		}
		b := make(sdk.Batch, n)
		fields := make([]sdk.Field, n)
		for i := range b {
			fields[i] = sdk.Field{Key: "seq", Value: next + int64(i)}
			b[i] = sdk.Event{Name: s.name, Fields: fields[i : i+1 : i+1]}
		}
		if err := out.Emit(ctx, b, encodePos(next+n)); err != nil {
			return err
		}
		next += n
		s.emitted.Store(next - 1)
		if s.pause > 0 {
			select {
			case <-time.After(s.pause):
			case <-ctx.Done():
				return nil
			}
		}
	}
	return nil
}

func (s *seqInput) CheckpointDurable(_ context.Context, pos sdk.Position) error {
	if s.durable != nil {
		select {
		case s.durable <- pos:
		default:
		}
	}
	return nil
}

// recOutput records every sequence number it accepts, per input name.
type recOutput struct {
	mu        sync.Mutex
	seqs      map[string][]int64
	writes    int
	maxBatch  int
	delay     time.Duration
	failFirst int   // fail this many writes first
	failAll   bool  // never succeed
	attempts  int64 // write calls, failed or not
}

func newRecOutput() *recOutput { return &recOutput{seqs: map[string][]int64{}} }

func (o *recOutput) Write(ctx context.Context, b sdk.Batch) error {
	if o.delay > 0 {
		time.Sleep(o.delay)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.attempts++
	if o.failAll || o.failFirst > 0 {
		o.failFirst--
		return errors.New("destination unavailable")
	}
	o.writes++
	o.maxBatch = max(o.maxBatch, len(b))
	for i := range b {
		v, _ := b[i].Field("seq")
		o.seqs[b[i].Name] = append(o.seqs[b[i].Name], v.(int64))
	}
	return nil
}

func (o *recOutput) got(name string) []int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]int64(nil), o.seqs[name]...)
}

func (o *recOutput) count(name string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seqs[name])
}

// sumProc keeps a running total of the sequence numbers it saw and stamps it
// on every event; its state is that total, so a restore can be verified.
type sumProc struct {
	sum      int64
	restored bool
	failAt   int64 // return an error when this sequence number arrives
}

func (p *sumProc) Process(_ context.Context, b sdk.Batch) (sdk.Batch, error) {
	for i := range b {
		v, _ := b[i].Field("seq")
		if p.failAt != 0 && v.(int64) == p.failAt {
			return nil, errors.New("cannot process event")
		}
		p.sum += v.(int64)
	}
	return b, nil
}

func (p *sumProc) Snapshot() ([]byte, error) { return []byte(strconv.FormatInt(p.sum, 10)), nil }

func (p *sumProc) Restore(state []byte) error {
	n, err := strconv.ParseInt(string(state), 10, 64)
	p.sum, p.restored = n, true
	return err
}

// holdProc keeps every event back and releases them only on Finish.
type holdProc struct{ held sdk.Batch }

func (h *holdProc) Process(_ context.Context, b sdk.Batch) (sdk.Batch, error) {
	h.held = append(h.held, b...)
	return nil, nil
}

func (h *holdProc) Finish(context.Context) (sdk.Batch, error) { return h.held, nil }

// tickProc emits one event per tick.
type tickProc struct{ ticks int64 }

func (t *tickProc) Process(_ context.Context, b sdk.Batch) (sdk.Batch, error) { return b, nil }
func (t *tickProc) TickInterval() time.Duration                               { return 5 * time.Millisecond }
func (t *tickProc) Tick(context.Context, time.Time) (sdk.Batch, error) {
	t.ticks++
	return sdk.Batch{{Name: "tick", Fields: []sdk.Field{{Key: "seq", Value: t.ticks}}}}, nil
}

// noopProc passes batches through untouched.
type noopProc struct{}

func (noopProc) Process(_ context.Context, b sdk.Batch) (sdk.Batch, error) { return b, nil }

// discardOutput accepts everything.
type discardOutput struct{ n atomic.Int64 }

func (d *discardOutput) Write(_ context.Context, b sdk.Batch) error {
	d.n.Add(int64(len(b)))
	return nil
}
