package config

import (
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// pathElem is one step from a table to a value: a key, or an index into an
// array.
type pathElem struct {
	key   string
	index int // used when key is ""
	isIdx bool
}

// keyPath locates a value inside a section or plugin instance.
type keyPath []pathElem

func (p keyPath) key(k string) keyPath { return append(p[:len(p):len(p)], pathElem{key: k}) }
func (p keyPath) idx(i int) keyPath {
	return append(p[:len(p):len(p)], pathElem{index: i, isIdx: true})
}

// String is the form shown to users: tables[0].name, with keys quoted the way
// TOML would need them.
func (p keyPath) String() string {
	var b strings.Builder
	for _, e := range p {
		if e.isIdx {
			b.WriteString("[" + strconv.Itoa(e.index) + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(toml.Key{e.key}.String())
	}
	return b.String()
}

// plain drops array indices, which is how the TOML library names keys in its
// metadata and errors.
func (p keyPath) plain() string {
	k := make(toml.Key, 0, len(p))
	for _, e := range p {
		if !e.isIdx {
			k = append(k, e.key)
		}
	}
	return k.String()
}

// keyOrder maps a plain key path to its first position in the file, so that
// keys can be visited and reported in document order rather than in Go's
// random map order.
type keyOrder map[string]int

// sorted returns the keys of m in document order; keys the file does not
// list (there should be none) come last, alphabetically.
func (o keyOrder) sorted(m map[string]any, prefix keyPath) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	pos := func(k string) int {
		if p, ok := o[prefix.key(k).plain()]; ok {
			return p
		}
		return int(^uint(0) >> 1)
	}
	sort.Slice(keys, func(i, j int) bool {
		pi, pj := pos(keys[i]), pos(keys[j])
		if pi != pj {
			return pi < pj
		}
		return keys[i] < keys[j]
	})
	return keys
}

// substitution expands environment references in the string values of one
// section or plugin instance and remembers what it produced, because those
// values may be secrets that error messages must not show.
type substitution struct {
	lookupEnv func(string) (string, bool)
	order     keyOrder
	// secrets maps a plain key path to the strings substituted under it.
	secrets map[string][]secretValue
}

type secretValue struct {
	raw   string // as written in the file
	value string // after substitution
}

// table substitutes in place, visiting keys in document order so that the
// first error reported is the first in the file.
func (s *substitution) table(m map[string]any, path keyPath) error {
	for _, k := range s.order.sorted(m, path) {
		v, err := s.value(m[k], path.key(k))
		if err != nil {
			return err
		}
		m[k] = v
	}
	return nil
}

func (s *substitution) value(v any, path keyPath) (any, error) {
	switch x := v.(type) {
	case string:
		out, secret, err := expand(x, s.lookupEnv)
		if err != nil {
			return nil, &keyError{key: path.String(), err: err}
		}
		if secret {
			if s.secrets == nil {
				s.secrets = map[string][]secretValue{}
			}
			p := path.plain()
			s.secrets[p] = append(s.secrets[p], secretValue{raw: x, value: out})
		}
		return out, nil
	case map[string]any:
		return x, s.table(x, path)
	case []map[string]any:
		for i, t := range x {
			if err := s.table(t, path.idx(i)); err != nil {
				return nil, err
			}
		}
		return x, nil
	case []any:
		for i, e := range x {
			out, err := s.value(e, path.idx(i))
			if err != nil {
				return nil, err
			}
			x[i] = out
		}
		return x, nil
	}
	return v, nil
}

// fromEnv reports whether the value at a plain key path holds text from the
// environment.
func (s *substitution) fromEnv(key string) bool { return len(s.secrets[key]) > 0 }

// show quotes a value for an error message, or, when it came from the
// environment, the text the file holds instead.
func (s *substitution) show(key, value string) string {
	for _, sv := range s.secrets[key] {
		if sv.value == value {
			return strconv.Quote(sv.raw) + " (after environment substitution; value not shown)"
		}
	}
	return strconv.Quote(value)
}

// redact removes values substituted under key from a message written by the
// TOML library or a plugin, which may quote the value it rejected.
func (s *substitution) redact(key, msg string) string {
	hidden := false
	rest := msg // msg without the raw texts put in, to look for leftovers
	for _, sv := range s.secrets[key] {
		if sv.value == "" {
			continue
		}
		if q := strconv.Quote(sv.value); strings.Contains(msg, q) {
			msg = strings.ReplaceAll(msg, q, strconv.Quote(sv.raw))
			rest = strings.ReplaceAll(rest, q, "")
			hidden = true
		}
	}
	for _, sv := range s.secrets[key] {
		if sv.value != "" && strings.Contains(rest, sv.value) {
			// An unquoted value cannot be cut out of the message reliably,
			// so none of it is shown.
			return "invalid value (it comes from environment substitution and is not shown)"
		}
	}
	if hidden {
		msg += " (after environment substitution; value not shown)"
	}
	return msg
}
