package window

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// harness wraps a Window with a virtual clock and named counters.
type harness struct {
	w        *Window
	now      time.Time
	counters map[string]*sdk.Counter
	logs     *bytes.Buffer
}

func newHarness(t testing.TB, cfg func(w *Window)) *harness {
	t.Helper()
	h := &harness{now: time.Unix(0, 0).UTC(), counters: map[string]*sdk.Counter{}, logs: &bytes.Buffer{}}
	h.w = h.instance(t, cfg)
	return h
}

func (h *harness) instance(t testing.TB, cfg func(w *Window)) *Window {
	t.Helper()
	w := New()
	w.SetClock(func() time.Time { return h.now })
	cfg(w)
	err := w.Init(sdk.Env{
		Logger: slog.New(slog.NewTextHandler(h.logs, nil)),
		Counter: func(name, _ string) *sdk.Counter {
			if c, ok := h.counters[name]; ok {
				return c
			}
			c := new(sdk.Counter)
			h.counters[name] = c
			return c
		},
	})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	return w
}

func (h *harness) count(name string) int64 { return h.counters[name].Load() }

func (h *harness) send(t testing.TB, evs ...sdk.Event) sdk.Batch {
	t.Helper()
	out, err := h.w.Process(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func ev(ts time.Duration, tags map[string]string, fields ...any) sdk.Event {
	e := sdk.Event{Name: "e", Time: time.Unix(0, 0).Add(ts).UTC()}
	for k, v := range tags {
		e.SetTag(k, v)
	}
	for i := 0; i+1 < len(fields); i += 2 {
		e.Fields = append(e.Fields, sdk.Field{Key: fields[i].(string), Value: fields[i+1]})
	}
	return e
}

// render is an exact text form of events, with value types.
func render(b sdk.Batch) []string {
	var out []string
	for _, e := range b {
		var s strings.Builder
		fmt.Fprintf(&s, "%s op=%d", e.Name, e.Op)
		for _, t := range e.Tags {
			fmt.Fprintf(&s, " %s=%q", t.Key, t.Value)
		}
		for _, f := range e.Fields {
			fmt.Fprintf(&s, " %s=%T(%v)", f.Key, f.Value, f.Value)
		}
		fmt.Fprintf(&s, " @%d", e.Time.UnixNano())
		out = append(out, s.String())
	}
	return out
}

func TestParseAgg(t *testing.T) {
	cases := []struct {
		in   string
		kind aggKind
		arg  string
		off  int
		p    float64
	}{
		{"count()", kCount, "", 0, 0},
		{" count( ) ", kCount, "", 0, 0},
		{"sum(amount)", kSum, "amount", 4, 0},
		{"avg( amount * qty )", kAvg, "amount * qty", 5, 0},
		{"MAX(x)", kMax, "x", 4, 0},
		{"percentile(f(a, b), 95)", kPercentile, "f(a, b)", 11, 95},
		{"percentile(x, 99.9)", kPercentile, "x", 11, 99.9},
		{`sum(m["a,b)"])`, kSum, `m["a,b)"]`, 4, 0},
		{`count_distinct('a)b' + "c,d" + ` + "`e(`" + `)`, kDistinct, `'a)b' + "c,d" + ` + "`e(`", 15, 0},
		{`first(x ?? {a: [1, 2]}.a)`, kFirst, `x ?? {a: [1, 2]}.a`, 6, 0},
		{`stddev(v)`, kStddev, "v", 7, 0},
	}
	for _, tc := range cases {
		sp, err := parseAgg(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if sp.kind != tc.kind || sp.arg != tc.arg || sp.off != tc.off || sp.p != tc.p {
			t.Errorf("%q: got %+v", tc.in, sp)
		}
		if sp.arg != "" && tc.in[sp.off:sp.off+len(sp.arg)] != sp.arg {
			t.Errorf("%q: offset %d does not point at the argument", tc.in, sp.off)
		}
	}
	errs := map[string]string{
		"sum":                   `"sum" is not an aggregate call`,
		"sum(x":                 "column 6: missing closing parenthesis",
		"sum(x]":                `column 6: unexpected ']'`,
		"sum('x)":               "column 5: unterminated string",
		"percentile(x)":         "percentile takes 2 arguments (percentile(x, p)), got 1",
		"percentile(x, -1)":     `percentile: p must be a number between 0 and 100, got "-1"`,
		"percentile(x, 95, 1)":  "percentile takes 2 arguments",
		"percentile(x, p)":      `percentile: p must be a number between 0 and 100, got "p"`,
		"nope(x)":               `column 1: unknown aggregate "nope"`,
		"sum()":                 "sum takes 1 argument (sum(x)), got 0",
		"sum(x) y":              `column 8: unexpected "y" after the closing parenthesis of sum`,
		"first(a, )":            "first takes 1 argument",
		"count_distinct(a,b,c)": "count_distinct takes 1 argument",
	}
	for in, want := range errs {
		_, err := parseAgg(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", in, err, want)
		}
	}
}

func TestInitErrorsExact(t *testing.T) {
	base := func(w *Window) {
		w.Measurement = "m"
		w.Size = sdk.Duration(10 * time.Second)
		w.Fields = map[string]string{"n": "count()"}
	}
	cases := []struct {
		cfg  func(w *Window)
		want string
	}{
		{func(w *Window) { w.Fields = map[string]string{"p95": "percentile(amount, x)"} }, `fields.p95: percentile: p must be a number between 0 and 100, got "x"`},
		{func(w *Window) { w.Fields = map[string]string{"total": "sum(amount >)"} }, `fields.total: column 12: unexpected token EOF`},
		{func(w *Window) { w.Fields = map[string]string{"total": "sum( op + 1)"} }, `fields.total: column 9: invalid operation: + (mismatched types string and int)`},
		{func(w *Window) { w.Where = "amount >" }, `where: column 8: unexpected token EOF`},
		{func(w *Window) { w.Where = "  op + 1" }, `where: column 6: invalid operation: + (mismatched types string and int)`},
		{func(w *Window) { w.Time = "op + 1" }, `time: column 4: invalid operation: + (mismatched types string and int)`},
		{func(w *Window) { w.GroupBy = []string{"x", "k = op + 1"} }, `group_by[1]: column 8: invalid operation: + (mismatched types string and int)`},
		{func(w *Window) { w.GroupBy = []string{"op + 1"} }, `group_by[0]: column 4: invalid operation: + (mismatched types string and int)`},
		{func(w *Window) { w.AllowedLateness = -1 }, `allowed_lateness: must not be negative, got -1ns`},
		{func(w *Window) { w.Emit = "sometimes" }, `emit: unknown value "sometimes" (want final or update)`},
		{func(w *Window) { w.Hop = sdk.Duration(time.Second) }, `hop and gap: only for hopping and session windows`},
		{func(w *Window) { w.Fields = map[string]string{} }, `fields: at least one field is required (for example n = "count()")`},
	}
	for i, tc := range cases {
		w := New()
		base(w)
		tc.cfg(w)
		err := w.Init(sdk.Env{})
		if err == nil || err.Error() != tc.want {
			t.Errorf("case %d: got %v\nwant %s", i, err, tc.want)
		}
	}
}

func TestSplitGroupBy(t *testing.T) {
	cases := []struct{ in, key, src string }{
		{"category", "category", "category"},
		{"cat=category", "cat", "category"},
		{" cat = lower(category) ", "cat", "lower(category)"},
		{"a==b", "a==b", "a==b"},
		{"a=", "a=", "a="},
		{"x.y=1", "x.y=1", "x.y=1"},
		{"big=amount>=100", "big", "amount>=100"},
	}
	for _, tc := range cases {
		k, s, off := splitGroupBy(tc.in)
		if k != tc.key || s != tc.src || tc.in[off:off+len(s)] != s {
			t.Errorf("%q: got %q %q %d", tc.in, k, s, off)
		}
	}
}

func TestKeyEncoding(t *testing.T) {
	enc := func(parts ...any) string {
		var b []byte
		for _, p := range parts {
			if p == nil {
				b = appendKeyNil(b)
				continue
			}
			b = append(b, 1)
			start := len(b)
			b = appendText(b, p)
			b = escapeKeyText(b, start)
		}
		return string(b)
	}
	keys := []string{enc(nil, "a"), enc("", "a"), enc("a\x00b", nil), enc("a", "\x00"), enc("a\x00", ""), enc(int64(5), 1.5), enc(true, "x")}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Fatalf("duplicate key %q", k)
		}
		seen[k] = true
	}
	parts, err := decodeKey(enc("a\x00b", nil), 2)
	if err != nil || !reflect.DeepEqual(parts, []keyPart{{true, "a\x00b"}, {false, ""}}) {
		t.Fatalf("%v %v", parts, err)
	}
	parts, _ = decodeKey(enc(int64(5), 1.5, true, 1e300), 4)
	if parts[0].text != "5" || parts[1].text != "1.5" || parts[2].text != "true" || parts[3].text != "1e+300" {
		t.Fatalf("%v", parts)
	}
	// Keys sort like their texts, nil first.
	if !(enc(nil) < enc("") && enc("") < enc("a") && enc("a") < enc("ab") && enc("a", "z") < enc("ab", "a") && enc("a\x00") < enc("a\x01")) {
		t.Fatal("key order")
	}
}

func TestHoppingAssignment(t *testing.T) {
	h := newHarness(t, func(w *Window) {
		w.Measurement, w.Type, w.Time = "m", "hopping", "time"
		w.Size, w.Hop = sdk.Duration(10*time.Second), sdk.Duration(3*time.Second)
		w.Fields = map[string]string{"n": "count()"}
	})
	out := h.send(t, ev(-1*time.Second, nil, "x", 1.0), ev(7*time.Second, nil, "x", 1.0))
	fin, _ := h.w.Finish(context.Background())
	out = append(out, fin...)
	// -1s is in the windows starting -9s, -6s, -3s; 7s in those starting 0s, 3s, 6s.
	var got []string
	for _, e := range out {
		n, _ := e.Field("n")
		got = append(got, fmt.Sprintf("%s:%v", e.Time.Sub(time.Unix(0, 0)), n))
	}
	want := []string{"1s:1", "4s:1", "7s:1", "10s:1", "13s:1", "16s:1"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

func TestPercentileExactSmall(t *testing.T) {
	var d digest
	for _, x := range []float64{5, 1, 4, 2, 3} {
		d.add(x)
	}
	var s []float64
	for q, want := range map[float64]float64{0: 1, 0.25: 2, 0.5: 3, 0.9: 4.6, 1: 5} {
		if got := d.quantile(q, &s); math.Abs(got-want) > 1e-12 {
			t.Errorf("q%v = %v want %v", q, got, want)
		}
	}
}

// TestPercentileAccuracy checks the documented bound: past rawCap values
// (the t-digest path), the estimate's rank error stays within 1% (in fact
// far below it) for normal, uniform and skewed (exponential) data.
func TestPercentileAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dists := map[string]func() float64{
		"normal":      func() float64 { return 100 + 15*rng.NormFloat64() },
		"uniform":     func() float64 { return rng.Float64() * 1000 },
		"exponential": func() float64 { return rng.ExpFloat64() * 50 },
	}
	for name, gen := range dists {
		for _, n := range []int{600, 10000, 200000} {
			var d digest
			vals := make([]float64, n)
			for i := range vals {
				vals[i] = gen()
				d.add(vals[i])
			}
			sort.Float64s(vals)
			var s []float64
			worst := 0.0
			for _, p := range []float64{1, 5, 25, 50, 75, 90, 95, 99, 99.9} {
				est := d.quantile(p/100, &s)
				rank := float64(sort.SearchFloat64s(vals, est)) / float64(n)
				if e := math.Abs(rank - p/100); e > worst {
					worst = e
				}
			}
			t.Logf("%s n=%d: worst rank error %.4f%%", name, n, 100*worst)
			if worst > 0.01 {
				t.Errorf("%s n=%d: rank error %.4f > 1%%", name, n, worst)
			}
		}
	}
}

func TestStddevAndMerge(t *testing.T) {
	f := fieldSpec{kind: kStddev}
	var a, b, all agg
	add := func(g *agg, x float64) {
		g.n++
		d := x - g.a
		g.a += d / float64(g.n)
		g.b += d * (x - g.a)
	}
	xs := []float64{2, 4, 4, 4, 5, 5, 7, 9}
	for i, x := range xs {
		add(&all, x)
		if i < 3 {
			add(&a, x)
		} else {
			add(&b, x)
		}
	}
	a.merge(&b, kStddev)
	want := math.Sqrt(32.0 / 7)
	for _, g := range []*agg{&all, &a} {
		v, ok := g.result(&f, nil)
		if !ok || math.Abs(v.(float64)-want) > 1e-12 {
			t.Errorf("stddev %v want %v", v, want)
		}
	}
	var one agg
	add(&one, 1)
	if _, ok := one.result(&f, nil); ok {
		t.Error("stddev of one value is not omitted")
	}
}

func TestCountDistinct(t *testing.T) {
	h := newHarness(t, func(w *Window) {
		w.Measurement, w.Size = "m", sdk.Duration(time.Minute)
		w.Fields = map[string]string{"d": "count_distinct(v)", "dt": "count_distinct(tag)"}
	})
	h.send(t,
		ev(0, map[string]string{"tag": "a"}, "v", int64(1)),
		ev(0, map[string]string{"tag": "b"}, "v", 1.0), // same text as 1
		ev(0, map[string]string{"tag": "a"}, "v", "1"),
		ev(0, nil, "v", true),
		ev(0, nil, "v", nil), // ignored
		ev(0, nil, "v", []byte("x")),
		ev(0, nil, "v", "x"),
	)
	out, _ := h.w.Finish(context.Background())
	if got := render(out); len(got) != 1 || !strings.Contains(got[0], "d=int64(3) dt=int64(2)") {
		t.Fatalf("%v", got)
	}
}

func TestMaxGroupsRefusedAndLoggedOnce(t *testing.T) {
	h := newHarness(t, func(w *Window) {
		w.Measurement, w.Size, w.MaxGroups = "m", sdk.Duration(time.Minute), 3
		w.GroupBy = []string{"k"}
		w.Fields = map[string]string{"n": "count()"}
	})
	for i := range 10 {
		h.send(t, ev(0, map[string]string{"k": fmt.Sprint(i)}, "x", 1.0), ev(0, map[string]string{"k": "0"}, "x", 1.0))
	}
	if got := h.count("groups_refused"); got != 7 {
		t.Fatalf("refused %d", got)
	}
	if n := strings.Count(h.logs.String(), "max_groups reached"); n != 1 {
		t.Fatalf("logged %d times:\n%s", n, h.logs)
	}
	h.now = h.now.Add(11 * time.Second)
	h.send(t, ev(0, map[string]string{"k": "new"}, "x", 1.0))
	if n := strings.Count(h.logs.String(), "max_groups reached"); n != 2 {
		t.Fatalf("logged %d times after 11s", n)
	}
	out, _ := h.w.Finish(context.Background())
	if got := render(out); len(got) != 3 || !strings.Contains(got[0], `k="0" n=int64(11)`) {
		t.Fatalf("%v", got)
	}
}

func TestRuntimeErrorsNeverPanic(t *testing.T) {
	h := newHarness(t, func(w *Window) {
		w.Measurement, w.Size, w.Time = "m", sdk.Duration(time.Minute), "ts"
		w.GroupBy = []string{"g=v.x"}
		w.Fields = map[string]string{"s": "sum(v)", "p": "percentile(v, 50)", "l": "last(v)", "d": "count_distinct(v)", "n": "count()"}
	})
	weird := []any{nil, math.NaN(), math.Inf(1), "str", []byte{0, 1}, true, time.Unix(5, 0), int64(math.MaxInt64), -0.0}
	var batch sdk.Batch
	for _, v := range weird {
		batch = append(batch, ev(0, nil, "v", v, "ts", int64(time.Second)))
		batch = append(batch, ev(0, nil, "v", v, "ts", "not a time"))
		batch = append(batch, ev(0, nil, "v", v))
	}
	h.send(t, batch...)
	if _, err := h.w.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h.count("eval_errors") == 0 {
		t.Fatal("no eval errors counted")
	}
	if !strings.Contains(h.logs.String(), "errors=1 ") || strings.Count(h.logs.String(), "evaluation failed") != 1 {
		t.Fatalf("logs:\n%s", h.logs)
	}
}

func TestRestoreRejectsOtherConfiguration(t *testing.T) {
	cfg := func(w *Window) {
		w.Measurement, w.Size = "m", sdk.Duration(time.Minute)
		w.Fields = map[string]string{"n": "count()"}
	}
	h := newHarness(t, cfg)
	h.send(t, ev(0, nil, "x", 1.0))
	state, err := h.w.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	other := h.instance(t, func(w *Window) { cfg(w); w.Fields["s"] = "sum(x)" })
	if err := other.Restore(state); err == nil || !strings.Contains(err.Error(), "the state was taken with another window configuration") {
		t.Fatalf("got %v", err)
	}
	// lateness may change across a restart
	same := h.instance(t, func(w *Window) { cfg(w); w.AllowedLateness = sdk.Duration(time.Second) })
	if err := same.Restore(state); err != nil {
		t.Fatal(err)
	}
	// so may drop_original: what is passed on is not part of the state
	passing := h.instance(t, func(w *Window) { cfg(w); w.DropOriginal = false })
	if err := passing.Restore(state); err != nil {
		t.Fatal(err)
	}
	out, err := passing.Process(context.Background(), sdk.Batch{ev(0, nil, "x", 2.0)})
	if err != nil {
		t.Fatal(err)
	}
	fin, _ := passing.Finish(context.Background())
	if got, want := render(append(out, fin...)), []string{"e op=0 x=float64(2) @0", "m op=0 n=int64(2) @60000000000"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after restoring with drop_original = false: %q, want %q", got, want)
	}
	if err := same.Restore([]byte("garbage")); err == nil {
		t.Fatal("garbage restored")
	}
}

// TestSnapshotRestoreEquality runs random out-of-order input through an
// uninterrupted instance and through one restarted (Snapshot, fresh
// instance, Restore) after every batch, and requires identical output.
func TestSnapshotRestoreEquality(t *testing.T) {
	fields := map[string]string{
		"n": "count()", "s": "sum(x)", "a": "avg(x)", "lo": "min(x)", "hi": "max(x)", "sd": "stddev(x)",
		"p95": "percentile(x, 95)", "p50": "percentile(x * 2, 50)", "f": "first(i)", "l": "last(s)", "lt": "last(t)",
		"d": "count_distinct(s)", "big": "sum(x > 50 ? 1 : 0)",
	}
	configs := map[string]func(w *Window){
		"tumbling": func(w *Window) { w.Type, w.Size = "tumbling", sdk.Duration(10*time.Second) },
		"hopping": func(w *Window) {
			w.Type, w.Size, w.Hop = "hopping", sdk.Duration(10*time.Second), sdk.Duration(4*time.Second)
		},
		"session": func(w *Window) { w.Type, w.Gap = "session", sdk.Duration(800*time.Millisecond) },
		"late-emit-update": func(w *Window) {
			w.Type, w.Size, w.Late, w.Emit, w.EmitEvery = "tumbling", sdk.Duration(5*time.Second), "emit", "update", sdk.Duration(300*time.Millisecond)
		},
		"processing-time": func(w *Window) { w.Type, w.Size, w.Time = "tumbling", sdk.Duration(2*time.Second), "" },
	}
	for name, c := range configs {
		t.Run(name, func(t *testing.T) {
			cfg := func(w *Window) {
				w.Measurement, w.Time = "m", "time"
				w.GroupBy = []string{"g", "odd=i % 2 == 1"}
				w.AllowedLateness = sdk.Duration(2 * time.Second)
				w.Fields = fields
				c(w)
			}
			batches := randomBatches(42)
			run := func(restart bool) []string {
				h := newHarness(t, cfg)
				var out sdk.Batch
				for i, b := range batches {
					h.now = time.Unix(0, 0).Add(time.Duration(i) * 100 * time.Millisecond)
					out = append(out, h.send(t, b...)...)
					if i%7 == 3 {
						tb, _ := h.w.Tick(context.Background(), h.now)
						out = append(out, tb...)
					}
					if restart {
						st, err := h.w.Snapshot()
						if err != nil {
							t.Fatal(err)
						}
						h.w = h.instance(t, cfg)
						if err := h.w.Restore(st); err != nil {
							t.Fatal(err)
						}
					}
				}
				fin, _ := h.w.Finish(context.Background())
				return render(append(out, fin...))
			}
			a, b := run(false), run(true)
			if len(a) < 10 {
				t.Fatalf("too little output: %d", len(a))
			}
			if !reflect.DeepEqual(a, b) {
				for i := range min(len(a), len(b)) {
					if a[i] != b[i] {
						t.Fatalf("output %d differs:\n  uninterrupted %s\n  restarted     %s", i, a[i], b[i])
					}
				}
				t.Fatalf("lengths differ: %d vs %d", len(a), len(b))
			}
		})
	}
}

func randomBatches(seed uint64) [][]sdk.Event {
	rng := rand.New(rand.NewPCG(seed, seed))
	var out [][]sdk.Event
	base := time.Duration(0)
	for range 120 {
		var b []sdk.Event
		for range rng.IntN(40) {
			ts := base + time.Duration(rng.IntN(3000)-1500)*time.Millisecond
			e := ev(ts, map[string]string{"g": []string{"a", "b", "c"}[rng.IntN(3)]},
				"x", rng.Float64()*100, "i", int64(rng.IntN(5)), "s", fmt.Sprint("v", rng.IntN(7)), "t", time.Unix(int64(rng.IntN(100)), 0).UTC())
			if rng.IntN(20) == 0 {
				e.Fields[0].Value = "bad"
			}
			b = append(b, e)
		}
		// Enough values per window to take the t-digest path.
		if len(out)%10 == 0 {
			for k := range 700 {
				b = append(b, ev(base, map[string]string{"g": "a"}, "x", float64(k%97), "i", int64(1), "s", "bulk", "t", time.Unix(1, 0).UTC()))
			}
		}
		out = append(out, b)
		base += 250 * time.Millisecond
	}
	return out
}

func TestSetClockUsedForProcessingTime(t *testing.T) {
	h := newHarness(t, func(w *Window) {
		w.Measurement, w.Size = "m", sdk.Duration(time.Second)
		w.Fields = map[string]string{"n": "count()"}
	})
	h.now = time.Unix(100, 500).UTC()
	h.send(t, ev(0, nil, "x", 1.0))
	out, _ := h.w.Tick(context.Background(), time.Unix(101, 0))
	if len(out) != 1 || !out[0].Time.Equal(time.Unix(101, 0)) {
		t.Fatalf("%v", render(out))
	}
}
