package oracle

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// No Oracle server runs where these tests run: the SQL the package sends is
// checked against golden files a reviewer reads, and regenerated with
// `go test ./plugins/inputs/oracle -update`.
var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/<name> (name may contain slashes:
// "sql/poll_page.sql"), or writes it there under -update.
func golden(t *testing.T, name string, got string) {
	t.Helper()
	path := filepath.Join("testdata", filepath.FromSlash(name))
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./plugins/inputs/oracle -update creates it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (go test ./plugins/inputs/oracle -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
