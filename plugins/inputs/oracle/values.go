package oracle

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/sdk"
)

// kind is how a column's values are read, bound back and converted to
// event values, from the type Describe reports (ALL_TAB_COLS spelling).
type kind uint8

const (
	other        kind = iota // LONG, INTERVAL, UROWID, XMLTYPE, user types...
	numeric                  // NUMBER, FLOAT, INTEGER: a decimal string from go-ora
	binaryFloat              // BINARY_FLOAT, BINARY_DOUBLE
	date                     // DATE (seconds, no zone)
	timestamp                // TIMESTAMP(p)
	timestampTZ              // TIMESTAMP(p) WITH TIME ZONE
	timestampLTZ             // TIMESTAMP(p) WITH LOCAL TIME ZONE
	text                     // VARCHAR2, NVARCHAR2, CHAR, NCHAR
	raw                      // RAW(n)
	clob                     // CLOB, NCLOB
	blob                     // BLOB
	rowid                    // ROWID: the pseudo column (cqn) or a ROWID-typed column
)

var kindNames = [...]string{
	other: "other", numeric: "numeric", binaryFloat: "binary float",
	date: "date", timestamp: "timestamp", timestampTZ: "timestamp with time zone",
	timestampLTZ: "timestamp with local time zone", text: "text", raw: "raw",
	clob: "clob", blob: "blob", rowid: "rowid",
}

func (k kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// typeArgs drops every parenthesised part of a type: "TIMESTAMP(6) WITH
// TIME ZONE" → "TIMESTAMP WITH TIME ZONE", "VARCHAR2(32 CHAR)" → "VARCHAR2".
var typeArgs = regexp.MustCompile(`\s*\([^)]*\)`)

// kindOf reads a Describe type string. The ANSI aliases are accepted too
// (the dictionary never reports them, but a hand-written type might).
func kindOf(typ string) kind {
	base := typeArgs.ReplaceAllString(strings.ToUpper(strings.TrimSpace(typ)), "")
	switch base {
	case "NUMBER", "FLOAT", "INTEGER", "INT", "SMALLINT", "DECIMAL", "DEC", "NUMERIC", "REAL", "DOUBLE PRECISION":
		return numeric
	case "BINARY_FLOAT", "BINARY_DOUBLE":
		return binaryFloat
	case "DATE":
		return date
	case "TIMESTAMP":
		return timestamp
	case "TIMESTAMP WITH TIME ZONE":
		return timestampTZ
	case "TIMESTAMP WITH LOCAL TIME ZONE":
		return timestampLTZ
	case "VARCHAR2", "NVARCHAR2", "VARCHAR", "CHAR", "NCHAR", "CHARACTER":
		return text
	case "RAW":
		return raw
	case "CLOB", "NCLOB":
		return clob
	case "BLOB":
		return blob
	case "ROWID":
		return rowid
	}
	return other
}

var numberArgs = regexp.MustCompile(`^(?:NUMBER|DECIMAL|DEC|NUMERIC)\s*\(\s*(\*|\d+)\s*(?:,\s*(-?\d+)\s*)?\)$`)

// numberShape reads the declared precision and scale of a NUMBER type.
// constrained is false for unconstrained NUMBER and for FLOAT (a binary
// precision, no fixed scale); "NUMBER(*,s)" has Oracle's maximum
// precision, 38, and INTEGER is NUMBER(*,0).
func numberShape(typ string) (precision, scale int, constrained bool) {
	t := strings.ToUpper(strings.TrimSpace(typ))
	switch t {
	case "INTEGER", "INT", "SMALLINT":
		return 38, 0, true
	}
	m := numberArgs.FindStringSubmatch(t)
	if m == nil {
		return 0, 0, false
	}
	precision = 38
	if m[1] != "*" {
		precision, _ = strconv.Atoi(m[1])
	}
	if m[2] != "" {
		scale, _ = strconv.Atoi(m[2])
	}
	return precision, scale, true
}

// converter turns the value go-ora returned for one column into an event
// value (int64, float64, string, []byte, time.Time or nil). Its errors
// name the column and its type; the caller names the table and marks them
// capture.ErrBadData.
type converter func(v any) (any, error)

// tableConverters builds the converters of t's columns, in t.Columns order.
func tableConverters(t *capture.Table, exactDecimal bool) []converter {
	out := make([]converter, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = converterFor(c, exactDecimal)
	}
	return out
}

// converterFor builds c's converter once, so that the type string is not
// parsed per value. exactDecimal is the table's decimal = "string" option:
// NUMBER values keep their exact decimal text.
func converterFor(c capture.Column, exactDecimal bool) converter {
	k := kindOf(c.Type)
	bad := func(v any) error {
		return fmt.Errorf("column %s (%s, read as %s): unexpected Go type %T from the driver", c.Name, c.Type, k, v)
	}
	switch k {
	case numeric:
		return numericConverter(c, numberMode(c.Type, exactDecimal))
	case binaryFloat:
		return func(v any) (any, error) {
			switch x := v.(type) {
			case nil, float64:
				return v, nil
			case float32:
				return widen(x), nil
			}
			return nil, bad(v)
		}
	case date, timestamp, timestampTZ, timestampLTZ:
		// Kept exactly as the driver labels it: DATE and TIMESTAMP carry the
		// right wall clock under a fixed offset guessed at connect time, so
		// converting through UTC would shift them.
		return func(v any) (any, error) {
			switch v.(type) {
			case nil, time.Time:
				return v, nil
			}
			return nil, bad(v)
		}
	case text, clob, rowid:
		// CHAR keeps its blank padding: it is part of the stored value.
		return func(v any) (any, error) {
			switch v.(type) {
			case nil, string:
				return v, nil
			}
			return nil, bad(v)
		}
	case raw, blob:
		return func(v any) (any, error) {
			switch v.(type) {
			case nil, []byte:
				return v, nil
			}
			return nil, bad(v)
		}
	}
	return func(v any) (any, error) {
		n, err := sdk.NormalizeValue(v)
		if err != nil {
			return nil, bad(v)
		}
		return n, nil
	}
}

// widen converts a BINARY_FLOAT through its shortest decimal form, so that
// a stored 0.1 becomes the float64 0.1 and not 0.10000000149011612: the
// digits a user wrote are what the float32 was rounded from.
func widen(f float32) float64 {
	if math.IsInf(float64(f), 0) || math.IsNaN(float64(f)) {
		return float64(f)
	}
	d, _ := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	return d
}

// numMode is how a NUMBER column's values become event values.
type numMode uint8

const (
	// numFree: unconstrained NUMBER and FLOAT. Per value: integral and
	// within int64 → int64, otherwise float64 (DESIGN.md).
	numFree numMode = iota
	// numScaled: NUMBER(p,s) with s > 0 → float64 always, so that 12.00
	// and 12.50 give the field one type.
	numScaled
	// numInteger: NUMBER(p,0), NUMBER(p,-s), INTEGER → int64 when it
	// fits, else the exact decimal text. An id of 19 to 38 digits must
	// never be rounded to a float64 that names another row; the price is a
	// field that is a string for those values only.
	numInteger
	// numExact: decimal = "string" → the exact decimal text.
	numExact
)

func numberMode(typ string, exactDecimal bool) numMode {
	if exactDecimal {
		return numExact
	}
	_, scale, constrained := numberShape(typ)
	switch {
	case !constrained:
		return numFree
	case scale > 0:
		return numScaled
	}
	return numInteger
}

func numericConverter(c capture.Column, mode numMode) converter {
	return func(v any) (any, error) {
		switch x := v.(type) {
		case nil:
			return nil, nil
		case string:
			d, err := parseDecimal(x)
			if err != nil {
				return nil, fmt.Errorf("column %s (%s): %w", c.Name, c.Type, err)
			}
			return d.value(mode), nil
		case int64:
			// Not what go-ora returns for NUMBER, but exact if it does.
			return decimal{neg: x < 0, digits: strings.TrimLeft(strconv.FormatInt(x, 10), "-")}.normal().value(mode), nil
		case float64:
			switch mode {
			case numExact:
				return strconv.FormatFloat(x, 'f', -1, 64), nil
			case numScaled:
				return x, nil
			}
			if x == math.Trunc(x) && x >= -(1<<63) && x < 1<<63 {
				return int64(x), nil
			}
			return x, nil
		}
		return nil, fmt.Errorf("column %s (%s, read as %s): unexpected Go type %T from the driver", c.Name, c.Type, numeric, v)
	}
}

// decimal is a parsed decimal number: (−1 if neg) × digits × 10^exp, with
// digits free of leading and trailing zeros ("" for zero).
type decimal struct {
	neg    bool
	digits string
	exp    int
}

// NUMBER holds magnitudes from 1E-130 to below 1E126; a little slack
// keeps a defensive parser from building megabyte strings out of "1E999999".
const (
	maxDecimalExp = 130
	minDecimalExp = -170
)

// parseDecimal reads a decimal number as go-ora (and TO_CHAR) write it:
// "12.5", "-0.001", "1.", ".5", "-0", "1.5E+10", "1e-5", 38-digit values.
// It is exact: no float64 on the way.
func parseDecimal(s string) (decimal, error) {
	in := s
	s = strings.TrimSpace(s)
	var d decimal
	if s != "" && (s[0] == '-' || s[0] == '+') {
		d.neg = s[0] == '-'
		s = s[1:]
	}
	intPart := leadingDigits(s)
	s = s[len(intPart):]
	var frac string
	if s != "" && s[0] == '.' {
		frac = leadingDigits(s[1:])
		s = s[1+len(frac):]
	}
	if intPart == "" && frac == "" {
		return decimal{}, fmt.Errorf("NUMBER text %q is not a decimal number", in)
	}
	exp := 0
	if s != "" && (s[0] == 'e' || s[0] == 'E') {
		e, err := strconv.Atoi(s[1:])
		if err != nil || s[1:] == "" || len(s) > 8 {
			return decimal{}, fmt.Errorf("NUMBER text %q has a bad exponent", in)
		}
		exp, s = e, ""
	}
	if s != "" {
		return decimal{}, fmt.Errorf("NUMBER text %q is not a decimal number", in)
	}
	d.digits = intPart + frac
	d.exp = exp - len(frac)
	d = d.normal()
	if d.digits != "" && (d.exp+len(d.digits) > maxDecimalExp || d.exp < minDecimalExp) {
		return decimal{}, fmt.Errorf("NUMBER text %q is out of NUMBER's range", in)
	}
	return d, nil
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

// normal strips leading and trailing zeros; zero is never negative.
func (d decimal) normal() decimal {
	d.digits = strings.TrimLeft(d.digits, "0")
	for strings.HasSuffix(d.digits, "0") {
		d.digits = d.digits[:len(d.digits)-1]
		d.exp++
	}
	if d.digits == "" {
		return decimal{}
	}
	return d
}

// String is the plain decimal text, without exponent or trailing zeros:
// "0", "-12.5", "0.00001", "15000000000".
func (d decimal) String() string {
	if d.digits == "" {
		return "0"
	}
	var b strings.Builder
	if d.neg {
		b.WriteByte('-')
	}
	switch pos := len(d.digits) + d.exp; {
	case d.exp >= 0:
		b.WriteString(d.digits)
		b.WriteString(strings.Repeat("0", d.exp))
	case pos > 0:
		b.WriteString(d.digits[:pos])
		b.WriteByte('.')
		b.WriteString(d.digits[pos:])
	default:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -pos))
		b.WriteString(d.digits)
	}
	return b.String()
}

// value is the event value of d under mode.
func (d decimal) value(mode numMode) any {
	text := d.String()
	if mode == numExact {
		return text
	}
	if mode != numScaled && d.exp >= 0 {
		if i, err := strconv.ParseInt(text, 10, 64); err == nil {
			return i
		}
		if mode == numInteger {
			return text
		}
	}
	// ParseFloat rounds correctly; the text is in range, so no error.
	f, _ := strconv.ParseFloat(text, 64)
	return f
}

// opOf decodes a changelog's RF_OP, a CHAR(1) code written by the trigger
// or the cqn handler.
func opOf(code string) (sdk.Op, error) {
	switch strings.TrimSpace(code) {
	case "I":
		return sdk.OpInsert, nil
	case "U":
		return sdk.OpUpdate, nil
	case "D":
		return sdk.OpDelete, nil
	}
	return sdk.OpNone, fmt.Errorf("unknown RF_OP %q (want I, U or D)", code)
}
