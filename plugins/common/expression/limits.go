package expression

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker/nature"
	"github.com/expr-lang/expr/file"
)

// MaxGrowth is how many bytes repeat, replace, join and toJSON may add
// beyond their arguments in one evaluation, together. Without it one call
// such as repeat(note, 999999) allocates before expr-lang's own memory
// budget is consulted, and a few nested calls exhaust memory.
const MaxGrowth = 1 << 20

// MaxElements bounds the elements of the ranges, lists and maps one
// evaluation builds (expr-lang's memory budget, 1,000,000 by default): a
// range of a million integers formatted by string() costs a tenth of a
// second, too much for one event, and no per-event expression needs more.
const MaxElements = 100_000

// budgetName is the environment entry that carries an evaluation's
// growthBudget to the budgeted functions. The middle dot keeps it out of
// reach of identifiers an expression can spell.
const budgetName = "rowflux·budget"

// growthBudget is what is left of MaxGrowth in the current evaluation.
type growthBudget struct{ left int }

// take charges n bytes of growth to the budget, or refuses them.
func (b *growthBudget) take(fn string, n int) error {
	switch {
	case n <= 0:
		return nil
	case n > MaxGrowth:
		return fmt.Errorf("%s would add more than %d bytes, the most one evaluation may add with repeat, replace, join and toJSON", fn, MaxGrowth)
	case n > b.left:
		return fmt.Errorf("%s would add %d bytes, but only %d of the %d one evaluation may add with repeat, replace, join and toJSON are left", fn, n, b.left, MaxGrowth)
	}
	b.left -= n
	return nil
}

// mulWithin returns a*b when it is at most limit (a, b ≥ 0).
func mulWithin(a, b, limit int) (int, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	if a > limit/b {
		return 0, false
	}
	return a * b, true
}

// budgeted replaces expr-lang's builtins of the same names: the guard
// passes the evaluation's budget as a hidden first argument, and each
// function computes the size of its result before allocating it.
var budgeted = []expr.Option{
	expr.Function("repeat", budgetedCall("repeat", repeatFn),
		new(func(any, string, int) string)),
	expr.Function("replace", budgetedCall("replace", replaceFn),
		new(func(any, string, string, string) string),
		new(func(any, string, string, string, int) string)),
	expr.Function("join", budgetedCall("join", joinFn),
		new(func(any, []any) string), new(func(any, []any, string) string),
		new(func(any, []string) string), new(func(any, []string, string) string)),
	expr.Function("toJSON", budgetedCall("toJSON", toJSONFn),
		new(func(any, any) string)),
}

var budgetedNames = map[string]bool{"repeat": true, "replace": true, "join": true, "toJSON": true}

func budgetedCall(name string, fn func(b *growthBudget, args []any) (any, error)) func(...any) (any, error) {
	return func(args ...any) (any, error) {
		var b *growthBudget
		if len(args) > 0 {
			b, _ = args[0].(*growthBudget)
		}
		if b == nil {
			return nil, fmt.Errorf("%s: evaluated without a budget (use an Evaluator)", name)
		}
		return fn(b, args[1:])
	}
}

func stringArg(fn string, i int, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: argument %d is %s, not a string", fn, i+1, typeName(v))
	}
	return s, nil
}

func intArg(fn string, i int, v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case int64:
		if x >= math.MinInt && x <= math.MaxInt {
			return int(x), nil
		}
	case float64:
		if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
			return int(x), nil
		}
	}
	return 0, fmt.Errorf("%s: argument %d is %s, not an integer", fn, i+1, typeName(v))
}

func typeName(v any) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprintf("%T", v)
}

func repeatFn(b *growthBudget, args []any) (any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("repeat: want 2 arguments, got %d", len(args))
	}
	s, err := stringArg("repeat", 0, args[0])
	if err != nil {
		return nil, err
	}
	n, err := intArg("repeat", 1, args[1])
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("repeat: negative count %d", n)
	}
	if n == 0 || s == "" {
		return "", nil
	}
	growth, ok := mulWithin(len(s), n-1, MaxGrowth)
	if !ok {
		growth = MaxGrowth + 1
	}
	if err := b.take("repeat", growth); err != nil {
		return nil, err
	}
	return strings.Repeat(s, n), nil
}

func replaceFn(b *growthBudget, args []any) (any, error) {
	if len(args) != 3 && len(args) != 4 {
		return nil, fmt.Errorf("replace: want 3 or 4 arguments, got %d", len(args))
	}
	var s [3]string
	for i := range s {
		var err error
		if s[i], err = stringArg("replace", i, args[i]); err != nil {
			return nil, err
		}
	}
	n := -1
	if len(args) == 4 {
		var err error
		if n, err = intArg("replace", 3, args[3]); err != nil {
			return nil, err
		}
	}
	// strings.Count of "" is the number of rune boundaries, exactly where
	// Replace inserts new for an empty old.
	count := strings.Count(s[0], s[1])
	if n >= 0 && n < count {
		count = n
	}
	if d := len(s[2]) - len(s[1]); d > 0 {
		growth, ok := mulWithin(count, d, MaxGrowth)
		if !ok {
			growth = MaxGrowth + 1
		}
		if err := b.take("replace", growth); err != nil {
			return nil, err
		}
	}
	return strings.Replace(s[0], s[1], s[2], n), nil
}

func joinFn(b *growthBudget, args []any) (any, error) {
	if len(args) != 1 && len(args) != 2 {
		return nil, fmt.Errorf("join: want 1 or 2 arguments, got %d", len(args))
	}
	var elems []string
	switch x := args[0].(type) {
	case []string:
		elems = x
	case []any:
		elems = make([]string, len(x))
		for i, v := range x {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("join: element %d is %s, not a string", i, typeName(v))
			}
			elems[i] = s
		}
	default:
		return nil, fmt.Errorf("join: argument 1 is %s, not a list of strings", typeName(args[0]))
	}
	glue := ""
	if len(args) == 2 {
		var err error
		if glue, err = stringArg("join", 1, args[1]); err != nil {
			return nil, err
		}
	}
	if len(elems) > 1 {
		growth, ok := mulWithin(len(elems)-1, len(glue), MaxGrowth)
		if !ok {
			growth = MaxGrowth + 1
		}
		if err := b.take("join", growth); err != nil {
			return nil, err
		}
	}
	return strings.Join(elems, glue), nil
}

// toJSONFn is expr-lang's toJSON (indented by two spaces). Indentation
// grows with the square of the nesting depth, so it is charged before
// the indented copy is made.
func toJSONFn(b *growthBudget, args []any) (any, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("toJSON: want 1 argument, got %d", len(args))
	}
	compact, err := json.Marshal(args[0])
	if err != nil {
		return nil, fmt.Errorf("toJSON: %w", err)
	}
	if err := b.take("toJSON", indentedLen(compact)-len(compact)); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(indentedLen(compact))
	if err := json.Indent(&out, compact, "", "  "); err != nil {
		return nil, fmt.Errorf("toJSON: %w", err)
	}
	return out.String(), nil
}

// indentedLen is the length json.Indent(dst, b, "", "  ") produces for
// compact JSON b (as json.Marshal writes it: no space outside strings).
// Empty objects and arrays stay "{}" and "[]".
func indentedLen(b []byte) int {
	n, depth := len(b), 0
	inString, escaped := false, false
	for i, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if i+1 < len(b) && (b[i+1] == '}' || b[i+1] == ']') {
				continue
			}
			n += 1 + 2*depth
		case '}', ']':
			depth--
			if i > 0 && (b[i-1] == '{' || b[i-1] == '[') {
				continue
			}
			n += 1 + 2*depth
		case ',':
			n += 1 + 2*depth
		case ':':
			n++
		}
	}
	return n
}

// guard refuses the constructs that let one evaluation loop or grow values
// exponentially (predicates, let) and hands the budget to the budgeted
// functions. It runs on the parsed tree, before type checking.
type guard struct {
	err     *file.Error
	bounded bool
}

func (g *guard) refuse(n ast.Node, format string, args ...any) {
	loc := n.Location()
	if g.err != nil && g.err.From <= loc.From {
		return
	}
	g.err = &file.Error{Location: loc, Message: fmt.Sprintf(format, args...)}
}

func (g *guard) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BuiltinNode:
		for _, a := range n.Arguments {
			if _, ok := a.(*ast.PredicateNode); ok {
				g.refuse(n, "%s with a predicate is not supported: an expression runs once per event and cannot loop (test membership with \"in\")", n.Name)
				return
			}
		}
	case *ast.PredicateNode:
		// Reached only outside a builtin's arguments, if ever.
		g.refuse(n, "predicates are not supported: an expression runs once per event and cannot loop")
	case *ast.VariableDeclaratorNode:
		g.refuse(n, "let is not supported: an expression runs once per event and cannot define variables")
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok || !budgetedNames[id.Value] {
			return
		}
		if len(n.Arguments) > 0 {
			if b, ok := n.Arguments[0].(*ast.IdentifierNode); ok && b.Value == budgetName {
				return // already patched (the checker may walk twice)
			}
		}
		b := &ast.IdentifierNode{Value: budgetName}
		b.SetLocation(n.Location())
		n.Arguments = append([]ast.Node{b}, n.Arguments...)
		// The checker ran once before this patch and resolved the overload
		// for the unpatched arguments; a call with a type keeps it, so the
		// type is cleared for the final check to choose again.
		n.SetNature(nature.Nature{})
		g.bounded = true
	}
}
