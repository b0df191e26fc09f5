package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rowflux/rowflux/agent/workload"
)

func TestWorkloadCommand(t *testing.T) {
	dir := t.TempDir()
	ledger := filepath.Join(dir, "l.jsonl")
	r := runAgent(t, nil, "workload", "--dsn", "sqlite://"+filepath.Join(dir, "x.db"),
		"--rate", "0", "--duration", "500ms", "--writers", "2", "--mix", "60,30,10", "--ledger", ledger)
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "workload: done: ") {
		t.Errorf("no summary on stderr: %q", r.stderr)
	}
	es, err := workload.ReadLedger(ledger)
	if err != nil || len(es) == 0 {
		t.Fatalf("ledger: %d entries, %v", len(es), err)
	}
}

func TestWorkloadCommandSchemaOnly(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.db")
	r := runAgent(t, nil, "workload", "--dsn", "sqlite://"+db, "--schema-only")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if fi, err := os.Stat(db); err != nil || fi.Size() == 0 {
		t.Fatalf("database after --schema-only: %v", err)
	}
}

func TestWorkloadCommandStopsOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	ledger := filepath.Join(dir, "l.jsonl")
	cmd := exec.Command(agentBin, "workload", "--dsn", "sqlite://"+filepath.Join(dir, "x.db"), "--rate", "200", "--ledger", ledger)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v\nstderr: %s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "workload: done: ") {
		t.Errorf("no summary on stderr: %q", stderr.String())
	}
	if fi, err := os.Stat(ledger); err != nil || fi.Size() == 0 {
		t.Fatalf("ledger after SIGTERM: %v", err)
	}
}

func TestWorkloadCommandUsageErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		msg  string
	}{
		{"scheme", []string{"--dsn", "mysql://shop"}, `unsupported DSN scheme "mysql" (supported: sqlite, postgres, oracle)`},
		{"missing dir", []string{"--dsn", "sqlite://" + dir + "/missing/x.db"}, "does not exist"},
		{"no dsn", []string{}, "no DSN"},
		{"mix", []string{"--dsn", "sqlite://" + dir + "/x.db", "--mix", "1,2"}, "want three non-negative weights"},
		{"rate", []string{"--dsn", "sqlite://" + dir + "/x.db", "--rate", "-5"}, "rate -5"},
		{"argument", []string{"--dsn", "sqlite://" + dir + "/x.db", "extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runAgent(t, nil, append([]string{"workload"}, tc.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.msg) {
				t.Fatalf("exit %d, stderr: %s\nwant 2 and %q", r.code, r.stderr, tc.msg)
			}
		})
	}
}
