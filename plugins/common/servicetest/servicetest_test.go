package servicetest

import (
	"fmt"
	"testing"
)

type fakeTB struct{ skipped, failed string }

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Skipf(format string, a ...any)  { f.skipped = fmt.Sprintf(format, a...) }
func (f *fakeTB) Fatalf(format string, a ...any) { f.failed = fmt.Sprintf(format, a...) }

func TestMissingSkipsOrFails(t *testing.T) {
	t.Setenv(EnvRequire, "")
	var f fakeTB
	Missing(&f, "influxd", "not on PATH")
	if f.skipped == "" || f.failed != "" {
		t.Fatalf("without %s: %+v", EnvRequire, f)
	}
	t.Setenv(EnvRequire, "1")
	f = fakeTB{}
	Binary(&f, "surely-not-a-binary-rowflux")
	if f.failed != "surely-not-a-binary-rowflux is required (ROWFLUX_REQUIRE_SERVICES=1) but unavailable: not on PATH" {
		t.Fatalf("with %s=1: %+v", EnvRequire, f)
	}
}
