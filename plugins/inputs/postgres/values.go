package postgres

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// kind is how a column's values are read and normalised, from the type
// format_type() reports. Events carry int64, float64, string, bool, []byte
// and time.Time only, and a field keeps one type for every row.
type kind int

const (
	kindText     kind = iota // text, varchar, char, and the text form of any other type
	kindInt                  // smallint, integer, bigint
	kindFloat                // real, double precision
	kindNumInt               // numeric(p) / numeric(p,0): int64 when it fits
	kindNumFloat             // numeric(p,s>0) and unconstrained numeric: float64
	kindBool
	kindBytes
	kindTime // timestamp, timestamptz, date: time.Time in UTC
	kindJSON // json, jsonb: the JSON text
)

var numericRE = regexp.MustCompile(`^numeric\((\d+)(?:,(\d+))?\)$`)

func kindOf(typ string) kind {
	t := strings.ToLower(strings.TrimSpace(typ))
	switch {
	case t == "smallint" || t == "integer" || t == "bigint":
		return kindInt
	case t == "real" || t == "double precision":
		return kindFloat
	case strings.HasPrefix(t, "numeric"):
		// Unconstrained numeric has no fixed scale: float64 keeps one field
		// type for every row.
		if m := numericRE.FindStringSubmatch(t); m != nil && (m[2] == "" || m[2] == "0") {
			return kindNumInt
		}
		return kindNumFloat
	case t == "boolean":
		return kindBool
	case t == "bytea":
		return kindBytes
	case strings.HasPrefix(t, "timestamp") || t == "date":
		return kindTime
	case t == "json" || t == "jsonb":
		return kindJSON
	}
	return kindText
}

// selectExpr is the expression a query reads a column through: types pgx
// would decode into something other than an event value are read as text.
func selectExpr(k kind, col string) string {
	switch k {
	case kindNumInt, kindNumFloat, kindJSON, kindText:
		return col + "::text"
	}
	return col
}

// numericText converts numeric text to int64 (kindNumInt, when it fits)
// or float64. NaN and ±Infinity become float64.
func numericText(k kind, s string) any {
	if k == kindNumInt {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f
	}
	return s
}

// normalize converts a value pgx decoded (through selectExpr) to an event
// value. Values that do not fit are passed through rather than lost.
func normalize(k kind, v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	case time.Time:
		return x.UTC()
	case string:
		switch k {
		case kindNumInt, kindNumFloat:
			return numericText(k, x)
		}
	}
	return v
}

// parseTime reads the timestamp texts to_jsonb writes:
// 2026-11-21T06:00:00.123456, with +00:00 for timestamptz, or a date.
func parseTime(s string) (time.Time, bool) {
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999Z07", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// fromJSON converts one value of a to_jsonb row image (decoded with
// UseNumber) to the column's event value.
func fromJSON(k kind, raw json.RawMessage) (any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if k == kindJSON {
		return string(raw), nil
	}
	var v any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case json.Number:
		switch k {
		case kindInt:
			return x.Int64()
		case kindFloat:
			return x.Float64()
		case kindNumInt, kindNumFloat:
			return numericText(k, x.String()), nil
		}
		return x.String(), nil
	case string:
		switch k {
		case kindTime:
			if t, ok := parseTime(x); ok {
				return t, nil
			}
			return x, nil // infinity, BC dates: their text
		case kindBytes:
			if strings.HasPrefix(x, `\x`) {
				return hex.DecodeString(x[2:])
			}
			return nil, fmt.Errorf("bytea value %.20q is not in hex format", x)
		case kindFloat, kindNumInt, kindNumFloat:
			// NaN and ±Infinity arrive as strings.
			if f, err := strconv.ParseFloat(x, 64); err == nil {
				return f, nil
			}
			if k != kindFloat {
				return numericText(k, x), nil
			}
		}
		return x, nil
	case bool:
		return x, nil
	}
	// Arrays and composites: their JSON text.
	return string(raw), nil
}
