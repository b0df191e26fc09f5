package processortest

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/rowflux/rowflux/sdk"
)

// epoch is time zero of a script: processing time starts here, event times
// and rendered times are durations since it.
var epoch = time.Unix(0, 0).UTC()

// parseEvent parses one line of line protocol with the script conveniences:
// the timestamp may be a Go duration since the epoch, a missing timestamp is
// the epoch, and an "op" tag sets Event.Op.
func parseEvent(line string) (sdk.Event, error) {
	lp, ts, err := splitTimestamp(line)
	if err != nil {
		return sdk.Event{}, err
	}
	t := epoch
	if ts != "" {
		if isInteger(ts) {
			n, err := strconv.ParseInt(ts, 10, 64)
			if err != nil {
				return sdk.Event{}, fmt.Errorf("bad timestamp %q: %v", ts, err)
			}
			t = time.Unix(0, n).UTC()
		} else {
			d, err := time.ParseDuration(ts)
			if err != nil {
				return sdk.Event{}, fmt.Errorf("bad timestamp %q (want nanoseconds or a duration since the epoch such as \"10s\" or \"4500ms\")", ts)
			}
			t = epoch.Add(d)
		}
	}

	dec := lineprotocol.NewDecoderWithBytes([]byte(lp))
	if !dec.Next() {
		if err := dec.Err(); err != nil {
			return sdk.Event{}, err
		}
		return sdk.Event{}, fmt.Errorf("empty event line")
	}
	name, err := dec.Measurement()
	if err != nil {
		return sdk.Event{}, err
	}
	ev := sdk.Event{Name: string(name), Time: t}
	for {
		k, v, err := dec.NextTag()
		if err != nil {
			return sdk.Event{}, err
		}
		if k == nil {
			break
		}
		if string(k) == "op" {
			op, err := sdk.ParseOp(string(v))
			if err != nil {
				return sdk.Event{}, err
			}
			ev.Op = op
			continue
		}
		if _, dup := ev.Tag(string(k)); dup {
			return sdk.Event{}, fmt.Errorf("duplicate tag %q", k)
		}
		ev.SetTag(string(k), string(v))
	}
	for {
		k, v, err := dec.NextField()
		if err != nil {
			return sdk.Event{}, err
		}
		if k == nil {
			break
		}
		var val any
		switch v.Kind() {
		case lineprotocol.Int:
			val = v.IntV()
		case lineprotocol.Uint:
			val, err = sdk.NormalizeValue(v.UintV())
			if err != nil {
				return sdk.Event{}, fmt.Errorf("field %q: %v", k, err)
			}
		case lineprotocol.Float:
			val = v.FloatV()
		case lineprotocol.String:
			val = v.StringV()
		case lineprotocol.Bool:
			val = v.BoolV()
		default:
			return sdk.Event{}, fmt.Errorf("field %q: unsupported value %v", k, v)
		}
		ev.Fields = append(ev.Fields, sdk.Field{Key: string(k), Value: val})
	}
	if dec.Next() {
		return sdk.Event{}, fmt.Errorf("one event per line")
	}
	if err := dec.Err(); err != nil {
		return sdk.Event{}, err
	}
	return ev, nil
}

// splitTimestamp separates the timestamp token (if any) from a line. Spaces
// are significant unless escaped with a backslash or inside a quoted field
// value; quotes only count after the measurement and tags.
func splitTimestamp(line string) (rest, ts string, err error) {
	var seps []int
	inQuote := false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '\\':
			i++
		case c == '"' && len(seps) > 0:
			inQuote = !inQuote
		case c == ' ' && !inQuote:
			// Runs of spaces count as one separator.
			if len(seps) == 0 || seps[len(seps)-1] != i-1 {
				seps = append(seps, i)
			} else {
				seps[len(seps)-1] = i
			}
		}
	}
	if inQuote {
		return "", "", fmt.Errorf("unterminated string")
	}
	if len(seps) < 2 {
		return line, "", nil
	}
	last := seps[len(seps)-1]
	return line[:last], strings.TrimSpace(line[last+1:]), nil
}

func isInteger(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// render writes an event in the canonical form compared by expect:
// name[,op=OP],tag=value,... field=value,... TIME. Tags are sorted, fields
// keep their order, TIME is a duration since the epoch.
func render(ev *sdk.Event) string {
	var b strings.Builder
	b.WriteString(escape(ev.Name, ", "))
	if ev.Op != sdk.OpNone {
		b.WriteString(",op=")
		b.WriteString(ev.Op.String())
	}
	tags := append([]sdk.Tag(nil), ev.Tags...)
	sdk.SortTags(tags)
	for _, t := range tags {
		b.WriteByte(',')
		b.WriteString(escape(t.Key, ",= "))
		b.WriteByte('=')
		b.WriteString(escape(t.Value, ",= "))
	}
	b.WriteByte(' ')
	n := 0
	for _, f := range ev.Fields {
		if f.Value == nil {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.WriteString(escape(f.Key, ",= "))
		b.WriteByte('=')
		b.WriteString(renderValue(f.Value))
	}
	b.WriteByte(' ')
	b.WriteString(renderTime(ev.Time))
	return b.String()
}

func renderValue(v any) string {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10) + "i"
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return quote(x)
	case []byte:
		return quote(string(x))
	case bool:
		if x {
			return "t"
		}
		return "f"
	case time.Time:
		return quote(x.UTC().Format(time.RFC3339Nano))
	default:
		// Not a valid field type: render it so that it can never match.
		return fmt.Sprintf("<%T>%v", v, v)
	}
}

// renderTime renders an event time as a duration since the epoch; times
// outside the range of time.Duration and the zero Time are shown as such.
func renderTime(t time.Time) string {
	if t.IsZero() {
		return "<zero time.Time>"
	}
	d := t.Sub(epoch)
	if !epoch.Add(d).Equal(t) {
		return t.UTC().Format(time.RFC3339Nano)
	}
	return d.String()
}

func escape(s, special string) string {
	if !strings.ContainsAny(s, special) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(special, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

// checkTags reports tags that break the sorted, unique invariant of sdk.Event.
func checkTags(ev *sdk.Event) error {
	for i := 1; i < len(ev.Tags); i++ {
		if ev.Tags[i-1].Key >= ev.Tags[i].Key {
			return fmt.Errorf("tags not sorted or duplicated (%q before %q); use Event.SetTag or sdk.SortTags", ev.Tags[i-1].Key, ev.Tags[i].Key)
		}
	}
	return nil
}
