package encoding

import (
	"encoding/base64"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/rowflux/rowflux/sdk"
)

type jsonEncoder struct {
	// tags is the sorted copy of an event whose tags arrive out of order.
	tags []sdk.Tag
}

func (e *jsonEncoder) Encode(dst []byte, batch sdk.Batch) ([]byte, int) {
	for i := range batch {
		dst = e.appendEvent(dst, &batch[i])
	}
	// Every event model value has a JSON form, so nothing is ever skipped.
	return dst, 0
}

func (e *jsonEncoder) appendEvent(dst []byte, ev *sdk.Event) []byte {
	dst = append(dst, `{"name":`...)
	dst = appendJSONString(dst, ev.Name)
	if ev.Op != sdk.OpNone {
		dst = append(dst, `,"op":`...)
		dst = appendJSONString(dst, ev.Op.String())
	}
	dst = append(dst, `,"tags":{`...)
	for i, t := range sortedTags(ev.Tags, &e.tags) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, t.Key)
		dst = append(dst, ':')
		dst = appendJSONString(dst, t.Value)
	}
	dst = append(dst, `},"fields":{`...)
	n := 0
	for i := range ev.Fields {
		f := &ev.Fields[i]
		// A comma is written before the field and backed out if the value
		// turns out unrepresentable, which saves a type check per field.
		mark := len(dst)
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, f.Key)
		dst = append(dst, ':')
		var ok bool
		if dst, ok = appendJSONValue(dst, f.Value); ok {
			n++
		} else {
			dst = dst[:mark]
		}
	}
	dst = append(dst, '}')
	if !ev.Time.IsZero() {
		dst = append(dst, `,"time":"`...)
		dst = appendTime(dst, ev.Time)
		dst = append(dst, '"')
	}
	return append(dst, "}\n"...)
}

// appendJSONValue writes v and reports false, leaving dst unchanged, for a
// type outside the event model that NormalizeValue cannot convert.
func appendJSONValue(dst []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case int64:
		return strconv.AppendInt(dst, x, 10), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			// JSON has no literal for them; null says "no number" honestly.
			return append(dst, "null"...), true
		}
		// 'g' never yields anything JSON rejects: no leading '+', no bare
		// '.', and leading zeros are allowed in an exponent.
		return strconv.AppendFloat(dst, x, 'g', -1, 64), true
	case string:
		return appendJSONString(dst, x), true
	case bool:
		return strconv.AppendBool(dst, x), true
	case []byte:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, x)
		return append(dst, '"'), true
	case time.Time:
		dst = append(dst, '"')
		dst = appendTime(dst, x)
		return append(dst, '"'), true
	case nil:
		return append(dst, "null"...), true
	default:
		nv, err := sdk.NormalizeValue(v)
		if err != nil {
			return dst, false
		}
		return appendJSONValue(dst, nv)
	}
}

const hexDigits = "0123456789abcdef"

// jsonSafe marks the ASCII bytes that appear unescaped inside a JSON string.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString writes s as a quoted JSON string. Control characters
// become \u00XX and each byte of invalid UTF-8 becomes \ufffd, so that any
// Go string yields a line every JSON parser accepts. HTML characters are left
// alone: the output is not embedded in HTML.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0 // s[start:i] is pending, copied in one append
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
