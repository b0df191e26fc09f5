package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/errors/*.err from the current messages")

// goldenEnv is the environment every golden case sees. The values that are
// secrets must never appear in an error message.
var goldenEnv = map[string]string{
	"BAD_DURATION":  "10s3cr3t",
	"SECRET_LEVEL":  "s3cr3t-level",
	"ZERO_DURATION": "0h0m0s",
	"SECRET":        "s3cr3t-pw",
	"REGION":        "orders", // aliases name instances: shown by design
}

var goldenSecrets = []string{"s3cr3t", "0h0m0s"}

func fakeEnv(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// TestErrors parses each testdata/errors/NAME.toml and compares the error
// with NAME.err. Run with -update after changing a message on purpose.
func TestErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".toml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, perr := Parse("pipeline.toml", data, fakeEnv(goldenEnv))
			if perr == nil {
				t.Fatalf("Parse succeeded, want an error")
			}
			got := perr.Error()
			for _, s := range goldenSecrets {
				if strings.Contains(got, s) {
					t.Errorf("error shows a value from the environment (%q): %s", s, got)
				}
			}
			errFile := strings.TrimSuffix(file, ".toml") + ".err"
			if *update {
				if err := os.WriteFile(errFile, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(errFile)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != strings.TrimSuffix(string(want), "\n") {
				t.Errorf("error mismatch\n got: %s\nwant: %s", got, want)
			}
		})
	}
}
