package expression

import (
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

func event() *sdk.Event {
	return &sdk.Event{
		Name: "transactions", Op: sdk.OpInsert,
		Tags:   []sdk.Tag{{Key: "currency", Value: "EUR"}, {Key: "shadowed", Value: "tag"}},
		Fields: []sdk.Field{{Key: "amount", Value: 12.5}, {Key: "qty", Value: int64(3)}, {Key: "shadowed", Value: "field"}},
		Time:   time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC),
	}
}

func TestEval(t *testing.T) {
	cases := []struct {
		src  string
		want any
	}{
		{"amount", 12.5},
		{"amount * qty", 37.5},
		{"currency", "EUR"},
		{"currency + ':' + op", "EUR:insert"},
		{"table", "transactions"},
		{"shadowed", "field"},
		{"missing", nil},
		{"missing ?? 7", 7},
		{"time.Hour()", 6},
		{"qty > 2 ? 'many' : 'few'", "many"},
	}
	v := NewEvaluator()
	e := event()
	v.Begin(e)
	for _, tc := range cases {
		x, err := Compile(tc.src)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		got, err := v.Eval(x)
		if err != nil || got != tc.want {
			t.Errorf("%s = %#v, %v; want %#v", tc.src, got, err, tc.want)
		}
	}
}

func TestCompileErrorsNameTheColumn(t *testing.T) {
	cases := map[string]string{
		"amount >":        "column 8: unexpected token EOF",
		"op + 1":          `column 4: invalid operation: + (mismatched types string and int)`,
		"sum(amount":      "column 10: unexpected token EOF",
		"amount == 'a' &": "column 15: unexpected token Operator(\"&\")",
	}
	for src, want := range cases {
		_, err := Compile(src)
		if err == nil || err.Error() != want {
			t.Errorf("%q: got %v\nwant %s", src, err, want)
		}
	}
	if _, err := CompileBool("1 + 1"); err == nil {
		t.Error("a numeric where expression compiled as a condition")
	}
}

func TestEvalBool(t *testing.T) {
	v := NewEvaluator()
	v.Begin(event())
	for src, want := range map[string]bool{"amount > 10": true, "op == 'delete'": false, "currency in ['EUR','USD']": true} {
		x, err := CompileBool(src)
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.EvalBool(x)
		if err != nil || got != want {
			t.Errorf("%s = %v, %v", src, got, err)
		}
	}
	x, _ := CompileBool("missing > 1")
	if _, err := v.EvalBool(x); err == nil {
		t.Error("comparing a missing field did not report an error")
	}
}

func TestEvaluatorReloadsPerEvent(t *testing.T) {
	v := NewEvaluator()
	x, _ := Compile("amount * 2")
	a, b := event(), event()
	b.Fields[0].Value = 1.0
	v.Begin(a)
	first, _ := v.Eval(x)
	v.Begin(b)
	second, _ := v.Eval(x)
	if first != 25.0 || second != 2.0 {
		t.Fatalf("got %v and %v", first, second)
	}
}

func TestWarmEvaluationDoesNotAllocate(t *testing.T) {
	v := NewEvaluator()
	ident, _ := Compile("amount")
	cond, _ := CompileBool("amount > 1 && currency == 'EUR'")
	e := event()
	allocs := testing.AllocsPerRun(100, func() {
		v.Begin(e)
		v.Eval(ident)
		v.EvalBool(cond)
	})
	// The tag string compared in cond is boxed into the environment: one
	// small allocation, never a map.
	if allocs > 1 {
		t.Fatalf("%.1f allocations per event", allocs)
	}
}

func BenchmarkEval(b *testing.B) {
	v := NewEvaluator()
	ident, _ := Compile("amount")
	cond, _ := CompileBool("amount > 1 && currency == 'EUR'")
	e := event()
	b.Run("name", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			v.Begin(e)
			v.Eval(ident)
		}
	})
	b.Run("condition", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			v.Begin(e)
			v.EvalBool(cond)
		}
	})
}
