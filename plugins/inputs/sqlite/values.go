package sqlite

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// kind is how a column's values are normalised, from its declared type.
// SQLite stores values by their own type, not the column's: NUMERIC(12,2)
// holds 12.5 as REAL but 12.00 as INTEGER. Events must not flip a field
// between integer and float (InfluxDB refuses such a write), so values are
// converted to the type the declaration implies.
type kind int

const (
	kindAny kind = iota
	kindInt
	kindFloat
	kindText
	kindBlob
	kindTime
)

var scaleRE = regexp.MustCompile(`\(\s*\d+\s*(?:,\s*(\d+)\s*)?\)`)

// kindOf follows SQLite's affinity rules (https://sqlite.org/datatype3.html),
// refined for date/time names and for NUMERIC/DECIMAL with a scale.
func kindOf(declared string) kind {
	t := strings.ToUpper(declared)
	switch {
	case strings.Contains(t, "INT"):
		return kindInt
	case strings.Contains(t, "CHAR"), strings.Contains(t, "CLOB"), strings.Contains(t, "TEXT"):
		return kindText
	case strings.Contains(t, "BLOB"):
		return kindBlob
	case t == "":
		return kindAny
	case strings.Contains(t, "REAL"), strings.Contains(t, "FLOA"), strings.Contains(t, "DOUB"):
		return kindFloat
	case strings.HasPrefix(t, "DATE"), strings.HasPrefix(t, "TIME"):
		return kindTime
	case strings.Contains(t, "NUMERIC"), strings.Contains(t, "DECIMAL"):
		if m := scaleRE.FindStringSubmatch(t); m != nil && (m[1] == "" || m[1] == "0") {
			return kindInt
		}
		return kindFloat
	}
	return kindAny
}

// parseTime reads the date/time texts SQLite and its clients write. The
// layout is chosen from the text's shape (separator, zone), so a value
// costs one parse attempt, not a walk through every layout.
func parseTime(s string) (time.Time, bool) {
	var layout string
	switch {
	case len(s) == 10:
		layout = "2006-01-02"
	case len(s) == 16:
		layout = "2006-01-02 15:04"
	case len(s) >= 19:
		zoned := s[len(s)-1] == 'Z' || strings.ContainsAny(s[19:], "+-")
		switch {
		case zoned:
			layout = "2006-01-02 15:04:05.999999999Z07:00"
		default:
			layout = "2006-01-02 15:04:05.999999999"
		}
	default:
		return time.Time{}, false
	}
	if len(s) > 10 && s[10] == 'T' {
		layout = layout[:10] + "T" + layout[11:]
	}
	t, err := time.Parse(layout, s)
	return t, err == nil
}

// normalize converts a value read from SQLite (driver or JSON image) to
// the column's kind. Values that do not fit are passed through unchanged
// rather than lost.
func normalize(k kind, v any) any {
	switch x := v.(type) {
	case int64:
		switch k {
		case kindFloat:
			return float64(x)
		case kindText:
			return strconv.FormatInt(x, 10)
		}
	case float64:
		switch k {
		case kindInt:
			if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
				return int64(x)
			}
		case kindText:
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
	case string:
		switch k {
		case kindTime:
			if t, ok := parseTime(x); ok {
				return t
			}
		case kindInt:
			if i, err := strconv.ParseInt(x, 10, 64); err == nil {
				return i
			}
		case kindFloat:
			if f, err := strconv.ParseFloat(x, 64); err == nil {
				return f
			}
		}
	case []byte:
		if k == kindText {
			return string(x)
		}
	case bool:
		if x {
			return normalize(k, int64(1))
		}
		return normalize(k, int64(0))
	}
	return v
}
