package config

import (
	"errors"
	"fmt"
	"strings"
)

// Expand substitutes ${VAR} and ${VAR:-default} in s. As in a shell, the
// default is fromEnv when VAR is unset or empty, and may itself contain
// references. "$${" is a literal "${"; any other "$" is kept as is, because
// passwords and DSNs often contain one. A variable that is unset and has no
// default is an error, so that a typo cannot silently become an empty value.
//
// Errors name variables and quote the text written in the file, never a
// variable's value.
func Expand(s string, lookupEnv func(string) (string, bool)) (string, error) {
	out, _, err := expand(s, lookupEnv)
	return out, err
}

// expand is Expand that also reports whether the result holds text taken from
// the environment (rather than only defaults written in the file): it may
// then be a secret and must be kept out of error messages.
func expand(s string, lookupEnv func(string) (string, bool)) (string, bool, error) {
	if !strings.Contains(s, "$") {
		return s, false, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	secret := false
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := closingBrace(s, i+2)
			if end < 0 {
				return "", false, errors.New(`unterminated variable reference "${" (missing "}")`)
			}
			v, fromEnv, err := resolve(s[i+2:end], lookupEnv)
			if err != nil {
				return "", false, err
			}
			b.WriteString(v)
			secret = secret || fromEnv
			i = end + 1
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), secret, nil
}

// resolve evaluates the inside of one ${...} reference.
func resolve(ref string, lookupEnv func(string) (string, bool)) (string, bool, error) {
	name, def, hasDef := strings.Cut(ref, ":-")
	if !validVarName(name) {
		return "", false, fmt.Errorf("invalid variable reference %q: want ${NAME} or ${NAME:-default}, "+
			"NAME made of letters, digits and '_' and not starting with a digit", "${"+ref+"}")
	}
	if v, ok := lookupEnv(name); ok && (v != "" || !hasDef) {
		return v, true, nil
	}
	if !hasDef {
		return "", false, fmt.Errorf("environment variable %q is not set and has no default", name)
	}
	return expand(def, lookupEnv)
}

// closingBrace returns the index of the "}" that closes a reference whose
// body starts at from, skipping references nested in a default; -1 if none.
func closingBrace(s string, from int) int {
	depth := 1
	for i := from; i < len(s); i++ {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			i += 2
		case strings.HasPrefix(s[i:], "${"):
			depth++
			i++
		case s[i] == '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

func validVarName(name string) bool {
	if name == "" || (name[0] >= '0' && name[0] <= '9') {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
