package filter

import (
	"bytes"
	"context"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/rowflux/rowflux/sdk"
)

// counters collects the counters a filter creates at Init.
type counters map[string]*sdk.Counter

func (c counters) env() sdk.Env {
	return sdk.Env{Counter: func(name, _ string) *sdk.Counter {
		if c[name] == nil {
			c[name] = new(sdk.Counter)
		}
		return c[name]
	}}
}

func (c counters) get(name string) int64 {
	if c[name] == nil {
		return 0
	}
	return c[name].Load()
}

func newFilter(t testing.TB, cfg func(*Filter)) (*Filter, counters) {
	t.Helper()
	f := New()
	cfg(f)
	cs := counters{}
	if err := f.Init(cs.env()); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return f, cs
}

var t0 = time.Unix(1, 0).UTC()

// ev builds an event: "name" then alternating key, value pairs; a key
// starting with '#' is a tag.
func ev(name string, op sdk.Op, kv ...any) sdk.Event {
	e := sdk.Event{Name: name, Op: op, Time: t0}
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if strings.HasPrefix(k, "#") {
			e.Tags = append(e.Tags, sdk.Tag{Key: k[1:], Value: kv[i+1].(string)})
			continue
		}
		e.Fields = append(e.Fields, sdk.Field{Key: k, Value: kv[i+1]})
	}
	sdk.SortTags(e.Tags)
	return e
}

func process(t *testing.T, f *Filter, in ...sdk.Event) sdk.Batch {
	t.Helper()
	out, err := f.Process(context.Background(), sdk.Batch(in))
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	return out
}

func sameEvents(t *testing.T, got, want sdk.Batch) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	norm := func(b sdk.Batch) sdk.Batch {
		out := make(sdk.Batch, len(b))
		for i, e := range b {
			if len(e.Tags) == 0 {
				e.Tags = nil
			}
			if len(e.Fields) == 0 {
				e.Fields = nil
			}
			out[i] = e
		}
		return out
	}
	if !reflect.DeepEqual(norm(got), norm(want)) {
		t.Errorf("got\n  %+v\nwant\n  %+v", got, want)
	}
}

func TestOptions(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	cases := []struct {
		name string
		cfg  func(*Filter)
		in   []sdk.Event
		want []sdk.Event
	}{
		{
			name: "no options keep everything unchanged",
			cfg:  func(*Filter) {},
			in:   []sdk.Event{ev("t", sdk.OpInsert, "a", int64(1), "#c", "x")},
			want: []sdk.Event{ev("t", sdk.OpInsert, "a", int64(1), "#c", "x")},
		},
		{
			name: "where on op, field and table",
			cfg:  func(f *Filter) { f.Where = "op != 'delete' && amount > 0 && table == 't'" },
			in: []sdk.Event{
				ev("t", sdk.OpInsert, "amount", 1.5),
				ev("t", sdk.OpDelete, "amount", 1.5),
				ev("t", sdk.OpUpdate, "amount", 0.0),
				ev("u", sdk.OpInsert, "amount", 3.0),
				ev("t", sdk.OpUpsert, "amount", int64(2)),
			},
			want: []sdk.Event{ev("t", sdk.OpInsert, "amount", 1.5), ev("t", sdk.OpUpsert, "amount", int64(2))},
		},
		{
			name: "where on a tag; a bare missing name is false",
			cfg:  func(f *Filter) { f.Where = "flag" },
			in:   []sdk.Event{ev("t", 0, "flag", true), ev("t", 0, "x", int64(1)), ev("t", 0, "flag", false)},
			want: []sdk.Event{ev("t", 0, "flag", true)},
		},
		{
			name: "computed fields are added or replace, int becomes int64",
			cfg: func(f *Filter) {
				f.Fields = map[string]string{"eur": "amount * 0.5", "n": "qty * 2", "qty": "qty + 1", "label": "cur + ':' + op"}
			},
			in: []sdk.Event{ev("t", sdk.OpInsert, "amount", 10.0, "qty", int64(3), "#cur", "EUR")},
			want: []sdk.Event{ev("t", sdk.OpInsert, "amount", 10.0, "qty", int64(4), "#cur", "EUR",
				"eur", 5.0, "label", "EUR:insert", "n", int64(6))},
		},
		{
			name: "computed fields see the event before any of them",
			cfg:  func(f *Filter) { f.Fields = map[string]string{"a": "b + 1", "b": "100", "c": "a"} },
			in:   []sdk.Event{ev("t", 0, "b", int64(1))},
			want: []sdk.Event{ev("t", 0, "b", int64(100), "a", int64(2), "c", nil)},
		},
		{
			name: "computed time and nil values",
			cfg:  func(f *Filter) { f.Fields = map[string]string{"t": "time", "z": "missing"} },
			in:   []sdk.Event{{Name: "t", Time: ts}},
			want: []sdk.Event{{Name: "t", Time: ts, Fields: []sdk.Field{{Key: "t", Value: ts}, {Key: "z", Value: nil}}}},
		},
		{
			name: "tags promote fields formatted as text",
			cfg: func(f *Filter) {
				f.Tags = []string{"i", "fl", "big", "s", "b", "by", "tm", "nul", "empty", "missing", "old"}
			},
			in: []sdk.Event{ev("t", 0, "i", int64(-7), "fl", 2.5, "big", 1e22, "s", "EUR", "b", true, "by", []byte("raw"),
				"tm", ts, "nul", nil, "empty", "", "keep", int64(1), "old", "new", "#old", "was", "#a", "1")},
			want: []sdk.Event{ev("t", 0, "keep", int64(1), "#a", "1", "#b", "true", "#big", "1e+22", "#by", "raw",
				"#fl", "2.5", "#i", "-7", "#old", "new", "#s", "EUR", "#tm", "2026-01-02T03:04:05.000000006Z")},
		},
		{
			name: "rename fields and tags, keeping field order and sorting tags",
			cfg: func(f *Filter) {
				f.Rename = map[string]string{"product_category": "category", "z": "a", "same": "same"}
			},
			in:   []sdk.Event{ev("t", 0, "x", int64(1), "product_category", "books", "y", int64(2), "#z", "1", "#m", "2", "#same", "3")},
			want: []sdk.Event{ev("t", 0, "x", int64(1), "category", "books", "y", int64(2), "#a", "1", "#m", "2", "#same", "3")},
		},
		{
			name: "renames apply at once: a swap",
			cfg:  func(f *Filter) { f.Rename = map[string]string{"a": "b", "b": "a"} },
			in:   []sdk.Event{ev("t", 0, "a", int64(1), "b", int64(2), "#a", "x", "#b", "y")},
			want: []sdk.Event{ev("t", 0, "b", int64(1), "a", int64(2), "#a", "y", "#b", "x")},
		},
		{
			name: "a renamed field replaces one that already has the new name",
			cfg:  func(f *Filter) { f.Rename = map[string]string{"new_amount": "amount"} },
			in: []sdk.Event{
				ev("t", 0, "amount", int64(1), "new_amount", int64(2), "#amount", "x", "#new_amount", "y"),
				ev("t", 0, "amount", int64(1), "#amount", "x"),
			},
			want: []sdk.Event{
				ev("t", 0, "amount", int64(2), "#amount", "y"),
				ev("t", 0, "amount", int64(1), "#amount", "x"),
			},
		},
		{
			name: "drop fields and tags",
			cfg:  func(f *Filter) { f.Drop = []string{"note", "secret", "absent"} },
			in:   []sdk.Event{ev("t", 0, "note", "n", "a", int64(1), "note", "dup", "#secret", "s", "#k", "v")},
			want: []sdk.Event{ev("t", 0, "a", int64(1), "#k", "v")},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, cs := newFilter(t, tc.cfg)
			got := process(t, f, tc.in...)
			sameEvents(t, got, tc.want)
			if n := cs.get("eval_errors"); n != 0 {
				t.Errorf("eval_errors = %d", n)
			}
			if n := cs.get("events_dropped"); n != int64(len(tc.in)-len(tc.want)) {
				t.Errorf("events_dropped = %d, want %d", n, len(tc.in)-len(tc.want))
			}
		})
	}
}

func TestOperationOrder(t *testing.T) {
	// where sees the input; fields see the input; tags promote a computed
	// field; rename renames the promoted tag; drop uses the new names.
	f, _ := newFilter(t, func(f *Filter) {
		f.Where = "amount > 0 && code == 'X'"
		f.Fields = map[string]string{"code": "'computed'", "cur": "currency ?? 'none'"}
		f.Tags = []string{"cur"}
		f.Rename = map[string]string{"cur": "currency_tag", "amount": "value"}
		f.Drop = []string{"value", "currency_tag2", "code"}
	})
	got := process(t, f,
		ev("t", sdk.OpInsert, "amount", 5.0, "code", "X", "currency", "EUR"),
		ev("t", sdk.OpInsert, "amount", 5.0, "code", "Y"),
	)
	want := []sdk.Event{ev("t", sdk.OpInsert, "currency", "EUR", "#currency_tag", "EUR")}
	sameEvents(t, got, want)

	// Drop sees names after rename: the old name no longer matches.
	f, _ = newFilter(t, func(f *Filter) {
		f.Rename = map[string]string{"a": "b"}
		f.Drop = []string{"a"}
	})
	sameEvents(t, process(t, f, ev("t", 0, "a", int64(1))), []sdk.Event{ev("t", 0, "b", int64(1))})
}

func TestInitErrors(t *testing.T) {
	cases := []struct {
		name string
		cfg  func(*Filter)
		want string
	}{
		{"where syntax", func(f *Filter) { f.Where = "amount >" }, "where: column 8: unexpected token EOF"},
		{"where not bool", func(f *Filter) { f.Where = "1 + 1" }, "where: "},
		{"field syntax", func(f *Filter) { f.Fields = map[string]string{"amount_eur": "op + 1"} },
			"fields.amount_eur: column 4: invalid operation: + (mismatched types string and int)"},
		{"field empty expression", func(f *Filter) { f.Fields = map[string]string{"x": " "} }, "fields.x: expression is empty"},
		{"field name empty", func(f *Filter) { f.Fields = map[string]string{"": "1"} }, `fields."": name is empty`},
		{"field name with =", func(f *Filter) { f.Fields = map[string]string{"a=b": "1"} }, `fields."a=b": name must not contain '='`},
		{"field name with ,", func(f *Filter) { f.Fields = map[string]string{"a,b": "1"} }, `fields."a,b": name must not contain ','`},
		{"field name with space", func(f *Filter) { f.Fields = map[string]string{"a b": "1"} }, `fields."a b": name must not contain ' '`},
		{"field name with control", func(f *Filter) { f.Fields = map[string]string{"a\tb": "1"} }, `fields."a\tb": name must not contain control character U+0009`},
		{"rename to empty", func(f *Filter) { f.Rename = map[string]string{"old": ""} }, "rename.old: new name is empty"},
		{"rename from empty", func(f *Filter) { f.Rename = map[string]string{"": "x"} }, `rename."": name is empty`},
		{"rename to invalid", func(f *Filter) { f.Rename = map[string]string{"old": "a b"} }, `rename.old: new name "a b": name must not contain ' '`},
		{"rename targets collide", func(f *Filter) { f.Rename = map[string]string{"a": "x", "b": "x"} },
			`rename.b: new name "x" is also the new name of rename.a`},
		{"tag empty", func(f *Filter) { f.Tags = []string{"ok", ""} }, `tags[1] (""): name is empty`},
		{"tag invalid", func(f *Filter) { f.Tags = []string{"a,b"} }, `tags[0] ("a,b"): name must not contain ','`},
		{"drop empty", func(f *Filter) { f.Drop = []string{""} }, "drop[0]: name is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := New()
			tc.cfg(f)
			err := f.Init(sdk.Env{})
			if err == nil {
				t.Fatal("Init succeeded")
			}
			if strings.HasSuffix(tc.want, ": ") {
				if !strings.HasPrefix(err.Error(), tc.want) {
					t.Fatalf("error %q, want prefix %q", err, tc.want)
				}
				return
			}
			if err.Error() != tc.want {
				t.Fatalf("error\n  %s\nwant\n  %s", err, tc.want)
			}
		})
	}
}

// fakeClock is the filter's clock in tests of log throttling.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestRuntimeErrors(t *testing.T) {
	var logs bytes.Buffer
	clk := &fakeClock{t: time.Unix(1000, 0)}
	f := New()
	f.Where = "amount > 0"
	f.Fields = map[string]string{"double": "amount * 2", "d": "duration('1s')", "ok": "1"}
	f.now = clk.now
	cs := counters{}
	env := cs.env()
	env.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	if err := f.Init(env); err != nil {
		t.Fatal(err)
	}

	// Event 1: where fails on a missing amount (dropped, counted, logged
	// at once). Event 2: where passes, d yields a Duration, which no field
	// can hold (counted, the field left out). Event 3: where fails on text.
	got := process(t, f,
		ev("t", 0, "x", int64(1)),
		ev("t", 0, "amount", int64(2), "d", "old"),
		ev("t", 0, "amount", "text"),
	)
	// Event 2: d (a Duration, unsupported) fails and the old d is removed.
	want := []sdk.Event{ev("t", 0, "amount", int64(2), "double", int64(4), "ok", int64(1))}
	sameEvents(t, got, want)
	if n := cs.get("eval_errors"); n != 3 {
		t.Errorf("eval_errors = %d, want 3 (where twice, d once)", n)
	}
	if n := cs.get("events_dropped"); n != 2 {
		t.Errorf("events_dropped = %d, want 2", n)
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Fatalf("%d log lines, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "errors=1") || !strings.Contains(logs.String(), `example="where: column 8: invalid operation: <nil> > int"`) {
		t.Errorf("log line lacks the count or the example: %s", logs.String())
	}

	// Within 10 s: counted, not logged.
	clk.t = clk.t.Add(9 * time.Second)
	process(t, f, ev("t", 0, "amount", true))
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Fatalf("logged again within 10 s:\n%s", logs.String())
	}
	// After 10 s: one line with the count of everything not yet logged
	// (events 2 and 3, the one above, d here) and the first as example.
	clk.t = clk.t.Add(time.Second)
	process(t, f, ev("t", 0, "amount", int64(1)))
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "errors=4") ||
		!strings.Contains(lines[1], `example="fields.d: unsupported field type time.Duration"`) {
		t.Fatalf("second log line:\n%s", logs.String())
	}
	if n := cs.get("eval_errors"); n != 5 {
		t.Errorf("eval_errors = %d, want 5", n)
	}
}

func TestNilCounterAndNoInit(t *testing.T) {
	f := New()
	f.Where = "amount > 0"
	if err := f.Init(sdk.Env{}); err != nil {
		t.Fatal(err)
	}
	got := process(t, f, ev("t", 0, "amount", "x"), ev("t", 0, "amount", 1.0))
	if len(got) != 1 || f.evalErrors.Load() != 1 || f.eventsDropped.Load() != 1 {
		t.Fatalf("got %v, counters %d %d", got, f.evalErrors.Load(), f.eventsDropped.Load())
	}
	// Process without Init initialises itself.
	g := New()
	g.Rename = map[string]string{"a": "b"}
	sameEvents(t, process(t, g, ev("t", 0, "a", int64(1))), []sdk.Event{ev("t", 0, "b", int64(1))})
	// A broken configuration is an error, never a panic.
	h := New()
	h.Where = "("
	if _, err := h.Process(context.Background(), sdk.Batch{ev("t", 0)}); err == nil {
		t.Fatal("Process with an invalid where succeeded")
	}
}

func TestBatchCompaction(t *testing.T) {
	f, cs := newFilter(t, func(f *Filter) {
		f.Where = "n % 3 == 0"
		f.Fields = map[string]string{"m": "n * 10"}
	})
	in := make(sdk.Batch, 10)
	for i := range in {
		in[i] = ev("t", 0, "n", int64(i))
	}
	out := process(t, f, in...)
	if len(out) != 4 {
		t.Fatalf("%d events, want 4", len(out))
	}
	if &out[0] != &in[0] {
		t.Error("the batch was not compacted in place")
	}
	for i, e := range out {
		want := ev("t", 0, "n", int64(3*i), "m", int64(30*i))
		sameEvents(t, sdk.Batch{e}, sdk.Batch{want})
	}
	// The tail no longer references dropped events' data.
	for i := len(out); i < len(in); i++ {
		if in[i].Fields != nil || in[i].Name != "" {
			t.Errorf("slot %d not cleared: %+v", i, in[i])
		}
	}
	if cs.get("events_dropped") != 6 {
		t.Errorf("events_dropped = %d", cs.get("events_dropped"))
	}
	// All dropped, and empty batches.
	if out := process(t, f, ev("t", 0, "n", int64(1))); len(out) != 0 {
		t.Errorf("%v", out)
	}
	if out := process(t, f); len(out) != 0 {
		t.Errorf("%v", out)
	}
}

// sharedBatch builds events whose tags and fields share one backing array
// each, as the generate input does. capped says whether each event's slices
// are capped at their own length.
func sharedBatch(n int, capped bool) sdk.Batch {
	const nf, nt = 2, 2
	fields := make([]sdk.Field, n*nf)
	tags := make([]sdk.Tag, n*nt)
	b := make(sdk.Batch, n)
	for i := range b {
		e := &b[i]
		e.Name, e.Time = "t", t0
		if capped {
			e.Fields = fields[i*nf : (i+1)*nf : (i+1)*nf]
			e.Tags = tags[i*nt : (i+1)*nt : (i+1)*nt]
		} else {
			e.Fields = fields[i*nf : (i+1)*nf]
			e.Tags = tags[i*nt : (i+1)*nt]
		}
		e.Fields[0] = sdk.Field{Key: "amount", Value: float64(i + 1)}
		e.Fields[1] = sdk.Field{Key: "currency", Value: "EUR"}
		e.Tags[0] = sdk.Tag{Key: "a", Value: "x"}
		e.Tags[1] = sdk.Tag{Key: "m", Value: "y"}
	}
	return b
}

func TestSharedBackingArrays(t *testing.T) {
	cfgs := map[string]func(*Filter){
		"computed field": func(f *Filter) { f.Fields = map[string]string{"eur": "amount * 2"} },
		"promote":        func(f *Filter) { f.Tags = []string{"currency"} },
		"rename and drop": func(f *Filter) {
			f.Rename = map[string]string{"a": "z"}
			f.Drop = []string{"m"}
			f.Fields = map[string]string{"c": "1", "d": "2"}
		},
		"where first event only": func(f *Filter) {
			f.Where = "amount == 1"
			f.Fields = map[string]string{"eur": "amount * 2"}
			f.Tags = []string{"currency"}
		},
	}
	for name, cfg := range cfgs {
		for _, capped := range []bool{true, false} {
			t.Run(name, func(t *testing.T) {
				b := sharedBatch(3, capped)
				second := b[1].Clone()
				f, _ := newFilter(t, cfg)
				// Process only event 0: event 1 sits right after it in the
				// shared arrays and must not change.
				out := process(t, f, b[0])
				if len(out) != 1 || len(out[0].Fields)+len(out[0].Tags) == 0 {
					t.Fatalf("event 0 after processing: %+v", out)
				}
				if !reflect.DeepEqual(b[1], second) {
					t.Fatalf("event 1 changed (capped=%v):\n  %+v\nwant\n  %+v", capped, b[1], second)
				}
				// Process the whole batch: every event gets its own result.
				b = sharedBatch(3, capped)
				out = process(t, f, b...)
				for i := range out {
					if v, _ := out[i].Field("amount"); v != float64(i+1) && !strings.HasPrefix(name, "where") {
						t.Errorf("event %d amount %v", i, v)
					}
				}
			})
		}
	}
}

func TestSampleConfig(t *testing.T) {
	var doc struct {
		Processors map[string][]toml.Primitive `toml:"processors"`
	}
	md, err := toml.Decode(sampleConfig, &doc)
	if err != nil {
		t.Fatalf("sample.conf: %v", err)
	}
	if len(doc.Processors["filter"]) != 1 {
		t.Fatalf("sample.conf has %d [[processors.filter]] tables, want 1", len(doc.Processors["filter"]))
	}
	f := New()
	if err := md.PrimitiveDecode(doc.Processors["filter"][0], f); err != nil {
		t.Fatalf("decode sample.conf: %v", err)
	}
	if u := md.Undecoded(); len(u) != 0 {
		t.Fatalf("sample.conf keys not decoded: %v", u)
	}
	cs := counters{}
	if err := f.Init(cs.env()); err != nil {
		t.Fatalf("sample.conf fails Init: %v", err)
	}
	got := process(t, f,
		ev("transactions", sdk.OpInsert, "amount", 100.0, "currency", "EUR", "product_category", "books", "note", "n"),
		ev("transactions", sdk.OpDelete, "amount", 100.0, "currency", "EUR", "product_category", "books"),
	)
	want := []sdk.Event{ev("transactions", sdk.OpInsert, "amount", 100.0, "category", "books", "amount_eur", 92.0, "#currency", "EUR")}
	sameEvents(t, got, want)
}

func TestRegistration(t *testing.T) {
	reg, ok := sdk.LookupProcessor("filter")
	if !ok {
		t.Fatal("filter is not registered")
	}
	if reg.SampleConfig != sampleConfig || reg.Description != "Filter events and compute, rename, drop or promote fields with expressions" {
		t.Errorf("registration: %q", reg.Description)
	}
	if _, ok := reg.New().(*Filter); !ok {
		t.Fatalf("New returned %T", reg.New())
	}
}

func BenchmarkFilter(b *testing.B) {
	f, _ := newFilter(b, func(f *Filter) {
		f.Where = "op != 'delete' && amount > 0"
		f.Fields = map[string]string{"amount_eur": "amount * 0.92"}
		f.Rename = map[string]string{"product_category": "category"}
	})
	const n = 1000
	src := make(sdk.Batch, n)
	for i := range src {
		op := sdk.OpInsert
		if i%10 == 0 {
			op = sdk.OpDelete
		}
		src[i] = ev("transactions", op, "transaction_id", int64(i), "amount", float64(i%500)+0.5,
			"product_category", "books", "#currency", "EUR")
	}
	// Each iteration gets a fresh batch whose events share backing arrays
	// with spare room, so the filter may add the computed field without
	// reallocating (as after the first pass), and the copy is not timed.
	batch := make(sdk.Batch, n)
	fields := make([]sdk.Field, n*4)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	events := 0
	for b.Loop() {
		b.StopTimer()
		for i := range src {
			fs := fields[i*4 : i*4+3 : i*4+4]
			copy(fs, src[i].Fields)
			batch[i] = src[i]
			batch[i].Fields = fs
		}
		b.StartTimer()
		out, err := f.Process(ctx, batch)
		if err != nil || len(out) != n-n/10 {
			b.Fatalf("%d events, %v", len(out), err)
		}
		events += n
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
