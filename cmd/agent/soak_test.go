//go:build soak

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rowflux/rowflux/agent/bench/verdict"
	"github.com/rowflux/rowflux/agent/workload"
	"github.com/rowflux/rowflux/plugins/common/pgtest"
)

// soakSample is one scrape of the agent's /metrics.
type soakSample struct {
	at                      time.Duration
	goroutines, rss, heap   float64
	captured, written, errs float64
}

// TestSoak runs the agent for ROWFLUX_SOAK_DURATION (make soak: 10m) against
// a steady 2,000 changes/s on PostgreSQL (trigger strategy, window
// processor passing changes through, JSON lines to a file), scrapes /metrics
// every second, and checks that RSS and goroutines stay flat and that no
// change was missed. The curve goes to ROWFLUX_SOAK_CSV (default
// bin/soak.csv) and, sampled every minute, to the test log.
func TestSoak(t *testing.T) {
	dur := 10 * time.Minute
	if s := os.Getenv("ROWFLUX_SOAK_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Minute {
			t.Fatalf("ROWFLUX_SOAK_DURATION=%q: want a duration of at least 1m", s)
		}
		dur = d
	}
	const rate = 2000
	dsn := pgtest.DB(t)
	dir := t.TempDir()
	if r := runAgent(t, nil, "workload", "--dsn", dsn, "--schema-only"); r.code != 0 {
		t.Fatalf("schema: %d %s", r.code, r.stderr)
	}
	addr := freeAddr(t)
	outPath := filepath.Join(dir, "out.jsonl")
	conf := writeConfig(t, fmt.Sprintf(`
[agent]
  checkpoint_interval = "1s"
  state_dir = %q
  http_listen = %q
[[inputs.postgres]]
  dsn = %q
  strategy = "trigger"
  auto_setup = true
  poll_interval = "100ms"
  [[inputs.postgres.tables]]
    name = "transactions"
    key = ["transaction_id"]
    tags = ["currency"]
    timestamp_column = "updated_at"
[[processors.window]]
  measurement = "volume"
  where = "op != 'delete'"
  time = "updated_at"
  group_by = ["currency"]
  type = "tumbling"
  size = "10s"
  allowed_lateness = "5s"
  drop_original = false
  [processors.window.fields]
    n = "count()"
    total = "sum(amount)"
    p95 = "percentile(amount, 95)"
[[outputs.stdout]]
  format = "json"
  flush_interval = "200ms"
`, filepath.Join(dir, "state"), addr, dsn))
	if r := runAgent(t, nil, "setup", "--config", conf); r.code != 0 {
		t.Fatalf("setup: %d %s", r.code, r.stderr)
	}
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	agent := startAgent(t, conf, out)
	if !waitFor(30*time.Second, func() bool { _, err := http.Get("http://" + addr + "/healthz"); return err == nil }) {
		t.Fatal("agent never served /healthz")
	}

	ledgerPath := filepath.Join(dir, "ledger.jsonl")
	wl := exec.Command(agentBin, "workload", "--dsn", dsn, "--rate", strconv.Itoa(rate), "--duration", dur.String(),
		"--writers", "8", "--ledger", ledgerPath)
	var wlOut, wlErr bytes.Buffer
	wl.Stdout, wl.Stderr = &wlOut, &wlErr
	start := time.Now()
	if err := wl.Start(); err != nil {
		t.Fatal(err)
	}
	wlDone := make(chan error, 1)
	go func() { wlDone <- wl.Wait() }()

	var samples []soakSample
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
scrape:
	for {
		select {
		case err := <-wlDone:
			if err != nil {
				t.Fatalf("workload: %v\n%s", err, wlErr.String())
			}
			break scrape
		case <-tick.C:
			s, err := scrapeSoak(addr)
			if err != nil {
				t.Fatalf("scrape at %s: %v", time.Since(start).Round(time.Second), err)
			}
			s.at = time.Since(start)
			samples = append(samples, s)
		}
	}
	elapsed := time.Since(start)
	ledger, err := workload.ReadLedger(ledgerPath)
	if err != nil {
		t.Fatal(err)
	}
	// Caught up: the captured counter stops moving for 3 s.
	last, still := -1.0, 0
	for deadline := time.Now().Add(2 * time.Minute); still < 3 && time.Now().Before(deadline); time.Sleep(time.Second) {
		s, err := scrapeSoak(addr)
		if err != nil {
			t.Fatal(err)
		}
		if s.written == last {
			still++
		} else {
			last, still = s.written, 0
		}
	}
	agent.Process.Signal(syscall.SIGTERM)
	if err := agent.Wait(); err != nil {
		t.Fatalf("agent did not stop cleanly: %v", err)
	}

	writeSoakCSV(t, samples)
	writeSoakSVG(t, samples)
	logSoakCurve(t, samples)

	rateGot := float64(len(ledger)) / elapsed.Seconds()
	wlLines := strings.Split(strings.TrimSpace(wlOut.String()+wlErr.String()), "\n")
	t.Logf("workload: %d changes in %s = %.0f/s (%s)", len(ledger), elapsed.Round(time.Second), rateGot, wlLines[len(wlLines)-1])
	if rateGot < 0.95*rate {
		t.Errorf("the workload reached %.0f changes/s, below 95%% of %d: the soak did not run at its rate", rateGot, rate)
	}

	// Flat: after a 1-minute warm-up, the last third of the run may not sit
	// above the first third by more than a small margin.
	warm := slices.IndexFunc(samples, func(s soakSample) bool { return s.at >= time.Minute })
	if warm < 0 || len(samples)-warm < 30 {
		t.Fatalf("%d samples: too few after the warm-up", len(samples))
	}
	steady := samples[warm:]
	third := len(steady) / 3
	early, late := steady[:third], steady[len(steady)-third:]
	for _, m := range []struct {
		name  string
		get   func(soakSample) float64
		slack func(float64) float64
	}{
		{"goroutines", func(s soakSample) float64 { return s.goroutines }, func(v float64) float64 { return v + 10 }},
		{"RSS", func(s soakSample) float64 { return s.rss }, func(v float64) float64 { return v*1.15 + 16<<20 }},
		{"heap in use", func(s soakSample) float64 { return s.heap }, func(v float64) float64 { return v*1.25 + 16<<20 }},
	} {
		a, b := median(early, m.get), median(late, m.get)
		t.Logf("%s: median %.0f in the first third after warm-up, %.0f in the last", m.name, a, b)
		if b > m.slack(a) {
			t.Errorf("%s grew from %.0f to %.0f over the soak: not flat", m.name, a, b)
		}
	}
	if e := samples[len(samples)-1].errs; e > 0 {
		t.Errorf("%v output write errors during the soak", e)
	}

	events := readCapturedFile(t, outPath)
	r := verdict.Compare(verdict.Changelog, ledger, verdictEvents(t, events))
	t.Logf("ledger %d changes, %d change events delivered, missed %d, duplicates %d", len(ledger), len(events), r.Missed, r.Duplicates)
	if r.Missed > 0 {
		t.Errorf("%d of %d changes never delivered", r.Missed, r.Checked)
	}
}

// readCapturedFile reads the change events (not the window results, which
// carry no op) from a JSON-lines output file.
func readCapturedFile(t *testing.T, path string) []captured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf syncBuffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), []byte(`"name":"volume"`)) {
			continue
		}
		buf.Write(append(sc.Bytes(), '\n'))
	}
	return parseCaptured(t, &buf)
}

func scrapeSoak(addr string) (soakSample, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return soakSample{}, err
	}
	defer resp.Body.Close()
	var s soakSample
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		switch {
		case name == "go_goroutines":
			s.goroutines = v
		case name == "process_resident_memory_bytes":
			s.rss = v
		case name == "go_memstats_heap_inuse_bytes":
			s.heap = v
		case strings.HasPrefix(name, "rowflux_input_events_total"):
			s.captured += v
		case strings.HasPrefix(name, "rowflux_output_events_written_total"):
			s.written += v
		case strings.HasPrefix(name, "rowflux_output_write_errors_total"):
			s.errs += v
		}
	}
	return s, sc.Err()
}

func median(s []soakSample, get func(soakSample) float64) float64 {
	v := make([]float64, len(s))
	for i := range s {
		v[i] = get(s[i])
	}
	slices.Sort(v)
	return v[len(v)/2]
}

func writeSoakCSV(t *testing.T, samples []soakSample) {
	t.Helper()
	path := os.Getenv("ROWFLUX_SOAK_CSV")
	if path == "" {
		return
	}
	var b strings.Builder
	b.WriteString("seconds,goroutines,rss_bytes,heap_inuse_bytes,input_events,output_events,output_errors\n")
	for _, s := range samples {
		fmt.Fprintf(&b, "%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f\n", s.at.Seconds(), s.goroutines, s.rss, s.heap, s.captured, s.written, s.errs)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("curve: %d samples in %s", len(samples), path)
}

// logSoakCurve logs one line per minute: the curve docs/reliability.md
// quotes.
func logSoakCurve(t *testing.T, samples []soakSample) {
	t.Helper()
	t.Log("minute | goroutines | RSS MiB | heap MiB | input events/s (last minute)")
	prev := soakSample{}
	for i, s := range samples {
		if i != len(samples)-1 && (i+1)%60 != 0 {
			continue
		}
		rate := (s.captured - prev.captured) / (s.at - prev.at).Seconds()
		t.Logf("%6.1f | %10.0f | %7.1f | %8.1f | %8.0f", s.at.Minutes(), s.goroutines, s.rss/(1<<20), s.heap/(1<<20), rate)
		prev = s
	}
}

// writeSoakSVG draws the curve (RSS, heap in use, goroutines, input
// events/s against minutes) as a self-contained SVG next to the CSV.
func writeSoakSVG(t *testing.T, samples []soakSample) {
	t.Helper()
	path := os.Getenv("ROWFLUX_SOAK_CSV")
	if path == "" || len(samples) < 2 {
		return
	}
	path = strings.TrimSuffix(path, ".csv") + ".svg"
	panels := []struct {
		title string
		get   func(i int) float64
	}{
		{"RSS (MiB)", func(i int) float64 { return samples[i].rss / (1 << 20) }},
		{"heap in use (MiB)", func(i int) float64 { return samples[i].heap / (1 << 20) }},
		{"goroutines", func(i int) float64 { return samples[i].goroutines }},
		{"input events/s (10 s average)", func(i int) float64 {
			j := max(i-10, 0)
			if j == i {
				return 0
			}
			return (samples[i].captured - samples[j].captured) / (samples[i].at - samples[j].at).Seconds()
		}},
	}
	const w, ph, left, top = 720.0, 130.0, 60.0, 24.0
	end := samples[len(samples)-1].at.Minutes()
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`+"\n", w+20, float64(len(panels))*(ph+top+16)+20)
	for k, p := range panels {
		y0 := 10 + float64(k)*(ph+top+16)
		hi := 0.0
		for i := range samples {
			hi = max(hi, p.get(i))
		}
		hi = max(hi*1.1, 1)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-weight="bold">%s</text>`+"\n", left, y0+12, p.title)
		py := y0 + top
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`+"\n", left, py, w-left, ph)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="end">%.0f</text><text x="%.0f" y="%.0f" text-anchor="end">0</text>`+"\n", left-4, py+10, hi, left-4, py+ph)
		for m := 0.0; m <= end; m++ {
			x := left + (w-left)*m/end
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" fill="#666">%.0f</text>`+"\n", x, py+ph+12, m)
		}
		b.WriteString(`<polyline fill="none" stroke="#1f6fb2" stroke-width="1.2" points="`)
		for i := range samples {
			fmt.Fprintf(&b, "%.1f,%.1f ", left+(w-left)*samples[i].at.Minutes()/end, py+ph-ph*p.get(i)/hi)
		}
		b.WriteString(`"/>` + "\n")
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" fill="#666">minutes</text>`+"\n", w-40, float64(len(panels))*(ph+top+16)+16)
	b.WriteString("</svg>\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
