// Package expression compiles and evaluates the expr-lang expressions of
// processors (where, group_by, time, aggregate arguments, computed fields).
//
// An event's environment exposes every field and tag by name, plus op,
// table and time; a field shadows a tag of the same name, and both shadow
// the three built-in names. Expressions are compiled once. Evaluation uses
// one Evaluator per goroutine, which reuses its VM and its environment map
// (setting only the names an expression reads); an expression that is a
// bare name skips the VM and reads the event directly.
package expression

import (
	"errors"
	"fmt"
	"math"
	"slices"
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
func CompileBool(src string) (*Expr, error) { return compile(src, expr.AsBool()) }

func compile(src string, extra ...expr.Option) (*Expr, error) {
	opts := append([]expr.Option{expr.Env(builtin), expr.AllowUndefinedVariables()}, extra...)
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, describe(err)
	}
	x := &Expr{Source: src, prog: prog}
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
	vm    vm.VM
	env   map[string]any
	event *sdk.Event
}

// NewEvaluator returns an evaluator with an empty environment.
func NewEvaluator() *Evaluator {
	return &Evaluator{env: make(map[string]any, 16)}
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
