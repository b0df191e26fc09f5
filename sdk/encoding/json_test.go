package encoding

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// decodeJSONLine parses one line as a generic object, keeping numbers exact.
func decodeJSONLine(t testing.TB, line []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		t.Fatalf("invalid JSON %q: %v", line, err)
	}
	if dec.More() {
		t.Fatalf("more than one value on line %q", line)
	}
	return obj
}

func TestJSONEvent(t *testing.T) {
	tests := []struct {
		name string
		ev   sdk.Event
		want string
	}{
		{
			"change",
			sdk.Event{
				Name: "transactions", Op: sdk.OpInsert,
				Tags:   []sdk.Tag{{Key: "currency", Value: "EUR"}},
				Fields: []sdk.Field{{Key: "amount", Value: 12.5}, {Key: "id", Value: int64(7)}},
				Time:   commitTime,
			},
			`{"name":"transactions","op":"insert","tags":{"currency":"EUR"},"fields":{"amount":12.5,"id":7},"time":"2026-11-21T05:47:03.123456789Z"}`,
		},
		{
			"metric without op",
			sdk.Event{Name: "volume", Fields: []sdk.Field{{Key: "n", Value: int64(1)}}, Time: windowEnd},
			`{"name":"volume","tags":{},"fields":{"n":1},"time":"2026-11-21T05:47:10Z"}`,
		},
		{
			"empty event",
			sdk.Event{},
			`{"name":"","tags":{},"fields":{}}`,
		},
		{
			"every op",
			sdk.Event{Name: "t", Op: sdk.OpUpsert},
			`{"name":"t","op":"upsert","tags":{},"fields":{}}`,
		},
		{
			"time in another zone",
			sdk.Event{Name: "t", Op: sdk.OpDelete, Time: time.Date(2026, 1, 1, 1, 0, 0, 500, time.FixedZone("X", 3600))},
			`{"name":"t","op":"delete","tags":{},"fields":{},"time":"2026-01-01T00:00:00.0000005Z"}`,
		},
		{
			"unsorted tags are sorted, empty tag kept",
			sdk.Event{Name: "t", Tags: []sdk.Tag{{Key: "b", Value: ""}, {Key: "a", Value: "1"}}},
			`{"name":"t","tags":{"a":"1","b":""},"fields":{}}`,
		},
		{
			"fields keep event order",
			sdk.Event{Name: "t", Fields: []sdk.Field{{Key: "z", Value: int64(1)}, {Key: "a", Value: int64(2)}, {Key: "m", Value: int64(3)}}},
			`{"name":"t","tags":{},"fields":{"z":1,"a":2,"m":3}}`,
		},
		{
			"unsupported value left out",
			sdk.Event{Name: "t", Fields: []sdk.Field{{Key: "a", Value: struct{}{}}, {Key: "b", Value: int64(2)}, {Key: "c", Value: []string{}}}},
			`{"name":"t","tags":{},"fields":{"b":2}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, skipped := encodeOne(t, FormatJSON, tc.ev)
			if want := tc.want + "\n"; got != want || skipped != 0 {
				t.Errorf("got %q (skipped %d)\nwant %q", got, skipped, want)
			}
			decodeJSONLine(t, []byte(got))
		})
	}
}

func TestJSONValues(t *testing.T) {
	tests := []struct {
		name  string
		value any
		want  string // the value as written
		back  any    // what encoding/json decodes it to (numbers as json.Number)
	}{
		{"int64", int64(-42), "-42", json.Number("-42")},
		{"int64 min", int64(math.MinInt64), "-9223372036854775808", json.Number("-9223372036854775808")},
		{"float64", 12.5, "12.5", json.Number("12.5")},
		{"float64 integral", 2.0, "2", json.Number("2")},
		{"float64 large", 1e21, "1e+21", json.Number("1e+21")},
		{"float64 small", 1e-7, "1e-07", json.Number("1e-07")},
		{"float64 negative zero", math.Copysign(0, -1), "-0", json.Number("-0")},
		{"float64 max", math.MaxFloat64, "1.7976931348623157e+308", json.Number("1.7976931348623157e+308")},
		{"float64 NaN", math.NaN(), "null", nil},
		{"float64 +Inf", math.Inf(1), "null", nil},
		{"float64 -Inf", math.Inf(-1), "null", nil},
		{"string", "hi", `"hi"`, "hi"},
		{"bool true", true, "true", true},
		{"bool false", false, "false", false},
		{"bytes", []byte{0, 1, 0xfe, 0xff}, `"AAH+/w=="`, "AAH+/w=="},
		{"bytes empty", []byte{}, `""`, ""},
		{"bytes nil", []byte(nil), `""`, ""},
		{"time", time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 7200)), `"2026-01-02T01:04:05Z"`, "2026-01-02T01:04:05Z"},
		{"nil", nil, "null", nil},
		{"int normalised", 7, "7", json.Number("7")},
		{"float32 normalised", float32(0.25), "0.25", json.Number("0.25")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := encodeOne(t, FormatJSON, sdk.Event{Name: "m", Fields: []sdk.Field{{Key: "v", Value: tc.value}}})
			want := `{"name":"m","tags":{},"fields":{"v":` + tc.want + "}}\n"
			if got != want {
				t.Fatalf("got %q\nwant %q", got, want)
			}
			fields := decodeJSONLine(t, []byte(got))["fields"].(map[string]any)
			if back := fields["v"]; back != tc.back {
				t.Errorf("decodes to %#v, want %#v", back, tc.back)
			}
		})
	}
}

// TestJSONFloatRoundTrip checks that the shortest form reads back as the very
// same float64.
func TestJSONFloatRoundTrip(t *testing.T) {
	for _, f := range []float64{0, 0.1, 1.0 / 3, 123456789.123, 1e-320, 5e-324, 1e100, -2.5e-5, math.MaxFloat64, math.SmallestNonzeroFloat64, 9007199254740993} {
		got, _ := encodeOne(t, FormatJSON, sdk.Event{Name: "m", Fields: []sdk.Field{{Key: "v", Value: f}}})
		var back struct{ Fields struct{ V float64 } }
		if err := json.Unmarshal([]byte(got), &back); err != nil {
			t.Fatalf("%v: %q: %v", f, got, err)
		}
		if back.Fields.V != f {
			t.Errorf("%v reads back as %v", f, back.Fields.V)
		}
	}
}

func TestJSONStringEscaping(t *testing.T) {
	tests := []struct {
		name, in, want string // want is the encoded string without quotes
	}{
		{"plain", "hello", "hello"},
		{"empty", "", ""},
		{"quote", `a"b`, `a\"b`},
		{"backslash", `a\b`, `a\\b`},
		{"newline tab cr", "a\nb\tc\rd", `a\u000ab\u0009c\u000dd`},
		{"nul", "\x00", `\u0000`},
		{"unit separator", "\x1f", `\u001f`},
		{"del is fine", "\x7f", "\x7f"},
		{"html is fine", "<a href='x'>&</a>", "<a href='x'>&</a>"},
		{"unicode", "ünï ✓ 日本 😀", "ünï ✓ 日本 😀"},
		{"line separator", "\u2028\u2029", "\u2028\u2029"},
		{"invalid byte", "a\xffb", `a\ufffdb`},
		{"truncated sequence", "\xe6\x97", `\ufffd\ufffd`},
		{"overlong encoding", "\xc0\xaf", `\ufffd\ufffd`},
		{"surrogate half", "\xed\xa0\x80", `\ufffd\ufffd\ufffd`},
		{"invalid at end", "ok\xc3", `ok\ufffd`},
		{"replacement char itself", "\ufffd", "\ufffd"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := sdk.Event{Name: tc.in, Tags: []sdk.Tag{{Key: tc.in, Value: tc.in}}, Fields: []sdk.Field{{Key: tc.in, Value: tc.in}}}
			got, _ := encodeOne(t, FormatJSON, ev)
			q := `"` + tc.want + `"`
			want := `{"name":` + q + `,"tags":{` + q + ":" + q + `},"fields":{` + q + ":" + q + "}}\n"
			if got != want {
				t.Fatalf("got  %q\nwant %q", got, want)
			}
			// encoding/json maps invalid UTF-8 the same way; it is the reference.
			ref, err := json.Marshal(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			var wantBack string
			if err := json.Unmarshal(ref, &wantBack); err != nil {
				t.Fatal(err)
			}
			obj := decodeJSONLine(t, []byte(got))
			if obj["name"] != wantBack {
				t.Errorf("name reads back as %q, want %q", obj["name"], wantBack)
			}
			if v := obj["tags"].(map[string]any)[wantBack]; v != wantBack {
				t.Errorf("tag reads back as %q, want %q", v, wantBack)
			}
			if v := obj["fields"].(map[string]any)[wantBack]; v != wantBack {
				t.Errorf("field reads back as %q, want %q", v, wantBack)
			}
		})
	}
}

// TestJSONEveryByte runs every single byte through the escaper.
func TestJSONEveryByte(t *testing.T) {
	for c := 0; c < 256; c++ {
		s := "x" + string([]byte{byte(c)}) + "y"
		line := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(line, &back); err != nil {
			t.Fatalf("byte %#x: %s: %v", c, line, err)
		}
		want := s
		if c >= 0x80 {
			want = "x\ufffdy"
		}
		if back != want {
			t.Errorf("byte %#x reads back as %q, want %q", c, back, want)
		}
	}
}

func TestJSONBatch(t *testing.T) {
	batch := benchBatch(500)
	batch[3].Op = sdk.OpUpdate
	batch[4].Fields = append(batch[4].Fields, sdk.Field{Key: "blob", Value: []byte("\x00binary\xff")})
	out, skipped := mustNew(t, FormatJSON).Encode(nil, batch)
	if skipped != 0 {
		t.Fatalf("skipped %d", skipped)
	}
	lines := strings.SplitAfter(string(out), "\n")
	if last := lines[len(lines)-1]; last != "" {
		t.Fatalf("output does not end in a newline: %q", last)
	}
	lines = lines[:len(lines)-1]
	if len(lines) != len(batch) {
		t.Fatalf("%d lines for %d events", len(lines), len(batch))
	}
	for i, line := range lines {
		obj := decodeJSONLine(t, []byte(line))
		ev := &batch[i]
		if obj["name"] != ev.Name {
			t.Errorf("line %d: name %v", i, obj["name"])
		}
		if op, _ := obj["op"].(string); op != ev.Op.String() {
			t.Errorf("line %d: op %q, want %q", i, op, ev.Op)
		}
		tags := obj["tags"].(map[string]any)
		for _, tag := range ev.Tags {
			if tags[tag.Key] != tag.Value {
				t.Errorf("line %d: tag %s = %v, want %q", i, tag.Key, tags[tag.Key], tag.Value)
			}
		}
		fields := obj["fields"].(map[string]any)
		for _, f := range ev.Fields {
			var want any
			switch v := f.Value.(type) {
			case int64:
				want = json.Number(strconv.FormatInt(v, 10))
			case float64:
				want = json.Number(strconv.FormatFloat(v, 'g', -1, 64))
			case string:
				want = v
			case []byte:
				want = base64.StdEncoding.EncodeToString(v)
			}
			if fields[f.Key] != want {
				t.Errorf("line %d: field %s = %#v, want %#v", i, f.Key, fields[f.Key], want)
			}
		}
		tm, err := time.Parse(time.RFC3339Nano, obj["time"].(string))
		if err != nil || !tm.Equal(ev.Time) {
			t.Errorf("line %d: time %v (%v), want %v", i, obj["time"], err, ev.Time)
		}
	}
}
