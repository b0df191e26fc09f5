package config

import "testing"

func TestExpand(t *testing.T) {
	env := fakeEnv(map[string]string{"A": "aa", "EMPTY": "", "_x1": "under", "NESTED": "${A}"})
	tests := []struct {
		in, want, err string
	}{
		{in: "", want: ""},
		{in: "no refs", want: "no refs"},
		{in: "${A}", want: "aa"},
		{in: "${_x1}", want: "under"},
		{in: "<${A}|${A}>", want: "<aa|aa>"},
		{in: "${UNSET:-d}", want: "d"},
		{in: "${EMPTY:-d}", want: "d"},
		{in: "${EMPTY}", want: ""},
		{in: "${A:-d}", want: "aa"},
		{in: "${UNSET:-}", want: ""},
		{in: "${UNSET:-${A}}", want: "aa"},
		{in: "${UNSET:-${ALSO:-x}y}", want: "xy"},
		{in: "${UNSET:-$${A}}", want: "${A}"},
		{in: "${UNSET:-a}b}", want: "ab}"},
		{in: "${NESTED}", want: "${A}"},
		{in: "$${A}", want: "${A}"},
		{in: "$$${A}", want: "$${A}"},
		{in: "$", want: "$"},
		{in: "a$b$$c$", want: "a$b$$c$"},
		{in: "$A {A}", want: "$A {A}"},
		{in: "€${A}€", want: "€aa€"},
		{in: "${UNSET}", err: `environment variable "UNSET" is not set and has no default`},
		{in: "x${UNSET:-${GONE}}", err: `environment variable "GONE" is not set and has no default`},
		{in: "${A", err: `unterminated variable reference "${" (missing "}")`},
		{in: "${A:-${B}", err: `unterminated variable reference "${" (missing "}")`},
		{in: "${", err: `unterminated variable reference "${" (missing "}")`},
		{in: "${}", err: `invalid variable reference "${}": want ${NAME} or ${NAME:-default}, NAME made of letters, digits and '_' and not starting with a digit`},
		{in: "${9A}", err: `invalid variable reference "${9A}": want ${NAME} or ${NAME:-default}, NAME made of letters, digits and '_' and not starting with a digit`},
		{in: "${A.B}", err: `invalid variable reference "${A.B}": want ${NAME} or ${NAME:-default}, NAME made of letters, digits and '_' and not starting with a digit`},
		{in: "${A-d}", err: `invalid variable reference "${A-d}": want ${NAME} or ${NAME:-default}, NAME made of letters, digits and '_' and not starting with a digit`},
		{in: "${ A}", err: `invalid variable reference "${ A}": want ${NAME} or ${NAME:-default}, NAME made of letters, digits and '_' and not starting with a digit`},
	}
	for _, tt := range tests {
		got, err := Expand(tt.in, env)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("Expand(%q) error = %v, want %s", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// expand tells values that hold environment text from values built only
// from defaults written in the file.
func TestExpandSecretFlag(t *testing.T) {
	env := fakeEnv(map[string]string{"A": "aa", "EMPTY": ""})
	for in, want := range map[string]bool{
		"plain":           false,
		"$${A}":           false,
		"${UNSET:-d}":     false,
		"${EMPTY:-d}":     false,
		"${A}":            true,
		"${EMPTY}":        true,
		"x${UNSET:-${A}}": true,
	} {
		if _, got, err := expand(in, env); err != nil || got != want {
			t.Errorf("expand(%q) secret = %v, %v; want %v", in, got, err, want)
		}
	}
}
