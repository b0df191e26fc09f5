package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests drive the real binary: exit codes, signals and kill -9 only
// mean something for a separate process.
var agentBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rowflux-agent-test")
	if err != nil {
		panic(err)
	}
	agentBin = filepath.Join(dir, "agent")
	build := exec.Command("go", "build", "-o", agentBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the agent:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func runAgent(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(agentBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pipeline.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSubcommands(t *testing.T) {
	cases := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"version"}, 0, "rowflux agent ", ""},
		{[]string{"plugins"}, 0, "generate", ""},
		{[]string{"config"}, 0, "[[outputs.stdout]]", ""},
		{[]string{"config", "inputs.generate"}, 0, "[[inputs.generate]]", ""},
		{[]string{"config", "nosuch"}, 2, "", `unknown plugin "nosuch"`},
		{[]string{"--no-such-flag"}, 2, "", "flag provided but not defined"},
		{[]string{}, 2, "", "no configuration: use --config FILE"},
		{[]string{"--config", "/nonexistent/pipeline.toml"}, 2, "", "/nonexistent/pipeline.toml"},
		{[]string{"help"}, 0, "Usage:", ""},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := runAgent(t, nil, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
		})
	}
}

func TestConfigErrorsExitWithStatus2(t *testing.T) {
	cases := map[string]struct{ conf, msg string }{
		"unknown key": {"[[inputs.generate]]\n[[outputs.stdout]]\n  formatt = \"json\"\n", `outputs.stdout: unknown key "formatt"`},
		"missing env": {"[[inputs.generate]]\n  name = \"${ROWFLUX_TEST_UNSET_VAR}\"\n[[outputs.stdout]]\n", `environment variable "ROWFLUX_TEST_UNSET_VAR" is not set`},
		"plugin init": {"[[inputs.generate]]\n[[outputs.stdout]]\n  format = \"xml\"\n", `outputs.stdout: format: unknown format "xml"`},
		"syntax":      {"[[inputs.generate]\n[[outputs.stdout]]\n", "pipeline.toml:2:"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := runAgent(t, nil, "--config", writeConfig(t, tc.conf))
			if r.code != 2 || !strings.Contains(r.stderr, tc.msg) {
				t.Fatalf("exit %d, stderr: %s\nwant 2 and %q", r.code, r.stderr, tc.msg)
			}
		})
	}
}

type jsonEvent struct {
	Name   string            `json:"name"`
	Tags   map[string]string `json:"tags"`
	Fields map[string]any    `json:"fields"`
}

// seqs parses JSON lines and returns the "seq" field of each.
func seqs(t *testing.T, out string) []int64 {
	t.Helper()
	var s []int64
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e jsonEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// A kill -9 can cut the last line short.
			continue
		}
		s = append(s, int64(e.Fields["seq"].(float64)))
	}
	return s
}

func TestTestModePrintsWhatWouldBeSent(t *testing.T) {
	conf := writeConfig(t, `
[[inputs.generate]]
  name = "${EVENT_NAME:-fallback}"
  rate = 0.0
  count = 250
  [[inputs.generate.tags]]
    name = "currency"
    type = "choice"
    values = ["EUR"]
[[outputs.stdout]]
`)
	r := runAgent(t, []string{"EVENT_NAME=orders"}, "--config", conf, "--test", "--test-duration", "10s")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	got := seqs(t, r.stdout)
	if len(got) != 250 || got[0] != 1 || got[249] != 250 {
		t.Fatalf("got %d events, want 1..250", len(got))
	}
	if !strings.Contains(r.stdout, `"name":"orders"`) || !strings.Contains(r.stdout, `"tags":{"currency":"EUR"}`) {
		t.Fatalf("unexpected output: %.300s", r.stdout)
	}

	r = runAgent(t, nil, "--config", conf, "--test", "--test-format", "influx")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "fallback,currency=EUR seq=1i ") {
		t.Fatalf("exit %d, influx output: %.200s, stderr %s", r.code, r.stdout, r.stderr)
	}
}

const streamConfig = `
[agent]
  checkpoint_interval = "100ms"
  state_dir = "%s"
  http_listen = "%s"
[[inputs.generate]]
  rate = 4000.0
  batch_size = 200
  count = %d
[[outputs.stdout]]
  format = "json"
  batch_size = 500
  flush_interval = "50ms"
`

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startAgent(t *testing.T, conf string, stdout io.Writer) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(agentBin, "--config", conf, "--log-level", "debug")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("agent stderr:\n%s", stderr.String())
		}
	})
	return cmd
}

func TestSIGTERMDeliversEverythingAndCheckpoints(t *testing.T) {
	state := t.TempDir()
	addr := freeAddr(t)
	var out bytes.Buffer
	cmd := startAgent(t, writeConfig(t, fmt.Sprintf(streamConfig, state, addr, 0)), &out)

	// The metrics endpoint reports the running pipeline.
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(body, `rowflux_checkpoints_total `) {
		if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{`rowflux_input_events_total{instance="inputs.generate"}`, `rowflux_output_events_written_total{instance="outputs.stdout"}`, "rowflux_checkpoint_age_seconds", `rowflux_output_write_errors_total{instance="outputs.stdout"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("agent did not exit cleanly after SIGTERM: %v", err)
	}
	got := seqs(t, out.String())
	if len(got) == 0 {
		t.Fatal("nothing delivered")
	}
	for i, v := range got {
		if v != int64(i+1) {
			t.Fatalf("event %d has seq %d: something was lost or repeated", i, v)
		}
	}
	cp, err := os.ReadFile(filepath.Join(state, "checkpoint.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The final checkpoint resumes right after the last delivered event.
	var env struct {
		Payload struct {
			Inputs map[string][]byte `json:"inputs"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(cp, &env); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"next":%d}`, len(got)+1)
	if pos := string(env.Payload.Inputs["inputs.generate"]); pos != want {
		t.Fatalf("final position %s, want %s", pos, want)
	}
}

// TestKillNineThenRestartLosesNothing kills the agent with SIGKILL several
// times between checkpoints; each restart resumes from the last checkpoint,
// and in the end every sequence number has arrived at least once.
func TestKillNineThenRestartLosesNothing(t *testing.T) {
	state := t.TempDir()
	const total = 12_000
	conf := writeConfig(t, fmt.Sprintf(streamConfig, state, freeAddr(t), total))
	var all []int64
	for round := range 4 {
		var out bytes.Buffer
		cmd := startAgent(t, conf, &out)
		if round < 3 {
			time.Sleep(time.Duration(500+150*round) * time.Millisecond)
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
		} else if err := cmd.Wait(); err != nil {
			t.Fatalf("final run: %v", err)
		}
		got := seqs(t, out.String())
		t.Logf("round %d: %d events, first %v", round, len(got), first(got))
		all = append(all, got...)
	}
	seen := make([]bool, total+1)
	for _, v := range all {
		seen[v] = true
	}
	for i := 1; i <= total; i++ {
		if !seen[i] {
			t.Fatalf("sequence number %d was never delivered", i)
		}
	}
}

func first(s []int64) any {
	if len(s) == 0 {
		return "none"
	}
	return s[0]
}

func TestCorruptStateFileNamesFileAndResetWorks(t *testing.T) {
	state := t.TempDir()
	file := filepath.Join(state, "checkpoint.json")
	if err := os.WriteFile(file, []byte(`{"format":"rowflux-checkpoint","version":1,"sha256":"00","payload":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := writeConfig(t, fmt.Sprintf(streamConfig, state, freeAddr(t), 10))
	r := runAgent(t, nil, "--config", conf)
	if r.code != 1 || !strings.Contains(r.stderr, file) || !strings.Contains(r.stderr, "--reset-state") {
		t.Fatalf("exit %d, stderr: %s", r.code, r.stderr)
	}
	r = runAgent(t, nil, "--config", conf, "--reset-state")
	if r.code != 0 || len(seqs(t, r.stdout)) != 10 {
		t.Fatalf("--reset-state run: exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
}

func TestSecretsStayOutOfErrors(t *testing.T) {
	conf := writeConfig(t, "[[inputs.generate]]\n  name = \"${ROWFLUX_SECRET}\"\n  op = \"${ROWFLUX_SECRET}\"\n[[outputs.stdout]]\n")
	r := runAgent(t, []string{"ROWFLUX_SECRET=hunter2-very-secret"}, "--config", conf, "--log-level", "debug")
	if r.code != 2 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr+r.stdout, "hunter2") {
		t.Fatalf("secret leaked: %s", r.stderr)
	}
}

// TestShippedConfigsStayTrue keeps configs/ in sync with the plugins'
// embedded samples, and checks that every shipped pipeline loads and runs.
func TestShippedConfigsStayTrue(t *testing.T) {
	samples, _ := filepath.Glob("../../configs/*.conf")
	if len(samples) < 3 {
		t.Fatalf("configs/ holds %d samples", len(samples))
	}
	for _, f := range samples {
		name := strings.TrimSuffix(filepath.Base(f), ".conf")
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := runAgent(t, nil, "config", name)
		if r.code != 0 || r.stdout != string(want) {
			t.Errorf("%s differs from `agent config %s`; run make configs", f, name)
		}
	}
	var plugins []string
	for _, line := range strings.Split(runAgent(t, nil, "plugins").stdout, "\n") {
		if strings.HasPrefix(line, "  ") {
			plugins = append(plugins, strings.Fields(line)[0])
		}
	}
	for _, p := range plugins {
		found := false
		for _, f := range samples {
			found = found || strings.HasSuffix(f, "."+p+".conf")
		}
		if !found {
			t.Errorf("plugin %s has no sample in configs/; run make configs", p)
		}
	}

	// Shipped pipelines run from a scratch directory holding the quickstart
	// database (relative paths in them resolve there), with the capture
	// objects installed and a few changes made.
	work := t.TempDir()
	inWork := func(args ...string) result {
		t.Helper()
		cmd := exec.Command(agentBin, args...)
		cmd.Dir = work
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return result{code, out.String(), errb.String()}
	}
	if err := os.MkdirAll(filepath.Join(work, "state", "quickstart"), 0o755); err != nil {
		t.Fatal(err)
	}
	quickstart, _ := filepath.Abs("../../examples/quickstart/pipeline.toml")
	for _, args := range [][]string{
		{"workload", "--dsn", "sqlite://state/quickstart/shop.db", "--schema-only"},
		{"setup", "--config", quickstart},
		{"workload", "--dsn", "sqlite://state/quickstart/shop.db", "--rate", "0", "--duration", "200ms"},
	} {
		if r := inWork(args...); r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
	}
	pipelines, _ := filepath.Glob("../../examples/*/pipeline.toml")
	pipelines = append(pipelines, "../../configs/pipeline.toml")
	for _, f := range pipelines {
		abs, _ := filepath.Abs(f)
		if text, _ := os.ReadFile(abs); bytes.Contains(text, []byte("[[inputs.oracle]]")) {
			// Needs an Oracle server with the workload running
			// (examples/oracle/run.sh); TestOracleConfigsLoad checks that
			// it loads.
			continue
		}
		r := inWork("--config", abs, "--test", "--test-duration", "1s")
		if r.code != 0 || r.stdout == "" {
			t.Errorf("%s: exit %d, %d bytes of output\n%s", f, r.code, len(r.stdout), r.stderr)
		}
	}
}
