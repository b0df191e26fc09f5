package capture

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

func TestValueCodecRoundTrip(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = time.FixedZone("EST", -5*3600)
	}
	values := []any{
		nil,
		int64(0), int64(-1), int64(math.MaxInt64), int64(math.MinInt64),
		0.0, math.Copysign(0, -1), 1.5, 0.1, 1.0 / 3, math.Pi, 1e300, 5e-324, math.MaxFloat64, -123456789.123456789,
		math.Inf(1), math.Inf(-1),
		"", "plain", "  padded  ", "\t", "a:b:c", ":", "s:nested", "ünïcødé", "with\nnewline", strings.Repeat("x", 1000),
		true, false,
		[]byte{}, []byte{0}, []byte{0xff, 0x00, ':'}, []byte("i:1"),
		time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 1, time.FixedZone("", 5*3600+30*60)),
		time.Date(1999, 12, 31, 0, 0, 0, 0, time.FixedZone("", -8*3600)),
		time.Date(2024, 7, 1, 12, 0, 0, 999999999, ny),
		time.Unix(0, 0).UTC(),
	}
	for _, v := range values {
		s, err := encodeValue(v)
		if err != nil {
			t.Errorf("encodeValue(%#v): %v", v, err)
			continue
		}
		got, err := decodeValue(s)
		if err != nil {
			t.Errorf("decodeValue(%q) (from %#v): %v", s, v, err)
			continue
		}
		if !sameValue(got, v) {
			t.Errorf("round trip of %#v via %q gave %#v", v, s, got)
		}
	}
}

// sameValue compares exactly: same type, same bits for floats, same
// instant and same UTC offset for times.
func sameValue(got, want any) bool {
	switch w := want.(type) {
	case nil:
		return got == nil
	case float64:
		g, ok := got.(float64)
		return ok && math.Float64bits(g) == math.Float64bits(w)
	case []byte:
		g, ok := got.([]byte)
		return ok && bytes.Equal(g, w)
	case time.Time:
		g, ok := got.(time.Time)
		if !ok || !g.Equal(w) || g.Nanosecond() != w.Nanosecond() {
			return false
		}
		_, go1 := g.Zone()
		_, wo := w.Zone()
		return go1 == wo
	default:
		return got == want
	}
}

func TestValueCodecNaN(t *testing.T) {
	s, err := encodeValue(math.NaN())
	if err != nil {
		t.Fatal(err)
	}
	v, err := decodeValue(s)
	if err != nil || !math.IsNaN(v.(float64)) {
		t.Fatalf("NaN via %q gave %v, %v", s, v, err)
	}
}

func TestValueCodecRejectsUnsupportedTypes(t *testing.T) {
	for _, v := range []any{int(1), int32(1), uint64(1), float32(1), struct{}{}, []string{"a"}, &time.Time{}} {
		if s, err := encodeValue(v); err == nil {
			t.Errorf("encodeValue(%T) = %q, want an error", v, s)
		}
	}
}

func TestValueCodecRejectsBadInput(t *testing.T) {
	for _, s := range []string{
		"", "i", "i1", "?:1", "I:1", "q:", "::", "int:1",
		"i:", "i:1.5", "i:abc", "i:99999999999999999999",
		"f:", "f:abc", "f:1,5",
		"b:", "b:yes", "b:maybe",
		"x:!!!", "x:abc", // not base64
		"t:", "t:yesterday", "t:2024-02-30T00:00:00Z", "t:2024-01-01 00:00:00",
	} {
		if v, err := decodeValue(s); err == nil {
			t.Errorf("decodeValue(%q) = %#v, want an error", s, v)
		}
	}
}

func TestPositionRoundTrip(t *testing.T) {
	cursors := map[string][]any{
		"orders":      {time.Date(2024, 1, 2, 3, 4, 5, 6, time.FixedZone("", 3600)), int64(42)},
		"shop.stock":  {time.Unix(1, 0).UTC(), "site:a", int64(-7)},
		"float_keyed": {1.0 / 3, []byte{1, 2}, true, nil},
	}
	e := &Engine{}
	p, err := e.pollPosition(cursors)
	if err != nil {
		t.Fatal(err)
	}
	pos := mustDecode(t, p)
	if pos.Strategy != Polling {
		t.Fatalf("strategy %q", pos.Strategy)
	}
	got, err := decodeCursors(pos)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(cursors) {
		t.Fatalf("cursors %v", got)
	}
	for table, want := range cursors {
		if len(got[table]) != len(want) {
			t.Fatalf("%s: %v", table, got[table])
		}
		for i := range want {
			if !sameValue(got[table][i], want[i]) {
				t.Errorf("%s[%d] = %#v, want %#v", table, i, got[table][i], want[i])
			}
		}
	}

	// A cursor value that cannot be stored is an error, not a silent loss.
	if _, err := e.pollPosition(map[string][]any{"orders": {int(1)}}); err == nil || !strings.Contains(err.Error(), "orders") {
		t.Fatalf("pollPosition of an int = %v", err)
	}

	// Changelog positions.
	cp := mustDecode(t, position{Strategy: Trigger, Batch: 12}.encode())
	if cp.Strategy != Trigger || cp.Batch != 12 || cp.Cursors != nil {
		t.Fatalf("changelog position %+v", cp)
	}
	if p, err := decodePosition(nil); err != nil || p.Strategy != "" {
		t.Fatalf("nil position: %+v %v", p, err)
	}
	if _, err := decodePosition(sdk.Position(`{"batch":"x"}`)); err == nil {
		t.Fatal("bad position accepted")
	}
	if _, err := decodeCursors(position{Cursors: map[string][]string{"orders": {"t:bad"}}}); err == nil ||
		!strings.Contains(err.Error(), "orders") {
		t.Fatalf("bad cursor: %v", err)
	}
}

func TestPollingPositionWithZonedTimestamps(t *testing.T) {
	// Timestamps in a non-UTC zone with nanoseconds survive a restart
	// exactly: a rounded cursor would skip or repeat rows.
	zone := time.FixedZone("", -3*3600-30*60)
	base := time.Date(2024, 6, 1, 8, 0, 0, 0, zone)
	f := newFake()
	f.addTable("orders", "id INTEGER", "ts TIMESTAMP")
	for i := int64(1); i <= 6; i++ {
		f.insert("orders", []any{i, base.Add(time.Duration(i) * time.Nanosecond)})
	}
	rec1 := newRec()
	rec1.failAfter = 1
	cfg := testConfig("polling", TableConfig{Name: "orders", Key: []string{"id"}, TimestampColumn: "ts"})
	cfg.BatchSize = 3
	r := start(t, newEngine(t, cfg, f, sdk.Env{}), nil, rec1)
	_ = r.wait(t)

	rec2 := newRec()
	start(t, newEngine(t, cfg, f, sdk.Env{}), rec1.lastPos(), rec2)
	rec2.waitEvents(t, 3)
	settle(t, f, "PollUpper", 3)
	got := append(ids(t, rec1.events(), "id"), ids(t, rec2.events(), "id")...)
	if len(got) != 6 {
		t.Fatalf("ids %v, want 1..6", got)
	}
	for i, id := range got {
		if id != int64(i+1) {
			t.Fatalf("ids %v, want 1..6", got)
		}
	}
}
