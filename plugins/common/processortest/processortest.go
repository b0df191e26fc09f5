// Package processortest runs golden-file scripts against a registered
// processor. See README.md for the script format.
package processortest

import (
	"os"
	"path/filepath"
	"testing"
)

// TB is the part of testing.TB the runner uses. *testing.T satisfies it; the
// runner's own tests use a fake to check that failures are detected.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// Run runs every file matching pattern (e.g. "testdata/*.golden") as a
// subtest named after the file, against the processor registered as name
// (sdk.LookupProcessor).
func Run(t *testing.T, name, pattern string) {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatalf("processortest: bad pattern %q: %v", pattern, err)
	}
	if len(files) == 0 {
		t.Fatalf("processortest: no files match %q", pattern)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Helper()
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("processortest: %v", err)
			}
			runScript(t, name, file, string(b))
		})
	}
}

// RunString runs one script given as text (for table-driven use and the
// runner's own tests). Messages name the script "<script>".
func RunString(t TB, name, script string) {
	t.Helper()
	runScript(t, name, "<script>", script)
}
