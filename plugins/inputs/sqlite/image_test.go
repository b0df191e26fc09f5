package sqlite

import (
	"context"
	"flag"
	"github.com/rowflux/rowflux/plugins/common/inputtest"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rowflux/rowflux/plugins/common/capture"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestTriggerImagesRoundTrip writes awkward values through the real
// trigger and checks they come back exactly.
func TestTriggerImagesRoundTrip(t *testing.T) {
	path, db := newDB(t)
	in := newInput(t, path, "trigger")
	if err := in.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		cur, cat string
		amount   any
		note     []byte
	}{
		{`"q"`, "tab\there\nnewline\\back", 1.5, []byte{0, 1, 2, 255}},
		{"€", "emoji 🛒 and \u2028 and \x01", math.MaxInt64, nil},
		{"x", "", -0.001, []byte{}},
		{"y", strings.Repeat("long ", 200), math.MinInt64, []byte("text")},
	}
	for i, c := range cases {
		if _, err := db.Exec("INSERT INTO transactions VALUES (?, ?, ?, ?, ?, ?, ?)", i+1, c.amount, c.cur, c.cat, t0, t0, c.note); err != nil {
			t.Fatal(err)
		}
	}
	rec, stop := inputtest.Start(t, in)
	ev := rec.WaitFor(t, len(cases))
	stop()
	for i, c := range cases {
		e := ev[i]
		cur, _ := e.Tag("currency")
		cat, _ := e.Field("product_category")
		note, _ := e.Field("note")
		amount, _ := e.Field("amount")
		if cur != c.cur || cat != c.cat {
			t.Errorf("row %d: text came back as %q / %q", i, cur, cat)
		}
		wantAmount := c.amount
		if n, ok := wantAmount.(int); ok {
			wantAmount = float64(n) // NUMERIC(12,2) is a float column
		}
		if amount != wantAmount {
			t.Errorf("row %d: amount %#v, want %#v", i, amount, wantAmount)
		}
		if c.note == nil {
			if note != nil {
				t.Errorf("row %d: NULL blob came back as %#v", i, note)
			}
		} else if b, _ := note.([]byte); string(b) != string(c.note) {
			t.Errorf("row %d: blob %#v, want %#v", i, note, c.note)
		}
	}
}

// Rows written before a setup changed the captured columns still decode
// by name: new columns are NULL, dropped ones are ignored.
func TestOlderImageLayoutsDecodeByName(t *testing.T) {
	tbl := &capture.Table{Name: "t", Columns: []capture.Column{{Name: "id", Type: "INTEGER"}, {Name: "amount", Type: "REAL"}, {Name: "added", Type: "TEXT"}}}
	s := &source{}
	vals, err := s.decodeImage(tbl, `[["amount","id","dropped"],2.5,7,"x"]`)
	if err != nil {
		t.Fatal(err)
	}
	if vals[0] != int64(7) || vals[1] != 2.5 || vals[2] != nil {
		t.Fatalf("got %#v", vals)
	}
	if _, err := s.decodeImage(tbl, `[["id"],1,2]`); err == nil {
		t.Fatal("an image with more values than names was accepted")
	}
}

func TestParseImage(t *testing.T) {
	cases := []struct {
		in   string
		want []any
		err  bool
	}{
		{`[["a","b"],1,"x"]`, []any{int64(1), "x"}, false},
		{`[["a"],null]`, []any{nil}, false},
		{`[["a","b","c"],-1.5e3,1.0,9223372036854775807]`, []any{-1500.0, 1.0, int64(math.MaxInt64)}, false},
		{`[["a"],99999999999999999999]`, []any{1e20}, false},
		{`[["a"],"\"\\\/\b\f\n\r\t\u00e9\ud83d\uded2"]`, []any{"\"\\/\b\f\n\r\té🛒"}, false},
		{` [ [ "a" ] , 1 ] `, []any{int64(1)}, false},
		{`[["a"],true]`, nil, true},
		{`[["a"],"unterminated]`, nil, true},
		{`{"a":1}`, nil, true},
		{`[1,2]`, nil, true},
		{`[["a"],"\x"]`, nil, true},
	}
	for _, tc := range cases {
		_, got, err := parseImage(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("%s: err %v", tc.in, err)
			continue
		}
		if !tc.err && len(got) != len(tc.want) {
			t.Errorf("%s: got %#v", tc.in, got)
			continue
		}
		for i := range tc.want {
			if got[i] != tc.want[i] {
				t.Errorf("%s: value %d = %#v, want %#v", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

func FuzzParseImage(f *testing.F) {
	for _, s := range []string{`[["a","b"],1,"x"]`, `[["a"],null]`, `[["a"],"\u00e9\ud83d"]`, `[[],]`, `[["a"],-]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		header, vals, err := parseImage(s)
		if err != nil {
			return
		}
		if _, err := parseHeader(header); err != nil {
			t.Fatalf("header %q of an accepted image does not parse: %v", header, err)
		}
		for _, v := range vals {
			if str, ok := v.(string); ok && utf8.ValidString(s) && !utf8.ValidString(str) {
				t.Fatalf("valid input gave invalid UTF-8 %q", str)
			}
		}
	})
}

// TestSetupSQLGolden pins the exact statements setup runs (and doctor
// prints) for a representative table.
func TestSetupSQLGolden(t *testing.T) {
	tables := []*capture.Table{{
		Name: "transactions",
		Columns: []capture.Column{
			{Name: "transaction_id", Type: "INTEGER"}, {Name: "amount", Type: "NUMERIC(12,2)"},
			{Name: "it's", Type: "TEXT"}, {Name: `we"ird`, Type: "BLOB"},
		},
	}}
	var b strings.Builder
	for _, o := range objects(capture.Notify, "rowflux_changelog", tables) {
		b.WriteString("-- " + o.kind + " " + o.name + "\n" + o.create + ";\n\n")
	}
	golden := filepath.Join("testdata", "setup.golden.sql")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Fatalf("setup SQL changed (run with -update if intended):\n%s", b.String())
	}
	if objects(capture.Polling, "rowflux_changelog", tables) != nil {
		t.Fatal("polling needs no capture objects")
	}
}
