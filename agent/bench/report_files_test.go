package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

var update = flag.Bool("update", false, "rewrite testdata/report.golden.html from the current output")

// msNS is a millisecond in nanoseconds, to write fixtures readably.
const msNS = int64(time.Millisecond)

// phase is a strategy phase for fixtures; missed < 0 means "not drained"
// with -missed misses.
func phase(name string, tput, ratio float64, commitP95, capP50, capP95, capP99 int64, missed, dup int, cpu float64, rssMiB int64) Phase {
	drained := missed >= 0
	if missed < 0 {
		missed = -missed
	}
	return Phase{
		Strategy: name, Commits: int64(tput * 10), ElapsedNS: int64(10 * time.Second), Throughput: tput,
		CommitLatency:      Latency{N: 100, P50NS: commitP95 / 2, P95NS: commitP95, P99NS: commitP95 * 2, MaxNS: commitP95 * 3},
		CommitLatencyRatio: &Ratios{P50: ratio, P95: ratio * 1.1, P99: ratio * 1.2},
		ThroughputRatio:    1 / ratio,
		Capture: &Capture{
			Kind: "changelog", Events: 1000, Throughput: tput * 0.9,
			Latency: Latency{N: 900, P50NS: capP50, P95NS: capP95, P99NS: capP99, MaxNS: capP99 * 2},
			Checked: 1000, Missed: missed, Duplicates: dup, Drained: drained,
		},
		Agent: &Usage{CPUSeconds: cpu, PeakRSSBytes: rssMiB << 20},
	}
}

// fixtureReport is 2 runs of 3 strategies with figures chosen so that
// medians, mins and maxes are easy to check by hand: run 2 is run 1 with
// some figures moved.
func fixtureReport() *Report {
	base := func(tput float64, p95 int64) Phase {
		return Phase{Strategy: "baseline", Commits: int64(tput * 10), ElapsedNS: int64(10 * time.Second), Throughput: tput,
			CommitLatency: Latency{N: 100, P50NS: p95 / 2, P95NS: p95, P99NS: p95 * 2, MaxNS: p95 * 3}}
	}
	r := &Report{
		Source:     "postgres",
		Started:    time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC),
		Strategies: []string{"polling", "trigger", "notify"},
		Workload: Workload{Rate: 100, DurationNS: int64(10 * time.Second), WarmupNS: int64(2 * time.Second), Writers: 2,
			Mix: [3]int{60, 30, 10}, LongTxEvery: 50, LongTxHoldNS: int64(500 * time.Millisecond), Seed: 7, Preload: 50,
			PollIntervalNS: int64(time.Second)},
		Runs: []RunResult{
			{Baseline: base(100, 4*msNS), Strategies: []Phase{
				phase("polling", 99, 1.01, 4*msNS, 600*msNS, 1400*msNS, 1900*msNS, 3, 0, 0.40, 30),
				phase("trigger", 90, 1.10, 5*msNS, 80*msNS, 150*msNS, 200*msNS, 0, 0, 0.50, 32),
				phase("notify", 95, 1.05, 5*msNS, 3*msNS, 9*msNS, 20*msNS, 0, 2, 0.30, 28),
			}},
			{Baseline: base(98, 6*msNS), Strategies: []Phase{
				phase("polling", 97, 1.03, 6*msNS, 700*msNS, 1600*msNS, 2100*msNS, -5, 0, 0.60, 34),
				phase("trigger", 92, 1.08, 5*msNS, 90*msNS, 170*msNS, 260*msNS, 0, 0, 0.50, 32),
				phase("notify", 95, 1.05, 5*msNS, 5*msNS, 11*msNS, 30*msNS, 0, 4, 0.30, 28),
			}},
		},
	}
	return r
}

func TestSpreadOf(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want Spread
	}{
		{[]float64{5}, Spread{5, 5, 5}},
		{[]float64{7, 3}, Spread{5, 3, 7}},
		{[]float64{9, 1, 4}, Spread{4, 1, 9}},
		{[]float64{4, 1, 3, 10}, Spread{3.5, 1, 10}},
	} {
		if got := spreadOf(tc.in); got != tc.want {
			t.Errorf("spreadOf(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestSummary(t *testing.T) {
	sum := fixtureReport().Summary()
	if got := len(sum); got != 4 {
		t.Fatalf("%d summaries, want baseline + 3 strategies", got)
	}
	byName := map[string]StrategySummary{}
	for i, s := range sum {
		if want := []string{"baseline", "polling", "trigger", "notify"}[i]; s.Strategy != want {
			t.Errorf("summary %d is %s, want %s", i, s.Strategy, want)
		}
		if s.Runs != 2 {
			t.Errorf("%s: runs %d, want 2", s.Strategy, s.Runs)
		}
		byName[s.Strategy] = s
	}
	if b := byName["baseline"]; b.Capture != nil || b.Agent != nil || b.ThroughputRatio != nil || b.CommitP95Ratio != nil {
		t.Errorf("baseline has strategy-only figures: %+v", b)
	}
	ptr := func(s *Spread) Spread {
		if s == nil {
			return Spread{-1, -1, -1}
		}
		return *s
	}
	mib := float64(1 << 20)
	for _, tc := range []struct {
		strategy, metric string
		get              func(StrategySummary) Spread
		want             Spread
	}{
		{"baseline", "throughput", func(s StrategySummary) Spread { return s.Throughput }, Spread{99, 98, 100}},
		{"baseline", "commit p95", func(s StrategySummary) Spread { return s.CommitP95NS }, Spread{5e6, 4e6, 6e6}},
		{"baseline", "commit p50", func(s StrategySummary) Spread { return s.CommitP50NS }, Spread{2.5e6, 2e6, 3e6}},
		{"baseline", "commit p99", func(s StrategySummary) Spread { return s.CommitP99NS }, Spread{10e6, 8e6, 12e6}},
		{"polling", "throughput", func(s StrategySummary) Spread { return s.Throughput }, Spread{98, 97, 99}},
		{"polling", "capture p50", func(s StrategySummary) Spread { return s.Capture.P50NS }, Spread{650e6, 600e6, 700e6}},
		{"polling", "capture p95", func(s StrategySummary) Spread { return s.Capture.P95NS }, Spread{1500e6, 1400e6, 1600e6}},
		{"polling", "capture p99", func(s StrategySummary) Spread { return s.Capture.P99NS }, Spread{2000e6, 1900e6, 2100e6}},
		{"polling", "missed", func(s StrategySummary) Spread { return s.Capture.Missed }, Spread{4, 3, 5}},
		{"polling", "cpu", func(s StrategySummary) Spread { return s.Agent.CPUSeconds }, Spread{0.5, 0.4, 0.6}},
		{"polling", "rss", func(s StrategySummary) Spread { return s.Agent.PeakRSSBytes }, Spread{32 * mib, 30 * mib, 34 * mib}},
		{"trigger", "throughput", func(s StrategySummary) Spread { return s.Throughput }, Spread{91, 90, 92}},
		{"trigger", "capture throughput", func(s StrategySummary) Spread { return s.Capture.Throughput }, Spread{81.9, 81, 82.8}},
		{"trigger", "commit p95 ratio", func(s StrategySummary) Spread { return ptr(s.CommitP95Ratio) }, Spread{1.09 * 1.1, 1.08 * 1.1, 1.10 * 1.1}},
		{"trigger", "missed", func(s StrategySummary) Spread { return s.Capture.Missed }, Spread{0, 0, 0}},
		{"notify", "throughput ratio", func(s StrategySummary) Spread { return ptr(s.ThroughputRatio) }, Spread{1 / 1.05, 1 / 1.05, 1 / 1.05}},
		{"notify", "duplicates", func(s StrategySummary) Spread { return s.Capture.Duplicates }, Spread{3, 2, 4}},
	} {
		got := tc.get(byName[tc.strategy])
		if !near(got.Median, tc.want.Median) || !near(got.Min, tc.want.Min) || !near(got.Max, tc.want.Max) {
			t.Errorf("%s %s = %+v, want %+v", tc.strategy, tc.metric, got, tc.want)
		}
	}
	if u := byName["polling"].Capture.Undrained; u != 1 {
		t.Errorf("polling undrained in %d runs, want 1", u)
	}
	if u := byName["trigger"].Capture.Undrained; u != 0 {
		t.Errorf("trigger undrained in %d runs, want 0", u)
	}
}

func near(a, b float64) bool {
	d := a - b
	return d < 1e-9*(1+abs(b)) && -d < 1e-9*(1+abs(b))
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// TestSummaryOneRun: with one run the spread collapses onto the run's value.
func TestSummaryOneRun(t *testing.T) {
	r := fixtureReport()
	r.Runs = r.Runs[:1]
	for _, s := range r.Summary() {
		for name, sp := range map[string]Spread{"throughput": s.Throughput, "commit p95": s.CommitP95NS} {
			if sp.Min != sp.Median || sp.Max != sp.Median {
				t.Errorf("%s %s: %+v, want min = median = max", s.Strategy, name, sp)
			}
		}
	}
}

func TestTableSpread(t *testing.T) {
	for _, tc := range []struct {
		name      string
		runs      int
		lines     int
		want, not []string
	}{
		// One run: the per-phase table, unchanged.
		{"one run", 1, 1 + 4, []string{"run", "trigger", "80.0ms"}, []string{"median", "–"}},
		// Two runs: a title, a header and one row per phase, with ranges.
		{"two runs", 2, 2 + 4, []string{"median (min–max) over 2 runs", "85.0ms (80.0–90.0)", "4 (3–5)?", "3 (2–4)", "0.50 (0.40–0.60)"}, []string{"run\t"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fixtureReport()
			r.Runs = r.Runs[:tc.runs]
			var b bytes.Buffer
			r.Table(&b)
			out := b.String()
			if n := strings.Count(out, "\n"); n != tc.lines {
				t.Errorf("%d lines, want %d:\n%s", n, tc.lines, out)
			}
			for _, s := range tc.want {
				if !strings.Contains(out, s) {
					t.Errorf("table lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(out, s) {
					t.Errorf("table has %q:\n%s", s, out)
				}
			}
		})
	}
}

func TestWriteFiles(t *testing.T) {
	for _, tc := range []struct {
		name string
		rep  func() *Report
	}{
		{"two runs", fixtureReport},
		{"one run", func() *Report { r := fixtureReport(); r.Runs = r.Runs[:1]; return r }},
		// Only a baseline: charts say so instead of drawing nothing.
		{"baseline only", func() *Report {
			r := fixtureReport()
			r.Strategies = nil
			for i := range r.Runs {
				r.Runs[i].Strategies = nil
			}
			return r
		}},
		// Hostile names are escaped, not markup.
		{"escaping", func() *Report {
			r := fixtureReport()
			r.Source = `<script>alert("x")</script>`
			return r
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := tc.rep()
			dir := filepath.Join(t.TempDir(), "out") // WriteFiles creates it
			if err := rep.WriteFiles(dir); err != nil {
				t.Fatal(err)
			}

			js, err := os.ReadFile(filepath.Join(dir, "report.json"))
			if err != nil {
				t.Fatal(err)
			}
			var back Report
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatalf("report.json does not decode: %v", err)
			}
			if !reflect.DeepEqual(&back, rep) {
				t.Errorf("report.json decodes to\n%+v\nwant\n%+v", back, *rep)
			}
			var extra struct {
				Machine Machine           `json:"machine"`
				Summary []StrategySummary `json:"summary"`
			}
			if err := json.Unmarshal(js, &extra); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(extra.Summary, rep.Summary()) {
				t.Errorf("report.json summary %+v, want %+v", extra.Summary, rep.Summary())
			}
			if extra.Machine != thisMachine() {
				t.Errorf("report.json machine %+v, want %+v", extra.Machine, thisMachine())
			}

			b, err := os.ReadFile(filepath.Join(dir, "report.html"))
			if err != nil {
				t.Fatal(err)
			}
			checkHTML(t, string(b), rep)
		})
	}
}

// checkHTML checks that page is self-contained, parses, and shows rep.
func checkHTML(t *testing.T, page string, rep *Report) {
	t.Helper()
	for _, bad := range []string{"http://", "https://", "src=", "<script", "<link", "url("} {
		if strings.Contains(strings.ToLower(page), bad) {
			t.Errorf("report.html contains %q: not self-contained (or unescaped)", bad)
		}
	}
	if n := strings.Count(page, "<svg"); n != 3 {
		t.Errorf("%d <svg elements, want 3 (one per chart)", n)
	}
	for _, s := range append([]string{"baseline", rep.Source}, rep.Strategies...) {
		if !strings.Contains(page, html.EscapeString(s)) {
			t.Errorf("report.html does not mention %q", s)
		}
	}

	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("report.html does not parse: %v", err)
	}
	// html.Parse accepts nearly anything; what matters is that the parser
	// saw the three charts as SVG and the table where we put them.
	svgs, tables := 0, 0
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch {
			case n.Data == "svg" && n.Namespace == "svg":
				svgs++
			case n.Data == "table" && n.Namespace == "":
				tables++
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if svgs != 3 || tables != 1 {
		t.Errorf("parsed %d svg and %d table elements, want 3 and 1", svgs, tables)
	}

	// Each SVG must also be well-formed XML: stricter than the HTML parser,
	// and what a user gets when saving a chart out of the page.
	rest := page
	for {
		i := strings.Index(rest, "<svg")
		if i < 0 {
			break
		}
		j := strings.Index(rest[i:], "</svg>")
		if j < 0 {
			t.Fatal("unterminated <svg")
		}
		frag := rest[i : i+j+len("</svg>")]
		dec := xml.NewDecoder(strings.NewReader(frag))
		for {
			_, err := dec.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Errorf("SVG is not well-formed: %v\n%s", err, frag)
				break
			}
		}
		rest = rest[i+j:]
	}
}

// TestReportGolden pins report.html for a fixed report and machine, so a
// reviewer can open testdata/report.golden.html and see what users get.
// Rewrite it with: go test ./agent/bench -run TestReportGolden -update
func TestReportGolden(t *testing.T) {
	var b bytes.Buffer
	if err := fixtureReport().writeHTML(&b, Machine{GOOS: "linux", GOARCH: "amd64", NumCPU: 8}); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "report.golden.html")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("report.html differs from %s; if the change is intended, rerun with -update and review the page", golden)
	}
	checkHTML(t, b.String(), fixtureReport())
}
