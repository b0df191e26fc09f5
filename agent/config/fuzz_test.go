package config

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// fuzzSecret is an environment value no error may show.
const fuzzSecret = "s3cr3tZ"

// FuzzParse feeds arbitrary bytes to Parse: errors are fine, panics are not.
// An error says where (it starts with the file's name), stays on one line
// (a hostile key or value cannot forge a log line) and never shows a value
// taken from the environment. Whatever the TOML library parses must also
// survive the re-encoding that plugin decoding relies on, with every value
// and type unchanged.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/errors/*.toml")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(minimal))
	f.Add([]byte("[[inputs.cfgtest_in]]\ndsn = \"${A:-${B}}$${C}$\"\n[inputs.cfgtest_in.extra]\nx = [1, {y = 2}]\n[[outputs.cfgtest_out]]\nbatch_size = 1\n"))
	f.Add([]byte("inputs.cfgtest_in = [{rate = 1.5, tags = [\"a\"]}]\noutputs.cfgtest_out = {}\n[agent]\nlog_level = \"warn\"\n"))
	// Hostile names and values where identifiers, aliases and plugin names go.
	for _, v := range []string{`x\"; DROP TABLE canary; --`, "x'; DROP TABLE canary; --", "a;b", "tàble", "表", "a\u202eb", "a\u200bb", "a\u0000b", "${S}", "x ${S}", "${S:-x}y z"} {
		f.Add([]byte("[[inputs.cfgtest_in]]\nalias = \"" + v + "\"\nname = \"" + v + "\"\ntables = [{name = \"" + v + "\", key = [\"" + v + "\"]}]\n[[outputs.cfgtest_out]]\nbatch_size = \"" + v + "\"\n"))
		f.Add([]byte("[[inputs.\"" + v + "\"]]\n[[outputs.cfgtest_out]]\n\"" + v + "\" = 1\n[agent]\nlog_level = \"" + v + "\"\n"))
	}
	env := fakeEnv(map[string]string{"A": "a\"\n[x]", "B": "", "C": "${A}", "S": fuzzSecret + " x"})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.toml", data, env)
		if err == nil && (len(cfg.Inputs) == 0 || len(cfg.Outputs) == 0) {
			t.Fatalf("accepted a config without inputs or outputs")
		}
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "fuzz.toml") {
				t.Fatalf("error does not name the file: %s", msg)
			}
			if strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("error spans lines: %q", msg)
			}
			if strings.Contains(msg, fuzzSecret) && !bytes.Contains(data, []byte(fuzzSecret)) {
				t.Fatalf("error shows a value from the environment: %s", msg)
			}
		}
		var m map[string]any
		if _, err := toml.Decode(string(data), &m); err != nil {
			return
		}
		var buf bytes.Buffer
		if err := toml.NewEncoder(&buf).Encode(m); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var back map[string]any
		if _, err := toml.Decode(buf.String(), &back); err != nil {
			t.Fatalf("decode re-encoded text: %v\n%s", err, buf.String())
		}
		if !sameValue(m, back) {
			t.Fatalf("round trip changed the data\nbefore: %#v\nafter:  %#v\ntext:\n%s", m, back, buf.String())
		}
	})
}

// sameValue compares decoded TOML values, treating an array of tables and
// an array holding only tables as the same thing (both decode into the same
// Go types), and NaN as equal to NaN.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	case []map[string]any, []any:
		xs, ys := asList(a), asList(b)
		if xs == nil || ys == nil || len(xs) != len(ys) {
			return false
		}
		for i := range xs {
			if !sameValue(xs[i], ys[i]) {
				return false
			}
		}
		return true
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || math.IsNaN(x) && math.IsNaN(y))
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y) && x.Location().String() == y.Location().String()
	}
	return reflect.DeepEqual(a, b)
}

func asList(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case []map[string]any:
		out := make([]any, len(x))
		for i, m := range x {
			out[i] = m
		}
		return out
	}
	return nil
}
