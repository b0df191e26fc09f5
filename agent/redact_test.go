package agent

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestRedactorScrubsErrorsAndLogs(t *testing.T) {
	red := newRedactor()
	lookup := red.lookupEnv(func(name string) (string, bool) {
		return map[string]string{"PASS": "s3cr3t-pw", "SHORT": "on", "DSN": "postgres://u:s3cr3t-pw@db/x"}[name], true
	})
	lookup("PASS")
	lookup("SHORT")
	lookup("DSN")

	err := red.Error(&ConfigError{errors.New(`inputs.postgres: cannot connect to "postgres://u:s3cr3t-pw@db/x" as s3cr3t-pw, tls on`)})
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("redaction lost the ConfigError type: %T", err)
	}
	if want := `inputs.postgres: cannot connect to "[redacted]" as [redacted], tls on`; err.Error() != want {
		t.Fatalf("got  %s\nwant %s", err, want)
	}

	var buf bytes.Buffer
	log := slog.New(handler{next: slog.NewTextHandler(&buf, nil), r: red}).With("dsn", "postgres://u:s3cr3t-pw@db/x")
	log.Info("connecting with s3cr3t-pw", "error", errors.New("auth failed for s3cr3t-pw"), slog.Group("g", "p", "s3cr3t-pw"), "n", 3)
	if strings.Contains(buf.String(), "s3cr3t") {
		t.Fatalf("secret in log line: %s", buf.String())
	}
	if !strings.Contains(buf.String(), "n=3") {
		t.Fatalf("non-secret attribute mangled: %s", buf.String())
	}
}
