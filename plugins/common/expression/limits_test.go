package expression

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr"

	"github.com/rowflux/rowflux/sdk"
)

// TestLoopsAndVariablesRefused: each of these ran for minutes or exhausted
// memory in plain expr-lang (reduce doubling a string, let chains, nested
// predicates over constant lists); they are now compile errors that say
// where and why.
func TestLoopsAndVariablesRefused(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`reduce(1..100, #acc + #acc, "x")`, `column 1: reduce with a predicate is not supported`},
		{`reduce(1..999999, #acc + "x", "")`, `column 1: reduce with a predicate is not supported`},
		{`amount > 0 && sum([1,2,3], sum([1,2,3], 1)) > 0`, `column 15: sum with a predicate is not supported`},
		{`any(["EUR", "USD"], # == currency)`, `column 1: any with a predicate is not supported: an expression runs once per event and cannot loop (test membership with "in")`},
		{`map(1..999, map(1..999, 1))`, `column 1: map with a predicate is not supported`},
		{`count(split(note, ","), # != "")`, `column 1: count with a predicate is not supported`},
		{`filter(1..3, .x)`, `column 1: filter with a predicate is not supported`},
		{`let a = note + note; let b = a + a; b + b`, `column 5: let is not supported: an expression runs once per event and cannot define variables`},
		{strings.Repeat(" ", MaxSourceBytes) + "1", `expression is 65537 bytes long, at most 65536 are allowed`},
	} {
		for _, compile := range []func(string) (*Expr, error){Compile, CompileBool} {
			_, err := compile(tc.src)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("%.60q: got %v, want %s…", tc.src, err, tc.want)
			}
		}
	}
}

func TestConditionOfAnotherType(t *testing.T) {
	_, err := CompileBool(`upper(currency)`)
	if err == nil || err.Error() != "the condition yields string, not a bool" {
		t.Fatalf("got %v", err)
	}
}

// TestGrowthBudget: repeat, replace, join and toJSON check the size of
// their result before allocating it, against one budget per evaluation.
// In plain expr-lang, repeat(note, 999999) on a 1000-byte note allocated
// a gigabyte before its memory check, and join/replace/toJSON had none.
func TestGrowthBudget(t *testing.T) {
	note := strings.Repeat("n", 1000)
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	e := &sdk.Event{Fields: []sdk.Field{{Key: "note", Value: note}, {Key: "deep", Value: deep}, {Key: "k", Value: int64(3)}}}
	tooMuch := " would add more than 1048576 bytes, the most one evaluation may add with repeat, replace, join and toJSON"
	for _, tc := range []struct {
		src     string
		want    any    // the result, when it is allowed
		wantErr string // or the error
	}{
		{`repeat(note, 999999)`, nil, "column 1: repeat" + tooMuch},
		{`repeat("ab", k)`, "ababab", ""},
		{`len(repeat(note, 1049))`, 1049000, ""},
		{`len(repeat(note, 1050))`, nil, "column 5: repeat" + tooMuch},
		{`len(repeat(note, 1000)) + len(repeat(note, 100))`, nil, "column 31: repeat would add 99000 bytes, but only 49576 of the 1048576 one evaluation may add with repeat, replace, join and toJSON are left"},
		{`repeat(note, -1)`, nil, "column 1: repeat: negative count -1"},
		{`len(replace(note, "", note))`, 1002000, ""},
		{`replace(replace(note, "", note), "", note)`, nil, "column 1: replace" + tooMuch},
		{`replace("aaa", "a", "bb", 2)`, "bbbba", ""},
		{`replace(note, "n", "")`, "", ""},
		{`len(join(split(note, ""), note))`, 1000000, ""},
		{`join(split(note, ""), note + note)`, nil, "column 1: join" + tooMuch},
		{`join(["a", "b"], "-")`, "a-b", ""},
		{`join([1])`, nil, "column 1: join: element 0 is int, not a string"},
		{`toJSON(fromJSON(deep))`, nil, "column 1: toJSON" + tooMuch},
		{`toJSON({"a": [1, {"b": []}], "c": {}})`, "{\n  \"a\": [\n    1,\n    {\n      \"b\": []\n    }\n  ],\n  \"c\": {}\n}", ""},
	} {
		x, err := Compile(tc.src)
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		v := NewEvaluator()
		v.Begin(e)
		start := time.Now()
		got, err := v.Eval(x)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s took %s", tc.src, d)
		}
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Errorf("%s: got %v, %v; want error %s", tc.src, got, err, tc.wantErr)
			}
		case err != nil || got != tc.want:
			t.Errorf("%s = %#v, %v; want %#v", tc.src, got, err, tc.want)
		}
	}
}

// TestBudgetResetsPerEvaluation: the budget is per evaluation, so an
// evaluator that refused one event still serves the next.
func TestBudgetResetsPerEvaluation(t *testing.T) {
	x, err := Compile(`len(repeat(note, 1000))`)
	if err != nil {
		t.Fatal(err)
	}
	v := NewEvaluator()
	for i := 0; i < 3; i++ {
		v.Begin(&sdk.Event{Fields: []sdk.Field{{Key: "note", Value: strings.Repeat("n", 1000)}}})
		if got, err := v.Eval(x); err != nil || got != 1000000 {
			t.Fatalf("evaluation %d: %v, %v", i, got, err)
		}
	}
}

// TestBudgetedFunctionsMatchExpr: within the budget, the replacements
// answer exactly as expr-lang's own builtins.
func TestBudgetedFunctionsMatchExpr(t *testing.T) {
	env := map[string]any{"s": "a,b,,c", "u": "żółw", "k": 2, "list": []any{"x", "y"}}
	e := &sdk.Event{Fields: []sdk.Field{{Key: "s", Value: "a,b,,c"}, {Key: "u", Value: "żółw"}, {Key: "k", Value: int64(2)}}}
	for _, src := range []string{
		`repeat(s, 3)`, `repeat(u, k)`, `repeat("", 5)`, `repeat(s, 0)`,
		`replace(s, ",", ";")`, `replace(u, "", "|")`, `replace(s, ",", "", 1)`, `replace(s, "", "-", 3)`, `replace(s, "zz", "y")`,
		`join(split(s, ","), "+")`, `join(split(u, ""))`, `join([], "x")`, `join(["only"], "x")`,
		`toJSON(split(s, ","))`, `toJSON({"u": u, "n": [1.5, nil, true], "e": {}})`, `toJSON("<&>")`, `toJSON(nil)`,
		`s | repeat(2) | replace("a", "A")`,
	} {
		ref, err := expr.Eval(src, env)
		if err != nil {
			t.Fatalf("expr-lang: %s: %v", src, err)
		}
		x, err := Compile(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		v := NewEvaluator()
		v.Begin(e)
		got, err := v.Eval(x)
		if err != nil || got != ref {
			t.Errorf("%s = %#v, %v; expr-lang says %#v", src, got, err, ref)
		}
	}
}

func TestIndentedLen(t *testing.T) {
	for _, v := range []any{
		nil, 1, "x", `a"b\c{[,:]}`, []any{}, map[string]any{}, []any{1, []any{}, map[string]any{"a": []any{map[string]any{}}}},
		map[string]any{"k:": "v,", "n": map[string]any{"m": []any{"[", "]"}}}, []any{[]any{[]any{[]any{"deep"}}}},
	} {
		compact, _ := json.Marshal(v)
		indented, _ := json.MarshalIndent(v, "", "  ")
		if got := indentedLen(compact); got != len(indented) {
			t.Errorf("%s: indentedLen %d, MarshalIndent wrote %d", compact, got, len(indented))
		}
	}
}

// TestElementBudget: the ranges and lists of one evaluation hold at most
// MaxElements elements together.
func TestElementBudget(t *testing.T) {
	v := NewEvaluator()
	v.Begin(&sdk.Event{})
	for _, tc := range []struct {
		src string
		ok  bool
	}{
		{`len(1..99999)`, true},
		{`len(1..100000)`, false},
		{`len(1..60000) + len(1..60000)`, false},
		{`string(1..999999)`, false},
		{`5 in 1..1000000000`, true}, // a range test, nothing built
	} {
		x, err := Compile(tc.src)
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Eval(x)
		if tc.ok != (err == nil) || err != nil && !strings.Contains(err.Error(), "memory budget exceeded") {
			t.Errorf("%s: %v", tc.src, err)
		}
	}
}
