// Package expression compiles and evaluates the expr-lang expressions of
// processors (where, group_by, time, aggregate arguments, computed fields).
//
// An event's environment exposes every field and tag by name, plus op,
// table and time; a field shadows a tag of the same name, and both shadow
// the three built-in names. Expressions are compiled once. Evaluation uses
// one Evaluator per goroutine, which reuses its VM and its environment map
// (setting only the names an expression reads); an expression that is a
// bare name skips the VM and reads the event directly.
//
// Expressions run once per event, so their cost must be bounded by the
// expression and the event, never by what the expression computes. The
// language is expr-lang without its loops: predicates (map, filter, all,
// any, count(list, predicate), reduce, …) and let are refused at compile
// time, so every operation runs at most once per evaluation. The ranges,
// lists and maps an evaluation builds count against MaxElements (expr-lang's
// memory budget), and the functions that can build a string much larger
// than their arguments (repeat, replace, join, toJSON) share a budget of
// MaxGrowth bytes per evaluation, checked before they allocate.
package expression

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/rowflux/rowflux/sdk"
)

// Expr is a compiled expression.
type Expr struct {
	Source string
	prog   *vm.Program
	// name is set when the expression is a bare name: it is read from the
	// event without running the VM.
	name string
	// names are the names the expression reads; only these are put into
	// the environment before it runs, unless it uses $env (all).
	names []string
	all   bool
	// bounded is set when the expression calls a budgeted function: the
	// evaluator's budget must then be in the environment.
	bounded bool
}

type nameCollector struct {
	names []string
	all   bool
}

func (c *nameCollector) Visit(n *ast.Node) {
	id, ok := (*n).(*ast.IdentifierNode)
	if !ok {
		return
	}
	if id.Value == budgetName {
		return
	}
	if id.Value == "$env" {
		// $env reaches names by string at run time: the whole
		// environment must be current.
		c.all = true
		return
	}
	if !slices.Contains(c.names, id.Value) {
		c.names = append(c.names, id.Value)
	}
}

// builtin are the names every environment has besides fields and tags.
var builtin = map[string]any{"op": "", "table": "", "time": time.Time{}}

// Compile compiles an expression that may yield any value.
func Compile(src string) (*Expr, error) { return compile(src) }

// CompileBool compiles a condition; it must yield a bool.
func CompileBool(src string) (*Expr, error) {
	x, err := compile(src, expr.AsBool())
	var fe *file.Error
	if err != nil && !errors.As(err, &fe) {
		// expr-lang reports a condition of another type without a
		// location: the whole expression is at fault.
		if got, ok := strings.CutPrefix(err.Error(), "expected bool, but got "); ok {
			return nil, fmt.Errorf("the condition yields %s, not a bool", got)
		}
	}
	return x, err
}

// MaxSourceBytes bounds an expression's text (and with it the parser's
// recursion on nested brackets).
const MaxSourceBytes = 64 << 10

func compile(src string, extra ...expr.Option) (*Expr, error) {
	if len(src) > MaxSourceBytes {
		return nil, fmt.Errorf("expression is %d bytes long, at most %d are allowed", len(src), MaxSourceBytes)
	}
	g := &guard{}
	opts := append([]expr.Option{expr.Env(builtin), expr.AllowUndefinedVariables(), expr.Patch(g)}, budgeted...)
	prog, err := expr.Compile(src, append(opts, extra...)...)
	// The guard runs before type checking: a refused construct is the
	// first thing to fix even when the checker also objects.
	if g.err != nil {
		return nil, describe(g.err.Bind(file.NewSource(src)))
	}
	if err != nil {
		return nil, describe(err)
	}
	x := &Expr{Source: src, prog: prog, bounded: g.bounded}
	node := prog.Node()
	if id, ok := node.(*ast.IdentifierNode); ok {
		x.name = id.Value
	}
	var c nameCollector
	ast.Walk(&node, &c)
	x.names, x.all = c.names, c.all
	return x, nil
}

// describe reduces an expr error to "column N: message".
func describe(err error) error {
	var fe *file.Error
	if errors.As(err, &fe) {
		return fmt.Errorf("column %d: %s", fe.Column+1, fe.Message)
	}
	return err
}

// Evaluator evaluates expressions against events. It is not safe for
// concurrent use: give each goroutine its own.
type Evaluator struct {
	vm     vm.VM
	env    map[string]any
	event  *sdk.Event
	budget *growthBudget
}

// NewEvaluator returns an evaluator with an empty environment.
func NewEvaluator() *Evaluator {
	v := &Evaluator{env: make(map[string]any, 16), budget: &growthBudget{}}
	v.vm.MemoryBudget = MaxElements
	return v
}

// Begin makes e the event that following Eval calls read.
func (v *Evaluator) Begin(e *sdk.Event) { v.event = e }

// opValues are the op names already boxed, so that setting op in the
// environment does not allocate.
var opValues = func() []any {
	out := make([]any, sdk.OpUpsert+1)
	for i := range out {
		out[i] = sdk.Op(i).String()
	}
	return out
}()

// loadAll replaces the environment with the whole current event, with the
// same precedence as lookup (first field, then tag, then built-in).
func (v *Evaluator) loadAll() {
	clear(v.env)
	e := v.event
	for i := len(e.Fields) - 1; i >= 0; i-- {
		v.env[e.Fields[i].Key] = e.Fields[i].Value
	}
	for _, t := range e.Tags {
		if _, ok := v.env[t.Key]; !ok {
			v.env[t.Key] = t.Value
		}
	}
	for _, n := range [...]string{"op", "table", "time"} {
		if _, ok := v.env[n]; !ok {
			v.env[n] = v.lookup(n)
		}
	}
}

// lookup reads a name from the current event with the environment's
// precedence (field, tag, built-in).
func (v *Evaluator) lookup(name string) any {
	e := v.event
	for i := range e.Fields {
		if e.Fields[i].Key == name {
			return e.Fields[i].Value
		}
	}
	if s, ok := e.Tag(name); ok {
		return s
	}
	switch name {
	case "op":
		if int(e.Op) < len(opValues) {
			return opValues[e.Op]
		}
		return e.Op.String()
	case "table":
		return e.Name
	case "time":
		return e.Time
	}
	return nil
}

// Eval evaluates x against the current event.
func (v *Evaluator) Eval(x *Expr) (any, error) {
	if x.name != "" {
		return v.lookup(x.name), nil
	}
	if x.all {
		v.loadAll()
	} else {
		// Only the names this expression reads are set; values left from
		// other events under other names are never read by it.
		for _, n := range x.names {
			v.env[n] = v.lookup(n)
		}
	}
	if x.bounded {
		v.budget.left = MaxGrowth
		v.env[budgetName] = v.budget
	}
	out, err := v.vm.Run(x.prog, v.env)
	if err != nil {
		return nil, describe(err)
	}
	return out, nil
}

// EvalBool evaluates a condition compiled with CompileBool; a nil result
// (a bare name that is missing) is false.
func (v *Evaluator) EvalBool(x *Expr) (bool, error) {
	out, err := v.Eval(x)
	if err != nil || out == nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("%q yielded %T, not a bool", x.Source, out)
	}
	return b, nil
}

// Float converts a numeric result to float64.
func Float(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		// NaN and ±Inf would poison sums and cannot be written as line
		// protocol.
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case float32:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// Value converts an expression result to an event field value (int
// results of expr become int64).
func Value(v any) (any, error) { return sdk.NormalizeValue(v) }
