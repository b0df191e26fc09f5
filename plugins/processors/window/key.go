package window

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"
)

// A group key is the concatenation of one part per group_by expression, in
// configuration order:
//
//	nil value:  0x00
//	value:      0x01, text (0x00 escaped as 0x00 0xFF), 0x00 0x01
//
// The encoding is unambiguous, keeps nil apart from "", and sorts like the
// texts (nil first), so ordering by key orders by the group values.

func appendKeyNil(b []byte) []byte { return append(b, 0x00) }

// appendKeyText appends a value part whose text is already at b[start:].
func escapeKeyText(b []byte, start int) []byte {
	if bytes.IndexByte(b[start:], 0) >= 0 {
		text := append([]byte(nil), b[start:]...)
		b = b[:start]
		for _, c := range text {
			if c == 0 {
				b = append(b, 0, 0xFF)
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, 0x00, 0x01)
}

// keyPart is one decoded part of a group key.
type keyPart struct {
	present bool
	text    string
}

// decodeKey splits a key into its parts. Texts without escapes share the
// key's memory.
func decodeKey(key string, n int) ([]keyPart, error) {
	parts := make([]keyPart, 0, n)
	i := 0
	for len(parts) < n {
		if i >= len(key) {
			return nil, fmt.Errorf("group key too short")
		}
		if key[i] == 0 {
			parts = append(parts, keyPart{})
			i++
			continue
		}
		if key[i] != 1 {
			return nil, fmt.Errorf("bad group key")
		}
		i++
		start := i
		escaped := false
		for {
			if i+1 >= len(key) {
				return nil, fmt.Errorf("unterminated group key")
			}
			if key[i] == 0 {
				if key[i+1] == 1 {
					break
				}
				escaped = true
				i += 2
				continue
			}
			i++
		}
		text := key[start:i]
		if escaped {
			var b []byte
			for k := 0; k < len(text); k++ {
				b = append(b, text[k])
				if text[k] == 0 {
					k++
				}
			}
			text = string(b)
		}
		parts = append(parts, keyPart{present: true, text: text})
		i += 2
	}
	if i != len(key) {
		return nil, fmt.Errorf("group key too long")
	}
	return parts, nil
}

// appendText appends the text form of a value (tags, count_distinct).
func appendText(b []byte, v any) []byte {
	switch x := v.(type) {
	case string:
		return append(b, x...)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case float64:
		return appendFloat(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case []byte:
		return append(b, x...)
	case time.Time:
		return x.UTC().AppendFormat(b, time.RFC3339Nano)
	case float32:
		return appendFloat(b, float64(x))
	case int32:
		return strconv.AppendInt(b, int64(x), 10)
	case uint64:
		return strconv.AppendUint(b, x, 10)
	}
	return fmt.Append(b, v)
}

// appendFloat writes plain decimals for ordinary magnitudes, exponent form
// otherwise (like JavaScript), always the shortest text that round-trips.
func appendFloat(b []byte, f float64) []byte {
	if a := math.Abs(f); a == 0 || a >= 1e-6 && a < 1e21 {
		return strconv.AppendFloat(b, f, 'f', -1, 64)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}
