package expression

import (
	"bytes"
	"math"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// hostileExpressions are expressions that loop, grow values exponentially
// or allocate hugely in plain expr-lang, and ordinary ones around them.
var hostileExpressions = []string{
	`reduce(1..999999, #acc + "x", "")`,
	`reduce(1..100, #acc + #acc, "x")`,
	`let a = s + s; let b = a + a; let c = b + b; c + c`,
	`repeat(s, 999999)`,
	`repeat("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 999999)`,
	`sum([1,2,3,4,5,6,7,8,9,10], sum([1,2,3,4,5,6,7,8,9,10], sum([1,2,3,4,5,6,7,8,9,10], 1)))`,
	`map(1..999, map(1..999, 1))`,
	`count(split(s, ""), # == "a")`,
	`len(1..1000000000)`,
	`5 in 1..1000000000`,
	`sum(1..1000000000)`,
	`replace(s, "", s)`,
	`replace(replace(s, "", s), "", replace(s, "", s))`,
	`join(split(s, ""), s)`,
	`toJSON(fromJSON(s))`,
	`toJSON(fromJSON(repeat("[", 5000) + repeat("]", 5000)))`,
	`string(1..999999)`,
	`sort(1..999999)`,
	`s matches s`,
	`int(s) / i`,
	`i % 0`,
	`-9223372036854775808 / -1`,
	`f ** 1e9`,
	`date(s)`,
	`duration(s)`,
	`fromBase64(s)`,
	`trim(s, s)`,
	`$env`,
	`$env[s]`,
	`toJSON($env)`,
	`get($env, "dup")`,
	`dup + tag + op + table`,
	`time.Unix() + t.Unix()`,
	`raw`,
	`n ?? b`,
	`b ? s : raw`,
	`upper(s) + lower(tag)`,
	`i > 2 && f < 1.5 || !b`,
	"(((((((((((((((((((((i)))))))))))))))))))))",
	`"x" | repeat(3)`,
	`s[i:]`,
	`s[0]`,
	`first(split(s, ","))`,
	`uniq(split(s, ""))`,
	`flatten(fromJSON(s))`,
}

// compileErr is the shape of every compile error: where, then what.
var compileErr = regexp.MustCompile(`^(column \d+: .|expression is \d+ bytes long, at most \d+ are allowed$|the condition yields .+, not a bool$)`)

// FuzzCompile: arbitrary text compiles or fails with an error that says
// where (column N) and what, in bounded time; never a panic, and never a
// Go stack trace passed off as a message.
func FuzzCompile(f *testing.F) {
	for _, src := range hostileExpressions {
		f.Add(src)
	}
	for _, src := range []string{"", " ", "\x00", "'", `"\u`, "amount >", "#", ".x", "$env[", "1..", "a?.b?.c", "a |",
		"let", "let x = 1; x", "{a: 1}.a", "[1, 2][5]", "\"\xff\"", "表 + 1", "a\u202eb", "a\u200bb",
		strings.Repeat("(", 5000) + "1" + strings.Repeat(")", 5000), strings.Repeat("-", 20000) + "1",
		strings.Repeat("a.", 3000) + "b", strings.Repeat("x", MaxSourceBytes+1)} {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		var x, xb *Expr
		var err, errb error
		within(t, 10*time.Second, "compile "+abbrev(src), func() {
			x, err = Compile(src)
			xb, errb = CompileBool(src)
		})
		for _, e := range []error{err, errb} {
			if e == nil {
				continue
			}
			msg := e.Error()
			if !compileErr.MatchString(msg) || strings.Contains(msg, "goroutine ") || strings.Contains(msg, "runtime error") {
				t.Fatalf("%q: error without a location or with internals: %s", abbrev(src), abbrev(msg))
			}
		}
		if err == nil && x.Source != src {
			t.Fatalf("Source %q, want %q", x.Source, src)
		}
		if errb == nil {
			if err != nil {
				t.Fatalf("%q compiles as a condition but not as a value: %v", abbrev(src), err)
			}
			if xb.Source != src {
				t.Fatalf("Source %q, want %q", xb.Source, src)
			}
		}
	})
}

// fuzzNames are every name the fuzzed event answers to, and two it does
// not: a field shadows a tag of the same name, both shadow op/table/time.
var fuzzNames = []string{"s", "i", "f", "b", "raw", "t", "n", "dup", "tag", "op", "table", "time", "missing"}

func fuzzEvalEvent(s string, raw []byte, i int64, fv float64, b bool, sel uint8) *sdk.Event {
	e := &sdk.Event{
		Name: s,
		Op:   sdk.Op(sel % 7), // beyond OpUpsert: an op this version does not know
		Tags: []sdk.Tag{{Key: "dup", Value: s}, {Key: "tag", Value: s}},
		Fields: []sdk.Field{
			{Key: "s", Value: s}, {Key: "i", Value: i}, {Key: "f", Value: fv}, {Key: "b", Value: b},
			{Key: "raw", Value: raw}, {Key: "t", Value: time.Unix(0, i)}, {Key: "n", Value: nil},
		},
		Time: time.Unix(i, 0).UTC(),
	}
	if sel&8 != 0 {
		e.Fields = append(e.Fields, sdk.Field{Key: "dup", Value: fv})
	}
	if sel&16 != 0 {
		e.Tags = append(e.Tags, sdk.Tag{Key: "op", Value: s}, sdk.Tag{Key: "time", Value: s})
	}
	sdk.SortTags(e.Tags) // events carry sorted tags
	if sel&32 != 0 {
		// Fewer names than the previous event: nothing of it may remain visible.
		e.Fields = e.Fields[:2]
		e.Tags = nil
	}
	return e
}

// FuzzEval: a compiled expression evaluated over arbitrary values (nil,
// NaN, ±Inf, huge or invalid UTF-8 strings, wrong types) returns a value or
// an error in bounded time and size; a reused Evaluator answers exactly as
// a fresh one (no state leaks from the previous event); and the three ways
// a name is read (bare name, VM with the names set, $env with everything
// loaded) agree.
func FuzzEval(f *testing.F) {
	for i, src := range hostileExpressions {
		f.Add(src, "a,b", []byte("x"), int64(i), 1.5, i%2 == 0, uint8(i))
	}
	f.Add("s + s", strings.Repeat("x", 1<<16), []byte(nil), int64(-1), math.NaN(), true, uint8(8))
	f.Add("f * 2", "\xff\xfe", []byte{0xff}, int64(math.MinInt64), math.Inf(-1), false, uint8(16))
	f.Add("toJSON(fromJSON(s))", `{"a":[1,{"b":[[[]]]}],"c":"\u0000"}`, []byte{}, int64(math.MaxInt64), -0.0, true, uint8(24))
	f.Add("repeat(s, i)", "ab", []byte{}, int64(1<<19), 0.0, false, uint8(40))

	shared := NewEvaluator()
	prev := fuzzEvalEvent("previous", []byte("p"), 7, 7, true, 8|16)
	readers := map[string][3]*Expr{}
	for _, n := range fuzzNames {
		bare, vm, env := mustCompile(f, n), mustCompile(f, "["+n+"][0]"), mustCompile(f, `$env["`+n+`"]`)
		if bare.name != n || vm.name != "" || vm.all || !env.all {
			f.Fatalf("%s: the three readers do not take the three paths", n)
		}
		readers[n] = [3]*Expr{bare, vm, env}
	}
	f.Fuzz(func(t *testing.T, src, s string, raw []byte, i int64, fv float64, b bool, sel uint8) {
		e := fuzzEvalEvent(s, raw, i, fv, b, sel)
		for _, n := range fuzzNames {
			var got [3]any
			for k, x := range readers[n] {
				shared.Begin(prev)
				_, _ = shared.Eval(x)
				shared.Begin(e)
				v, err := shared.Eval(x)
				if err != nil {
					t.Fatalf("reading %s (%s): %v", n, x.Source, err)
				}
				got[k] = v
			}
			if !sameResult(got[0], got[1]) || !sameResult(got[0], got[2]) {
				t.Fatalf("%s reads differently: bare %#v, VM %#v, $env %#v", n, got[0], got[1], got[2])
			}
		}

		x, err := Compile(src)
		if err != nil {
			return
		}
		bound := len(src)*(len(s)+len(raw)+64) + MaxGrowth + 24*1_000_000
		var out, fresh any
		var outErr, freshErr error
		within(t, 10*time.Second, "evaluate "+abbrev(src), func() {
			shared.Begin(prev)
			_, _ = shared.Eval(x)
			shared.Begin(e)
			out, outErr = shared.Eval(x)
			v := NewEvaluator()
			v.Begin(e)
			fresh, freshErr = v.Eval(x)
		})
		if (outErr == nil) != (freshErr == nil) || outErr != nil && outErr.Error() != freshErr.Error() {
			t.Fatalf("%q: reused evaluator: %v; fresh one: %v", abbrev(src), outErr, freshErr)
		}
		if outErr != nil {
			if strings.Contains(outErr.Error(), "goroutine ") {
				t.Fatalf("%q: error carries a stack trace: %s", abbrev(src), abbrev(outErr.Error()))
			}
			return
		}
		if !sameResult(out, fresh) {
			t.Fatalf("%q: reused evaluator gave %#v, a fresh one %#v", abbrev(src), out, fresh)
		}
		if n := resultSize(out); n > bound {
			t.Fatalf("%q: result of %d bytes from %d bytes of expression and %d of event", abbrev(src), n, len(src), len(s)+len(raw))
		}
		if v, err := Value(out); err == nil {
			if _, err := sdk.NormalizeValue(v); err != nil {
				t.Fatalf("Value(%#v) = %#v, which is not a field value: %v", out, v, err)
			}
		}
		Float(out)
		if xb, err := CompileBool(src); err == nil {
			shared.Begin(e)
			if _, err := shared.EvalBool(xb); err != nil && strings.Contains(err.Error(), "goroutine ") {
				t.Fatalf("%q: %v", abbrev(src), err)
			}
		}
	})
}

func mustCompile(tb testing.TB, src string) *Expr {
	tb.Helper()
	x, err := Compile(src)
	if err != nil {
		tb.Fatal(err)
	}
	return x
}

// within runs fn and fails the test if it does not return in time: a
// hanging evaluation cannot be interrupted, but it must not go unnoticed.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: still running after %s", what, d)
	}
}

func abbrev(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// sameResult compares evaluation results: NaN equals NaN, times compare
// as instants, and the evaluation budget in an environment is opaque.
func sameResult(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || math.IsNaN(x) && math.IsNaN(y))
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case *growthBudget:
		_, ok := b.(*growthBudget)
		return ok
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !sameResult(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameResult(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// resultSize is the bytes a result holds in strings, roughly.
func resultSize(v any) int {
	switch x := v.(type) {
	case string:
		return len(x)
	case []byte:
		return len(x)
	case []string:
		n := 0
		for _, s := range x {
			n += len(s) + 16
		}
		return n
	case []any:
		n := 0
		for _, e := range x {
			n += resultSize(e) + 16
		}
		return n
	case map[string]any:
		n := 0
		for k, e := range x {
			n += len(k) + resultSize(e) + 16
		}
		return n
	}
	return 8
}
