package encoding

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/rowflux/rowflux/sdk"
)

// fuzzEvent builds an event from fuzz inputs: unsorted, duplicate or empty
// tags, every value type, any op and any time are all reachable.
func fuzzEvent(name, tagKey, tagVal, fieldKey, s string, raw []byte, i int64, f float64, b bool, op uint8, ns int64, nilField bool) sdk.Event {
	ev := sdk.Event{
		Name: name,
		Op:   sdk.Op(op % 6), // one past OpUpsert: an op this version does not know
		Tags: []sdk.Tag{{Key: tagKey, Value: tagVal}, {Key: "m", Value: s}},
		Fields: []sdk.Field{
			{Key: fieldKey, Value: s},
			{Key: "i", Value: i},
			{Key: "f", Value: f},
			{Key: "b", Value: b},
			{Key: "raw", Value: raw},
			{Key: "t", Value: time.Unix(0, ns)},
		},
	}
	if nilField {
		// Only values line protocol cannot write, to reach the "no field" skip.
		ev.Fields = []sdk.Field{{Key: fieldKey, Value: nil}, {Key: "f", Value: f}}
	}
	if ns%3 != 0 {
		ev.Time = time.Unix(0, ns).In(time.FixedZone("Z", int(ns%50000)))
	}
	return ev
}

func addFuzzSeeds(f *testing.F) {
	f.Add("transactions", "currency", "EUR", "amount", "note", []byte("blob"), int64(7), 12.5, true, uint8(1), int64(1795240023123456789), false)
	f.Add("", "", "", "", "", []byte(nil), int64(0), 0.0, false, uint8(0), int64(0), false)
	f.Add("#comment", "op", "x", "k y", "a\"b\\", []byte{0xff}, int64(-1), math.NaN(), false, uint8(3), int64(-1), false)
	f.Add("m,x y", "z", "a\\", "f=", "\n\t\r\x00", []byte{0, 1}, int64(math.MinInt64), math.Inf(1), true, uint8(4), int64(math.MaxInt64), true)
	f.Add("m", "a", "v\xff", "\xfe", "\xc3", []byte("\xe2\x82"), int64(1), -0.0, true, uint8(5), int64(2), false)
	f.Add("m", "m", "dup", "k", "v", []byte("x"), int64(1), 1e300, false, uint8(2), int64(5), false)
	// Spaces, commas, equals signs and quotes everywhere, a trailing
	// backslash, a huge multi-byte value and a line break in a key.
	f.Add("m e,a=s\"", "t k,=", "v ,=\\x", "f k,=\"", strings.Repeat("é\"\\ ,=", 2000), bytes.Repeat([]byte{0xe2, 0x28}, 500), int64(-7), -math.MaxFloat64, true, uint8(1), int64(1), false)
	f.Add("m", "t", "v\\", "f\nk", "s", []byte{}, int64(0), math.SmallestNonzeroFloat64, false, uint8(0), int64(3), false)
}

// FuzzInfluxEncode checks that any event is either skipped or written as a
// line the reference parser reads back to the same data, and that a skipped
// event never disturbs the lines around it.
func FuzzInfluxEncode(f *testing.F) {
	addFuzzSeeds(f)
	good := sdk.Event{Name: "ok", Tags: []sdk.Tag{{Key: "t", Value: "v"}}, Fields: []sdk.Field{{Key: "f", Value: int64(1)}}, Time: time.Unix(0, 1)}
	const goodLine = "ok,t=v f=1i 1\n"
	enc := mustNew(f, FormatInflux) // shared on purpose: state must not leak between calls
	f.Fuzz(func(t *testing.T, name, tagKey, tagVal, fieldKey, s string, raw []byte, i int64, fv float64, b bool, op uint8, ns int64, nilField bool) {
		ev := fuzzEvent(name, tagKey, tagVal, fieldKey, s, raw, i, fv, b, op, ns, nilField)
		one, skipped := enc.Encode(nil, sdk.Batch{ev})
		if why := unwritable(ev); (skipped == 1) != (why != "") {
			t.Fatalf("skipped = %d, but the event is %s: %+v", skipped, orWritable(why), ev)
		}
		switch {
		case skipped == 1 && len(one) != 0:
			t.Fatalf("skipped event left output %q", one)
		case skipped == 0:
			checkInfluxLine(t, ev, one)
		case skipped != 1:
			t.Fatalf("skipped = %d for one event", skipped)
		}
		many, skippedMany := enc.Encode(nil, sdk.Batch{ev, good, ev, good})
		want := string(one) + goodLine + string(one) + goodLine
		if string(many) != want || skippedMany != 2*skipped {
			t.Fatalf("in a batch: got %q (skipped %d), want %q (skipped %d)", many, skippedMany, want, 2*skipped)
		}
	})
}

// validLPName is line protocol's rule for measurements, tag keys and
// values and field keys: non-empty UTF-8 without ASCII control characters
// and without a trailing backslash, which no escaping can carry.
func validLPName(s string) bool {
	if s == "" || !utf8.ValidString(s) || s[len(s)-1] == '\\' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// unwritable says why line protocol cannot carry ev, or "" when it can:
// the encoder must skip exactly these events, never one it could write.
func unwritable(ev sdk.Event) string {
	if !validLPName(ev.Name) || ev.Name[0] == '#' {
		return "named " + strconv.Quote(ev.Name)
	}
	tags := slices.Clone(ev.Tags)
	sdk.SortTags(tags)
	prev := ""
	for _, tag := range tags {
		if tag.Value == "" {
			continue // not written
		}
		if !validLPName(tag.Key) || !validLPName(tag.Value) {
			return "tagged " + strconv.Quote(tag.Key) + "=" + strconv.Quote(tag.Value)
		}
		if tag.Key == prev {
			return "tagged " + strconv.Quote(tag.Key) + " twice"
		}
		prev = tag.Key
	}
	fields := 0
	for _, fld := range ev.Fields {
		if v, ok := fld.Value.(float64); fld.Value == nil || ok && (math.IsNaN(v) || math.IsInf(v, 0)) {
			continue // not written
		}
		if !validLPName(fld.Key) {
			return "with field " + strconv.Quote(fld.Key)
		}
		fields++
	}
	if fields == 0 {
		return "without a writable field"
	}
	return ""
}

func orWritable(why string) string {
	if why == "" {
		return "writable"
	}
	return why
}

// checkInfluxLine decodes one line and compares it with the event.
func checkInfluxLine(t *testing.T, ev sdk.Event, line []byte) {
	t.Helper()
	if n := bytes.Count(line, []byte("\n")); n != 1 || line[len(line)-1] != '\n' {
		t.Fatalf("want exactly one line, got %q", line)
	}
	dec := lineprotocol.NewDecoderWithBytes(line)
	if !dec.Next() {
		t.Fatalf("no point in %q", line)
	}
	m, err := dec.Measurement()
	if err != nil || string(m) != ev.Name {
		t.Fatalf("%q: measurement %q (%v), want %q", line, m, err, ev.Name)
	}

	var wantTags []sdk.Tag
	hasOp := false
	for _, tag := range ev.Tags {
		if tag.Value != "" {
			wantTags = append(wantTags, tag)
			hasOp = hasOp || tag.Key == "op"
		}
	}
	if ev.Op != sdk.OpNone && !hasOp {
		wantTags = append(wantTags, sdk.Tag{Key: "op", Value: ev.Op.String()})
	}
	sdk.SortTags(wantTags)
	var gotTags []sdk.Tag
	for {
		k, v, err := dec.NextTag()
		if err != nil {
			t.Fatalf("%q: tag: %v", line, err)
		}
		if k == nil {
			break
		}
		gotTags = append(gotTags, sdk.Tag{Key: string(k), Value: string(v)})
	}
	if !slices.Equal(gotTags, wantTags) {
		t.Fatalf("%q: tags %q, want %q", line, gotTags, wantTags)
	}

	for _, fld := range ev.Fields {
		var want any
		switch v := fld.Value.(type) {
		case int64:
			want = v
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			want = v
		case string:
			want = string(appendValidUTF8(nil, v))
		case []byte:
			want = string(appendValidUTF8Bytes(nil, v))
		case bool:
			want = v
		case time.Time:
			want = v.UTC().Format(time.RFC3339Nano)
		case nil:
			continue
		}
		k, val, err := dec.NextField()
		if err != nil {
			t.Fatalf("%q: field: %v", line, err)
		}
		if string(k) != fld.Key || val.Interface() != want {
			t.Fatalf("%q: field %q=%#v, want %q=%#v", line, k, val.Interface(), fld.Key, want)
		}
	}
	if k, _, err := dec.NextField(); k != nil || err != nil {
		t.Fatalf("%q: extra field %q (%v)", line, k, err)
	}
	tm, err := dec.Time(lineprotocol.Nanosecond, time.Time{})
	if err != nil || !tm.Equal(ev.Time) {
		t.Fatalf("%q: time %v (%v), want %v", line, tm, err, ev.Time)
	}
	if dec.Next() {
		t.Fatalf("%q: more than one point", line)
	}
}

// FuzzJSONEncode checks that every event becomes one line that encoding/json
// parses back to the same data.
func FuzzJSONEncode(f *testing.F) {
	addFuzzSeeds(f)
	enc := mustNew(f, FormatJSON)
	f.Fuzz(func(t *testing.T, name, tagKey, tagVal, fieldKey, s string, raw []byte, i int64, fv float64, b bool, op uint8, ns int64, nilField bool) {
		ev := fuzzEvent(name, tagKey, tagVal, fieldKey, s, raw, i, fv, b, op, ns, nilField)
		out, skipped := enc.Encode(nil, sdk.Batch{ev, ev})
		if skipped != 0 {
			t.Fatalf("JSON skipped %d events", skipped)
		}
		lines := strings.SplitAfter(string(out), "\n")
		if len(lines) != 3 || lines[2] != "" || lines[0] != lines[1] {
			t.Fatalf("want two identical lines, got %q", out)
		}
		obj := decodeJSONLine(t, []byte(lines[0]))

		// encoding/json is the reference for what a string reads back as.
		str := func(s string) string {
			var back string
			ref, _ := json.Marshal(s)
			_ = json.Unmarshal(ref, &back)
			return back
		}
		if obj["name"] != str(ev.Name) {
			t.Fatalf("name %q, want %q", obj["name"], str(ev.Name))
		}
		if op, _ := obj["op"].(string); op != ev.Op.String() {
			t.Fatalf("op %q, want %q", op, ev.Op)
		}
		tags := obj["tags"].(map[string]any)
		wantTags := map[string]any{}
		for _, tag := range ev.Tags {
			// Tags are written in sorted (stable) order, so with duplicate
			// keys the last one in sorted order wins in a decoded map.
			wantTags[str(tag.Key)] = nil
		}
		sorted := slices.Clone(ev.Tags)
		sdk.SortTags(sorted)
		for _, tag := range sorted {
			wantTags[str(tag.Key)] = str(tag.Value)
		}
		if len(tags) != len(wantTags) {
			t.Fatalf("tags %v, want %v", tags, wantTags)
		}
		for k, v := range wantTags {
			if tags[k] != v {
				t.Fatalf("tag %q = %#v, want %#v", k, tags[k], v)
			}
		}
		fields := obj["fields"].(map[string]any)
		wantFields := map[string]any{}
		for _, fld := range ev.Fields {
			var want any
			switch v := fld.Value.(type) {
			case int64:
				want = json.Number(strconv.FormatInt(v, 10))
			case float64:
				if !math.IsNaN(v) && !math.IsInf(v, 0) {
					want = v // compared numerically below
				}
			case string:
				want = str(v)
			case []byte:
				want = base64.StdEncoding.EncodeToString(v)
			case bool:
				want = v
			case time.Time:
				want = v.UTC().Format(time.RFC3339Nano)
			}
			wantFields[str(fld.Key)] = want
		}
		if len(fields) != len(wantFields) {
			t.Fatalf("fields %v, want %v", fields, wantFields)
		}
		for k, want := range wantFields {
			got := fields[k]
			if wf, ok := want.(float64); ok {
				n, ok := got.(json.Number)
				gf, err := n.Float64()
				if !ok || err != nil || gf != wf {
					t.Fatalf("field %q = %#v, want %v", k, got, wf)
				}
				continue
			}
			if got != want {
				t.Fatalf("field %q = %#v, want %#v", k, got, want)
			}
		}
		if ev.Time.IsZero() {
			if _, ok := obj["time"]; ok {
				t.Fatalf("time written for a zero time: %v", obj["time"])
			}
		} else if s, _ := obj["time"].(string); s != ev.Time.UTC().Format(time.RFC3339Nano) {
			t.Fatalf("time %q, want %v", s, ev.Time.UTC())
		}
	})
}
