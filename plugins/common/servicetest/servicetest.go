// Package servicetest decides what a test does when a real service it
// needs (a database server, InfluxDB, a browser) is missing: skip on a
// developer's machine, fail in CI. CI sets ROWFLUX_REQUIRE_SERVICES=1 after
// installing every service, so a silent skip there would hide a broken
// install.
package servicetest

import (
	"os"
	"os/exec"
)

// EnvRequire is the variable that turns a missing service into a failure.
const EnvRequire = "ROWFLUX_REQUIRE_SERVICES"

// TB is the part of testing.TB this package uses.
type TB interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Required reports whether missing services must fail tests.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// Missing skips the test, or fails it under ROWFLUX_REQUIRE_SERVICES=1,
// saying which service is missing and why.
func Missing(t TB, service, why string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s is required (%s=1) but unavailable: %s", service, EnvRequire, why)
	}
	t.Skipf("%s unavailable (%s); set %s=1 to make this a failure", service, why, EnvRequire)
}

// Binary returns the path of an executable on PATH, or calls Missing.
func Binary(t TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, "not on PATH")
	}
	return p
}
