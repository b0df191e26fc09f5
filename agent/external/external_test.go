package external

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// The tests start real plugin processes: internal/testplugin, built once.
var testPlugin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rowflux-external-test")
	if err != nil {
		panic(err)
	}
	testPlugin = filepath.Join(dir, "testplugin")
	build := exec.Command("go", "build", "-o", testPlugin, "./internal/testplugin")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the test plugin:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// logBuffer collects the agent's log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type counters struct {
	mu sync.Mutex
	m  map[string]*sdk.Counter
}

func (c *counters) get(name string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if x := c.m[name]; x != nil {
		return x.Load()
	}
	return -1
}

func testEnv(t *testing.T) (sdk.Env, *logBuffer, *counters) {
	logs := &logBuffer{}
	cs := &counters{m: map[string]*sdk.Counter{}}
	env := sdk.Env{
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})).With("processor", "processors.external:test"),
		Counter: func(name, help string) *sdk.Counter {
			cs.mu.Lock()
			defer cs.mu.Unlock()
			c := &sdk.Counter{}
			cs.m[name] = c
			return c
		},
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent log:\n%s", logs)
		}
	})
	return env, logs, cs
}

func settingsFor(kind string, config map[string]any) settings {
	s := defaultSettings()
	s.Command = []string{testPlugin, kind}
	s.Config = config
	s.RestartMaxInterval = sdk.Duration(time.Second)
	return s
}

func startProcessor(t *testing.T, kind string, config map[string]any) (*Processor, *logBuffer, *counters) {
	t.Helper()
	p := newProcessor()
	p.settings = settingsFor(kind, config)
	env, logs, cs := testEnv(t)
	if err := p.Init(env); err != nil {
		p.Close()
		t.Fatalf("Init: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p, logs, cs
}

func values(b sdk.Batch, key string) []any {
	var out []any
	for _, e := range b {
		v, _ := e.Field(key)
		out = append(out, v)
	}
	return out
}

func vBatch(vals ...int64) sdk.Batch {
	b := make(sdk.Batch, len(vals))
	for i, v := range vals {
		b[i] = sdk.Event{Name: "m", Op: sdk.OpInsert, Tags: []sdk.Tag{{Key: "k", Value: "x"}},
			Fields: []sdk.Field{{Key: "v", Value: v}}, Time: time.Unix(int64(i), 5).UTC()}
	}
	return b
}

func TestProcessorTransformsBatches(t *testing.T) {
	p, logs, cs := startProcessor(t, "processor", map[string]any{"factor": 2.5})
	out, err := p.Process(context.Background(), vBatch(1, 2, 4))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(values(out, "v"), values(out, "sum")); got != "[2.5 5 10] [1 3 7]" {
		t.Fatalf("v, sum = %s", got)
	}
	if out[1].Name != "m" || out[1].Op != sdk.OpInsert || out[1].Tags[0] != (sdk.Tag{Key: "k", Value: "x"}) || !out[1].Time.Equal(time.Unix(1, 5)) {
		t.Fatalf("event came back changed: %+v", out[1])
	}
	if n := cs.get("seen"); n != 3 {
		t.Fatalf("counter seen = %d, want 3", n)
	}
	// The plugin's own log line reaches the agent's log with the instance
	// and the plugin's name, at its level.
	if !waitFor(func() bool { return strings.Contains(logs.String(), `level=INFO msg="scale configured"`) }) {
		t.Fatalf("plugin log line missing:\n%s", logs)
	}
	for _, want := range []string{"processor=processors.external:test", "plugin=testplugin", "factor=2.5"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}

func waitFor(f func() bool) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if f() {
			return true
		}
	}
	return false
}

func TestStartErrors(t *testing.T) {
	tests := []struct {
		name    string
		command []string
		config  map[string]any
		want    []string
	}{
		{"config rejected by the plugin", []string{testPlugin, "processor"}, map[string]any{"factor": 0.0},
			[]string{"factor: must not be 0"}},
		{"unknown config key", []string{testPlugin, "processor"}, map[string]any{"factr": 2.0},
			[]string{"config: unknown key(s) factr"}},
		{"wrong value type", []string{testPlugin, "processor"}, map[string]any{"factor": "two"},
			[]string{"config:", "factor"}},
		{"protocol version mismatch", []string{testPlugin, "wrong-version"}, nil,
			[]string{"speaks rowflux plugin protocol 2, this agent speaks 1", "rebuild the plugin"}},
		{"not a plugin", []string{testPlugin, "garbage"}, nil,
			[]string{"broke the handshake", `"hello from a program that is not a plugin"`, "plugin.ServeProcessor"}},
		{"exits at once", []string{testPlugin, "exit"}, nil,
			[]string{"exited during the handshake", "exit status 3", "cannot open /etc/plugin.conf"}},
		{"missing binary", []string{"/nonexistent/rowflux-plugin"}, nil,
			[]string{"cannot run plugin /nonexistent/rowflux-plugin", "no such file"}},
		{"wrong kind", []string{testPlugin, "output"}, nil,
			[]string{"does not serve a processor", "declare it in the section of the kind it serves"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProcessor()
			p.settings = settingsFor("", tt.config)
			p.Command = tt.command
			p.StartTimeout = sdk.Duration(5 * time.Second)
			env, _, _ := testEnv(t)
			err := p.Init(env)
			defer p.Close()
			if err == nil {
				t.Fatal("Init succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestSettingsErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Processor)
		want string
	}{
		{"no command", func(p *Processor) { p.Command = nil }, "command: required"},
		{"bad env", func(p *Processor) { p.Env = []string{"TOKEN"} }, `env[0]: must be "NAME=VALUE"`},
		{"env value not shown", func(p *Processor) { p.Env = []string{"1X=hunter2"} }, `got "1X"=…`},
		{"env without = not shown", func(p *Processor) { p.Env = []string{"TOKEN:hunter2"} }, `env[0]: must be "NAME=VALUE" (no '=' found; the entry is not shown, it may be a secret)`},
		{"call_timeout", func(p *Processor) { p.CallTimeout = 0 }, "call_timeout: must be positive"},
		{"negative replay_limit", func(p *Processor) { p.ReplayLimit = -1 }, "replay_limit: must not be negative, got -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProcessor()
			p.settings = settingsFor("processor", nil)
			tt.edit(p)
			env, _, _ := testEnv(t)
			err := p.Init(env)
			defer p.Close()
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestProcessorErrorIsReturnedNotRestarted(t *testing.T) {
	p, logs, _ := startProcessor(t, "processor", map[string]any{"fail_on": "bad"})
	_, err := p.Process(context.Background(), sdk.Batch{{Name: "bad"}})
	if err == nil || err.Error() != `process: cannot scale event "bad"` {
		t.Fatalf("error = %v", err)
	}
	if strings.Contains(logs.String(), "crashed") {
		t.Fatalf("an error returned by the plugin was taken for a crash:\n%s", logs)
	}
}

func TestCrashedProcessorIsRestartedAndStateReplayed(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "crash")
	os.WriteFile(marker, nil, 0o644)
	p, logs, cs := startProcessor(t, "processor", map[string]any{"crash_on": "boom", "marker": marker})
	ctx := context.Background()
	if err := p.Restore([]byte("100")); err != nil {
		t.Fatal(err)
	}
	mustProcess(t, p, vBatch(1, 2))
	if st, err := p.Snapshot(); err != nil || string(st) != "103" {
		t.Fatalf("snapshot = %q, %v", st, err)
	}
	mustProcess(t, p, vBatch(10))
	if _, err := p.Tick(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	mustProcess(t, p, vBatch(20))
	pid := p.h.current().pid()
	// The plugin dies on this batch; the host restarts it, restores 103,
	// replays 10 and 20, and sends the batch again.
	b := vBatch(5)
	b[0].Name = "boom"
	out, err := p.Process(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(values(out, "sum")); got != "[138]" {
		t.Fatalf("sum after the crash = %s, want [138] (103 + 10 + 20 + 5)", got)
	}
	if p.h.current().pid() == pid {
		t.Fatal("the plugin was not restarted")
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("the crashed process %d still exists", pid)
	}
	log := logs.String()
	for _, want := range []string{`msg="external plugin crashed"`, `reason="exit status 7"`, "testplugin: crashing on purpose",
		`msg="external plugin state rebuilt"`, "replayed_calls=2", "replayed_events=2", `msg="external plugin restarted"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	// Counters keep counting across processes, and replayed work is not
	// counted again: 2 + 1 + 1 before the crash, 1 after.
	if n := cs.get("seen"); n != 5 {
		t.Errorf("counter seen = %d, want 5", n)
	}
}

func mustProcess(t *testing.T, p *Processor, b sdk.Batch) sdk.Batch {
	t.Helper()
	out, err := p.Process(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCrashBeyondReplayLimitStops(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "crash")
	os.WriteFile(marker, nil, 0o644)
	p := newProcessor()
	p.settings = settingsFor("processor", map[string]any{"crash_on": "boom", "marker": marker})
	p.ReplayLimit = 3
	env, _, _ := testEnv(t)
	if err := p.Init(env); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	mustProcess(t, p, vBatch(1, 2, 3, 4))
	b := vBatch(5)
	b[0].Name = "boom"
	_, err := p.Process(context.Background(), b)
	if err == nil || !strings.Contains(err.Error(), "more than replay_limit (3) events") || !strings.Contains(err.Error(), "exit status 7") {
		t.Fatalf("error = %v", err)
	}
}

func TestStatelessProcessorRetriesTheBatchOnly(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "crash")
	os.WriteFile(marker, nil, 0o644)
	p, logs, _ := startProcessor(t, "stateless", map[string]any{"crash_on": "boom", "marker": marker, "factor": 3.0})
	if st, err := p.Snapshot(); err != nil || st != nil {
		t.Fatalf("a stateless plugin's snapshot = %q, %v", st, err)
	}
	if p.TickInterval() != 0 {
		t.Fatalf("TickInterval = %v", p.TickInterval())
	}
	b := vBatch(2)
	b[0].Name = "boom"
	out := mustProcess(t, p, b)
	if got := fmt.Sprint(values(out, "v")); got != "[6]" {
		t.Fatalf("v = %s", got)
	}
	if strings.Contains(logs.String(), "state rebuilt") {
		t.Fatal("a stateless plugin's state was replayed")
	}
}

func TestTickingProcessor(t *testing.T) {
	p, _, _ := startProcessor(t, "processor", map[string]any{"tick_every": "250ms"})
	if p.TickInterval() != 250*time.Millisecond {
		t.Fatalf("TickInterval = %v", p.TickInterval())
	}
	mustProcess(t, p, vBatch(4))
	now := time.Date(2026, 11, 21, 8, 0, 0, 7, time.UTC)
	out, err := p.Tick(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Name != "tick" || !out[0].Time.Equal(now) || fmt.Sprint(values(out, "sum")) != "[4]" {
		t.Fatalf("tick = %+v", out)
	}
}

// emitter records what an external input emits.
type emitter struct {
	mu     sync.Mutex
	events []int64
	pos    sdk.Position
	stopAt int64
	cancel context.CancelFunc
}

func (e *emitter) Emit(_ context.Context, b sdk.Batch, pos sdk.Position) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range b {
		v, _ := ev.Field("n")
		e.events = append(e.events, v.(int64))
	}
	e.pos = pos
	if e.stopAt > 0 && int64(len(e.events)) >= e.stopAt {
		e.cancel()
	}
	return nil
}

func startInput(t *testing.T, config map[string]any) (*Input, *logBuffer) {
	t.Helper()
	in := newInput()
	in.settings = settingsFor("input", config)
	env, logs, _ := testEnv(t)
	if err := in.Init(env); err != nil {
		in.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	return in, logs
}

func TestInputStreamsBatchesWithPositions(t *testing.T) {
	durable := filepath.Join(t.TempDir(), "durable")
	in, _ := startInput(t, map[string]any{"count": 95, "batch": 10, "durable": durable})
	em := &emitter{}
	from := binary.BigEndian.AppendUint64(nil, 20)
	if err := in.Run(context.Background(), from, em); err != nil {
		t.Fatal(err)
	}
	if len(em.events) != 75 || em.events[0] != 21 || em.events[74] != 95 {
		t.Fatalf("events = %v", em.events)
	}
	if binary.BigEndian.Uint64(em.pos) != 95 {
		t.Fatalf("last position = %v", em.pos)
	}
	if err := in.CheckpointDurable(context.Background(), em.pos); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(durable)
	if string(got) != string(em.pos) {
		t.Fatalf("the plugin was told %v, want %v", got, em.pos)
	}
}

func TestCrashedInputResumesFromLastPosition(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "crash")
	os.WriteFile(marker, nil, 0o644)
	in, logs := startInput(t, map[string]any{"count": 100, "batch": 7, "crash_at": 50, "marker": marker})
	em := &emitter{}
	if err := in.Run(context.Background(), nil, em); err != nil {
		t.Fatal(err)
	}
	for i, n := range em.events {
		if n != int64(i+1) {
			t.Fatalf("event %d is n=%d: something was skipped or repeated: %v", i, n, em.events)
		}
	}
	if len(em.events) != 100 {
		t.Fatalf("%d events", len(em.events))
	}
	if !strings.Contains(logs.String(), `reason="exit status 7"`) {
		t.Fatalf("crash not logged:\n%s", logs)
	}
}

func TestInputStopsOnCancel(t *testing.T) {
	in, _ := startInput(t, map[string]any{"count": 1_000_000, "batch": 10, "pause": "10ms"})
	ctx, cancel := context.WithCancel(context.Background())
	em := &emitter{stopAt: 30, cancel: cancel}
	err := in.Run(ctx, nil, em)
	if err != context.Canceled {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if n := len(em.events); n < 30 || n > 40 {
		t.Fatalf("%d events after cancelling at 30: Emit did not wait for the agent", n)
	}
}

func TestOutputWritesAndRecoversFromACrash(t *testing.T) {
	dir := t.TempDir()
	path, marker := filepath.Join(dir, "out"), filepath.Join(dir, "crash")
	os.WriteFile(marker, nil, 0o644)
	o := newOutput()
	o.settings = settingsFor("output", map[string]any{"path": path, "crash_on": "boom", "marker": marker})
	env, logs, _ := testEnv(t)
	if err := o.Init(env); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	batch := func(name string, n int64) sdk.Batch {
		return sdk.Batch{{Name: name, Fields: []sdk.Field{{Key: "n", Value: n}}}}
	}
	if err := o.Write(ctx, batch("a", 1)); err != nil {
		t.Fatal(err)
	}
	err := o.Write(ctx, batch("boom", 2))
	if err == nil || !strings.Contains(err.Error(), "crashed (exit status 7); the write is retried in a new process") {
		t.Fatalf("Write during the crash = %v", err)
	}
	// The agent retries the same batch.
	if err := o.Write(ctx, batch("boom", 2)); err != nil {
		t.Fatal(err)
	}
	pid := o.h.current().pid()
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "a 1\nboom 2\n" {
		t.Fatalf("file = %q", got)
	}
	if !strings.Contains(logs.String(), "external plugin restarted") {
		t.Fatalf("restart not logged:\n%s", logs)
	}
	if !waitFor(func() bool { return syscall.Kill(pid, 0) != nil }) {
		t.Fatalf("plugin process %d still runs after Close", pid)
	}
}

// A plugin that is itself a gRPC client may return an error wrapping
// UNAVAILABLE; that is its error, not the death of its process.
func TestPluginErrorWrappingUnavailableIsNotACrash(t *testing.T) {
	p, logs, _ := startProcessor(t, "processor", map[string]any{"unavailable": true})
	pid := p.h.current().pid()
	_, err := p.Process(context.Background(), vBatch(1))
	if err == nil || !strings.Contains(err.Error(), "sink: rpc error: code = Unavailable desc = connection refused") {
		t.Fatalf("error = %v", err)
	}
	if strings.Contains(logs.String(), "crashed") || p.h.current().pid() != pid {
		t.Fatalf("the plugin was restarted for an error it returned:\n%s", logs)
	}
}

func TestCallTimeoutBoundsSnapshotAndRestore(t *testing.T) {
	tests := []struct {
		name   string
		config map[string]any
		call   func(*Processor) error
		want   string
	}{
		{"hung snapshot", map[string]any{"hang_on": "snapshot"},
			func(p *Processor) error { _, err := p.Snapshot(); return err },
			"did not answer within call_timeout (500ms)"},
		{"restore that always crashes", map[string]any{"crash_always": "restore"},
			func(p *Processor) error { return p.Restore([]byte("1")) },
			"crashed (exit status 7) and was not back within call_timeout (500ms)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProcessor()
			p.settings = settingsFor("processor", tt.config)
			p.CallTimeout = sdk.Duration(500 * time.Millisecond)
			env, _, _ := testEnv(t)
			if err := p.Init(env); err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			start := time.Now()
			err := tt.call(p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

func TestEmptyStateIsNotRestored(t *testing.T) {
	p, _, _ := startProcessor(t, "processor", map[string]any{"crash_always": "restore"})
	// A stateless plugin's checkpoint entry is empty; restoring it must not
	// reach the plugin (this one would crash).
	if err := p.Restore(nil); err != nil {
		t.Fatal(err)
	}
}

func TestCloseIsCalledWhenInitFails(t *testing.T) {
	closeLog := filepath.Join(t.TempDir(), "log")
	p := newProcessor()
	p.settings = settingsFor("processor", map[string]any{"factor": 0.0, "close_log": closeLog})
	env, _, _ := testEnv(t)
	if err := p.Init(env); err == nil {
		t.Fatal("Init succeeded")
	}
	p.Close()
	if !waitFor(func() bool { b, _ := os.ReadFile(closeLog); return string(b) == "closed\n" }) {
		b, _ := os.ReadFile(closeLog)
		t.Fatalf("close log = %q, want the plugin's Close to have run once", b)
	}
}

func TestInputCloseWaitsForRun(t *testing.T) {
	closeLog := filepath.Join(t.TempDir(), "log")
	in, _ := startInput(t, map[string]any{"count": 1_000_000, "batch": 10, "pause": "10ms", "close_log": closeLog})
	ctx, cancel := context.WithCancel(context.Background())
	em := &emitter{stopAt: 20, cancel: cancel}
	if err := in.Run(ctx, nil, em); err != context.Canceled {
		t.Fatalf("Run = %v", err)
	}
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(closeLog)
	if string(b) != "run ended\nclosed\n" {
		t.Fatalf("order in the plugin = %q, want Run to end before Close", b)
	}
}
