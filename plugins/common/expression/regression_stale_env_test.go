package expression

import (
	"testing"

	"github.com/rowflux/rowflux/sdk"
)

// TestDollarEnvSeesTheCurrentEvent: the Evaluator reuses one environment map and sets
// only the identifiers an expression's AST names. An expression that reads
// the environment without naming an identifier ($env) sees values left in
// the map by a previous event (here: through another expression).
func TestDollarEnvSeesTheCurrentEvent(t *testing.T) {
	first, err := Compile("amount * 2") // sets env["amount"] = 10 for event 1
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{`$env["amount"]`, `$env.amount`, `get($env, "amount")`} {
		x, err := Compile(src)
		if err != nil {
			t.Logf("%s: does not compile: %v", src, err)
			continue
		}
		v := NewEvaluator()
		e1 := &sdk.Event{Fields: []sdk.Field{{Key: "amount", Value: int64(10)}}}
		v.Begin(e1)
		if _, err := v.Eval(first); err != nil {
			t.Fatal(err)
		}
		e2 := &sdk.Event{Fields: []sdk.Field{{Key: "other", Value: int64(1)}}} // no amount
		v.Begin(e2)
		got, err := v.Eval(x)
		if err != nil {
			t.Logf("%s: %v", src, err)
			continue
		}
		if got != nil {
			t.Errorf("%s on an event without amount = %v (stale value from the previous event), want nil", src, got)
		}
	}
}
