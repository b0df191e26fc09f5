package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// windowConfig aggregates generated events in 10-second windows of event
// time derived from the sequence number (100 ms apart), so every run sees
// the same event times and values.
const windowConfig = `
[agent]
  checkpoint_interval = "100ms"
  state_dir = %q
[[inputs.generate]]
  rate = 3000.0
  batch_size = 100
  count = 9000
  [[inputs.generate.fields]]
    name = "seq"
    type = "sequence"
  [[inputs.generate.fields]]
    name = "amount"
    type = "int"
    min = 1.0
    max = 100.0
  [[inputs.generate.tags]]
    name = "category"
    type = "choice"
    values = ["a", "b", "c"]
[[processors.window]]
  measurement = "w"
  time = "seq * 100000000"
  group_by = ["category"]
  type = "tumbling"
  size = "10s"
  [processors.window.fields]
    n = "count()"
    total = "sum(amount)"
[[outputs.stdout]]
  format = "json"
  flush_interval = "50ms"
`

type windowResult struct {
	Tags   map[string]string `json:"tags"`
	Fields map[string]any    `json:"fields"`
	Time   string            `json:"time"`
}

// results de-duplicates window results by (tags, time); a repeated result
// must carry the same values.
func results(t *testing.T, outs ...[]byte) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, out := range outs {
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			var r windowResult
			if json.Unmarshal(sc.Bytes(), &r) != nil {
				continue // a line cut by SIGKILL
			}
			key := r.Tags["category"] + "@" + r.Time
			val := fmt.Sprintf("n=%v total=%v", r.Fields["n"], r.Fields["total"])
			if prev, ok := got[key]; ok && prev != val {
				t.Fatalf("window %s emitted twice with different values: %s, then %s", key, prev, val)
			}
			got[key] = val
		}
	}
	return got
}

func TestWindowResultsSurviveKillAndRestart(t *testing.T) {
	var whole bytes.Buffer
	a := startAgent(t, writeConfig(t, fmt.Sprintf(windowConfig, filepath.Join(t.TempDir(), "state"))), &whole)
	if err := a.Wait(); err != nil {
		t.Fatalf("uninterrupted run: %v", err)
	}
	want := results(t, whole.Bytes())
	// 9000 events 100 ms apart: windows up to 900 s closed, 3 categories.
	if len(want) != 270 {
		t.Fatalf("uninterrupted run emitted %d window results, want 270", len(want))
	}

	conf := writeConfig(t, fmt.Sprintf(windowConfig, filepath.Join(t.TempDir(), "state")))
	var first, second syncBuffer
	b := startAgent(t, conf, &first)
	time.Sleep(1500 * time.Millisecond)
	b.Process.Signal(syscall.SIGKILL)
	b.Wait()
	b = startAgent(t, conf, &second)
	if err := b.Wait(); err != nil {
		t.Fatalf("restarted run: %v", err)
	}
	got := results(t, first.Bytes(), second.Bytes())
	t.Logf("%d results before the kill, %d after the restart", len(results(t, first.Bytes())), len(results(t, second.Bytes())))
	if len(got) != len(want) {
		t.Fatalf("with a kill and restart: %d window results, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("window %s: %q after kill and restart, %q uninterrupted", k, got[k], v)
		}
	}
}
