package oracle

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/sdk"
)

func TestKindOf(t *testing.T) {
	for typ, want := range map[string]kind{
		"NUMBER": numeric, "NUMBER(12,2)": numeric, "NUMBER(10,0)": numeric, "NUMBER(*,0)": numeric,
		"FLOAT(126)": numeric, "INTEGER": numeric, "number(5)": numeric,
		"BINARY_FLOAT": binaryFloat, "BINARY_DOUBLE": binaryFloat,
		"DATE":                              date,
		"TIMESTAMP(6)":                      timestamp,
		"TIMESTAMP(9)":                      timestamp,
		"TIMESTAMP(6) WITH TIME ZONE":       timestampTZ,
		"TIMESTAMP(3) WITH LOCAL TIME ZONE": timestampLTZ,
		"VARCHAR2(32)":                      text, "NVARCHAR2(10)": text, "CHAR(3)": text, "NCHAR(2)": text, "VARCHAR2(32 CHAR)": text,
		"RAW(16)": raw, "LONG RAW": other, "LONG": other,
		"CLOB": clob, "NCLOB": clob, "BLOB": blob,
		"ROWID": rowid, "UROWID": other,
		"INTERVAL DAY(2) TO SECOND(6)": other, "XMLTYPE": other, "BFILE": other, "": other,
	} {
		if got := kindOf(typ); got != want {
			t.Errorf("kindOf(%q) = %s, want %s", typ, got, want)
		}
	}
}

func TestNumberShape(t *testing.T) {
	for _, c := range []struct {
		typ        string
		p, s       int
		constraint bool
	}{
		{"NUMBER", 0, 0, false},
		{"NUMBER(12,2)", 12, 2, true},
		{"NUMBER(10,0)", 10, 0, true},
		{"NUMBER(10)", 10, 0, true},
		{"NUMBER(*,0)", 38, 0, true},
		{"NUMBER(*,4)", 38, 4, true},
		{"NUMBER(5,-2)", 5, -2, true},
		{"INTEGER", 38, 0, true},
		{"FLOAT(126)", 0, 0, false},
		{"BINARY_DOUBLE", 0, 0, false},
		{"VARCHAR2(12)", 0, 0, false},
	} {
		p, s, ok := numberShape(c.typ)
		if p != c.p || s != c.s || ok != c.constraint {
			t.Errorf("numberShape(%s) = %d, %d, %v; want %d, %d, %v", c.typ, p, s, ok, c.p, c.s, c.constraint)
		}
	}
}

// same reports whether got is want with the same Go type.
func same(got, want any) bool {
	if fmt.Sprintf("%T", got) != fmt.Sprintf("%T", want) {
		return false
	}
	if f, ok := want.(float64); ok && math.IsNaN(f) {
		return math.IsNaN(got.(float64))
	}
	return fmt.Sprintf("%#v", got) == fmt.Sprintf("%#v", want)
}

const digits38 = "12345678901234567890123456789012345678"

func TestNumericConversion(t *testing.T) {
	for _, c := range []struct {
		typ   string
		exact bool
		in    any
		want  any
	}{
		// NUMBER(p,s>0): always float64.
		{"NUMBER(12,2)", false, "12.5", 12.5},
		{"NUMBER(12,2)", false, "12", 12.0},
		{"NUMBER(12,2)", false, "12.", 12.0},
		{"NUMBER(12,2)", false, "-0.01", -0.01},
		{"NUMBER(12,2)", false, ".5", 0.5},
		{"NUMBER(12,2)", false, "1.5E+10", 1.5e10},
		{"NUMBER(12,2)", false, int64(5), 5.0},
		{"NUMBER(12,2)", false, nil, nil},
		// NUMBER(p,0) and INTEGER: int64, or the exact text past int64.
		{"NUMBER(10,0)", false, "42", int64(42)},
		{"NUMBER(10,0)", false, "-7", int64(-7)},
		{"NUMBER(10,0)", false, "-0", int64(0)},
		{"NUMBER(10,0)", false, "1.5E+10", int64(15000000000)},
		{"NUMBER(10,0)", false, "1e2", int64(100)},
		{"NUMBER(19,0)", false, "9223372036854775807", int64(math.MaxInt64)},
		{"NUMBER(19,0)", false, "-9223372036854775808", int64(math.MinInt64)},
		{"NUMBER(19,0)", false, "9223372036854775808", "9223372036854775808"},
		{"NUMBER(38,0)", false, digits38, digits38},
		{"NUMBER(38,0)", false, "-" + digits38, "-" + digits38},
		{"NUMBER(*,0)", false, "1" + strings.Repeat("0", 38), "1" + strings.Repeat("0", 38)},
		{"INTEGER", false, "12", int64(12)},
		{"NUMBER(5,-2)", false, "12300", int64(12300)},
		// Unconstrained NUMBER and FLOAT: per value, int64 or float64.
		{"NUMBER", false, "42", int64(42)},
		{"NUMBER", false, "1.", int64(1)},
		{"NUMBER", false, "12.5", 12.5},
		{"NUMBER", false, "0.5", 0.5},
		{"NUMBER", false, ".5", 0.5},
		{"NUMBER", false, "-.5", -0.5},
		{"NUMBER", false, "+3", int64(3)},
		{"NUMBER", false, "-0", int64(0)},
		{"NUMBER", false, "1e-5", 1e-5},
		{"NUMBER", false, "1.5E+10", int64(15000000000)},
		{"NUMBER", false, "1E-130", 1e-130},
		{"NUMBER", false, digits38, 1.2345678901234568e37},
		{"NUMBER", false, "-9223372036854775809", -9.223372036854776e18},
		{"NUMBER", false, " 12", int64(12)},
		{"NUMBER", false, float64(2), int64(2)},
		{"NUMBER", false, 2.5, 2.5},
		{"FLOAT(126)", false, "0.1", 0.1},
		{"FLOAT(126)", false, "3", int64(3)},
		// decimal = "string": exact text, normalised.
		{"NUMBER(12,2)", true, "12.5", "12.5"},
		{"NUMBER(12,2)", true, "12.50", "12.5"},
		{"NUMBER(12,2)", true, "12.", "12"},
		{"NUMBER", true, "-0", "0"},
		{"NUMBER", true, "007", "7"},
		{"NUMBER", true, ".5", "0.5"},
		{"NUMBER", true, "-0.001", "-0.001"},
		{"NUMBER", true, "1.5E+10", "15000000000"},
		{"NUMBER", true, "1e-5", "0.00001"},
		{"NUMBER(38,0)", true, digits38, digits38},
		{"NUMBER", true, "0." + digits38, "0." + digits38},
		{"NUMBER", true, int64(-5), "-5"},
		{"NUMBER", true, 0.25, "0.25"},
		{"NUMBER", true, nil, nil},
	} {
		got, err := converterFor(col("N", c.typ), c.exact)(c.in)
		if err != nil {
			t.Errorf("%s exact=%v %#v: %v", c.typ, c.exact, c.in, err)
			continue
		}
		if !same(got, c.want) {
			t.Errorf("%s exact=%v %#v = %#v (%T), want %#v (%T)", c.typ, c.exact, c.in, got, got, c.want, c.want)
		}
	}
}

func TestNumericGarbage(t *testing.T) {
	for _, in := range []string{"", " ", "abc", "1,5", "1.2.3", "--1", "-", ".", "1e", "1e+", "1e5x", "NaN", "Infinity", "~",
		"0x10", "1_000", "1e99999999", "1e400", "1e-400"} {
		for _, exact := range []bool{false, true} {
			_, err := converterFor(col("AMOUNT", "NUMBER(12,2)"), exact)(in)
			if err == nil {
				t.Errorf("%q (exact=%v): no error", in, exact)
				continue
			}
			if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("%q", in)) || !strings.Contains(msg, "AMOUNT (NUMBER(12,2))") {
				t.Errorf("%q: error %q does not quote the text and name the column", in, msg)
			}
		}
	}
}

func TestConversionByKind(t *testing.T) {
	ist := time.FixedZone("", 5*3600+30*60)
	wall := time.Date(2026, 11, 21, 11, 30, 0, 123456789, ist)
	pst := time.Date(2026, 11, 21, 11, 30, 0, 0, time.FixedZone("PST", -8*3600))
	for _, c := range []struct {
		typ  string
		in   any
		want any
	}{
		{"BINARY_FLOAT", float32(0.1), 0.1},
		{"BINARY_FLOAT", float32(-2.5), -2.5},
		{"BINARY_FLOAT", float32(math.Inf(1)), math.Inf(1)},
		{"BINARY_FLOAT", float32(math.NaN()), math.NaN()},
		{"BINARY_DOUBLE", 0.1, 0.1},
		{"BINARY_DOUBLE", nil, nil},
		{"DATE", wall, wall},
		{"TIMESTAMP(6)", wall, wall},
		{"TIMESTAMP(6) WITH TIME ZONE", pst, pst},
		{"TIMESTAMP(6) WITH LOCAL TIME ZONE", wall, wall},
		{"TIMESTAMP(6)", nil, nil},
		{"VARCHAR2(10)", "abc", "abc"},
		{"CHAR(5)", "AB   ", "AB   "},
		{"NCHAR(2)", "é ", "é "},
		{"CLOB", strings.Repeat("x", 5000), strings.Repeat("x", 5000)},
		{"NCLOB", "ü", "ü"},
		{"RAW(4)", []byte{0xde, 0xad}, []byte{0xde, 0xad}},
		{"BLOB", []byte{}, []byte{}},
		{"ROWID", "AAAR3sAAEAAAACXAAA", "AAAR3sAAEAAAACXAAA"},
		{"LONG", "long text", "long text"},
		{"INTERVAL DAY(2) TO SECOND(6)", "+01 02:03:04.000000", "+01 02:03:04.000000"},
		{"XMLTYPE", int32(4), int64(4)},
		{"XMLTYPE", nil, nil},
	} {
		got, err := converterFor(col("C", c.typ), false)(c.in)
		if err != nil {
			t.Errorf("%s %#v: %v", c.typ, c.in, err)
			continue
		}
		if !same(got, c.want) {
			t.Errorf("%s %#v = %#v, want %#v", c.typ, c.in, got, c.want)
		}
	}
}

// DATE and TIMESTAMP values keep the wall clock and the zone go-ora gave
// them: never converted through UTC.
func TestTimesKeepWallClockAndZone(t *testing.T) {
	ist := time.FixedZone("", 5*3600+30*60)
	in := time.Date(2026, 11, 21, 11, 30, 15, 500, ist)
	for _, typ := range []string{"DATE", "TIMESTAMP(6)", "TIMESTAMP(9) WITH TIME ZONE", "TIMESTAMP(6) WITH LOCAL TIME ZONE"} {
		v, err := converterFor(col("AT", typ), false)(in)
		if err != nil {
			t.Fatal(err)
		}
		got := v.(time.Time)
		if got.Location() != ist || got.Hour() != 11 || got.Minute() != 30 || got.Nanosecond() != 500 {
			t.Errorf("%s: %v (zone %v), want %v", typ, got, got.Location(), in)
		}
		if _, off := got.Zone(); off != 5*3600+30*60 {
			t.Errorf("%s: offset %d", typ, off)
		}
	}
}

func TestUnexpectedGoType(t *testing.T) {
	for _, c := range []struct {
		typ string
		in  any
		say string
	}{
		{"NUMBER(10,0)", []byte("12"), "[]uint8"},
		{"NUMBER", true, "bool"},
		{"BINARY_DOUBLE", "1.5", "string"},
		{"DATE", "2026-11-21", "string"},
		{"TIMESTAMP(6) WITH TIME ZONE", int64(1), "int64"},
		{"VARCHAR2(3)", []byte("abc"), "[]uint8"},
		{"CLOB", struct{ Locator []byte }{}, "struct"},
		{"RAW(16)", "DEAD", "string"},
		{"BLOB", "x", "string"},
		{"ROWID", []byte("x"), "[]uint8"},
		{"XMLTYPE", struct{}{}, "struct {}"},
	} {
		_, err := converterFor(col("COL1", c.typ), false)(c.in)
		if err == nil {
			t.Errorf("%s %T: no error", c.typ, c.in)
			continue
		}
		msg := err.Error()
		for _, w := range []string{"COL1", c.typ, "read as " + kindOf(c.typ).String(), c.say} {
			if !strings.Contains(msg, w) {
				t.Errorf("%s %T: error %q does not say %q", c.typ, c.in, msg, w)
			}
		}
	}
}

func TestTableConverters(t *testing.T) {
	tbl := txTable()
	convs := tableConverters(tbl, false)
	if len(convs) != len(tbl.Columns) {
		t.Fatalf("%d converters for %d columns", len(convs), len(tbl.Columns))
	}
	row := []any{"42", "12.5", "EUR", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	want := []any{int64(42), 12.5, "EUR", row[3]}
	for i, f := range convs {
		got, err := f(row[i])
		if err != nil || !same(got, want[i]) {
			t.Errorf("column %s: %#v, %v; want %#v", tbl.Columns[i].Name, got, err, want[i])
		}
	}
	exact := tableConverters(tbl, true)
	if got, _ := exact[1]("12.5"); got != "12.5" {
		t.Errorf("decimal = string: %#v", got)
	}
}

func TestOpOf(t *testing.T) {
	for in, want := range map[string]sdk.Op{"I": sdk.OpInsert, "U": sdk.OpUpdate, "D": sdk.OpDelete, "D ": sdk.OpDelete, " I": sdk.OpInsert} {
		got, err := opOf(in)
		if err != nil || got != want {
			t.Errorf("opOf(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "i", "R", "X", "IU", "insert"} {
		if _, err := opOf(in); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", in)) {
			t.Errorf("opOf(%q): error %v", in, err)
		}
	}
}

// BenchmarkConvertRows converts batches of rows shaped like the workload's
// transactions table (NUMBER(19,0), NUMBER(12,2), VARCHAR2, TIMESTAMP):
// the per-row cost every strategy pays on top of the fetch.
func BenchmarkConvertRows(b *testing.B) {
	cols := []capture.Column{
		{Name: "TRANSACTION_ID", Type: "NUMBER(19,0)"},
		{Name: "AMOUNT", Type: "NUMBER(12,2)"},
		{Name: "CURRENCY", Type: "VARCHAR2(3)"},
		{Name: "PRODUCT_CATEGORY", Type: "VARCHAR2(32)"},
		{Name: "CREATED_AT", Type: "TIMESTAMP(6)"},
		{Name: "UPDATED_AT", Type: "TIMESTAMP(6)"},
	}
	convs := make([]converter, len(cols))
	for i, c := range cols {
		convs[i] = converterFor(c, false)
	}
	now := time.Now()
	row := []any{"1234567", "1049.95", "EUR", "books", now, now}
	b.ReportAllocs()
	for b.Loop() {
		for i, f := range convs {
			if _, err := f(row[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
}
