//go:build faults && linux

// Fault scenario 4: the state directory. A full or read-only state_dir
// stops checkpointing, never delivery, and never releases source data for
// a checkpoint that was not written; a damaged state file stops the start
// with a message that names it and the way out.

package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rowflux/rowflux/agent/bench/verdict"
	"github.com/rowflux/rowflux/agent/checkpoint"
	"github.com/rowflux/rowflux/agent/faultreport"
	"github.com/rowflux/rowflux/agent/workload"
	"github.com/rowflux/rowflux/plugins/common/servicetest"
)

// stateFault is one way to make state_dir refuse writes, and its undoing.
type stateFault struct {
	name     string
	scenario string
	injected string
	oserr    string // what the operating system says, as the log must show it
	inject   func(t *testing.T, mnt string)
	restore  func(t *testing.T, mnt string)
}

var stateFaults = []stateFault{
	{
		name: "full", scenario: "state_dir full", oserr: "no space left on device",
		injected: "state_dir on a " + tmpfsSize + " tmpfs filled up by a filler file (ENOSPC), later deleted",
		inject:   fillUp, restore: func(t *testing.T, mnt string) {
			if err := os.Remove(filepath.Join(mnt, "filler")); err != nil {
				t.Fatal(err)
			}
		},
	},
	{
		name: "read-only", scenario: "state_dir read-only", oserr: "read-only file system",
		injected: "state_dir on a tmpfs remounted read-only (EROFS), later read-write",
		inject:   func(t *testing.T, mnt string) { remount(t, mnt, syscall.MS_RDONLY) },
		restore:  func(t *testing.T, mnt string) { remount(t, mnt, 0) },
	},
}

const tmpfsSize = "256k"

// mountTmpfs mounts a small tmpfs on a new directory of the test, so that
// the test can fill it or make it read-only without touching anything else.
func mountTmpfs(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		servicetest.Missing(t, "a tmpfs mount (root)", fmt.Sprintf("the tests run as uid %d", os.Geteuid()))
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size="+tmpfsSize); err != nil {
		servicetest.Missing(t, "a tmpfs mount (root)", fmt.Sprintf("mount -t tmpfs -o size=%s tmpfs %s: %v", tmpfsSize, mnt, err))
	}
	t.Cleanup(func() {
		// A process that outlived its test may hold it: detach instead.
		if err := syscall.Unmount(mnt, 0); err != nil {
			if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
				t.Errorf("umount -l %s: %v", mnt, err)
			}
		}
	})
	return mnt
}

// remount switches the tmpfs between read-only and read-write. A file open
// for writing makes the switch to read-only fail with EBUSY; the agent
// holds one only for the instant of a checkpoint write, so retry.
func remount(t *testing.T, mnt string, flags uintptr) {
	t.Helper()
	var err error
	for range 100 {
		if err = syscall.Mount("", mnt, "", syscall.MS_REMOUNT|flags, "size="+tmpfsSize); !errors.Is(err, syscall.EBUSY) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("remount %s (flags %#x): %v", mnt, flags, err)
	}
}

// fillUp writes a filler file until the file system has no block left.
func fillUp(t *testing.T, mnt string) {
	t.Helper()
	f, err := os.Create(filepath.Join(mnt, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", mnt, err)
			}
			return
		}
	}
}

// changelogState is what the trigger changelog holds: the sequence numbers
// present and the highest ever assigned. With AUTOINCREMENT a number up to
// that highest one that is not present was deleted (released).
type changelogState struct {
	present map[int64]bool
	highest int64
}

func readChangelog(t *testing.T, db string) changelogState {
	t.Helper()
	conn, err := sql.Open("sqlite", "file:"+db+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// One read transaction: both reads see the same snapshot.
	tx, err := conn.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	st := changelogState{present: map[int64]bool{}}
	rows, err := tx.Query("SELECT seq FROM rowflux_changelog")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		st.present[s] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if err := tx.QueryRow("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'rowflux_changelog'").Scan(&st.highest); err != nil {
		t.Fatal(err)
	}
	return st
}

// released lists the sequence numbers up to highest that are gone.
func (c changelogState) released() []int64 {
	var r []int64
	for s := int64(1); s <= c.highest; s++ {
		if !c.present[s] {
			r = append(r, s)
		}
	}
	return r
}

// ledgerSoFar reads the complete lines of a ledger that is still being
// written.
func ledgerSoFar(t *testing.T, path string) []workload.Entry {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	var es []workload.Entry
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var e workload.Entry
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("ledger %s: %v", path, err)
		}
		es = append(es, e)
	}
	return es
}

// holdsAll reports whether the agents' outputs hold every change of ledger.
func holdsAll(t *testing.T, ledger []workload.Entry, outs ...*syncBuffer) bool {
	t.Helper()
	got := map[version]bool{}
	for _, ev := range parseCaptured(t, outs...) {
		got[ev.version(t)] = true
	}
	for _, e := range ledger {
		if !got[version{e.Op, e.ID, e.UpdatedAt.UTC().Format(fixedNano)}] {
			return false
		}
	}
	return true
}

// gauge returns an unlabelled metric from a /metrics body.
func gauge(t *testing.T, body, name string) float64 {
	t.Helper()
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics lacks %s:\n%s", name, body)
	return 0
}

var logMsg = regexp.MustCompile(`\bmsg="([^"]*)"`)

// checkpointProblems returns the WARN and ERROR lines of a log that the
// checkpoint coordinator wrote (their message starts with "checkpoint"),
// and logs the others: a source's own trouble (a changelog delete that met
// a locked SQLite file) is not this scenario's to judge.
func checkpointProblems(t *testing.T, log []byte) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(string(log), "\n") {
		if !strings.Contains(l, "level=ERROR") && !strings.Contains(l, "level=WARN") {
			continue
		}
		if m := logMsg.FindStringSubmatch(l); m != nil && strings.HasPrefix(m[1], "checkpoint") {
			out = append(out, l)
		} else {
			t.Logf("not about checkpoints: %s", l)
		}
	}
	return out
}

var (
	checkpointAttr = regexp.MustCompile(`\bcheckpoint=(\d+)`)
	failingForAttr = regexp.MustCompile(`\bfailing_for=(\S+)`)
	failedAttr     = regexp.MustCompile(`\bfailed_checkpoints=(\d+)`)
)

func attrOf(t *testing.T, re *regexp.Regexp, line string) string {
	t.Helper()
	m := re.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no %s in %q", re, line)
	}
	return m[1]
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestFaultStateDir runs the capture of a SQLite workload (trigger
// strategy: changelog rows are deleted only after a durable checkpoint)
// while state_dir fills up or turns read-only, twice: the first outage
// ends while the agent runs, and the agent is killed after it; the second
// outage is still on when the agent is killed. Every committed change must
// arrive, no changelog row may be released for a checkpoint that failed,
// and each outage must be logged once, with its cause and its end.
func TestFaultStateDir(t *testing.T) {
	for _, f := range stateFaults {
		t.Run(f.name, func(t *testing.T) { runStateFault(t, f) })
	}
}

func runStateFault(t *testing.T, f stateFault) {
	began := time.Now()
	mnt := mountTmpfs(t)
	stateDir := filepath.Join(mnt, "state")
	cpFile := filepath.Join(stateDir, checkpoint.FileName)
	dir, db := newCapture(t)
	ledgerPath, addr := filepath.Join(dir, "ledger.jsonl"), freeAddr(t)
	conf := writeConfig(t, fmt.Sprintf(`
[agent]
  checkpoint_interval = "200ms"
  state_dir = %q
  http_listen = %q
[[inputs.sqlite]]
  path = %q
  strategy = "trigger"
  poll_interval = "100ms"
  [[inputs.sqlite.tables]]
    name = "transactions"
    key = ["transaction_id"]
    tags = ["currency"]
[[outputs.stdout]]
  format = "json"
  flush_interval = "50ms"
`, stateDir, addr, db))
	if r := runAgent(t, nil, "setup", "--config", conf); r.code != 0 {
		t.Fatalf("setup: %d %s", r.code, r.stderr)
	}
	// Until stopped: the changes go on through every phase. No long
	// transactions: SQLite runs one writer at a time, so they would only
	// keep the agent's changelog deletes waiting on the lock, which is the
	// source's matter, not state_dir's.
	wl := exec.Command(agentBin, "workload", "--dsn", "sqlite://"+db, "--rate", "150", "--duration", "0",
		"--writers", "2", "--ledger", ledgerPath)
	var wlErr syncBuffer
	wl.Stderr = &wlErr
	if err := wl.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wl.Process.Kill(); wl.Wait() })

	metrics := func() string { return getMetrics(t, addr) }
	checkpoints := func() float64 { return gauge(t, metrics(), "rowflux_checkpoints_total") }
	var agents []*runningAgent
	outs := func() []*syncBuffer {
		var o []*syncBuffer
		for _, a := range agents {
			o = append(o, &a.out)
		}
		return o
	}
	start := func() *runningAgent {
		a := startAgentWithLog(t, conf)
		agents = append(agents, a)
		if !waitFor(15*time.Second, func() bool { return a.logLine(`msg="agent started"`) != "" || a.exited() }) || a.exited() {
			t.Fatalf("agent %d did not start (exited: %v)", len(agents), a.exited())
		}
		return a
	}

	// outage injects the fault into a running agent and checks what must
	// hold while it lasts. It returns the checkpoint file as it was when the
	// outage began (the last durable one) and how many checkpoints failed.
	type outageFacts struct {
		file    []byte
		id      uint64
		failed  float64
		durable float64 // checkpoints_total when the outage began
		// deliveredDuring: changes committed during the outage (and
		// delivered during it); logLines: the checkpoint lines it logged.
		deliveredDuring, logLines int
		injected                  time.Time
		logOffset                 int
		before                    changelogState
		after                     changelogState
	}
	outage := func(a *runningAgent, hold time.Duration) outageFacts {
		t.Helper()
		before := gauge(t, metrics(), "rowflux_checkpoint_failures_total")
		off := len(a.log.Bytes())
		committedBefore := len(ledgerSoFar(t, ledgerPath))
		injected := time.Now()
		f.inject(t, mnt)
		var errLine string
		if !waitFor(10*time.Second, func() bool {
			errLine = lineWith(string(a.log.Bytes()[off:]), "level=ERROR", "checkpoint not written")
			return errLine != ""
		}) {
			t.Fatalf("within 10s of the fault, no ERROR line says a checkpoint was not written")
		}
		// The line gives the path and what the system said.
		for _, want := range []string{stateDir, f.oserr} {
			if !strings.Contains(errLine, want) {
				t.Errorf("the outage's log line does not say %q:\n%s", want, errLine)
			}
		}
		// Inputs heard of the last durable checkpoint before this failure,
		// so what the changelog holds now is what a restart needs.
		o := outageFacts{logOffset: off, before: readChangelog(t, db), durable: checkpoints(), injected: injected}
		var err error
		if o.file, err = os.ReadFile(cpFile); err != nil {
			t.Fatal(err)
		}
		st, err := checkpoint.Open(stateDir)
		if err != nil {
			t.Fatal(err)
		}
		prev, err := st.Load()
		if err != nil || prev == nil {
			t.Fatalf("the last durable checkpoint does not load during the outage: %v, %v", prev, err)
		}
		o.id = prev.ID

		// Delivery goes on: what is committed during the outage arrives
		// while checkpoints still fail.
		time.Sleep(hold - time.Since(injected))
		committed := ledgerSoFar(t, ledgerPath)
		o.deliveredDuring = len(committed) - committedBefore
		if o.deliveredDuring < 50 {
			t.Fatalf("only %d changes committed in the %s of the outage", o.deliveredDuring, hold)
		}
		if !waitFor(15*time.Second, func() bool { return holdsAll(t, committed, outs()...) }) {
			t.Fatalf("the %d changes committed in the first %s of the outage did not arrive while it lasted", len(committed), hold)
		}
		if a.exited() {
			t.Fatalf("the agent exited during the outage: %v", a.err)
		}
		body := metrics()
		age := gauge(t, body, "rowflux_checkpoint_age_seconds")
		o.failed = gauge(t, body, "rowflux_checkpoint_failures_total") - before
		if age < time.Since(injected).Seconds()-0.5 || age < hold.Seconds()/2 || o.failed < 3 {
			t.Errorf("during a %s outage /metrics says checkpoint age %.2fs and %v more failures", hold, age, o.failed)
		}
		if n := gauge(t, body, "rowflux_checkpoints_total"); n != o.durable {
			t.Errorf("%v checkpoints completed during the outage", n-o.durable)
		}

		// No changelog row went, though the rows since were delivered.
		o.after = readChangelog(t, db)
		if got, want := o.after.released(), o.before.released(); !slices.Equal(got, want) {
			t.Errorf("changelog rows were deleted during the outage: %d released before, %d after", len(want), len(got))
		}
		if len(o.after.present) <= len(o.before.present) {
			t.Errorf("the changelog did not grow during the outage (%d rows, then %d)", len(o.before.present), len(o.after.present))
		}
		// The last durable checkpoint is untouched, and nothing is beside it.
		now, err := os.ReadFile(cpFile)
		if err != nil || !bytes.Equal(now, o.file) {
			t.Errorf("the checkpoint file changed during the outage (%v)", err)
		}
		if names := dirNames(t, stateDir); !slices.Equal(names, []string{checkpoint.FileName}) {
			t.Errorf("state_dir holds %v during the outage, want only %s", names, checkpoint.FileName)
		}
		// Said once, not once per checkpoint_interval.
		p := checkpointProblems(t, a.log.Bytes()[off:])
		o.logLines = len(p)
		if len(p) != 1 {
			t.Errorf("%d WARN/ERROR lines during an outage of %v failed checkpoints, want 1:\n%s", len(p), o.failed, strings.Join(p, "\n"))
		}
		return o
	}

	restoredFrom := func(a *runningAgent) uint64 {
		t.Helper()
		var line string
		if !waitFor(10*time.Second, func() bool { line = a.logLine(`msg="restored checkpoint"`); return line != "" }) {
			t.Fatalf("the restarted agent did not say which checkpoint it restored")
		}
		id, _ := strconv.ParseUint(attrOf(t, checkpointAttr, line), 10, 64)
		return id
	}

	// Warm up: checkpoints are being written and released.
	a1 := start()
	if !waitFor(15*time.Second, func() bool { return checkpoints() >= 3 && a1.out.Len() > 0 }) {
		t.Fatalf("no checkpoints or no output within 15s")
	}

	// Outage 1, ended while the agent runs.
	o1 := outage(a1, 1500*time.Millisecond)
	okOff := len(a1.log.Bytes())
	f.restore(t, mnt)
	var okLine string
	if !waitFor(10*time.Second, func() bool {
		okLine = lineWith(string(a1.log.Bytes()[okOff:]), "level=INFO", "checkpoint written again")
		return okLine != ""
	}) {
		t.Fatalf("within 10s of the fault's end, no line says checkpoints are written again")
	}
	failingFor1 := attrOf(t, failingForAttr, okLine)
	failed1, _ := strconv.Atoi(attrOf(t, failedAttr, okLine))
	if float64(failed1) < o1.failed {
		t.Errorf("the recovery line counts %d failed checkpoints, /metrics counted %v by mid-outage", failed1, o1.failed)
	}
	recoveredID, _ := strconv.ParseUint(attrOf(t, checkpointAttr, okLine), 10, 64)
	if age := gauge(t, metrics(), "rowflux_checkpoint_age_seconds"); age > 1 {
		t.Errorf("checkpoint age %.2fs after recovery", age)
	}
	// The rows kept during the outage are released once a checkpoint is durable.
	if !waitFor(20*time.Second, func() bool {
		now := readChangelog(t, db)
		for s := range o1.after.present {
			if now.present[s] {
				return false
			}
		}
		return true
	}) {
		t.Errorf("the %d changelog rows kept during the outage were not released within 20s after it", len(o1.after.present))
	}
	if p := checkpointProblems(t, a1.log.Bytes()[o1.logOffset:]); len(p) != 1 {
		t.Errorf("%d WARN/ERROR lines from the outage's start to after its end, want 1:\n%s", len(p), strings.Join(p, "\n"))
	}

	// kill -9 after the recovery: the restart resumes from a checkpoint
	// written after it.
	a1.kill9(t)
	a2 := start()
	if id := restoredFrom(a2); id < recoveredID {
		t.Errorf("restarted from checkpoint %d, older than %d written at the recovery", id, recoveredID)
	}
	if !waitFor(10*time.Second, func() bool { return checkpoints() >= 2 }) {
		t.Fatalf("the restarted agent wrote no checkpoint within 10s")
	}

	// Outage 2, with the agent killed while it lasts.
	o2 := outage(a2, time.Second)
	a2.kill9(t)
	killedAfter := time.Since(o2.injected)
	if now, err := os.ReadFile(cpFile); err != nil || !bytes.Equal(now, o2.file) {
		t.Errorf("the checkpoint file changed when the agent was killed during the outage (%v)", err)
	}
	if names := dirNames(t, stateDir); !slices.Equal(names, []string{checkpoint.FileName}) {
		t.Errorf("state_dir holds %v after the kill, want only %s", names, checkpoint.FileName)
	}
	f.restore(t, mnt)
	a3 := start()
	if id := restoredFrom(a3); id != o2.id {
		t.Errorf("restarted from checkpoint %d, want %d, the last durable one before the outage", id, o2.id)
	}

	// The end: every committed change delivered, the changelog released.
	wl.Process.Signal(syscall.SIGTERM)
	if err := wl.Wait(); err != nil {
		t.Fatalf("workload: %v\n%s", err, wlErr.Bytes())
	}
	ledger, err := workload.ReadLedger(ledgerPath)
	if err != nil {
		t.Fatal(err)
	}
	if !waitFor(20*time.Second, func() bool { return holdsAll(t, ledger, outs()...) }) {
		t.Errorf("the outputs did not hold every change of the ledger within 20s of the workload's end")
	}
	if code := a3.stop(t); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
	if left := readChangelog(t, db); len(left.present) != 0 {
		t.Errorf("%d changelog rows left after a clean stop", len(left.present))
	}
	events := parseCaptured(t, outs()...)
	r := verdict.Compare(verdict.Changelog, ledger, verdictEvents(t, events))
	faultreport.Record(t, faultreport.Row{
		Scenario: f.scenario,
		Injected: f.injected + ", twice, under SQLite trigger capture at 150 tx/s (2 writers): outage 1 ends while the agent runs, then kill -9; kill -9 during outage 2",
		Ledger:   len(ledger), Delivered: len(events), Missed: r.Missed, Duplicates: r.Duplicates,
		Notes: fmt.Sprintf("outage 1: %d checkpoints failed over %s, %d log line(s), %d changes committed and delivered during it, %d changelog rows held then released; "+
			"outage 2: kill -9 after %s (%v failed checkpoints, %d log line(s), %d changes delivered), restart from checkpoint %d, the last durable one; %s in all",
			failed1, failingFor1, o1.logLines, o1.deliveredDuring, len(o1.after.present),
			killedAfter.Round(100*time.Millisecond), o2.failed, o2.logLines, o2.deliveredDuring, o2.id, time.Since(began).Round(100*time.Millisecond)),
	})
	checkChangelog(t, ledger, events)
}

// TestFaultStateFileDamaged damages a checkpoint the agent wrote, in each
// way below: the start fails with status 1 and one message naming the
// file, what is wrong and --reset-state, leaves the file as it was, and
// --reset-state then runs every input from its configured beginning.
func TestFaultStateFileDamaged(t *testing.T) {
	began := time.Now()
	const count = 40
	state := t.TempDir()
	cpFile := filepath.Join(state, checkpoint.FileName)
	conf := writeConfig(t, fmt.Sprintf(`
[agent]
  checkpoint_interval = "100ms"
  state_dir = %q
[[inputs.generate]]
  rate = 0.0
  count = %d
[[outputs.stdout]]
  format = "json"
  flush_interval = "50ms"
`, state, count))
	r := runAgent(t, nil, "--config", conf)
	if r.code != 0 || len(seqs(t, r.stdout)) != count {
		t.Fatalf("first run: exit %d, %d events\n%s", r.code, len(seqs(t, r.stdout)), r.stderr)
	}
	// A resumed run starts after the last event: nothing to deliver.
	if r := runAgent(t, nil, "--config", conf); r.code != 0 || r.stdout != "" {
		t.Fatalf("a resumed run: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	good, err := os.ReadFile(cpFile)
	if err != nil {
		t.Fatal(err)
	}

	// at returns the offset of the first byte after marker in good.
	at := func(marker string) int {
		i := bytes.Index(good, []byte(marker))
		if i < 0 {
			t.Fatalf("the checkpoint lacks %q: %s", marker, good)
		}
		return i + len(marker)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x01
		return b
	}
	otherVersion := bytes.Replace(good, []byte(`"version":1,`), []byte(`"version":2,`), 1)
	garbage := make([]byte, 600)
	rng := rand.New(rand.NewPCG(4, 4))
	for i := range garbage {
		garbage[i] = byte(rng.UintN(256))
	}
	cases := []struct {
		name   string
		data   []byte // the file's content; nil with dir
		dir    bool   // a directory in the file's place
		reason string
	}{
		{name: "truncated to 0 bytes", data: []byte{}, reason: "not a valid checkpoint: unexpected end of JSON input"},
		{name: "truncated to 1 byte", data: good[:1], reason: "not a valid checkpoint: unexpected end of JSON input"},
		{name: "truncated to half", data: good[:len(good)/2], reason: "not a valid checkpoint: unexpected end of JSON input"},
		// The last byte is the newline after the document, which a
		// checkpoint does not need (checkpoint's own tests load it).
		{name: "truncated by its closing brace", data: good[:len(good)-2], reason: "not a valid checkpoint: unexpected end of JSON input"},
		{name: "flipped byte in the payload", data: flip(at(`"inputs.generate":"`)), reason: "checksum mismatch"},
		{name: "flipped byte in the checksum", data: flip(at(`"sha256":"`) + 10), reason: "checksum mismatch"},
		{name: "flipped byte in the header", data: flip(at(`"format":"`)), reason: `unknown format "sowflux-checkpoint"`},
		{name: "another version, checksum valid", data: otherVersion, reason: "state version 2, this agent reads version 1"},
		{name: "garbage", data: garbage, reason: "not a valid checkpoint: invalid character"},
		{name: "a directory", dir: true, reason: "it is a directory, not a file"},
	}
	var delivered, lost, repeated int
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.RemoveAll(cpFile); err != nil {
				t.Fatal(err)
			}
			if tc.dir {
				if err := os.Mkdir(cpFile, 0o700); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(cpFile, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			before := dirNames(t, state)
			r := runAgent(t, nil, "--config", conf)
			if r.code != 1 {
				t.Errorf("exit status %d, want 1", r.code)
			}
			msg := lineWith(r.stderr, "agent: checkpoint file "+cpFile)
			for _, want := range []string{cpFile, tc.reason, "--reset-state"} {
				if !strings.Contains(msg, want) {
					t.Errorf("no line of stderr says all of the file, %q and --reset-state (missing %q)", tc.reason, want)
				}
			}
			for _, trace := range []string{"goroutine ", "panic", ".go:"} {
				if strings.Contains(r.stderr, trace) {
					t.Errorf("stderr holds a stack trace (%q)", trace)
				}
			}
			if r.stdout != "" {
				t.Errorf("the pipeline ran: stdout %.200q", r.stdout)
			}
			if tc.dir {
				if fi, err := os.Stat(cpFile); err != nil || !fi.IsDir() {
					t.Errorf("the directory in the file's place is gone after the failed start (%v)", err)
				}
			} else if now, err := os.ReadFile(cpFile); err != nil || !bytes.Equal(now, tc.data) {
				t.Errorf("the damaged file was changed or removed by the failed start (%v)", err)
			}
			if after := dirNames(t, state); !slices.Equal(after, before) {
				t.Errorf("state_dir held %v before the failed start, %v after", before, after)
			}
			if t.Failed() {
				t.Logf("stderr:\n%s", r.stderr)
			}

			r = runAgent(t, nil, "--config", conf, "--reset-state")
			got := seqs(t, r.stdout)
			seen := map[int64]int{}
			for _, v := range got {
				seen[v]++
			}
			missed, dups := 0, len(got)-len(seen)
			for v := int64(1); v <= count; v++ {
				if seen[v] == 0 {
					missed++
				}
			}
			delivered, lost, repeated = delivered+len(got), lost+missed, repeated+dups
			if r.code != 0 || missed > 0 || dups > 0 || len(got) != count {
				t.Fatalf("--reset-state: exit %d, %d events, %d of 1..%d missed, %d repeated\n%s", r.code, len(got), missed, count, dups, r.stderr)
			}
			st, err := checkpoint.Open(state)
			if err != nil {
				t.Fatal(err)
			}
			if cp, err := st.Load(); err != nil || string(cp.Inputs["inputs.generate"]) != fmt.Sprintf(`{"next":%d}`, count+1) {
				t.Fatalf("after --reset-state the checkpoint is %+v, %v", cp, err)
			}
		})
	}
	faultreport.Record(t, faultreport.Row{
		Scenario: "state file damaged",
		Injected: fmt.Sprintf("%d damaged checkpoint files (truncated at 0, 1, half, all but the closing brace; a flipped byte in payload, checksum and header; another version; garbage; a directory)", len(cases)),
		Ledger:   len(cases) * count, Delivered: delivered, Missed: lost, Duplicates: repeated,
		Notes: fmt.Sprintf("every damaged start: exit 1, the file, the reason and --reset-state named, the file untouched; every --reset-state run delivered 1..%d from the configured beginning; %s in all",
			count, time.Since(began).Round(100*time.Millisecond)),
	})
}
