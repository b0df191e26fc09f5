package agent

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rowflux/rowflux/sdk"
)

// Test-only plugins, registered under names no built-in plugin uses.

type countInput struct {
	Count int64 `toml:"count"`
}

func (c *countInput) Run(ctx context.Context, from sdk.Position, out sdk.Emitter) error {
	next := int64(1)
	if from != nil {
		var err error
		if next, err = strconv.ParseInt(string(from), 10, 64); err != nil {
			return err
		}
	}
	for ; next <= c.Count; next++ {
		b := sdk.Batch{{Name: "n", Fields: []sdk.Field{{Key: "seq", Value: next}}}}
		if err := out.Emit(ctx, b, sdk.Position(strconv.FormatInt(next+1, 10))); err != nil {
			return err
		}
	}
	return nil
}

type sumProcessor struct {
	sum    int64
	broken bool
}

func (s *sumProcessor) Process(_ context.Context, b sdk.Batch) (sdk.Batch, error) {
	for i := range b {
		v, _ := b[i].Field("seq")
		s.sum += v.(int64)
		b[i].SetField("sum", s.sum)
	}
	return b, nil
}
func (s *sumProcessor) Snapshot() ([]byte, error) { return []byte(strconv.FormatInt(s.sum, 10)), nil }
func (s *sumProcessor) Restore(b []byte) error {
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return errors.New("state is not a number")
	}
	s.sum = v
	return nil
}

var sinks = struct {
	sync.Mutex
	m map[string][]int64
	n int
}{m: map[string][]int64{}}

// uniqueSink names a fresh sink, so that -count=N reruns start empty.
func uniqueSink(prefix string) string {
	sinks.Lock()
	defer sinks.Unlock()
	sinks.n++
	return prefix + strconv.Itoa(sinks.n)
}

type memOutput struct {
	Sink string `toml:"sink"`
}

func (m *memOutput) Write(_ context.Context, b sdk.Batch) error {
	sinks.Lock()
	defer sinks.Unlock()
	for i := range b {
		v, _ := b[i].Field("sum")
		sinks.m[m.Sink] = append(sinks.m[m.Sink], v.(int64))
	}
	return nil
}

func init() {
	sdk.RegisterInput(sdk.Registration[sdk.Input]{Name: "agenttest_count", SampleConfig: "[[inputs.agenttest_count]]\n", New: func() sdk.Input { return &countInput{} }})
	sdk.RegisterProcessor(sdk.Registration[sdk.Processor]{Name: "agenttest_sum", SampleConfig: "[[processors.agenttest_sum]]\n", New: func() sdk.Processor { return &sumProcessor{} }})
	sdk.RegisterOutput(sdk.Registration[sdk.Output]{Name: "agenttest_mem", SampleConfig: "[[outputs.agenttest_mem]]\n", New: func() sdk.Output { return &memOutput{} }})
}

func writeConf(t *testing.T, dir, text string) string {
	t.Helper()
	p := filepath.Join(dir, "pipeline.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pipelineConf(state, sink string, count int) string {
	return `[agent]
  checkpoint_interval = "1h"
  state_dir = "` + state + `"
[[inputs.agenttest_count]]
  count = ` + strconv.Itoa(count) + `
[[processors.agenttest_sum]]
[[outputs.agenttest_mem]]
  sink = "` + sink + `"
  flush_interval = "10ms"
`
}

func TestRestartResumesPositionsAndProcessorState(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	var logs bytes.Buffer
	sink := uniqueSink("resume")
	opts := Options{ConfigPath: writeConf(t, dir, pipelineConf(state, sink, 10)), Stderr: &logs}
	if err := Run(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	opts.ConfigPath = writeConf(t, dir, pipelineConf(state, sink, 20))
	if err := Run(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	sinks.Lock()
	got := sinks.m[sink]
	sinks.Unlock()
	// Running sums of 1..20: the second run starts at 11 and continues the
	// restored sum (55) instead of starting from zero.
	if len(got) != 20 {
		t.Fatalf("got %d events, want 20 (positions not resumed?): %v", len(got), got)
	}
	for i, v := range got {
		n := int64(i + 1)
		if v != n*(n+1)/2 {
			t.Fatalf("event %d: running sum %d, want %d (state not restored?)", i, v, n*(n+1)/2)
		}
	}
	if !strings.Contains(logs.String(), "restored checkpoint") {
		t.Fatalf("restore not logged:\n%s", logs.String())
	}
}

func TestUnrestorableProcessorStateNamesFile(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	conf := writeConf(t, dir, pipelineConf(state, "broken", 3))
	if err := Run(context.Background(), Options{ConfigPath: conf, Stderr: &bytes.Buffer{}}); err != nil {
		t.Fatal(err)
	}
	// Rewrite the checkpoint with a processor state the processor refuses,
	// through the store so the checksum is valid.
	raw, _ := os.ReadFile(filepath.Join(state, "checkpoint.json"))
	if !bytes.Contains(raw, []byte(`"processors.agenttest_sum"`)) {
		t.Fatalf("checkpoint lacks the processor state: %s", raw)
	}
	if err := corruptProcessorState(state); err != nil {
		t.Fatal(err)
	}
	err := Run(context.Background(), Options{ConfigPath: conf, Stderr: &bytes.Buffer{}})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(state, "checkpoint.json")) ||
		!strings.Contains(err.Error(), "processors.agenttest_sum") || !strings.Contains(err.Error(), "--reset-state") {
		t.Fatalf("got %v", err)
	}
	if err := Run(context.Background(), Options{ConfigPath: conf, Stderr: &bytes.Buffer{}, ResetState: true}); err != nil {
		t.Fatalf("--reset-state did not recover: %v", err)
	}
}

func TestTestModeLeavesStateAlone(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	var out bytes.Buffer
	sink := uniqueSink("test")
	err := Run(context.Background(), Options{ConfigPath: writeConf(t, dir, pipelineConf(state, sink, 5)), Test: true, Stdout: &out, Stderr: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 5 {
		t.Fatalf("--test printed %d lines, want 5:\n%s", n, out.String())
	}
	if _, err := os.Stat(filepath.Join(state, "checkpoint.json")); !os.IsNotExist(err) {
		t.Fatalf("--test wrote a checkpoint: %v", err)
	}
	sinks.Lock()
	defer sinks.Unlock()
	if len(sinks.m[sink]) != 0 {
		t.Fatal("--test wrote to the configured output")
	}
}

func TestPrintConfig(t *testing.T) {
	var b bytes.Buffer
	if err := PrintConfig(&b, []string{"agenttest_count", "outputs.agenttest_mem", "agent"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[[inputs.agenttest_count]]", "[[outputs.agenttest_mem]]", "checkpoint_interval"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %s in:\n%s", want, b.String())
		}
	}
	err := PrintConfig(&b, []string{"nope"})
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "inputs.agenttest_count") {
		t.Fatalf("got %v", err)
	}
}

func TestEnvCounterNames(t *testing.T) {
	var logs bytes.Buffer
	log, _ := NewLogger(&logs, "info", "json")
	reg := newRegistryForTest()
	e := env(log, reg, instanceForTest(), false, nil)
	e.Counter("late events", "Events after the watermark.").Add(3)
	e.Logger.Info("hello")
	var sb strings.Builder
	reg.WriteText(&sb)
	if !strings.Contains(sb.String(), `rowflux_processor_late_events_total{instance="processors.window"} 3`) {
		t.Fatalf("counter not exported as expected:\n%s", sb.String())
	}
	if !strings.Contains(logs.String(), `"processor":"processors.window"`) {
		t.Fatalf("logger not tagged with the instance: %s", logs.String())
	}
}

func TestNewLoggerRejectsBadSettings(t *testing.T) {
	if _, err := NewLogger(os.Stderr, "loud", "text"); err == nil {
		t.Error("bad level accepted")
	}
	if _, err := NewLogger(os.Stderr, "info", "xml"); err == nil {
		t.Error("bad format accepted")
	}
}
