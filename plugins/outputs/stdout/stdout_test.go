package stdout

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/rowflux/rowflux/sdk"
)

var commitTime = time.Date(2026, 11, 21, 5, 47, 3, 123456789, time.UTC)

func testBatch() sdk.Batch {
	return sdk.Batch{
		{
			Name: "transactions", Op: sdk.OpInsert,
			Tags:   []sdk.Tag{{Key: "currency", Value: "EUR"}},
			Fields: []sdk.Field{{Key: "amount", Value: 12.5}, {Key: "id", Value: int64(7)}},
			Time:   commitTime,
		},
		{
			Name:   "volume",
			Tags:   []sdk.Tag{{Key: "category", Value: "books"}, {Key: "currency", Value: "EUR"}},
			Fields: []sdk.Field{{Key: "total", Value: 1250.75}, {Key: "n", Value: int64(42)}, {Key: "label", Value: `say "hi"`}},
			Time:   time.Date(2026, 11, 21, 5, 47, 10, 0, time.UTC),
		},
	}
}

// countingWriter records every Write call, to check a batch is one call.
type countingWriter struct {
	bytes.Buffer
	calls int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.calls++
	return w.Buffer.Write(p)
}

// counters is an Env.Counter that keeps what it hands out.
type counters map[string]*sdk.Counter

func (c counters) counter(name, _ string) *sdk.Counter {
	if c[name] == nil {
		c[name] = &sdk.Counter{}
	}
	return c[name]
}

// newOutput builds the plugin the way the agent does: from the registry,
// with the configured format, then Init.
func newOutput(t *testing.T, format string, env sdk.Env) (*Stdout, *countingWriter) {
	t.Helper()
	reg, ok := sdk.LookupOutput("stdout")
	if !ok {
		t.Fatal("outputs.stdout is not registered")
	}
	s := reg.New().(*Stdout)
	if s.w != os.Stdout {
		t.Errorf("default writer is %v, want os.Stdout", s.w)
	}
	w := &countingWriter{}
	s.w = w
	if format != "" {
		s.Format = format
	}
	if err := s.Init(env); err != nil {
		t.Fatal(err)
	}
	return s, w
}

func TestWrite(t *testing.T) {
	tests := []struct {
		format string
		want   []string
	}{
		{
			"", // the default
			[]string{
				"transactions,currency=EUR,op=insert amount=12.5,id=7i 1795240023123456789",
				`volume,category=books,currency=EUR total=1250.75,n=42i,label="say \"hi\"" 1795240030000000000`,
			},
		},
		{
			"influx",
			[]string{
				"transactions,currency=EUR,op=insert amount=12.5,id=7i 1795240023123456789",
				`volume,category=books,currency=EUR total=1250.75,n=42i,label="say \"hi\"" 1795240030000000000`,
			},
		},
		{
			"json",
			[]string{
				`{"name":"transactions","op":"insert","tags":{"currency":"EUR"},"fields":{"amount":12.5,"id":7},"time":"2026-11-21T05:47:03.123456789Z"}`,
				`{"name":"volume","tags":{"category":"books","currency":"EUR"},"fields":{"total":1250.75,"n":42,"label":"say \"hi\""},"time":"2026-11-21T05:47:10Z"}`,
			},
		},
	}
	for _, tc := range tests {
		t.Run("format="+tc.format, func(t *testing.T) {
			s, w := newOutput(t, tc.format, sdk.Env{})
			for i := 0; i < 2; i++ { // the second write reuses the buffer
				w.Reset()
				w.calls = 0
				if err := s.Write(context.Background(), testBatch()); err != nil {
					t.Fatal(err)
				}
				if want := strings.Join(tc.want, "\n") + "\n"; w.String() != want {
					t.Errorf("write %d: got\n%s\nwant\n%s", i, w.String(), want)
				}
				if w.calls != 1 {
					t.Errorf("write %d: %d Write calls for one batch, want 1", i, w.calls)
				}
			}
		})
	}
}

func TestWriteEmpty(t *testing.T) {
	s, w := newOutput(t, "influx", sdk.Env{})
	if err := s.Write(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if w.calls != 0 {
		t.Errorf("%d Write calls for an empty batch, want 0", w.calls)
	}
}

func TestInitBadFormat(t *testing.T) {
	for _, format := range []string{"x", "", "Influx", "csv"} {
		s := &Stdout{Format: format}
		err := s.Init(sdk.Env{})
		want := `format: unknown format "` + format + `" (want "influx" or "json")`
		if err == nil || err.Error() != want {
			t.Errorf("Init with format %q: error %v, want %q", format, err, want)
		}
	}
}

func TestWriteBeforeInit(t *testing.T) {
	s := &Stdout{Format: "influx", w: &bytes.Buffer{}}
	if err := s.Write(context.Background(), testBatch()); err == nil {
		t.Error("Write before Init succeeded, want an error")
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWriteError(t *testing.T) {
	s, _ := newOutput(t, "json", sdk.Env{})
	broken := errors.New("broken pipe")
	s.w = failingWriter{broken}
	err := s.Write(context.Background(), testBatch())
	if !errors.Is(err, broken) {
		t.Fatalf("error %v does not wrap the writer's error", err)
	}
	if want := "stdout: write: broken pipe"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestSkippedCountedAndLogged(t *testing.T) {
	var logs bytes.Buffer
	c := counters{}
	s, w := newOutput(t, "influx", sdk.Env{
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
		Counter: c.counter,
	})
	now := commitTime
	s.now = func() time.Time { return now }

	bad := sdk.Event{Name: "", Fields: []sdk.Field{{Key: "x", Value: int64(1)}}}
	batch := append(testBatch(), bad, bad)
	write := func() {
		t.Helper()
		w.Reset()
		if err := s.Write(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(w.String(), "\n"); n != 2 {
			t.Errorf("%d lines written, want the 2 good events", n)
		}
	}
	logLines := func() []string { return strings.Split(strings.TrimSpace(logs.String()), "\n") }

	write() // first skip: logged at once
	if got := c["events_skipped"].Load(); got != 2 {
		t.Errorf("events_skipped = %d, want 2", got)
	}
	if l := logLines(); len(l) != 1 || !strings.Contains(l[0], "count=2") || !strings.Contains(l[0], "level=WARN") {
		t.Fatalf("log after first skip: %q", l)
	}

	now = now.Add(5 * time.Second)
	write() // within 10s: counted, not logged
	now = now.Add(4 * time.Second)
	write()
	if got := c["events_skipped"].Load(); got != 6 {
		t.Errorf("events_skipped = %d, want 6", got)
	}
	if l := logLines(); len(l) != 1 {
		t.Fatalf("logged again within 10s: %q", l)
	}

	now = now.Add(time.Second)
	write() // 10s after the first message: logged with everything since
	if l := logLines(); len(l) != 2 || !strings.Contains(l[1], "count=6") {
		t.Fatalf("log after 10s: %q", l)
	}

	now = now.Add(time.Second)
	write()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if l := logLines(); len(l) != 3 || !strings.Contains(l[2], "count=2") {
		t.Fatalf("Close did not report the last skips: %q", l)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if l := logLines(); len(l) != 3 {
		t.Fatalf("second Close logged again: %q", l)
	}
}

// TestSkippedWithoutCounter covers an Env without counters or logger, as in
// tests and tools that embed the plugin.
func TestSkippedWithoutCounter(t *testing.T) {
	s, w := newOutput(t, "influx", sdk.Env{})
	if err := s.Write(context.Background(), sdk.Batch{{Name: "m"}}); err != nil {
		t.Fatal(err)
	}
	if w.calls != 0 {
		t.Errorf("wrote %q for a batch with nothing encodable", w.String())
	}
}

func TestConcurrentWrites(t *testing.T) {
	s, w := newOutput(t, "influx", sdk.Env{})
	done := make(chan error)
	for i := 0; i < 8; i++ {
		go func() { done <- s.Write(context.Background(), testBatch()) }()
	}
	for i := 0; i < 8; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(w.String(), "\n"); n != 16 || w.calls != 8 {
		t.Errorf("%d lines in %d writes, want 16 in 8", n, w.calls)
	}
}

func TestSampleConfig(t *testing.T) {
	reg, ok := sdk.LookupOutput("stdout")
	if !ok {
		t.Fatal("outputs.stdout is not registered")
	}
	if reg.SampleConfig != sampleConfig || !strings.HasPrefix(sampleConfig, "# "+reg.Description+"\n") {
		t.Errorf("sample.conf does not start with the description line:\n%s", sampleConfig)
	}

	var conf map[string]any
	if _, err := toml.Decode(sampleConfig, &conf); err != nil {
		t.Fatalf("sample.conf: %v", err)
	}
	outputs, ok := conf["outputs"].(map[string]any)
	if !ok {
		t.Fatalf("sample.conf has no outputs table: %v", conf)
	}
	tables, ok := outputs["stdout"].([]map[string]any)
	if !ok || len(tables) != 1 {
		t.Fatalf("sample.conf: outputs.stdout is %#v, want one [[outputs.stdout]] table", outputs["stdout"])
	}
	if got := tables[0]["format"]; got != "influx" {
		t.Errorf("sample format = %v, want the default \"influx\"", got)
	}

	// The sample decodes into the plugin and initialises.
	var typed struct {
		Outputs struct{ Stdout []toml.Primitive }
	}
	md, err := toml.Decode(sampleConfig, &typed)
	if err != nil || len(typed.Outputs.Stdout) != 1 {
		t.Fatalf("sample.conf: %v, %d tables", err, len(typed.Outputs.Stdout))
	}
	s := reg.New().(*Stdout)
	if err := md.PrimitiveDecode(typed.Outputs.Stdout[0], s); err != nil {
		t.Fatal(err)
	}
	if s.Format != "influx" {
		t.Errorf("decoded format %q", s.Format)
	}
	if err := s.Init(sdk.Env{}); err != nil {
		t.Errorf("Init with the sample config: %v", err)
	}
}

func TestConfigJSON(t *testing.T) {
	reg, _ := sdk.LookupOutput("stdout")
	s := reg.New().(*Stdout)
	if _, err := toml.Decode(`format = "json"`, s); err != nil {
		t.Fatal(err)
	}
	if s.Format != "json" {
		t.Fatalf("format %q", s.Format)
	}
	if err := s.Init(sdk.Env{}); err != nil {
		t.Fatal(err)
	}
}
