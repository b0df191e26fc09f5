package secret

import (
	"errors"
	"testing"
)

func TestRedact(t *testing.T) {
	base := errors.New("base")
	for _, tc := range []struct{ name, password, msg, want string }{
		{"plain", "s3cret", "login s3cret refused", "login xxxxx refused"},
		{"query-escaped", "p@ss word", "dsn ?password=p%40ss+word", "dsn ?password=xxxxx"},
		{"path-escaped", "p@ss word", "oracle://u:p%40ss%20word@h", "oracle://u:xxxxx@h"},
		{"no password", "", "login s3cret refused", "login s3cret refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Redact(tc.password, errors.Join(errors.New(tc.msg)))
			if err.Error() != tc.want {
				t.Errorf("got %q, want %q", err, tc.want)
			}
		})
	}
	if err := Redact("x", base); !errors.Is(err, base) {
		t.Error("redacted error does not unwrap to the original")
	}
	if Redact("x", nil) != nil {
		t.Error("nil error became non-nil")
	}
}
