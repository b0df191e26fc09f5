package sqlite

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A row image is the JSON text a trigger writes with
// json_array(json_array('col', …), value, …): first the column names, then
// the values in that order. Naming the columns in every row keeps rows
// written by an older trigger (before a setup changed the captured columns)
// decodable, and parsing a positional array is several times cheaper than
// decoding a JSON object into a map per row.

// parseImage splits an image into its column header (raw text, used as a
// cache key) and its values: int64, float64, string, []byte or nil.
func parseImage(s string) (header string, vals []any, err error) {
	p := &scanner{s: s}
	if !p.consume('[') {
		return "", nil, p.fail("want '['")
	}
	start := p.i
	if !p.consume('[') {
		return "", nil, p.fail("want the column header array")
	}
	for !p.consume(']') {
		if _, err := p.str(); err != nil {
			return "", nil, err
		}
		p.consume(',')
	}
	header = s[start:p.i]
	for {
		p.space()
		if p.consume(']') {
			return header, vals, nil
		}
		if !p.consume(',') {
			return "", nil, p.fail("want ',' or ']'")
		}
		p.space()
		v, err := p.value()
		if err != nil {
			return "", nil, err
		}
		vals = append(vals, v)
	}
}

// parseHeader returns the column names of a header.
func parseHeader(h string) ([]string, error) {
	p := &scanner{s: h}
	if !p.consume('[') {
		return nil, p.fail("want '['")
	}
	var names []string
	for !p.consume(']') {
		n, err := p.str()
		if err != nil {
			return nil, err
		}
		names = append(names, n)
		p.consume(',')
	}
	return names, nil
}

type scanner struct {
	s string
	i int
}

func (p *scanner) fail(what string) error {
	return fmt.Errorf("row image: %s at offset %d", what, p.i)
}

func (p *scanner) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\n' || p.s[p.i] == '\t' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *scanner) consume(c byte) bool {
	p.space()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *scanner) value() (any, error) {
	if p.i >= len(p.s) {
		return nil, p.fail("unexpected end")
	}
	switch c := p.s[p.i]; {
	case c == '"':
		return p.str()
	case c == '[':
		return p.blob()
	case c == 'n' && strings.HasPrefix(p.s[p.i:], "null"):
		p.i += 4
		return nil, nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	return nil, p.fail("unsupported value")
}

func (p *scanner) number() (any, error) {
	start, float := p.i, false
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '.' || c == 'e' || c == 'E' {
			float = true
		} else if c != '-' && c != '+' && (c < '0' || c > '9') {
			break
		}
		p.i++
	}
	text := p.s[start:p.i]
	if !float {
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return n, nil
		}
	}
	f, err := strconv.ParseFloat(text, 64)
	// SQLite writes ±Inf as ±9.0e+999, which parses as ±Inf with ErrRange.
	if err != nil && !(errors.Is(err, strconv.ErrRange) && math.IsInf(f, 0)) {
		return nil, p.fail(fmt.Sprintf("bad number %q", text))
	}
	return f, nil
}

// blob reads the one-element array of hex a trigger writes for a blob.
func (p *scanner) blob() (any, error) {
	p.i++
	h, err := p.str()
	if err != nil {
		return nil, err
	}
	if !p.consume(']') {
		return nil, p.fail("want ']' after a blob")
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, p.fail("bad blob hex")
	}
	return b, nil
}

// str reads a JSON string; without escapes it is a substring, no copy.
func (p *scanner) str() (string, error) {
	p.space()
	if p.i >= len(p.s) || p.s[p.i] != '"' {
		return "", p.fail("want a string")
	}
	p.i++
	start := p.i
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case '"':
			out := p.s[start:p.i]
			p.i++
			return out, nil
		case '\\':
			return p.escaped(start)
		}
		p.i++
	}
	return "", p.fail("unterminated string")
}

var errBadEscape = errors.New("bad escape")

func (p *scanner) escaped(start int) (string, error) {
	var b strings.Builder
	b.WriteString(p.s[start:p.i])
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return b.String(), nil
		case c != '\\':
			b.WriteByte(c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.s) {
			break
		}
		e := p.s[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.fail(errBadEscape.Error())
			}
			if utf16.IsSurrogate(r) {
				if strings.HasPrefix(p.s[p.i:], `\u`) {
					p.i += 2
					if r2, ok := p.hex4(); ok {
						r = utf16.DecodeRune(r, r2)
					}
				} else {
					r = utf8.RuneError
				}
			}
			b.WriteRune(r)
		default:
			return "", p.fail(errBadEscape.Error())
		}
	}
	return "", p.fail("unterminated string")
}

func (p *scanner) hex4() (rune, bool) {
	if p.i+4 > len(p.s) {
		return 0, false
	}
	n, err := strconv.ParseUint(p.s[p.i:p.i+4], 16, 32)
	if err != nil {
		return 0, false
	}
	p.i += 4
	return rune(n), true
}
