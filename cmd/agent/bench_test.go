package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rowflux/rowflux/agent/bench"
	"github.com/rowflux/rowflux/agent/pipeline"
	"github.com/rowflux/rowflux/plugins/inputs/generate"
	"github.com/rowflux/rowflux/sdk"
)

type noop struct{}

func (noop) Process(_ context.Context, b sdk.Batch) (sdk.Batch, error) { return b, nil }

type discard struct{ n atomic.Int64 }

func (d *discard) Write(_ context.Context, b sdk.Batch) error { d.n.Add(int64(len(b))); return nil }

// BenchmarkGeneratedPassThrough is the pass-through pipeline with the real
// generate input building every event (2 tags, 3 fields, batches of 1000)
// → no-op processor → discarding output, checkpoints every 100ms. Unlike
// the pipeline package's pre-built benchmark it includes event construction.
func BenchmarkGeneratedPassThrough(b *testing.B) {
	in := generate.New()
	in.Rate, in.BatchSize, in.Count = 0, 1000, int64(max(b.N, 1000))
	in.Fields = []generate.Generator{{Name: "seq", Type: "sequence"}, {Name: "amount", Type: "float", Min: 1, Max: 500}, {Name: "category", Type: "choice", Values: []string{"books", "toys"}}}
	in.Tags = []generate.Generator{{Name: "currency", Type: "choice", Values: []string{"EUR", "USD"}}, {Name: "region", Type: "choice", Values: []string{"eu", "us"}}}
	if err := in.Init(sdk.Env{}); err != nil {
		b.Fatal(err)
	}
	sink := &discard{}
	p, err := pipeline.New(pipeline.Options{
		Inputs:             []pipeline.Input{{ID: "inputs.generate", Plugin: in}},
		Processors:         []pipeline.Processor{{ID: "processors.noop", Plugin: noop{}}},
		Outputs:            []pipeline.Output{{ID: "outputs.discard", Plugin: sink, BatchSize: 1000, BufferLimit: 10_000, FlushInterval: time.Second}},
		CheckpointInterval: 100 * time.Millisecond,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if err := p.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	if sink.n.Load() != in.Count {
		b.Fatalf("delivered %d of %d", sink.n.Load(), in.Count)
	}
	b.ReportMetric(float64(in.Count)/elapsed.Seconds(), "events/s")
}

// TestBenchCommand runs `agent bench` as users do: a short SQLite bench of
// trigger and polling, --repeat overriding the config's repeat, the table
// on stdout, progress on stderr, the report files in --report's directory.
func TestBenchCommand(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "bench.toml")
	os.WriteFile(conf, []byte(`
strategies = ["trigger", "polling"]
repeat = 2
poll_interval = "100ms"
[source]
  dsn = "sqlite://`+filepath.Join(dir, "shop.db")+`"
[workload]
  rate = 50
  duration = "1s"
  warmup = "200ms"
  writers = 2
  preload = 20
`), 0o600)
	reportDir := filepath.Join(dir, "out", "report") // created by the command
	r := runAgent(t, nil, "bench", "--config", conf, "--report", reportDir, "--repeat", "1")
	t.Logf("stderr:\n%s\nstdout:\n%s", r.stderr, r.stdout)
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	for _, phase := range []string{"baseline", "trigger", "polling"} {
		if !regexp.MustCompile(`(?m)^bench 1/1 ` + phase + `: \d+ commits`).MatchString(r.stderr) {
			t.Errorf("no progress line for %s on stderr", phase)
		}
		if !regexp.MustCompile(`(?m)^\s*1\s+` + phase + `\s`).MatchString(r.stdout) {
			t.Errorf("no table row for %s on stdout", phase)
		}
	}
	if strings.Contains(r.stdout, "bench 1/1") {
		t.Error("progress lines on stdout: it should hold the table only")
	}
	if strings.Contains(r.stdout, "\n 2 ") || strings.Contains(r.stderr, "bench 2/") {
		t.Error("--repeat 1 did not override the config's repeat = 2")
	}

	b, err := os.ReadFile(filepath.Join(reportDir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	if rep.Source != "sqlite" || len(rep.Runs) != 1 || len(rep.Runs[0].Strategies) != 2 {
		t.Fatalf("report.json: source %q, %d runs: %s", rep.Source, len(rep.Runs), b)
	}
	if strings.Contains(string(b), filepath.Join(dir, "shop.db")) {
		t.Error("report.json holds the DSN (a DSN can carry a password)")
	}
	for _, p := range rep.Runs[0].Strategies {
		if p.Capture == nil || p.Capture.Checked == 0 || p.ThroughputRatio <= 0 {
			t.Errorf("%s: %+v", p.Strategy, p)
			continue
		}
		if p.Strategy == "trigger" && p.Capture.Missed != 0 {
			t.Errorf("trigger missed %d of %d changes: %v", p.Capture.Missed, p.Capture.Checked, p.Capture.MissedSample)
		}
	}
	if fi, err := os.Stat(filepath.Join(reportDir, "report.html")); err != nil || fi.Size() == 0 {
		t.Errorf("report.html: %v", err)
	}
	// The phases' databases are the bench's own and gone: the DSN's
	// directory holds only what the test put there.
	if left, _ := filepath.Glob(filepath.Join(dir, "*.db*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestBenchCommandUsageErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte("[source]\n  dsn = \"sqlite://"+filepath.Join(dir, "x.db")+"\"\n"), 0o600)
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[source]\n  dsn = \"sqlite://x.db\"\n[workload]\n  durration = \"1s\"\n"), 0o600)
	badStrategy := filepath.Join(dir, "strategy.toml")
	os.WriteFile(badStrategy, []byte("strategies = [\"commit_order\"]\n[source]\n  dsn = \"sqlite://x.db\"\n"), 0o600)
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"unknown key", []string{"--config", bad}, `unknown key "workload.durration"`},
		{"strategy the source lacks", []string{"--config", badStrategy}, `strategies: commit_order is not available on sqlite`},
		{"missing file", []string{"--config", filepath.Join(dir, "none.toml")}, "none.toml"},
		{"no config", nil, "--config FILE is required"},
		{"repeat 0", []string{"--config", good, "--repeat", "0"}, "--repeat must be at least 1"},
		{"stray argument", []string{"--config", good, "now"}, `unexpected argument "now"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runAgent(t, nil, append([]string{"bench"}, tc.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.stderr) || r.stdout != "" {
				t.Fatalf("exit %d (want 2)\nstdout: %q\nstderr: %q (want %q)", r.code, r.stdout, r.stderr, tc.stderr)
			}
		})
	}
}

// SIGTERM mid-phase stops the bench with exit 1 after the phase's
// teardown: the agent it started is gone and so are the phase's files.
func TestBenchCommandStopsOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "bench.toml")
	os.WriteFile(conf, []byte(`
strategies = ["trigger"]
[source]
  dsn = "sqlite://`+filepath.Join(dir, "shop.db")+`"
[workload]
  rate = 50
  duration = "4s"
  warmup = "0s"
`), 0o600)
	cmd := exec.Command(agentBin, "bench", "--config", conf)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Into the trigger phase: the baseline's progress line is out.
	if !waitFor(90*time.Second, func() bool { return strings.Contains(string(stderr.Bytes()), "bench 1/1 baseline:") }) {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("no baseline line: %s", stderr.Bytes())
	}
	time.Sleep(time.Second)
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	t.Logf("stderr:\n%s", stderr.Bytes())
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("after SIGTERM: %v, want exit 1", err)
	}
	if !strings.Contains(string(stderr.Bytes()), "bench interrupted") || stdout.Len() != 0 {
		t.Errorf("stdout %q; stderr should say the bench was interrupted", stdout.Bytes())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.db*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	for _, p := range runningFrom(filepath.Dir(agentBin)) {
		if strings.Contains(strings.Join(p.cmdline, " "), "pipeline-trigger.toml") {
			t.Errorf("the phase's agent is still running: %+v", p)
		}
	}
}
