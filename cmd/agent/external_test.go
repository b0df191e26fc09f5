//go:build linux

// These tests read /proc to find plugin processes.

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rowflux/rowflux/agent/workload"
	"github.com/rowflux/rowflux/sdk/plugin"
)

// The acceptance tests of out-of-process plugins: the real agent runs the
// real example plugins (examples/plugins/currency and jsonfile) and the
// external host's test plugin as its child processes.

var (
	pluginsOnce  sync.Once
	pluginsBuilt string // directory of the built binaries, next to agentBin
	pluginsErr   error
)

// pluginBins holds the plugin binaries as one test runs them. Each test
// gets its own links to the binaries built once, so that a process left
// behind is recognisable by its path.
type pluginBins struct {
	dir                            string
	currency, jsonfile, testplugin string
}

func plugins(t *testing.T) pluginBins {
	t.Helper()
	pluginsOnce.Do(func() {
		// Beside agentBin, so that TestMain removes them.
		pluginsBuilt = filepath.Join(filepath.Dir(agentBin), "plugins")
		build := exec.Command("go", "build", "-o", pluginsBuilt+string(filepath.Separator),
			"../../examples/plugins/currency", "../../examples/plugins/jsonfile", "../../agent/external/internal/testplugin")
		if out, err := build.CombinedOutput(); err != nil {
			pluginsErr = fmt.Errorf("building the plugins: %v\n%s", err, out)
		}
	})
	if pluginsErr != nil {
		t.Fatal(pluginsErr)
	}
	b := pluginBins{dir: t.TempDir()}
	for _, p := range []struct {
		name string
		to   *string
	}{{"currency", &b.currency}, {"jsonfile", &b.jsonfile}, {"testplugin", &b.testplugin}} {
		*p.to = filepath.Join(b.dir, p.name)
		if err := os.Symlink(filepath.Join(pluginsBuilt, p.name), *p.to); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// fxRates has a rate for every currency the workload writes but
// unknownCurrency, left out to exercise on_unknown = "keep".
var fxRates = map[string]float64{"EUR": 1, "USD": 0.92, "GBP": 1.17, "JPY": 0.0061}

const unknownCurrency = "CHF"

// fxInstance is the currency processor's instance, by its alias.
const fxInstance = "processors.external:fx"

func currencySection(bin string) string {
	codes := make([]string, 0, len(fxRates))
	for c := range fxRates {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	var b strings.Builder
	fmt.Fprintf(&b, `
[[processors.external]]
  alias = "fx"
  command = [%q]
  [processors.external.config]
    on_unknown = "keep"
    [processors.external.config.rates]
`, bin)
	for _, c := range codes {
		fmt.Fprintf(&b, "      %s = %s\n", c, strconv.FormatFloat(fxRates[c], 'g', -1, 64))
	}
	return b.String()
}

// jsonfileSection: the jsonfile output appending to path, flushing
// every flush (or 100000 events).
func jsonfileSection(bin, path, flush string) string {
	return fmt.Sprintf(`
[[outputs.external]]
  command = [%q]
  flush_interval = %q
  batch_size = 100000
  [outputs.external.config]
    path = %q
`, bin, flush, path)
}

// capturePipeline: the workload's table in db, captured with strategy,
// through the currency plugin into the jsonfile plugin writing out.
func capturePipeline(bins pluginBins, stateDir, addr, db, strategy, out string) string {
	return fmt.Sprintf(`
[agent]
  checkpoint_interval = "200ms"
  state_dir = %q
  http_listen = %q
[[inputs.sqlite]]
  path = %q
  strategy = %q
  auto_setup = true
  poll_interval = "100ms"
  [[inputs.sqlite.tables]]
    name = "transactions"
    key = ["transaction_id"]
    tags = ["currency"]
`, stateDir, addr, db, strategy) + currencySection(bins.currency) + jsonfileSection(bins.jsonfile, out, "50ms")
}

// generatePipeline: synthetic sales, numbered by seq, through the
// currency plugin into the jsonfile plugin writing out every flush.
func generatePipeline(bins pluginBins, addr, out, flush string) string {
	return fmt.Sprintf(`
[agent]
  http_listen = %q
`, addr) + `
[[inputs.generate]]
  rate = 2000.0
  batch_size = 100
  op = "insert"
  [[inputs.generate.fields]]
    name = "seq"
    type = "sequence"
  [[inputs.generate.fields]]
    name = "amount"
    type = "float"
    min = 1.0
    max = 500.0
  [[inputs.generate.tags]]
    name = "currency"
    type = "choice"
    values = ["EUR", "USD", "CHF"]
` + currencySection(bins.currency) + jsonfileSection(bins.jsonfile, out, flush)
}

// runningAgent is an agent whose log (stderr) the test reads while it
// runs, and whose end it can wait for with a bound.
type runningAgent struct {
	cmd      *exec.Cmd
	log, out syncBuffer
	done     chan struct{}
	err      error // Wait's result, set before done is closed
}

func startAgentWithLog(t *testing.T, conf string) *runningAgent {
	t.Helper()
	a := &runningAgent{done: make(chan struct{})}
	a.cmd = exec.Command(agentBin, "--config", conf, "--log-level", "debug")
	a.cmd.Stdout, a.cmd.Stderr = &a.out, &a.log
	// Its own process group, which its plugins join: a test can signal
	// them all at once, as a service manager does.
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		a.err = a.cmd.Wait()
		close(a.done)
	}()
	t.Cleanup(func() {
		if !a.exited() {
			a.cmd.Process.Kill()
			<-a.done
		}
		if t.Failed() {
			t.Logf("agent pid %d (%v) log:\n%s", a.pid(), a.err, a.log.Bytes())
		}
	})
	return a
}

func (a *runningAgent) pid() int { return a.cmd.Process.Pid }

func (a *runningAgent) exited() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and returns the exit status.
func (a *runningAgent) stop(t *testing.T) int {
	t.Helper()
	a.cmd.Process.Signal(syscall.SIGTERM)
	return a.wait(t, 20*time.Second)
}

func (a *runningAgent) kill9(t *testing.T) {
	t.Helper()
	a.cmd.Process.Signal(syscall.SIGKILL)
	a.wait(t, 10*time.Second)
}

func (a *runningAgent) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-a.done:
	case <-time.After(d):
		t.Fatalf("the agent (pid %d) did not exit within %s", a.pid(), d)
	}
	var ee *exec.ExitError
	if errors.As(a.err, &ee) {
		return ee.ExitCode()
	}
	if a.err != nil {
		t.Fatalf("waiting for the agent: %v", a.err)
	}
	return 0
}

// logLine returns the first line of the agent's log holding every one of
// parts, or "".
func (a *runningAgent) logLine(parts ...string) string {
	return lineWith(string(a.log.Bytes()), parts...)
}

func lineWith(text string, parts ...string) string {
	for _, l := range strings.Split(text, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return l
		}
	}
	return ""
}

// waitFor polls cond until it holds or d has passed, and reports whether it
// held.
func waitFor(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); ; {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// proc is what /proc tells of a process.
type proc struct {
	pid, ppid int
	state     byte   // R, S, Z, …
	comm      string // the executable's base name, at most 15 bytes
	cmdline   []string
}

func readProc(pid int) (proc, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return proc{}, false
	}
	// "pid (comm) state ppid …"; comm may hold spaces and parentheses.
	s := string(stat)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return proc{}, false
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 2 {
		return proc{}, false
	}
	p := proc{pid: pid, state: f[0][0], comm: s[open+1 : end]}
	p.ppid, _ = strconv.Atoi(f[1])
	if cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && len(cl) > 0 {
		p.cmdline = strings.Split(strings.TrimSuffix(string(cl), "\x00"), "\x00")
	}
	return p, true
}

func allProcs() []proc {
	ents, _ := os.ReadDir("/proc")
	var ps []proc
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			if p, ok := readProc(pid); ok {
				ps = append(ps, p)
			}
		}
	}
	return ps
}

// child returns the live child of parent whose executable is named name.
func child(parent int, name string) (proc, bool) {
	for _, p := range allProcs() {
		if p.ppid == parent && p.state != 'Z' && (p.comm == name || len(p.cmdline) > 0 && filepath.Base(p.cmdline[0]) == name) {
			return p, true
		}
	}
	return proc{}, false
}

// gone reports whether pid has ended: no /proc entry, or a zombie (its
// parent died and whoever inherited it has not reaped it yet).
func gone(pid int) bool {
	p, ok := readProc(pid)
	return !ok || p.state == 'Z' || p.state == 'X'
}

// runningFrom lists the live processes whose executable is under dir.
func runningFrom(dir string) []proc {
	var ps []proc
	for _, p := range allProcs() {
		if p.state != 'Z' && len(p.cmdline) > 0 && strings.HasPrefix(p.cmdline[0], dir+string(filepath.Separator)) {
			ps = append(ps, p)
		}
	}
	return ps
}

// readOutput parses the jsonfile plugin's output; a line cut short by a
// kill -9 is skipped.
func readOutput(t *testing.T, path string) []captured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var b syncBuffer
	b.Write(data)
	return parseCaptured(t, &b)
}

func countLines(path string) int {
	data, _ := os.ReadFile(path)
	return bytes.Count(data, []byte("\n"))
}

// waitCaughtUp polls the output until it holds every change of the
// ledger, and reports whether it did within d.
func waitCaughtUp(t *testing.T, path string, ledger []workload.Entry, d time.Duration) bool {
	t.Helper()
	return waitFor(d, func() bool {
		got := map[version]bool{}
		for _, ev := range readOutput(t, path) {
			got[ev.version(t)] = true
		}
		for _, e := range ledger {
			if !got[version{e.Op, e.ID, e.UpdatedAt.UTC().Format(fixedNano)}] {
				return false
			}
		}
		return true
	})
}

// conversions counts the events of each kind checkConverted found.
type conversions struct {
	converted, unknown, deletes int
	byCurrency                  map[string]int
}

// checkConverted: an insert or update in a currency with a rate carries
// amount_eur = amount × rate; one in the unknown currency is kept without
// it; a delete passes through unchanged.
func checkConverted(t *testing.T, events []captured) conversions {
	t.Helper()
	c := conversions{byCurrency: map[string]int{}}
	bad := 0
	fail := func(format string, args ...any) {
		bad++
		if bad <= 5 {
			t.Errorf(format, args...)
		}
	}
	for _, ev := range events {
		cur := ev.Tags["currency"]
		amount, okAmount := ev.Fields["amount"].(float64)
		eur, hasEUR := ev.Fields["amount_eur"]
		rate, known := fxRates[cur]
		switch {
		case ev.Op == "delete":
			c.deletes++
			if hasEUR {
				fail("a delete was converted: %+v", ev)
			}
		case !okAmount:
			fail("an event without a numeric amount: %+v", ev)
		case known:
			c.converted++
			c.byCurrency[cur]++
			got, ok := eur.(float64)
			want := amount * rate
			if !ok || math.Abs(got-want) > 1e-9*math.Abs(want) {
				fail("%s %s: amount_eur = %v, want %v × %v = %v: %+v", ev.Op, cur, eur, amount, rate, want, ev)
			}
		case cur == unknownCurrency:
			c.unknown++
			c.byCurrency[cur]++
			if hasEUR {
				fail("an event in %s, which has no rate, was given amount_eur: %+v", cur, ev)
			}
		default:
			fail("an event in an unexpected currency %q: %+v", cur, ev)
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d events not converted as configured", bad, len(events))
	}
	return c
}

// metric returns the value of name{instance="instance"} in a /metrics body.
func metric(body, name, instance string) (float64, bool) {
	prefix := fmt.Sprintf("%s{instance=%q} ", name, instance)
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

func getMetrics(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s %v", resp.Status, err)
	}
	return string(b)
}

// newCapture creates the workload's table in a fresh SQLite file and
// returns its directory and path.
func newCapture(t *testing.T) (dir, db string) {
	t.Helper()
	dir = t.TempDir()
	db = filepath.Join(dir, "shop.db")
	if r := runAgent(t, nil, "workload", "--dsn", "sqlite://"+db, "--schema-only"); r.code != 0 {
		t.Fatalf("schema: %d %s", r.code, r.stderr)
	}
	return dir, db
}

// TestExternalPluginsInAPipeline captures the workload's changes through
// the external currency processor into the external jsonfile output, and
// checks every event, the plugin's counters in /metrics and its warning in
// the agent's log.
func TestExternalPluginsInAPipeline(t *testing.T) {
	bins := plugins(t)
	dir, db := newCapture(t)
	out, ledgerPath, addr := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "ledger.jsonl"), freeAddr(t)
	conf := writeConfig(t, capturePipeline(bins, filepath.Join(dir, "state"), addr, db, "notify", out))
	if r := runAgent(t, nil, "setup", "--config", conf); r.code != 0 {
		t.Fatalf("setup: %d %s", r.code, r.stderr)
	}

	a := startAgentWithLog(t, conf)
	if r := runAgent(t, nil, "workload", "--dsn", "sqlite://"+db, "--rate", "200", "--duration", "1500ms", "--ledger", ledgerPath); r.code != 0 {
		t.Fatalf("workload: %d %s", r.code, r.stderr)
	}
	ledger, err := workload.ReadLedger(ledgerPath)
	if err != nil || len(ledger) < 100 {
		t.Fatalf("ledger: %d entries, %v", len(ledger), err)
	}
	if !waitCaughtUp(t, out, ledger, 20*time.Second) {
		t.Errorf("the output did not hold every change of the ledger within 20s")
	}
	// The output's counter arrives with the reply to its last write, just
	// after the lines reach the file.
	var body string
	size := int64(-1)
	waitFor(5*time.Second, func() bool {
		body = getMetrics(t, addr)
		if fi, err := os.Stat(out); err == nil {
			size = fi.Size()
		}
		got, _ := metric(body, "rowflux_output_bytes_written_total", "outputs.external")
		return got == float64(size)
	})
	if code := a.stop(t); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}

	events := readOutput(t, out)
	checkChangelog(t, ledger, events)
	c := checkConverted(t, events)
	t.Logf("%d events: %d converted, %d in %s kept, %d deletes; by currency %v", len(events), c.converted, c.unknown, unknownCurrency, c.deletes, c.byCurrency)
	for cur := range fxRates {
		if c.byCurrency[cur] == 0 {
			t.Errorf("no %s event to check", cur)
		}
	}
	if c.unknown == 0 {
		t.Errorf("no %s event to check on_unknown = \"keep\" with", unknownCurrency)
	}

	// The plugin's counters reach /metrics under its instance, and count
	// what the output holds (no event went through twice in this run).
	for _, m := range []struct {
		name string
		want int
	}{
		{"rowflux_processor_converted_total", c.converted},
		{"rowflux_processor_unknown_currency_total", c.unknown},
	} {
		got, ok := metric(body, m.name, fxInstance)
		switch {
		case !ok:
			t.Errorf("/metrics lacks %s{instance=%q}:\n%s", m.name, fxInstance, body)
		case got <= 0 || got != float64(m.want):
			t.Errorf("%s{instance=%q} = %v, want %d (the events in the output)", m.name, fxInstance, got, m.want)
		}
	}
	if got, ok := metric(body, "rowflux_output_bytes_written_total", "outputs.external"); !ok || got != float64(size) {
		t.Errorf("jsonfile's bytes_written = %v (found %v), want the file's %d bytes", got, ok, size)
	}

	// The plugin's warning reaches the agent's log, tagged with the
	// instance and the plugin, once for the one unknown code.
	warn := []string{"level=WARN", "unknown currency", "processor=" + fxInstance, "plugin=currency", "currency=" + unknownCurrency}
	if a.logLine(warn...) == "" {
		t.Errorf("the agent's log has no line with all of %q", warn)
	}
	if n := strings.Count(string(a.log.Bytes()), "unknown currency"); n != 1 {
		t.Errorf("%d unknown currency warnings, want one", n)
	}
}

// TestExternalProcessorKilledMidStreamLosesNothing kills the currency
// plugin with SIGKILL while the workload runs: the agent reports the crash,
// restarts the plugin and goes on. Then it kills the agent itself and
// restarts it, which replays from the checkpoint through new plugin
// processes. Every committed change must arrive, converted.
func TestExternalProcessorKilledMidStreamLosesNothing(t *testing.T) {
	bins := plugins(t)
	dir, db := newCapture(t)
	out, ledgerPath, addr := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "ledger.jsonl"), freeAddr(t)
	conf := writeConfig(t, capturePipeline(bins, filepath.Join(dir, "state"), addr, db, "trigger", out))
	if r := runAgent(t, nil, "setup", "--config", conf); r.code != 0 {
		t.Fatalf("setup: %d %s", r.code, r.stderr)
	}
	wl := exec.Command(agentBin, "workload", "--dsn", "sqlite://"+db, "--rate", "150", "--duration", "4s",
		"--writers", "2", "--long-tx-every", "25", "--long-tx-hold", "150ms", "--ledger", ledgerPath)
	var wlErr syncBuffer
	wl.Stderr = &wlErr
	if err := wl.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wl.Process.Kill() })

	a1 := startAgentWithLog(t, conf)
	if !waitFor(10*time.Second, func() bool { return countLines(out) >= 30 }) {
		t.Fatalf("the first agent wrote %d events in 10s, want 30 before killing the plugin", countLines(out))
	}
	converted := func() float64 {
		v, _ := metric(getMetrics(t, addr), "rowflux_processor_converted_total", fxInstance)
		return v
	}
	before := converted()
	victim, ok := child(a1.pid(), "currency")
	if !ok {
		t.Fatalf("no currency process among the children of the agent (pid %d)", a1.pid())
	}
	if err := syscall.Kill(victim.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	crashed := []string{`msg="external plugin crashed"`, "processor=" + fxInstance, "plugin=currency", fmt.Sprintf("pid=%d ", victim.pid), `reason="signal: killed"`}
	restarted := []string{`msg="external plugin restarted"`, "processor=" + fxInstance, "plugin=currency"}
	if !waitFor(10*time.Second, func() bool { return a1.logLine(crashed...) != "" && a1.logLine(restarted...) != "" || a1.exited() }) {
		t.Fatalf("within 10s of killing the plugin (pid %d), the agent's log has no line with all of %q, or none with all of %q", victim.pid, crashed, restarted)
	}
	if a1.exited() {
		t.Fatalf("the agent exited (%v) after its plugin was killed; it should have restarted the plugin", a1.err)
	}
	m := regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(a1.logLine(restarted...))
	if m == nil {
		t.Fatalf("the restart line names no pid: %s", a1.logLine(restarted...))
	}
	newPid, _ := strconv.Atoi(m[1])
	if p, ok := readProc(newPid); newPid == victim.pid || !ok || p.ppid != a1.pid() || p.comm != "currency" {
		t.Fatalf("the restarted plugin's pid %d (killed: %d) is not a live currency child of the agent: %+v", newPid, victim.pid, p)
	}
	// The pipeline goes on through the new process, and the instance's
	// counters go on from where the dead process left them.
	n := countLines(out)
	if !waitFor(10*time.Second, func() bool { return countLines(out) > n }) {
		t.Fatalf("the output stayed at %d events after the plugin restarted", n)
	}
	if !waitFor(10*time.Second, func() bool { return converted() > before }) {
		t.Errorf("converted_total stayed at %v after the plugin restarted", before)
	}
	if a1.exited() {
		t.Fatalf("the agent exited (%v) after its plugin was restarted", a1.err)
	}

	// Now the agent: killed mid-stream, restarted from its checkpoint.
	a1.kill9(t)
	killedAt := time.Now()
	a2 := startAgentWithLog(t, conf)
	if err := wl.Wait(); err != nil {
		t.Fatalf("workload: %v\n%s", err, wlErr.Bytes())
	}
	ledger, err := workload.ReadLedger(ledgerPath)
	if err != nil || len(ledger) < 200 {
		t.Fatalf("ledger: %d entries, %v", len(ledger), err)
	}
	after := 0
	for _, e := range ledger {
		if e.UpdatedAt.After(killedAt) {
			after++
		}
	}
	if after == 0 {
		t.Fatalf("the workload made no change after the agent was killed: the kill was not mid-stream")
	}
	if !waitCaughtUp(t, out, ledger, 20*time.Second) {
		t.Errorf("the output did not hold every change of the ledger within 20s of the workload's end")
	}
	if code := a2.stop(t); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
	events := readOutput(t, out)
	t.Logf("ledger %d changes (%d after the agent was killed), output %d events", len(ledger), after, len(events))
	checkChangelog(t, ledger, events)
	c := checkConverted(t, events)
	if c.converted == 0 || c.unknown == 0 {
		t.Errorf("%d converted and %d unknown-currency events: the check needs both", c.converted, c.unknown)
	}
}

// TestExternalPluginErrorsAtStart: a plugin that cannot start stops the
// agent at start with status 2 and a message naming the instance and the
// cause, and leaves no process behind.
func TestExternalPluginErrorsAtStart(t *testing.T) {
	bins := plugins(t)
	missing := filepath.Join(bins.dir, "no-such-plugin")
	// config is the instance's config table, KIND standing for its kind.
	cases := []struct {
		name    string
		kind    string // inputs, processors or outputs
		command []string
		config  string
		also    string // a working processor before the failing instance, whose plugin must end too
		want    []string
	}{
		{
			name:    "protocol version mismatch",
			kind:    "processors",
			command: []string{bins.testplugin, "wrong-version"},
			want: []string{"processors.external: plugin " + bins.testplugin,
				fmt.Sprintf("speaks rowflux plugin protocol %d, this agent speaks %d", plugin.ProtocolVersion+1, plugin.ProtocolVersion)},
		},
		{
			name:    "protocol version mismatch of an input",
			kind:    "inputs",
			command: []string{bins.testplugin, "wrong-version"},
			want: []string{"inputs.external: plugin " + bins.testplugin,
				fmt.Sprintf("speaks rowflux plugin protocol %d, this agent speaks %d", plugin.ProtocolVersion+1, plugin.ProtocolVersion)},
		},
		{
			name:    "broken handshake",
			kind:    "processors",
			command: []string{bins.testplugin, "garbage"},
			want:    []string{"processors.external: plugin " + bins.testplugin, "broke the handshake", "hello from a program that is not a plugin"},
		},
		{
			name:    "exit during the handshake",
			kind:    "processors",
			command: []string{bins.testplugin, "exit"},
			want:    []string{"processors.external: plugin " + bins.testplugin, "exited during the handshake", "exit status 3", "cannot open /etc/plugin.conf"},
		},
		{
			name:    "config rejected by the plugin",
			kind:    "processors",
			command: []string{bins.currency},
			config:  "  [KIND.external.config]\n    [KIND.external.config.rates]\n      usd = 0.92\n",
			want:    []string{"agent: processors.external: ", "rates.usd: currency code must be three upper-case letters"},
		},
		{
			name:    "unknown config key",
			kind:    "processors",
			command: []string{bins.currency},
			config:  "  [KIND.external.config]\n    colour = \"red\"\n    [KIND.external.config.rates]\n      USD = 0.92\n",
			want:    []string{"agent: processors.external: ", "config: unknown key(s) colour"},
		},
		{
			name:    "output config rejected by the plugin, after a processor started",
			kind:    "outputs",
			command: []string{bins.jsonfile},
			config:  "  [KIND.external.config]\n    fsync = false\n",
			also:    currencySection(bins.currency),
			want:    []string{"agent: outputs.external: ", "path: required"},
		},
		{
			name:    "binary not found",
			kind:    "processors",
			command: []string{missing},
			want:    []string{"processors.external: cannot run plugin " + missing},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			command := make([]string, len(tc.command))
			for i, c := range tc.command {
				command[i] = strconv.Quote(c)
			}
			sections := map[string]string{"inputs": "[[inputs.generate]]\n  count = 10\n", "processors": tc.also, "outputs": "[[outputs.stdout]]\n"}
			sections[tc.kind] = fmt.Sprintf("[[%s.external]]\n  command = [%s]\n  start_timeout = \"5s\"\n%s",
				tc.kind, strings.Join(command, ", "), strings.ReplaceAll(tc.config, "KIND", tc.kind))
			conf := writeConfig(t, sections["inputs"]+sections["processors"]+sections["outputs"])
			start := time.Now()
			r := runAgent(t, nil, "--config", conf)
			if r.code != 2 {
				t.Errorf("exit status %d, want 2", r.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q", w)
				}
			}
			if r.stdout != "" {
				t.Errorf("the pipeline ran: stdout %q", r.stdout)
			}
			if left := runningFrom(bins.dir); len(left) > 0 {
				t.Errorf("plugin processes left behind after the agent exited: %+v", left)
			}
			if t.Failed() {
				t.Logf("after %s, stderr:\n%s", time.Since(start).Round(time.Millisecond), r.stderr)
			}
		})
	}
}

// startWithPlugins starts the generate → currency → jsonfile pipeline,
// the output flushing every flush, and returns the agent and its two
// plugin processes once events have reached the output file.
func startWithPlugins(t *testing.T, addr, out, flush string) (a *runningAgent, cur, jf proc) {
	t.Helper()
	bins := plugins(t)
	a = startAgentWithLog(t, writeConfig(t, generatePipeline(bins, addr, out, flush)))
	var okCur, okJF bool
	if !waitFor(10*time.Second, func() bool {
		cur, okCur = child(a.pid(), "currency")
		jf, okJF = child(a.pid(), "jsonfile")
		return okCur && okJF && countLines(out) > 0 || a.exited()
	}) || a.exited() {
		t.Fatalf("within 10s: agent exited %v, currency child %v, jsonfile child %v, %d events written", a.exited(), okCur, okJF, countLines(out))
	}
	// What TestExternalPluginErrorsAtStart relies on to find a process
	// left behind: a plugin's command line starts with its path.
	if ps := runningFrom(bins.dir); len(ps) != 2 {
		t.Fatalf("processes running from %s: %+v, want the two plugins", bins.dir, ps)
	}
	return a, cur, jf
}

func states(ps ...proc) string {
	var s []string
	for _, p := range ps {
		if q, ok := readProc(p.pid); ok {
			s = append(s, fmt.Sprintf("%s pid %d state %c ppid %d", p.comm, p.pid, q.state, q.ppid))
		} else {
			s = append(s, fmt.Sprintf("%s pid %d gone", p.comm, p.pid))
		}
	}
	return strings.Join(s, "; ")
}

// TestAgentKill9TakesPluginsDown: plugins notice that the agent died, even
// by SIGKILL, and exit.
func TestAgentKill9TakesPluginsDown(t *testing.T) {
	a, cur, jf := startWithPlugins(t, freeAddr(t), filepath.Join(t.TempDir(), "out.jsonl"), "50ms")
	a.kill9(t)
	killed := time.Now()
	if !waitFor(2*time.Second, func() bool { return gone(cur.pid) && gone(jf.pid) }) {
		t.Fatalf("2s after the agent was killed, its plugins still run: %s", states(cur, jf))
	}
	t.Logf("plugins gone %s after the agent's SIGKILL", time.Since(killed).Round(10*time.Millisecond))
}

// TestCleanShutdownEndsPlugins: a stop signal stops the agent with status
// 0, after it has delivered every event through its plugins, and its
// plugins with it. A service manager (systemd's default
// KillMode=control-group) or a terminal's Ctrl-C signals the agent's
// plugins too, at the same time: they must keep working while the agent
// drains through them (the output holds up to a second of events then),
// until the agent stops them.
func TestCleanShutdownEndsPlugins(t *testing.T) {
	cases := []struct {
		name  string
		sig   syscall.Signal
		group bool // to the agent's process group, which its plugins are in
	}{
		{"SIGTERM to the agent", syscall.SIGTERM, false},
		{"SIGTERM to the process group", syscall.SIGTERM, true},
		{"SIGINT to the process group", syscall.SIGINT, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, addr := filepath.Join(t.TempDir(), "out.jsonl"), freeAddr(t)
			a, cur, jf := startWithPlugins(t, addr, out, "1s")
			// Signal while the output holds events for its next flush,
			// which the drain then writes through the plugins.
			var processed float64
			if !waitFor(5*time.Second, func() bool {
				processed, _ = metric(getMetrics(t, addr), "rowflux_processor_events_out_total", fxInstance)
				return processed >= float64(countLines(out)+20)
			}) {
				t.Fatalf("the output never held 20 events waiting for a flush: %v processed, %d in the file", processed, countLines(out))
			}
			target := a.pid()
			if tc.group {
				target = -a.pid() // startAgentWithLog makes it a group leader
			}
			if err := syscall.Kill(target, tc.sig); err != nil {
				t.Fatal(err)
			}
			if code := a.wait(t, 20*time.Second); code != 0 {
				t.Fatalf("exit status %d after %v, want 0", code, tc.sig)
			}
			if !gone(cur.pid) || !gone(jf.pid) {
				t.Logf("when the agent had exited: %s", states(cur, jf))
				if !waitFor(time.Second, func() bool { return gone(cur.pid) && gone(jf.pid) }) {
					t.Fatalf("1s after the agent exited, its plugins still run: %s", states(cur, jf))
				}
			}
			if a.logLine(`msg="agent stopped"`) == "" {
				t.Errorf("the agent's log lacks its last line, agent stopped")
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got := seqs(t, string(data))
			for i, v := range got {
				if v != int64(i+1) {
					t.Fatalf("event %d of %d in the output has seq %d: something was lost or repeated", i, len(got), v)
				}
			}
			if float64(len(got)) < processed {
				t.Errorf("the output holds %d events, fewer than the %v the processor had passed on before the signal", len(got), processed)
			}
			for _, w := range []string{`msg="external plugin crashed"`, `msg="external plugin restarted"`, "level=ERROR"} {
				if l := a.logLine(w); l != "" {
					t.Errorf("a plugin did not last until the agent stopped it:\n%s", l)
				}
			}
		})
	}
}
