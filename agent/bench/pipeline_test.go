package bench

import (
	"testing"

	"github.com/BurntSushi/toml"
)

// A path or DSN with quotes, backslashes or control characters must come
// back from the TOML decoder unchanged.
func TestTOMLStringRoundTrips(t *testing.T) {
	for _, s := range []string{`/tmp/a b/shop.db`, `C:\data\"x".db`, "tab\there\x00\x7f", "postgres://u:p%40ss@h/db?x=ü"} {
		var v struct{ S string }
		if _, err := toml.Decode("S = "+tomlString(s), &v); err != nil || v.S != s {
			t.Errorf("%q: got %q, %v", s, v.S, err)
		}
	}
}
