package generate

import (
	"context"
	"errors"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/rowflux/rowflux/sdk"
)

// recorder is a fake sdk.Emitter that keeps every batch and position. It can
// cancel the run after a number of events or fail an Emit.
type recorder struct {
	mu        sync.Mutex
	batches   []sdk.Batch
	positions []sdk.Position
	events    int

	cancel    context.CancelFunc // called once stopAfter events arrived
	stopAfter int
	fail      error // returned by every Emit when set
	onEmit    func(sdk.Batch)
}

func (r *recorder) Emit(ctx context.Context, batch sdk.Batch, pos sdk.Position) error {
	if r.fail != nil {
		return r.fail
	}
	r.mu.Lock()
	r.batches = append(r.batches, batch)
	r.positions = append(r.positions, pos)
	r.events += len(batch)
	done := r.stopAfter > 0 && r.events >= r.stopAfter
	r.mu.Unlock()
	if r.onEmit != nil {
		r.onEmit(batch)
	}
	if done && r.cancel != nil {
		r.cancel()
	}
	return nil
}

func (r *recorder) all() []sdk.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sdk.Event
	for _, b := range r.batches {
		out = append(out, b...)
	}
	return out
}

func (r *recorder) lastPosition() sdk.Position {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.positions) == 0 {
		return nil
	}
	return r.positions[len(r.positions)-1]
}

// newGen returns an initialised generator: defaults, then edit.
func newGen(t testing.TB, edit func(*Generate)) *Generate {
	t.Helper()
	g := New()
	if edit != nil {
		edit(g)
	}
	if err := g.Init(sdk.Env{}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return g
}

// run runs g from pos until it returns or stopAfter events (0: no limit)
// have been emitted.
func run(t testing.TB, g *Generate, from sdk.Position, stopAfter int) *recorder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec := &recorder{cancel: cancel, stopAfter: stopAfter}
	if err := g.Run(ctx, from, rec); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rec
}

// sampleFields is a config with every generator type, fields and tags.
func sampleFields(g *Generate) {
	g.Rate = 0
	g.Fields = []Generator{
		{Name: "seq", Type: "sequence"},
		{Name: "amount", Type: "float", Min: 1, Max: 500},
		{Name: "qty", Type: "int", Min: -3, Max: 3},
		{Name: "status", Type: "choice", Values: []string{"new", "paid", "shipped"}},
	}
	g.Tags = []Generator{
		{Name: "zone", Type: "choice", Values: []string{"eu", "us"}},
		{Name: "currency", Type: "choice", Values: []string{"EUR", "USD", "GBP"}},
		{Name: "id", Type: "sequence"},
	}
}

// withoutTime drops capture times, the one thing a replay may change.
func withoutTime(events []sdk.Event) []sdk.Event {
	out := make([]sdk.Event, len(events))
	for i, e := range events {
		e.Time = time.Time{}
		out[i] = e
	}
	return out
}

func seqOf(t testing.TB, e sdk.Event) int64 {
	t.Helper()
	v, ok := e.Field("seq")
	if !ok {
		t.Fatalf("event without seq field: %+v", e)
	}
	return v.(int64)
}

func intp(i int) *int { return &i }

func TestInitErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Generate)
		want string
	}{
		{"unknown field type", func(g *Generate) {
			g.Fields = []Generator{{Name: "seq", Type: "sequence"}, {Name: "amount", Type: "flot"}}
		}, `fields[1] ("amount"): type "flot" is unknown (want sequence, choice, float or int)`},
		{"missing type", func(g *Generate) { g.Fields = []Generator{{Name: "x"}} },
			`fields[0] ("x"): type is missing (want sequence, choice, float or int)`},
		{"empty field name", func(g *Generate) { g.Fields = []Generator{{Type: "sequence"}} },
			`fields[0]: name is empty`},
		{"empty tag name", func(g *Generate) { g.Tags = []Generator{{Type: "sequence"}} },
			`tags[0]: name is empty`},
		{"choice without values", func(g *Generate) { g.Tags = []Generator{{Name: "currency", Type: "choice"}} },
			`tags[0] ("currency"): choice needs at least one value`},
		{"empty tag value", func(g *Generate) {
			g.Tags = []Generator{{Name: "currency", Type: "choice", Values: []string{"EUR", ""}}}
		}, `tags[0] ("currency"): values[1] is empty (a tag value must not be empty)`},
		{"float tag", func(g *Generate) { g.Tags = []Generator{{Name: "t", Type: "float", Min: 0, Max: 1}} },
			`tags[0] ("t"): type "float" is not allowed for a tag (want sequence or choice)`},
		{"unknown tag type", func(g *Generate) { g.Tags = []Generator{{Name: "t", Type: "bool"}} },
			`tags[0] ("t"): type "bool" is unknown (want sequence or choice)`},
		{"float min above max", func(g *Generate) {
			g.Fields = []Generator{{Name: "seq", Type: "sequence"}, {Name: "amount", Type: "float", Min: 5, Max: 1}}
		}, `fields[1] ("amount"): float: min 5 must be below max 1`},
		{"float min equals max", func(g *Generate) { g.Fields = []Generator{{Name: "a", Type: "float"}} },
			`fields[0] ("a"): float: min 0 must be below max 0`},
		{"float range too wide", func(g *Generate) {
			g.Fields = []Generator{{Name: "a", Type: "float", Min: -math.MaxFloat64, Max: math.MaxFloat64}}
		}, `fields[0] ("a"): float: the range from min`},
		{"float infinite", func(g *Generate) { g.Fields = []Generator{{Name: "a", Type: "float", Max: math.Inf(1)}} },
			`fields[0] ("a"): float: min and max must be finite numbers`},
		{"decimals out of range", func(g *Generate) {
			g.Fields = []Generator{{Name: "a", Type: "float", Max: 1, Decimals: intp(16)}}
		}, `fields[0] ("a"): decimals 16 is out of range (want 0 to 15, or -1 for no rounding)`},
		{"int min above max", func(g *Generate) { g.Fields = []Generator{{Name: "n", Type: "int", Min: 5, Max: 1}} },
			`fields[0] ("n"): int: min 5 must not be above max 1`},
		{"int fractional bound", func(g *Generate) { g.Fields = []Generator{{Name: "n", Type: "int", Max: 1.5}} },
			`fields[0] ("n"): int: max 1.5 is not a whole number`},
		{"int bound too large", func(g *Generate) { g.Fields = []Generator{{Name: "n", Type: "int", Max: 1e17}} },
			`fields[0] ("n"): int: max 1e+17 is out of range (want -2^53 to 2^53)`},
		{"values on non-choice", func(g *Generate) {
			g.Fields = []Generator{{Name: "s", Type: "sequence", Values: []string{"a"}}}
		}, `fields[0] ("s"): values apply only to type choice, not sequence`},
		{"min on choice", func(g *Generate) {
			g.Fields = []Generator{{Name: "c", Type: "choice", Values: []string{"a"}, Max: 3}}
		}, `fields[0] ("c"): min and max apply only to types float and int, not choice`},
		{"decimals on int", func(g *Generate) {
			g.Fields = []Generator{{Name: "n", Type: "int", Max: 3, Decimals: intp(2)}}
		}, `fields[0] ("n"): decimals applies only to type float, not int`},
		{"duplicate field", func(g *Generate) {
			g.Fields = []Generator{{Name: "seq", Type: "sequence"}, {Name: "seq", Type: "int", Max: 1}}
		}, `fields[1] ("seq"): name is already used by fields[0]`},
		{"duplicate tag", func(g *Generate) {
			g.Tags = []Generator{{Name: "c", Type: "sequence"}, {Name: "c", Type: "sequence"}}
		}, `tags[1] ("c"): name is already used by tags[0]`},
		{"tag named like a field", func(g *Generate) { g.Tags = []Generator{{Name: "seq", Type: "sequence"}} },
			`tags[0] ("seq"): name is already used by fields[0]`},
		{"negative rate", func(g *Generate) { g.Rate = -1 }, `rate: must not be negative`},
		{"NaN rate", func(g *Generate) { g.Rate = math.NaN() }, `rate: NaN is not a finite number`},
		{"zero batch size", func(g *Generate) { g.BatchSize = 0 }, `batch_size: must be positive`},
		{"negative count", func(g *Generate) { g.Count = -1 }, `count: must not be negative`},
		{"unknown op", func(g *Generate) { g.Op = "x" },
			`op: unknown op "x" (want insert, update, delete, upsert or empty)`},
		{"empty name", func(g *Generate) { g.Name = "" }, `name: must not be empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := New()
			tt.edit(g)
			err := g.Init(sdk.Env{})
			if err == nil {
				t.Fatalf("Init succeeded, want error %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Init error\n got: %s\nwant: %s", err, tt.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	g := newGen(t, func(g *Generate) { g.Rate = 0; g.Count = 3 })
	got := run(t, g, nil, 0).all()
	if len(got) != 3 {
		t.Fatalf("got %d events, want 3", len(got))
	}
	for i, e := range got {
		want := []sdk.Field{{Key: "seq", Value: int64(i + 1)}}
		if e.Name != "generated" || e.Op != sdk.OpNone || e.Tags != nil || !reflect.DeepEqual(e.Fields, want) {
			t.Errorf("event %d = %+v, want name generated, no op, no tags, fields %v", i, e, want)
		}
		if e.Time.IsZero() {
			t.Errorf("event %d has no time", i)
		}
	}
}

func TestDeterminism(t *testing.T) {
	gen := func(seed int64) []sdk.Event {
		g := newGen(t, func(g *Generate) { sampleFields(g); g.Seed = seed; g.Count = 2500; g.Op = "upsert" })
		return withoutTime(run(t, g, nil, 0).all())
	}
	a, b := gen(7), gen(7)
	if len(a) != 2500 {
		t.Fatalf("got %d events, want 2500", len(a))
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs with the same seed differ")
	}
	c := gen(8)
	same := 0
	for i := range a {
		if reflect.DeepEqual(a[i].Fields[1], c[i].Fields[1]) {
			same++
		}
	}
	if same > 10 {
		t.Errorf("seeds 7 and 8 give the same amount for %d of %d events", same, len(a))
	}
	for _, e := range a {
		if e.Op != sdk.OpUpsert {
			t.Fatalf("op = %v, want upsert", e.Op)
		}
	}
}

// Values depend on the generator's name, not its place, so that editing
// other generators keeps existing values.
func TestValuesIndependentOfOtherGenerators(t *testing.T) {
	a := newGen(t, func(g *Generate) {
		g.Fields = []Generator{{Name: "amount", Type: "float", Min: 0, Max: 1}}
	})
	b := newGen(t, func(g *Generate) {
		g.Fields = []Generator{{Name: "seq", Type: "sequence"}, {Name: "amount", Type: "float", Min: 0, Max: 1}}
	})
	ea, eb := a.batch(1, 100, time.Time{}), b.batch(1, 100, time.Time{})
	for i := range ea {
		if ea[i].Fields[0] != eb[i].Fields[1] {
			t.Fatalf("event %d: amount %v alone, %v after a seq field", i, ea[i].Fields[0], eb[i].Fields[1])
		}
	}
}

func TestResume(t *testing.T) {
	cfg := func(g *Generate) { sampleFields(g); g.BatchSize = 700; g.Count = 5000 }
	want := withoutTime(run(t, newGen(t, cfg), nil, 0).all())
	if len(want) != 5000 {
		t.Fatalf("uninterrupted run gave %d events, want 5000", len(want))
	}

	// Stop after a few batches, then resume from the last position, with a
	// fresh instance as after a restart.
	first := run(t, newGen(t, cfg), nil, 2000)
	pos := first.lastPosition()
	next, err := DecodePosition(pos)
	if err != nil {
		t.Fatal(err)
	}
	if int(next) != first.events+1 {
		t.Fatalf("last position %s after %d events, want next %d", pos, first.events, first.events+1)
	}
	second := run(t, newGen(t, cfg), pos, 0)
	got := withoutTime(append(first.all(), second.all()...))
	if !reflect.DeepEqual(got, want) {
		t.Fatal("interrupted and resumed run differs from the uninterrupted one")
	}

	// An arbitrary position continues exactly there.
	third := withoutTime(run(t, newGen(t, cfg), sdk.Position(`{"next":1234}`), 0).all())
	if !reflect.DeepEqual(third, want[1233:]) {
		t.Fatal(`resume from {"next":1234} does not match events 1234.. of the uninterrupted run`)
	}
}

func TestPositions(t *testing.T) {
	g := newGen(t, func(g *Generate) { g.Rate = 0; g.BatchSize = 4; g.Count = 10 })
	rec := run(t, g, nil, 0)
	wantSizes := []int{4, 4, 2}
	wantPos := []string{`{"next":5}`, `{"next":9}`, `{"next":11}`}
	if len(rec.batches) != len(wantSizes) {
		t.Fatalf("got %d batches, want %d", len(rec.batches), len(wantSizes))
	}
	for i, b := range rec.batches {
		if len(b) != wantSizes[i] || string(rec.positions[i]) != wantPos[i] {
			t.Errorf("batch %d: %d events, position %s; want %d, %s", i, len(b), rec.positions[i], wantSizes[i], wantPos[i])
		}
	}
	// Every sequence number exactly once, in order.
	for i, e := range rec.all() {
		if s := seqOf(t, e); s != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, s)
		}
	}
	// Batches must not share backing arrays: the pipeline owns each one.
	if &rec.batches[0][0] == &rec.batches[1][0] {
		t.Error("batches share memory")
	}
}

func TestMalformedPosition(t *testing.T) {
	tests := []struct{ pos, want string }{
		{`nonsense`, `position "nonsense": want {"next":N}: invalid character`},
		{`{"nxt":3}`, `position "{\"nxt\":3}": want {"next":N}: json: unknown field "nxt"`},
		{`{}`, `position "{}": "next" is missing`},
		{`{"next":0}`, `position "{\"next\":0}": next 0 must be at least 1`},
		{`{"next":"3"}`, `position "{\"next\":\"3\"}": want {"next":N}: json: cannot unmarshal string`},
		{`{"next":3} {}`, `position "{\"next\":3} {}": want {"next":N}: unexpected data after the object`},
	}
	for _, tt := range tests {
		t.Run(tt.pos, func(t *testing.T) {
			g := newGen(t, func(g *Generate) { g.Rate = 0 })
			rec := &recorder{}
			err := g.Run(context.Background(), sdk.Position(tt.pos), rec)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("Run error\n got: %v\nwant: %s", err, tt.want)
			}
			if rec.events != 0 {
				t.Errorf("emitted %d events despite a bad position", rec.events)
			}
		})
	}
	if next, err := DecodePosition(sdk.Position{}); err != nil || next != 1 {
		t.Errorf("empty position: next %d, err %v; want 1, nil", next, err)
	}
}

func TestCount(t *testing.T) {
	cfg := func(g *Generate) { g.Rate = 0; g.BatchSize = 1000; g.Count = 2500 }
	rec := run(t, newGen(t, cfg), nil, 0)
	ev := rec.all()
	if len(ev) != 2500 || seqOf(t, ev[len(ev)-1]) != 2500 {
		t.Fatalf("got %d events ending at seq %d, want 2500 ending at 2500", len(ev), seqOf(t, ev[len(ev)-1]))
	}
	if p := string(rec.lastPosition()); p != `{"next":2501}` {
		t.Errorf("last position %s, want {\"next\":2501}", p)
	}
	// Count is across restarts: resuming at or past it ends at once.
	for _, pos := range []string{`{"next":2501}`, `{"next":9000}`} {
		if n := run(t, newGen(t, cfg), sdk.Position(pos), 0).events; n != 0 {
			t.Errorf("resume from %s emitted %d events, want none", pos, n)
		}
	}
	// Resuming just before it emits only the rest.
	if ev := run(t, newGen(t, cfg), sdk.Position(`{"next":2498}`), 0).all(); len(ev) != 3 || seqOf(t, ev[2]) != 2500 {
		t.Errorf("resume from 2498 emitted %d events, want 3 ending at 2500", len(ev))
	}
}

func TestTagsSorted(t *testing.T) {
	g := newGen(t, sampleFields)
	for _, e := range g.batch(98, 5, time.Now()) {
		keys := make([]string, len(e.Tags))
		for i, tg := range e.Tags {
			keys[i] = tg.Key
		}
		if !slices.Equal(keys, []string{"currency", "id", "zone"}) {
			t.Fatalf("tag keys %v, want [currency id zone]", keys)
		}
		seq := seqOf(t, e)
		if id, _ := e.Tag("id"); id != strconv.FormatInt(seq, 10) {
			t.Errorf("sequence tag %q on event %d", id, seq)
		}
		if e.Fields[0].Key != "seq" || e.Fields[3].Key != "status" {
			t.Errorf("fields out of config order: %v", e.Fields)
		}
	}
}

// A processor appending to one event's tags or fields must not overwrite
// the next event, although they share a backing array.
func TestEventsDoNotAlias(t *testing.T) {
	g := newGen(t, sampleFields)
	b := g.batch(1, 2, time.Now())
	before := b[1].Clone()
	b[0].Tags = append(b[0].Tags, sdk.Tag{Key: "zzz", Value: "x"})
	b[0].Fields = append(b[0].Fields, sdk.Field{Key: "extra", Value: int64(1)})
	if !reflect.DeepEqual(b[1], before) {
		t.Fatalf("appending to event 0 changed event 1: %+v", b[1])
	}
}

func TestValueRanges(t *testing.T) {
	g := newGen(t, func(g *Generate) {
		g.Fields = []Generator{
			{Name: "f", Type: "float", Min: -2, Max: 3},
			{Name: "r", Type: "float", Min: 1, Max: 500, Decimals: intp(2)},
			{Name: "i", Type: "int", Min: -3, Max: 3},
			{Name: "c", Type: "choice", Values: []string{"a", "b", "c"}},
			{Name: "k", Type: "int", Min: 7, Max: 7},
		}
	})
	ints, choices := map[int64]int{}, map[string]int{}
	for _, e := range g.batch(1, 20000, time.Now()) {
		f := e.Fields[0].Value.(float64)
		if f < -2 || f >= 3 {
			t.Fatalf("float %v outside [-2, 3)", f)
		}
		r := e.Fields[1].Value.(float64)
		if r < 1 || r > 500 || math.Abs(r*100-math.Round(r*100)) > 1e-6 {
			t.Fatalf("rounded float %v not in [1, 500] with 2 decimals", r)
		}
		i := e.Fields[2].Value.(int64)
		if i < -3 || i > 3 {
			t.Fatalf("int %d outside [-3, 3]", i)
		}
		ints[i]++
		choices[e.Fields[3].Value.(string)]++
		if k := e.Fields[4].Value.(int64); k != 7 {
			t.Fatalf("int in [7, 7] gave %d", k)
		}
	}
	// Uniform: each of 7 ints about 2857 times, each of 3 choices about 6667.
	if len(ints) != 7 {
		t.Errorf("ints seen: %v, want all of -3..3", ints)
	}
	for v, n := range ints {
		if n < 2400 || n > 3300 {
			t.Errorf("int %d drawn %d times of 20000, want about 2857", v, n)
		}
	}
	for v, n := range choices {
		if n < 6000 || n > 7300 {
			t.Errorf("choice %q drawn %d times of 20000, want about 6667", v, n)
		}
	}
}

func TestContextCancelAndEmitError(t *testing.T) {
	g := newGen(t, func(g *Generate) { g.Rate = 0 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Run(ctx, nil, &recorder{}); err != nil {
		t.Errorf("Run with cancelled context: %v, want nil", err)
	}

	boom := errors.New("pipeline closed")
	err := g.Run(context.Background(), nil, &recorder{fail: boom})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "emit events up to sequence 1000") {
		t.Errorf("Run with failing Emit: %v, want it wrapping %v", err, boom)
	}

	// Cancelling while a rate-limited run waits returns promptly.
	slow := newGen(t, func(g *Generate) { g.Rate = 0.001 })
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	began := time.Now()
	if err := slow.Run(ctx, nil, &recorder{}); err != nil {
		t.Errorf("Run: %v", err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("Run took %v to notice cancellation", d)
	}
}

// TestRatePacing runs on the real clock, so its bounds are wide enough for a
// loaded machine under -race.
func TestRatePacing(t *testing.T) {
	g := newGen(t, func(g *Generate) { g.Rate = 200 })
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	rec := &recorder{}
	if err := g.Run(ctx, nil, rec); err != nil {
		t.Fatal(err)
	}
	if rec.events < 70 || rec.events > 130 {
		t.Errorf("rate 200 for 0.5 s gave %d events, want 100 ± 30", rec.events)
	}
	// Small batches about every 50 ms, not one big batch and not a spin.
	if n := len(rec.batches); n < 2 || n > 15 {
		t.Errorf("%d batches in 0.5 s, want about 10", n)
	}
}

// virtualClock runs the pacing loop over hours in an instant.
type virtualClock struct {
	t     time.Time
	waits int
	short int // waits below minWait: would be a busy spin
}

func (c *virtualClock) now() time.Time { return c.t }

func (c *virtualClock) wait(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	c.waits++
	if d < minWait {
		c.short++
	}
	c.t = c.t.Add(d)
	return true
}

func TestPacingVirtualClock(t *testing.T) {
	tests := []struct {
		name      string
		rate      float64
		batchSize int
		horizon   time.Duration
		stall     time.Duration // one Emit blocks this long (backpressure)
		maxBatch  int           // largest batch expected
		minBatchs int           // at least this many batches
	}{
		{"small rate trickles every 50ms", 100, 1000, 20 * time.Minute, 0, 5, 23900},
		{"rate below one per flush", 0.5, 1000, time.Hour, 0, 1, 1790},
		{"high rate fills batches", 1e6, 1000, 200 * time.Millisecond, 0, 1000, 195},
		{"backpressure is caught up", 1000, 1000, 10 * time.Minute, 2 * time.Minute, 1000, 9000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &virtualClock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
			start := clk.t
			g := newGen(t, func(g *Generate) { g.Rate = tt.rate; g.BatchSize = tt.batchSize })
			g.now, g.wait = clk.now, clk.wait

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var events, batches, biggest int
			var next int64 = 1
			stalled := false
			rec := &recorder{onEmit: func(b sdk.Batch) {
				batches++
				events += len(b)
				biggest = max(biggest, len(b))
				for _, e := range b {
					// Not seqOf: t.Helper per event dominates this test's time.
					if s, _ := e.Field("seq"); s != next {
						t.Fatalf("seq %d after %d", s, next-1)
					}
					next++
					if !e.Time.Equal(b[0].Time) {
						t.Fatal("times differ within a batch")
					}
				}
				if tt.stall > 0 && !stalled && clk.t.Sub(start) > tt.horizon/4 {
					stalled = true
					clk.t = clk.t.Add(tt.stall)
				}
				if clk.t.Sub(start) >= tt.horizon {
					cancel()
				}
			}}
			if err := g.Run(ctx, nil, rec); err != nil {
				t.Fatal(err)
			}

			// No drift: what was emitted trails what was due by at most one
			// flush interval's worth (plus one batch when rates are high).
			due := int(math.Floor(tt.rate * clk.t.Sub(start).Seconds()))
			lag := int(tt.rate*flushEvery.Seconds()) + 1 + tt.batchSize
			if events > due || events < due-lag {
				t.Errorf("emitted %d events over %v, want %d (at most %d behind)", events, clk.t.Sub(start), due, lag)
			}
			if biggest > tt.maxBatch {
				t.Errorf("largest batch %d, want at most %d", biggest, tt.maxBatch)
			}
			if batches < tt.minBatchs {
				t.Errorf("%d batches, want at least %d", batches, tt.minBatchs)
			}
			if clk.short > 0 {
				t.Errorf("%d of %d waits were shorter than %v", clk.short, clk.waits, minWait)
			}
			// Never more than one wait per emitted batch plus the final one
			// per flush interval: a spinning loop would show many more.
			if limit := batches + int(clk.t.Sub(start)/flushEvery) + 1; clk.waits > limit {
				t.Errorf("%d waits for %d batches over %v, want at most %d", clk.waits, batches, clk.t.Sub(start), limit)
			}
		})
	}
}

func TestSampleConfig(t *testing.T) {
	var doc struct {
		Inputs map[string][]toml.Primitive `toml:"inputs"`
	}
	md, err := toml.Decode(sampleConfig, &doc)
	if err != nil {
		t.Fatalf("sample.conf: %v", err)
	}
	if len(doc.Inputs["generate"]) != 1 {
		t.Fatalf("sample.conf has %d [[inputs.generate]] tables, want 1", len(doc.Inputs["generate"]))
	}
	g := New()
	if err := md.PrimitiveDecode(doc.Inputs["generate"][0], g); err != nil {
		t.Fatalf("decode sample.conf into Generate: %v", err)
	}
	if u := md.Undecoded(); len(u) != 0 {
		t.Fatalf("sample.conf keys not decoded: %v", u)
	}
	if err := g.Init(sdk.Env{}); err != nil {
		t.Fatalf("sample.conf fails Init: %v", err)
	}
	// The sample shows the defaults: its scalar settings equal New's.
	def := New()
	if g.Name != def.Name || g.Rate != def.Rate || g.BatchSize != def.BatchSize || g.Count != def.Count || g.Seed != def.Seed || g.Op != def.Op {
		t.Errorf("sample.conf settings %+v differ from the defaults %+v", g, def)
	}
	want := []Generator{{Name: "seq", Type: "sequence"}, {Name: "amount", Type: "float", Min: 1, Max: 500}}
	if !reflect.DeepEqual(g.Fields, want) {
		t.Errorf("fields = %+v, want %+v", g.Fields, want)
	}
	e := g.batch(1, 1, time.Now())[0]
	if c, ok := e.Tag("currency"); !ok || !slices.Contains([]string{"EUR", "USD", "GBP"}, c) {
		t.Errorf("sample event tags %v", e.Tags)
	}
}

func TestRegistration(t *testing.T) {
	reg, ok := sdk.LookupInput("generate")
	if !ok {
		t.Fatal("generate is not registered")
	}
	if reg.SampleConfig != sampleConfig || reg.Description == "" {
		t.Error("registration lacks the sample config or description")
	}
	g, ok := reg.New().(*Generate)
	if !ok {
		t.Fatalf("New returned %T", reg.New())
	}
	if !reflect.DeepEqual(g, New()) {
		t.Errorf("registered New gives %+v, want the defaults", g)
	}
	var _ sdk.Initializer = g
}

// discard is an Emitter that drops batches, so the benchmark measures the
// generator alone.
type discard struct{}

func (discard) Emit(context.Context, sdk.Batch, sdk.Position) error { return nil }

func BenchmarkGenerate(b *testing.B) {
	g := newGen(b, func(g *Generate) {
		g.Rate = 0
		g.BatchSize = 1000
		g.Count = int64(b.N)
		g.Fields = []Generator{
			{Name: "seq", Type: "sequence"},
			{Name: "amount", Type: "float", Min: 1, Max: 500, Decimals: intp(2)},
			{Name: "qty", Type: "int", Min: 1, Max: 10},
		}
		g.Tags = []Generator{
			{Name: "currency", Type: "choice", Values: []string{"EUR", "USD", "GBP"}},
			{Name: "category", Type: "choice", Values: []string{"books", "games", "food", "tools"}},
		}
	})
	b.ReportAllocs()
	b.ResetTimer()
	if err := g.Run(context.Background(), nil, discard{}); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
