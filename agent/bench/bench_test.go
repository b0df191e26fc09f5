package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rowflux/rowflux/plugins/common/pgtest"
)

// agentBin is the agent built once for all tests: the bench drives a real
// agent process, as users will.
var agentBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bench-agent-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	agentBin = filepath.Join(dir, "agent")
	if out, err := exec.Command("go", "build", "-o", agentBin, "../../cmd/agent").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build agent: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// shortBench runs a short bench of strategies on dsn and checks the
// report's invariants, which hold on every machine however fast.
func shortBench(t *testing.T, dsn string, strategies ...string) *Report {
	t.Helper()
	quoted := make([]string, len(strategies))
	for i, s := range strategies {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	cfg, err := ParseConfig(fmt.Sprintf(`
strategies = [%s]
poll_interval = "100ms"
[source]
  dsn = %q
[workload]
  rate = 100
  duration = "2s"
  warmup = "300ms"
  writers = 2
  preload = 50
  seed = 7
`, strings.Join(quoted, ", "), dsn))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	rep, err := Run(ctx, cfg, agentBin, &progress)
	t.Logf("progress:\n%s", progress.String())
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	rep.Table(&table)
	t.Logf("table:\n%s", table.String())

	if n := strings.Count(progress.String(), "\n"); n != 1+len(strategies) {
		t.Errorf("%d progress lines, want one per phase (%d)", n, 1+len(strategies))
	}
	if got := strings.Count(table.String(), "\n"); got != 2+len(strategies) {
		t.Errorf("table has %d lines, want a header and one per phase", got)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatalf("report does not marshal: %v", err)
	}
	if len(rep.Runs) != 1 {
		t.Fatalf("%d runs, want 1", len(rep.Runs))
	}
	run := rep.Runs[0]
	if b := run.Baseline; b.Strategy != "baseline" || b.Commits == 0 || b.Throughput <= 0 || b.CommitLatency.N == 0 || b.Capture != nil || b.Agent != nil {
		t.Errorf("baseline: %+v", b)
	}
	if len(run.Strategies) != len(strategies) {
		t.Fatalf("%d strategy phases, want %d", len(run.Strategies), len(strategies))
	}
	for i, p := range run.Strategies {
		c := p.Capture
		switch {
		case p.Strategy != strategies[i]:
			t.Errorf("phase %d is %s, want %s", i, p.Strategy, strategies[i])
		case p.Throughput <= 0 || p.ThroughputRatio <= 0:
			t.Errorf("%s: throughput %v, ratio %v", p.Strategy, p.Throughput, p.ThroughputRatio)
		case p.CommitLatencyRatio == nil || p.CommitLatencyRatio.P50 <= 0 || p.CommitLatencyRatio.P95 <= 0 || p.CommitLatencyRatio.P99 <= 0:
			t.Errorf("%s: commit latency ratio %+v", p.Strategy, p.CommitLatencyRatio)
		case c == nil || p.Agent == nil:
			t.Fatalf("%s: no capture or agent figures", p.Strategy)
		case c.Events == 0 || c.Latency.N == 0 || c.Throughput <= 0 || c.Checked == 0:
			t.Errorf("%s: capture %+v", p.Strategy, c)
		case c.Missed < 0 || c.Unexpected != 0:
			t.Errorf("%s: missed %d, unexpected %d", p.Strategy, c.Missed, c.Unexpected)
		case !c.Drained:
			t.Errorf("%s: the agent's output never went quiet", p.Strategy)
		case p.Agent.CPUSeconds <= 0 || p.Agent.PeakRSSBytes <= 0:
			t.Errorf("%s: agent usage %+v", p.Strategy, p.Agent)
		}
		if kindOf(p.Strategy).String() != c.Kind {
			t.Errorf("%s judged as %s", p.Strategy, c.Kind)
		}
		// DESIGN.md: only polling may miss (a transaction outliving its
		// bound); its count is reported, whatever it is.
		if p.Strategy != "polling" && c.Missed != 0 {
			t.Errorf("%s missed %d of %d changes: %v", p.Strategy, c.Missed, c.Checked, c.MissedSample)
		}
	}
	return rep
}

func TestBenchSQLite(t *testing.T) {
	dir := t.TempDir()
	dsn := "sqlite://" + filepath.Join(dir, "shop.db")
	shortBench(t, dsn, "polling", "trigger", "notify")
	// Phases use their own files and remove them; the DSN's file is never
	// created or touched.
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left behind in the DSN's directory: %v", left)
	}
}

func TestBenchPostgres(t *testing.T) {
	dsn := pgtest.DB(t)
	shortBench(t, dsn, "polling", "trigger", "commit_order", "notify")
}
