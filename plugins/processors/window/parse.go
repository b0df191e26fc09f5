package window

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/rowflux/rowflux/plugins/common/expression"
)

// aggKind is an aggregate function.
type aggKind uint8

const (
	kCount aggKind = iota
	kSum
	kAvg
	kMin
	kMax
	kFirst
	kLast
	kStddev
	kDistinct
	kPercentile
)

var aggNames = map[string]aggKind{
	"count": kCount, "sum": kSum, "avg": kAvg, "min": kMin, "max": kMax,
	"first": kFirst, "last": kLast, "stddev": kStddev,
	"count_distinct": kDistinct, "percentile": kPercentile,
}

var aggUsage = [...]string{
	kCount: "count()", kSum: "sum(x)", kAvg: "avg(x)", kMin: "min(x)", kMax: "max(x)",
	kFirst: "first(x)", kLast: "last(x)", kStddev: "stddev(x)",
	kDistinct: "count_distinct(x)", kPercentile: "percentile(x, p)",
}

const aggList = "count, sum, avg, min, max, first, last, stddev, count_distinct, percentile"

// cexpr is a compiled expression. bare is set when the source is a plain
// identifier: it is then read from the event directly (fields, then tags,
// then op/table/time, like expression's environment) without boxing tag
// strings or the event time.
type cexpr struct {
	x    *expression.Expr
	bare string
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// compileAt compiles src; offset is the 0-based position of src in the
// configuration string, added to the column of a compile error.
func compileAt(src string, offset int, asBool bool) (*cexpr, error) {
	var (
		x   *expression.Expr
		err error
	)
	if asBool {
		x, err = expression.CompileBool(src)
	} else {
		x, err = expression.Compile(src)
	}
	if err != nil {
		return nil, shiftColumn(err, offset)
	}
	c := &cexpr{x: x}
	if isIdent(src) && src != "true" && src != "false" && src != "nil" {
		c.bare = src
	}
	return c, nil
}

// shiftColumn turns "column N: msg" into "column N+offset: msg".
func shiftColumn(err error, offset int) error {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "column "); ok {
		if i := strings.IndexByte(rest, ':'); i > 0 {
			if n, perr := strconv.Atoi(rest[:i]); perr == nil {
				return fmt.Errorf("column %d:%s", n+offset, rest[i+1:])
			}
		}
	}
	return err
}

// trimOffset trims spaces and returns the offset of the trimmed text in s.
func trimOffset(s string) (string, int) {
	t := strings.TrimLeft(s, " \t\r\n")
	off := len(s) - len(t)
	return strings.TrimRight(t, " \t\r\n"), off
}

// aggSpec is a parsed aggregate call.
type aggSpec struct {
	kind aggKind
	arg  string // argument expression ("" for count)
	off  int    // 0-based offset of arg in the field string
	p    float64
}

// parseAgg parses "name(arg, ...)". Errors do not carry the field key; the
// caller prefixes it.
func parseAgg(s string) (aggSpec, error) {
	body, base := trimOffset(s)
	i := 0
	for i < len(body) && (body[i] == '_' || body[i] >= 'a' && body[i] <= 'z' || body[i] >= 'A' && body[i] <= 'Z' || i > 0 && body[i] >= '0' && body[i] <= '9') {
		i++
	}
	name := body[:i]
	j := i
	for j < len(body) && (body[j] == ' ' || body[j] == '\t') {
		j++
	}
	if name == "" || j >= len(body) || body[j] != '(' {
		return aggSpec{}, fmt.Errorf("%q is not an aggregate call; want one of %s, e.g. sum(amount)", body, aggList)
	}
	kind, ok := aggNames[strings.ToLower(name)]
	if !ok {
		return aggSpec{}, fmt.Errorf("column %d: unknown aggregate %q (want %s)", base+1, name, aggList)
	}
	open := j
	args, end, err := splitArgs(body, open)
	if err != nil {
		return aggSpec{}, shiftColumn(err, base)
	}
	if rest, roff := trimOffset(body[end+1:]); rest != "" {
		return aggSpec{}, fmt.Errorf("column %d: unexpected %q after the closing parenthesis of %s", base+end+2+roff, rest, name)
	}
	// A single empty argument is no argument.
	if len(args) == 1 && strings.TrimSpace(body[args[0][0]:args[0][1]]) == "" {
		args = nil
	}
	want := 1
	switch kind {
	case kCount:
		want = 0
	case kPercentile:
		want = 2
	}
	if len(args) != want {
		return aggSpec{}, fmt.Errorf("%s takes %d argument%s (%s), got %d", name, want, plural(want), aggUsage[kind], len(args))
	}
	sp := aggSpec{kind: kind}
	if want == 0 {
		return sp, nil
	}
	a, off := trimOffset(body[args[0][0]:args[0][1]])
	if a == "" {
		return aggSpec{}, fmt.Errorf("column %d: %s: empty argument", base+args[0][0]+1, name)
	}
	sp.arg, sp.off = a, base+args[0][0]+off
	if kind == kPercentile {
		ps := strings.TrimSpace(body[args[1][0]:args[1][1]])
		p, err := strconv.ParseFloat(ps, 64)
		if err != nil || p < 0 || p > 100 || p != p {
			return aggSpec{}, fmt.Errorf("percentile: p must be a number between 0 and 100, got %q", ps)
		}
		sp.p = p
	}
	return sp, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// splitArgs splits the arguments of the call whose '(' is at s[open] at
// top-level commas, respecting parentheses, brackets, braces and quotes. It
// returns [start, end) byte ranges and the index of the closing ')'.
func splitArgs(s string, open int) ([][2]int, int, error) {
	var args [][2]int
	depth := 0
	start := open + 1
	var stack []byte
	for i := open + 1; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\'', '"', '`':
			q := c
			k := i + 1
			for ; k < len(s); k++ {
				if s[k] == '\\' && q != '`' {
					k++
					continue
				}
				if s[k] == q {
					break
				}
			}
			if k >= len(s) {
				return nil, 0, fmt.Errorf("column %d: unterminated string", i+1)
			}
			i = k
		case '(', '[', '{':
			stack = append(stack, c)
			depth++
		case ')', ']', '}':
			if depth == 0 {
				if c != ')' {
					return nil, 0, fmt.Errorf("column %d: unexpected %q", i+1, c)
				}
				args = append(args, [2]int{start, i})
				return args, i, nil
			}
			want := map[byte]byte{')': '(', ']': '[', '}': '{'}[c]
			if stack[len(stack)-1] != want {
				return nil, 0, fmt.Errorf("column %d: unexpected %q", i+1, c)
			}
			stack = stack[:len(stack)-1]
			depth--
		case ',':
			if depth == 0 {
				args = append(args, [2]int{start, i})
				start = i + 1
			}
		}
	}
	return nil, 0, fmt.Errorf("column %d: missing closing parenthesis", len(s)+1)
}

// splitGroupBy splits "key=expr" when the left side is a plain identifier
// and the right side is a non-empty expression (so "a==b" stays an
// expression). It returns the tag key, the expression and its offset.
func splitGroupBy(s string) (key, src string, off int) {
	if i := strings.IndexByte(s, '='); i > 0 && (i+1 >= len(s) || s[i+1] != '=') {
		left := strings.TrimSpace(s[:i])
		right, roff := trimOffset(s[i+1:])
		if isIdent(left) && right != "" {
			return left, right, i + 1 + roff
		}
	}
	src, off = trimOffset(s)
	return src, src, off
}
