package pipeline

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rowflux/rowflux/agent/selfmetrics"
	"github.com/rowflux/rowflux/sdk"
)

func out(id string, o sdk.Output) Output {
	return Output{ID: id, Plugin: o, BatchSize: 100, FlushInterval: 10 * time.Millisecond, BufferLimit: 1000, RetryMaxInterval: 50 * time.Millisecond}
}

// assertComplete checks that 1..n all arrived, in order, exactly once.
func assertComplete(t *testing.T, got []int64, n int64) {
	t.Helper()
	if int64(len(got)) != n {
		t.Fatalf("got %d events, want %d", len(got), n)
	}
	for i, v := range got {
		if v != int64(i+1) {
			t.Fatalf("event %d has seq %d, want %d", i, v, i+1)
		}
	}
}

// assertNoGap checks that every sequence number 1..n appears at least once.
func assertNoGap(t *testing.T, got []int64, n int64) {
	t.Helper()
	seen := make([]bool, n+1)
	for _, v := range got {
		if v >= 1 && v <= n {
			seen[v] = true
		}
	}
	for i := int64(1); i <= n; i++ {
		if !seen[i] {
			t.Fatalf("sequence number %d never arrived (of %d)", i, n)
		}
	}
}

func run(t *testing.T, ctx context.Context, opts Options) error {
	t.Helper()
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return p.Run(ctx)
}

func TestDeliversEveryEventToEveryOutputInOrder(t *testing.T) {
	a, b := newRecOutput(), newRecOutput()
	in := &seqInput{name: "s", batch: 37, total: 10_000}
	err := run(t, context.Background(), Options{
		Inputs:             []Input{{ID: "inputs.seq", Plugin: in}},
		Processors:         []Processor{{ID: "processors.noop", Plugin: noopProc{}}, {ID: "processors.sum", Plugin: &sumProc{}}},
		Outputs:            []Output{out("outputs.a", a), out("outputs.b", b)},
		CheckpointInterval: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	assertComplete(t, a.got("s"), 10_000)
	assertComplete(t, b.got("s"), 10_000)
	if a.maxBatch > 100 {
		t.Errorf("output got a batch of %d events, batch_size is 100", a.maxBatch)
	}
}

func TestSlowOutputSlowsTheInputAndLosesNothing(t *testing.T) {
	slow := newRecOutput()
	slow.delay = 2 * time.Millisecond
	in := &seqInput{name: "s", batch: 10}
	o := out("outputs.slow", slow)
	o.BatchSize, o.BufferLimit = 10, 50
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	p, err := New(Options{Inputs: []Input{{ID: "inputs.seq", Plugin: in}}, Outputs: []Output{o}, ChannelSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	// While running, the input can only be ahead of the output by what the
	// buffer and channels hold: buffer_limit + one batch being pushed, one
	// in the writer, two channel slots, one batch blocked in Emit.
	maxLead := int64(o.BufferLimit + 10 + 10 + 2*10 + 10)
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		lead := in.emitted.Load() - int64(slow.count("s"))
		if lead > maxLead {
			t.Fatalf("input is %d events ahead of a slow output; backpressure should bound it by %d", lead, maxLead)
		}
		time.Sleep(time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	emitted := in.emitted.Load()
	if emitted == 0 {
		t.Fatal("input emitted nothing")
	}
	// At ~5 events/ms the output bounds the input far below what an
	// unthrottled input emits in 400 ms (millions).
	if emitted > 100_000 {
		t.Fatalf("input emitted %d events in 400ms against an output taking 2ms per 10 events", emitted)
	}
	assertComplete(t, slow.got("s"), emitted)
}

func TestGracefulShutdownDeliversEverythingEmitted(t *testing.T) {
	rec := newRecOutput()
	in := &seqInput{name: "s", batch: 50, pause: 100 * time.Microsecond}
	var commits []*Checkpoint
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(150*time.Millisecond, cancel)
	o := out("outputs.rec", rec)
	o.FlushInterval = time.Hour // only the shutdown flush can deliver the tail
	o.BatchSize, o.BufferLimit = 1_000_000, 1_000_000
	err := run(t, ctx, Options{
		Inputs:             []Input{{ID: "inputs.seq", Plugin: in}},
		Outputs:            []Output{o},
		CheckpointInterval: time.Hour,
		Commit:             func(c *Checkpoint) error { commits = append(commits, c); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	emitted := in.emitted.Load()
	assertComplete(t, rec.got("s"), emitted)
	if len(commits) != 1 || !commits[0].Final {
		t.Fatalf("want exactly the final checkpoint, got %d commits", len(commits))
	}
	if got := decodePos(commits[0].Positions["inputs.seq"]); got != emitted+1 {
		t.Fatalf("final checkpoint resumes at %d, want %d", got, emitted+1)
	}
}

// TestCrashAndRestoreLosesNothing kills a pipeline between checkpoints
// (abort: no final checkpoint) and restarts it from the last committed one.
// Every sequence number must arrive at least once, and the processor state
// restored with the positions must match exactly the events before them.
func TestCrashAndRestoreLosesNothing(t *testing.T) {
	rec := newRecOutput()
	var mu sync.Mutex
	var last *Checkpoint
	commit := func(c *Checkpoint) error { mu.Lock(); last = c; mu.Unlock(); return nil }

	ins := []*seqInput{{name: "a", batch: 20, pause: 200 * time.Microsecond}, {name: "b", batch: 7, pause: 300 * time.Microsecond}}
	proc := &sumProc{}
	p, err := New(Options{
		Inputs:             []Input{{ID: "inputs.a", Plugin: ins[0]}, {ID: "inputs.b", Plugin: ins[1]}},
		Processors:         []Processor{{ID: "processors.sum", Plugin: proc}},
		Outputs:            []Output{out("outputs.rec", rec)},
		CheckpointInterval: 20 * time.Millisecond,
		Commit:             commit,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	time.Sleep(150 * time.Millisecond)
	p.abort(errors.New("simulated crash"))
	if err := <-done; err == nil || !strings.Contains(err.Error(), "simulated crash") {
		t.Fatalf("aborted run returned %v", err)
	}
	mu.Lock()
	cp := last
	mu.Unlock()
	if cp == nil || cp.Final {
		t.Fatalf("want a periodic checkpoint before the crash, got %+v", cp)
	}

	// The state restored must equal the sum of exactly the events before
	// the positions: alignment of states with positions.
	var wantSum int64
	for _, id := range []string{"inputs.a", "inputs.b"} {
		n := decodePos(cp.Positions[id]) - 1
		wantSum += n * (n + 1) / 2
	}
	restored := &sumProc{}
	if err := restored.Restore(cp.States["processors.sum"]); err != nil {
		t.Fatal(err)
	}
	if restored.sum != wantSum {
		t.Fatalf("restored state %d does not match positions (want %d)", restored.sum, wantSum)
	}

	crashedAt := map[string]int64{"a": ins[0].emitted.Load(), "b": ins[1].emitted.Load()}
	ins2 := []*seqInput{{name: "a", batch: 20, total: crashedAt["a"] + 100}, {name: "b", batch: 7, total: crashedAt["b"] + 100}}
	err = run(t, context.Background(), Options{
		Inputs: []Input{
			{ID: "inputs.a", Plugin: ins2[0], From: cp.Positions["inputs.a"]},
			{ID: "inputs.b", Plugin: ins2[1], From: cp.Positions["inputs.b"]},
		},
		Processors:         []Processor{{ID: "processors.sum", Plugin: restored}},
		Outputs:            []Output{out("outputs.rec", rec)},
		CheckpointInterval: 20 * time.Millisecond,
		Commit:             commit,
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range crashedAt {
		assertNoGap(t, rec.got(name), n+100)
	}
	total := ins2[0].total*(ins2[0].total+1)/2 + ins2[1].total*(ins2[1].total+1)/2
	if restored.sum != total {
		t.Fatalf("processor total after restore %d, want %d (state lost or double counted)", restored.sum, total)
	}
}

// TestBarrierPositionsCoverOnlyDeliveredEvents checks the delivery invariant
// with three inputs and two outputs: when a checkpoint commits, every event
// before every input's position has been written by every output.
func TestBarrierPositionsCoverOnlyDeliveredEvents(t *testing.T) {
	outs := []*recOutput{newRecOutput(), newRecOutput()}
	outs[1].delay = 300 * time.Microsecond
	ins := []*seqInput{
		{name: "x", batch: 13, pause: 100 * time.Microsecond},
		{name: "y", batch: 50, pause: 500 * time.Microsecond},
		{name: "z", batch: 1, pause: 50 * time.Microsecond},
	}
	var violations []string
	commits := 0
	commit := func(c *Checkpoint) error {
		commits++
		for i, name := range []string{"x", "y", "z"} {
			_ = i
			n := decodePos(c.Positions["inputs."+name]) - 1
			for j, o := range outs {
				if got := int64(o.count(name)); got < n {
					violations = append(violations, "checkpoint covers "+name+" events not yet written by output "+string(rune('A'+j)))
				}
			}
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := run(t, ctx, Options{
		Inputs:             []Input{{ID: "inputs.x", Plugin: ins[0]}, {ID: "inputs.y", Plugin: ins[1]}, {ID: "inputs.z", Plugin: ins[2]}},
		Outputs:            []Output{out("outputs.a", outs[0]), out("outputs.b", outs[1])},
		CheckpointInterval: 5 * time.Millisecond,
		Commit:             commit,
	})
	if err != nil {
		t.Fatal(err)
	}
	if commits < 2 {
		t.Fatalf("only %d checkpoints in 300ms at a 5ms interval", commits)
	}
	if len(violations) > 0 {
		t.Fatalf("%d violations, first: %s", len(violations), violations[0])
	}
}

func TestDurableNotificationFollowsCommit(t *testing.T) {
	in := &seqInput{name: "s", batch: 10, total: 1000, durable: make(chan sdk.Position, 100)}
	committed := map[string]bool{}
	var mu sync.Mutex
	commit := func(c *Checkpoint) error {
		mu.Lock()
		committed[string(c.Positions["inputs.seq"])] = true
		mu.Unlock()
		return nil
	}
	err := run(t, context.Background(), Options{
		Inputs: []Input{{ID: "inputs.seq", Plugin: in}}, Outputs: []Output{out("o", newRecOutput())},
		CheckpointInterval: time.Millisecond, Commit: commit,
	})
	if err != nil {
		t.Fatal(err)
	}
	close(in.durable)
	n := 0
	for pos := range in.durable {
		n++
		if !committed[string(pos)] {
			t.Fatalf("input told position %s is durable before it was committed", pos)
		}
	}
	if n == 0 {
		t.Fatal("input was never told a checkpoint is durable")
	}
}

func TestFailedCommitIsNotAnnouncedAndDoesNotStop(t *testing.T) {
	in := &seqInput{name: "s", batch: 10, total: 500, pause: 100 * time.Microsecond, durable: make(chan sdk.Position, 100)}
	rec := newRecOutput()
	reg := selfmetrics.NewRegistry()
	err := run(t, context.Background(), Options{
		Inputs: []Input{{ID: "inputs.seq", Plugin: in}}, Outputs: []Output{out("o", rec)},
		CheckpointInterval: time.Millisecond, Metrics: reg,
		Commit: func(*Checkpoint) error { return errors.New("no space left on device") },
	})
	// Periodic failures do not stop the pipeline: everything is delivered.
	assertComplete(t, rec.got("s"), 500)
	// A failed final checkpoint is reported, since the next start replays.
	if err == nil || !strings.Contains(err.Error(), "final checkpoint not written") || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("got %v", err)
	}
	if len(in.durable) != 0 {
		t.Fatal("input told a checkpoint is durable although the commit failed")
	}
	var sb strings.Builder
	reg.WriteText(&sb)
	if strings.Contains(sb.String(), "rowflux_checkpoint_failures_total 0\n") || strings.Contains(sb.String(), "rowflux_checkpoint_failures_total 1\n") {
		t.Fatalf("failures not counted:\n%s", sb.String())
	}
}

func TestOutputErrorsAreRetriedUntilAccepted(t *testing.T) {
	rec := newRecOutput()
	rec.failFirst = 4
	reg := selfmetrics.NewRegistry()
	err := run(t, context.Background(), Options{
		Inputs:  []Input{{ID: "inputs.seq", Plugin: &seqInput{name: "s", batch: 10, total: 300}}},
		Outputs: []Output{out("outputs.rec", rec)}, Metrics: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	assertComplete(t, rec.got("s"), 300)
	var sb strings.Builder
	reg.WriteText(&sb)
	if !strings.Contains(sb.String(), `rowflux_output_write_errors_total{instance="outputs.rec"} 4`) {
		t.Fatalf("write errors not counted:\n%s", sb.String())
	}
}

func TestDropOldestKeepsTheInputMovingAndCountsDrops(t *testing.T) {
	blocked := newRecOutput()
	blocked.failAll = true
	o := out("outputs.down", blocked)
	o.DropOldest, o.BufferLimit, o.BatchSize = true, 100, 10
	reg := selfmetrics.NewRegistry()
	in := &seqInput{name: "s", batch: 10, total: 5000}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := New(Options{Inputs: []Input{{ID: "inputs.seq", Plugin: in}}, Outputs: []Output{o}, Metrics: reg, ShutdownTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for in.emitted.Load() < 5000 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if in.emitted.Load() < 5000 {
		t.Fatalf("input stalled at %d behind a dead output with on_full = drop_oldest", in.emitted.Load())
	}
	cancel()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "shutdown did not finish") {
		t.Fatalf("want a shutdown timeout error with a dead output, got %v", err)
	}
	var sb strings.Builder
	reg.WriteText(&sb)
	if strings.Contains(sb.String(), `rowflux_output_events_dropped_total{instance="outputs.down"} 0`) {
		t.Fatalf("drops not counted:\n%s", sb.String())
	}
}

func TestProcessorErrorAbortsWithoutFinalCheckpoint(t *testing.T) {
	var finals int
	err := run(t, context.Background(), Options{
		Inputs:             []Input{{ID: "inputs.seq", Plugin: &seqInput{name: "s", batch: 10, total: 1000}}},
		Processors:         []Processor{{ID: "processors.sum", Plugin: &sumProc{failAt: 500}}},
		Outputs:            []Output{out("o", newRecOutput())},
		CheckpointInterval: time.Hour,
		Commit: func(c *Checkpoint) error {
			if c.Final {
				finals++
			}
			return nil
		},
	})
	if err == nil || err.Error() != "processors.sum: cannot process event" {
		t.Fatalf("got %v", err)
	}
	if finals != 0 {
		t.Fatal("a final checkpoint was written after a processor failure; it could cover lost events")
	}
}

type failingInput struct{}

func (failingInput) Run(ctx context.Context, _ sdk.Position, out sdk.Emitter) error {
	if err := out.Emit(ctx, sdk.Batch{{Name: "s", Fields: []sdk.Field{{Key: "seq", Value: int64(1)}}}}, encodePos(2)); err != nil {
		return err
	}
	return errors.New("connection refused")
}

func TestInputErrorStopsGracefully(t *testing.T) {
	rec := newRecOutput()
	var final *Checkpoint
	err := run(t, context.Background(), Options{
		Inputs:             []Input{{ID: "inputs.bad", Plugin: failingInput{}}, {ID: "inputs.seq", Plugin: &seqInput{name: "x", batch: 1, pause: time.Millisecond}}},
		Outputs:            []Output{out("o", rec)},
		CheckpointInterval: time.Hour,
		Commit:             func(c *Checkpoint) error { final = c; return nil },
	})
	if err == nil || err.Error() != "inputs.bad: connection refused" {
		t.Fatalf("got %v", err)
	}
	if final == nil || !final.Final || string(final.Positions["inputs.bad"]) != "2" {
		t.Fatalf("want a final checkpoint with the failed input's last position, got %+v", final)
	}
	assertComplete(t, rec.got("s"), 1)
}

func TestFinishEmitsHeldEventsInOneOffRuns(t *testing.T) {
	for _, finish := range []bool{true, false} {
		rec := newRecOutput()
		err := run(t, context.Background(), Options{
			Inputs:     []Input{{ID: "inputs.seq", Plugin: &seqInput{name: "s", batch: 10, total: 100}}},
			Processors: []Processor{{ID: "processors.hold", Plugin: &holdProc{}}},
			Outputs:    []Output{out("o", rec)},
			Finish:     finish,
		})
		if err != nil {
			t.Fatal(err)
		}
		if finish {
			assertComplete(t, rec.got("s"), 100)
		} else if n := rec.count("s"); n != 0 {
			t.Fatalf("held events were emitted without Finish: %d", n)
		}
	}
}

func TestTickerProcessorTicks(t *testing.T) {
	rec := newRecOutput()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := run(t, ctx, Options{
		Inputs:     []Input{{ID: "inputs.seq", Plugin: &seqInput{name: "s", batch: 1, total: 1}}, {ID: "inputs.idle", Plugin: &seqInput{name: "idle", batch: 1, pause: time.Hour}}},
		Processors: []Processor{{ID: "processors.tick", Plugin: &tickProc{}}},
		Outputs:    []Output{out("o", rec)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := rec.count("tick"); n < 3 {
		t.Fatalf("got %d ticks in 300ms at a 5ms interval", n)
	}
}

type panickyOutput struct{ calls int }

func (p *panickyOutput) Write(context.Context, sdk.Batch) error {
	p.calls++
	if p.calls == 1 {
		panic("boom")
	}
	return nil
}

func TestOutputPanicIsRetriedNotFatal(t *testing.T) {
	po := &panickyOutput{}
	err := run(t, context.Background(), Options{
		Inputs:  []Input{{ID: "inputs.seq", Plugin: &seqInput{name: "s", batch: 5, total: 5}}},
		Outputs: []Output{out("o", po)},
	})
	if err != nil || po.calls != 2 {
		t.Fatalf("err %v, calls %d", err, po.calls)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	cases := map[string]Options{
		"no inputs":  {Outputs: []Output{out("o", newRecOutput())}},
		"no outputs": {Inputs: []Input{{ID: "i", Plugin: &seqInput{}}}},
		"buffer below batch": {Inputs: []Input{{ID: "i", Plugin: &seqInput{}}},
			Outputs: []Output{{ID: "o", Plugin: newRecOutput(), BatchSize: 10, BufferLimit: 5, FlushInterval: time.Second}}},
	}
	for name, opts := range cases {
		if _, err := New(opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
