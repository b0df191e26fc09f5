package external

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestLineWriterSplitsAndBounds(t *testing.T) {
	var got []string
	w := &lineWriter{emit: func(l string) { got = append(got, l) }}
	for _, p := range []string{"one\ntw", "o\r\n", "\n", "three", "\nfour\nfive"} {
		w.Write([]byte(p))
	}
	if fmt.Sprint(got) != "[one two three four]" {
		t.Fatalf("lines = %q", got)
	}
	got = nil
	w.Write(bytes.Repeat([]byte("x"), maxLine+10))
	if len(got) != 1 || len(got[0]) < maxLine {
		t.Fatalf("a line without end grew without bound: %d lines", len(got))
	}
}

func TestTailKeepsLastRawLines(t *testing.T) {
	tl := newTail()
	fmt.Fprintf(tl, "{\"@level\":\"info\",\"@message\":\"logged already\"}\n")
	for i := 1; i <= 15; i++ {
		fmt.Fprintf(tl, "line %d\n", i)
	}
	fmt.Fprintf(tl, "%s\n", strings.Repeat("y", 600))
	lines := strings.Split(tl.String(), "\n")
	if len(lines) != tailLines || lines[0] != "line 7" || lines[8] != "line 15" || len(lines[9]) != tailWidth+len("…") {
		t.Fatalf("tail = %q", lines)
	}
	if strings.Contains(tl.String(), "logged already") {
		t.Fatal("a log record was kept as crash output")
	}
}

func TestHCLoggerLevels(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newHCLogger(base)
	// go-plugin's own records are debug at most; the plugin's keep their
	// level; pairs come out sorted, without go-plugin's timestamp.
	h.Error("plugin process exited", "error", "exit status 1")
	h.Named("bin").Warn("from the plugin", "z", 1, "a", 2, "timestamp", "x")
	h.Named("bin").With("w", 3).Info("with")
	out := buf.String()
	for _, want := range []string{
		`level=DEBUG msg="plugin process exited" error="exit status 1"`,
		`level=WARN msg="from the plugin" a=2 z=1`,
		`level=INFO msg=with w=3`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "timestamp=") {
		t.Errorf("go-plugin's timestamp kept:\n%s", out)
	}
	if h.GetLevel() != hclog.Debug || !h.IsDebug() || h.IsTrace() {
		t.Errorf("level = %v", h.GetLevel())
	}
}

func TestTailKeepsThePanicLine(t *testing.T) {
	tl := newTail()
	fmt.Fprintf(tl, "panic: runtime error: index out of range\n\ngoroutine 1 [running]:\n")
	for i := range 30 {
		fmt.Fprintf(tl, "main.f(%d)\n", i)
	}
	got := tl.String()
	if !strings.HasPrefix(got, "panic: runtime error: index out of range\n…\n") || !strings.HasSuffix(got, "main.f(29)") {
		t.Fatalf("tail = %q", got)
	}
}
