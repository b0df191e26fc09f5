package encoding

import (
	"math"
	"time"
	"unicode/utf8"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/rowflux/rowflux/sdk"
)

type influxEncoder struct {
	enc lineprotocol.Encoder
	// tags is the sorted copy of an event whose tags arrive out of order.
	tags []sdk.Tag
	// text holds a field value that must be rewritten before encoding
	// (a time, or a string with invalid UTF-8).
	text []byte
}

func newInflux() *influxEncoder {
	e := &influxEncoder{}
	e.enc.SetPrecision(lineprotocol.Nanosecond)
	return e
}

func (e *influxEncoder) Encode(dst []byte, batch sdk.Batch) ([]byte, int) {
	e.enc.SetBuffer(dst)
	skipped := 0
	for i := range batch {
		if !e.encodeEvent(&batch[i]) {
			skipped++
		}
	}
	out := e.enc.Bytes()
	// Drop the reference so the encoder does not pin the caller's buffer.
	e.enc.SetBuffer(nil)
	return out, skipped
}

// encodeEvent appends one line, or nothing when the event cannot be written.
func (e *influxEncoder) encodeEvent(ev *sdk.Event) bool {
	// A line starting with '#' is a comment to every line-protocol parser and
	// the encoder has no escape for it: the point would vanish silently.
	if ev.Name == "" || ev.Name[0] == '#' {
		return false
	}
	start := len(e.enc.Bytes())
	e.enc.StartLine(ev.Name)

	tags := sortedTags(ev.Tags, &e.tags)
	var op string
	if ev.Op != sdk.OpNone && !hasTag(tags, "op") {
		op = ev.Op.String()
	}
	for i := range tags {
		t := &tags[i]
		if op != "" && t.Key > "op" {
			e.enc.AddTag("op", op)
			op = ""
		}
		if t.Value == "" {
			continue
		}
		e.enc.AddTag(t.Key, t.Value)
	}
	if op != "" {
		e.enc.AddTag("op", op)
	}

	fields := 0
	for i := range ev.Fields {
		if e.addField(ev.Fields[i].Key, ev.Fields[i].Value) {
			fields++
		}
	}
	if fields > 0 {
		e.enc.EndLine(ev.Time)
	}
	// The encoder removes a failed line itself but keeps its error (and, with
	// no field, its position inside the line) until reset; SetBuffer resets
	// both so that the next event starts clean.
	if fields == 0 || e.enc.Err() != nil {
		e.enc.SetBuffer(e.enc.Bytes()[:start])
		return false
	}
	return true
}

// hasTag reports whether a non-empty tag with the key exists. An empty tag is
// not written, so it must not hide the op tag either.
func hasTag(tags []sdk.Tag, key string) bool {
	for i := range tags {
		if tags[i].Key == key && tags[i].Value != "" {
			return true
		}
	}
	return false
}

// addField writes a field and reports whether the value was representable.
func (e *influxEncoder) addField(key string, v any) bool {
	switch x := v.(type) {
	case int64:
		e.enc.AddField(key, lineprotocol.IntValue(x))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
		fv, _ := lineprotocol.FloatValue(x)
		e.enc.AddField(key, fv)
	case string:
		// The compiler sees that the copy StringValue makes does not
		// escape and aliases the string instead: no allocation.
		if sv, ok := lineprotocol.StringValue(x); ok {
			e.enc.AddField(key, sv)
		} else {
			e.text = appendValidUTF8(e.text[:0], x)
			e.enc.AddField(key, bytesValue(e.text))
		}
	case bool:
		e.enc.AddField(key, lineprotocol.BoolValue(x))
	case []byte:
		if utf8.Valid(x) {
			// Not StringValueFromBytes: it copies the slice into a new one.
			e.enc.AddField(key, bytesValue(x))
		} else {
			e.text = appendValidUTF8Bytes(e.text[:0], x)
			e.enc.AddField(key, bytesValue(e.text))
		}
	case time.Time:
		e.text = appendTime(e.text[:0], x)
		e.enc.AddField(key, bytesValue(e.text))
	case nil:
		return false
	default:
		// Not an event type; accept what NormalizeValue would have made of it
		// rather than lose a plugin's plain int.
		nv, err := sdk.NormalizeValue(v)
		if err != nil || nv == nil {
			return false
		}
		return e.addField(key, nv)
	}
	return true
}

// bytesValue wraps valid UTF-8 without copying it. Line protocol cannot
// carry invalid UTF-8, so callers replace it first (with U+FFFD, as the JSON
// encoder does).
func bytesValue(b []byte) lineprotocol.Value {
	v, err := lineprotocol.NewValueFromBytes(lineprotocol.String, b)
	if err != nil {
		// Unreachable: callers pass valid UTF-8 only.
		panic("encoding: " + err.Error())
	}
	return v
}
