package selfmetrics

import (
	"io"
	"math"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestWriteText(t *testing.T) {
	r := NewRegistry()
	a := r.Counter("rowflux_events_total", "Events seen.", Label{"instance", "inputs.generate"})
	b := r.Counter("rowflux_events_total", "Events seen.", Label{"instance", `weird"name\with` + "\nnewline"})
	if again := r.Counter("rowflux_events_total", "Events seen.", Label{"instance", "inputs.generate"}); again != a {
		t.Fatal("same name and labels gave a different counter")
	}
	a.Add(41)
	a.Inc()
	b.Inc()
	r.Gauge("rowflux_checkpoint_age_seconds", "Seconds since the last checkpoint.", func() float64 { return 1.5 })
	r.Gauge("rowflux_nan", "Not a number.", func() float64 { return math.NaN() })

	var sb strings.Builder
	if err := r.WriteText(&sb); err != nil {
		t.Fatal(err)
	}
	want := `# HELP rowflux_checkpoint_age_seconds Seconds since the last checkpoint.
# TYPE rowflux_checkpoint_age_seconds gauge
rowflux_checkpoint_age_seconds 1.5
# HELP rowflux_events_total Events seen.
# TYPE rowflux_events_total counter
rowflux_events_total{instance="inputs.generate"} 42
rowflux_events_total{instance="weird\"name\\with\nnewline"} 1
# HELP rowflux_nan Not a number.
# TYPE rowflux_nan gauge
rowflux_nan NaN
`
	if sb.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", sb.String(), want)
	}
}

func TestHandler(t *testing.T) {
	r := NewRegistry()
	r.Counter("x_total", "x").Add(3)
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
	if !strings.Contains(string(body), "x_total 3\n") {
		t.Errorf("body %q", body)
	}
}

func TestTypeConflictPanics(t *testing.T) {
	r := NewRegistry()
	r.Counter("m", "m")
	defer func() {
		if recover() == nil {
			t.Fatal("registering a counter name as a gauge did not panic")
		}
	}()
	r.Gauge("m", "m", func() float64 { return 0 })
}

func TestRuntimeGauges(t *testing.T) {
	r := NewRegistry()
	r.RegisterRuntime()
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"go_goroutines ", "go_memstats_heap_inuse_bytes ", "process_resident_memory_bytes "} {
		i := strings.Index(b.String(), "\n"+name)
		if i < 0 {
			t.Fatalf("%s missing from:\n%s", name, b.String())
		}
		line := strings.SplitN(b.String()[i+1:], "\n", 2)[0]
		v, err := strconv.ParseFloat(strings.TrimPrefix(line, name), 64)
		if err != nil || v <= 0 {
			t.Fatalf("%q: want a positive value", line)
		}
	}
}
