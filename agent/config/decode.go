package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// keyError is a problem with the value of one key; the caller adds the file
// name and the section or instance it belongs to.
type keyError struct {
	key string // as shown to users: tables[0].name
	err error
}

func (e *keyError) Error() string {
	if e.key == "" {
		return e.err.Error()
	}
	return e.key + ": " + e.err.Error()
}

func (e *keyError) Unwrap() error { return e.err }

// decodeTable decodes a table taken from the file into v, a pointer to a
// struct holding defaults. The table has been through environment
// substitution, which is why it is re-encoded rather than decoded from the
// original text; encoding a map decoded by the same library keeps every TOML
// type (integers, floats, datetimes, nested tables, arrays of tables).
//
// Errors are *keyError with the message cleaned of the library's prefix and of
// line numbers, which would point into the re-encoded text, not the file.
func decodeTable(table map[string]any, v any, subst *substitution) (md toml.MetaData, err error) {
	defer func() {
		// The library should not panic on its own output, but a panic here
		// would take the whole agent down over a configuration value.
		if r := recover(); r != nil {
			err = &keyError{err: fmt.Errorf("cannot decode configuration (internal error: %v)", r)}
		}
	}()
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(table); err != nil {
		return md, &keyError{err: fmt.Errorf("cannot re-encode configuration after environment substitution: %w", err)}
	}
	md, err = toml.Decode(buf.String(), v)
	if err != nil {
		return md, decodeError(err, subst)
	}
	return md, nil
}

// lastKeyRE matches the prefix the TOML library puts on type errors, which it
// returns as plain strings rather than as a ParseError.
var lastKeyRE = regexp.MustCompile(`(?s)^toml: (?:line \d+ )?\(last key ("(?:[^"\\]|\\.)*")\): (.*)$`)

var tableMismatchRE = regexp.MustCompile(`^type mismatch for \S+: expected table but found (\S+)$`)

func decodeError(err error, subst *substitution) error {
	var key, msg string
	var pe toml.ParseError
	if errors.As(err, &pe) {
		key, msg = pe.LastKey, pe.Message
	} else if m := lastKeyRE.FindStringSubmatch(err.Error()); m != nil {
		key, msg = m[1], m[2]
		if k, uerr := strconv.Unquote(m[1]); uerr == nil {
			key = k
		}
	} else {
		msg = strings.TrimPrefix(err.Error(), "toml: ")
	}
	if m := tableMismatchRE.FindStringSubmatch(msg); m != nil {
		// The library names the Go type; the user wrote TOML.
		msg = "incompatible types: TOML value has type " + m[1] + "; destination has type table"
	}
	if subst != nil {
		msg = subst.redact(key, msg)
	}
	return &keyError{key: key, err: errors.New(msg)}
}

// unknownKeys lists the keys of a decoded table that have no destination in
// v's type, in document order. A key below an undecoded key is left out (the
// parent is the mistake), and so is a key below a field that takes any value
// (interface, map of interface, toml.Primitive): the plugin decides there.
func unknownKeys(md toml.MetaData, v any, order keyOrder) []string {
	undecoded := md.Undecoded()
	if len(undecoded) == 0 {
		return nil
	}
	skip := map[string]bool{}
	for _, k := range undecoded {
		skip[k.String()] = true
	}
	t := reflect.TypeOf(v)
	var keys []string
	for _, k := range undecoded {
		if len(k) > 1 && skip[toml.Key(k[:len(k)-1]).String()] {
			continue
		}
		if opaque(t, k) {
			continue
		}
		keys = append(keys, k.String())
	}
	// Undecoded is in the order of the re-encoded text, which sorts keys;
	// the user wants the order of the file.
	sortByOrder(keys, order)
	return keys
}

func sortByOrder(keys []string, order keyOrder) {
	pos := func(k string) int {
		if p, ok := order[k]; ok {
			return p
		}
		return int(^uint(0) >> 1)
	}
	// Insertion sort: stable, and the lists are tiny.
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && pos(keys[j]) < pos(keys[j-1]); j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
}

func unknownKeysError(keys []string) error {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = strconv.Quote(k)
	}
	if len(q) == 1 {
		return fmt.Errorf("unknown key %s", q[0])
	}
	return fmt.Errorf("unknown keys %s", strings.Join(q, ", "))
}

var (
	primitiveType       = reflect.TypeOf(toml.Primitive{})
	tomlUnmarshalerType = reflect.TypeOf((*toml.Unmarshaler)(nil)).Elem()
	textUnmarshalerType = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
	timeType            = reflect.TypeOf(time.Time{})
)

// opaque reports whether key lies inside a value that Go type t accepts
// without the TOML library tracking its keys.
func opaque(t reflect.Type, key toml.Key) bool {
	for i := 0; ; {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == nil {
			return false
		}
		if t == primitiveType || t.Kind() == reflect.Interface ||
			(t != timeType && (reflect.PointerTo(t).Implements(tomlUnmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType))) {
			return true
		}
		if i == len(key) {
			return false
		}
		switch t.Kind() {
		case reflect.Slice, reflect.Array:
			// Keys of arrays of tables carry no index.
			t = t.Elem()
		case reflect.Map:
			t = t.Elem()
			i++
		case reflect.Struct:
			f, ok := fieldByTOMLName(t, key[i])
			if !ok {
				return false
			}
			t = f
			i++
		default:
			return false
		}
	}
}

// fieldByTOMLName finds the field the TOML library would decode key into:
// an exact tag or field name, else a case-insensitive match, looking through
// embedded structs.
func fieldByTOMLName(t reflect.Type, key string) (reflect.Type, bool) {
	var fold reflect.Type
	var walk func(t reflect.Type, depth int) reflect.Type
	walk = func(t reflect.Type, depth int) reflect.Type {
		if depth > 8 {
			return nil
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("toml")
			name, _, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
				if r := walk(ft, depth+1); r != nil {
					return r
				}
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if name == key {
				return f.Type
			}
			if fold == nil && strings.EqualFold(name, key) {
				fold = f.Type
			}
		}
		return nil
	}
	if r := walk(t, 0); r != nil {
		return r, true
	}
	return fold, fold != nil
}

// tomlType names the TOML type of a decoded value for error messages.
func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		return "float"
	case bool:
		return "boolean"
	case time.Time:
		return "datetime"
	case []any:
		return "array"
	case []map[string]any:
		return "array of tables"
	case map[string]any:
		return "table"
	}
	return fmt.Sprintf("%T", v)
}
