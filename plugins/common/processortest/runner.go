package processortest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/rowflux/rowflux/sdk"
)

// clockSetter is implemented by processors that read processing time from an
// injectable clock.
type clockSetter interface {
	SetClock(now func() time.Time)
}

// output is one emitted event, rendered at the moment it was collected.
type output struct {
	text string
	cmd  *command // the command that produced it
}

// runner executes one script.
type runner struct {
	t    TB
	file string
	name string
	reg  sdk.Registration[sdk.Processor]

	cfg  *command // the config command, once seen
	proc sdk.Processor

	now      atomic.Int64 // processing time, ns since the epoch
	mu       sync.Mutex
	counters map[string]*sdk.Counter
	logOff   atomic.Bool

	out        []output
	lastExpect int // line of the last output expect, 0 if none
}

// scriptError is an error in the script itself or a failure that cannot be
// matched by "expect error"; it stops the script.
type scriptError struct{ msg string }

func (e *scriptError) Error() string { return e.msg }

func runScript(t TB, name, file, script string) {
	t.Helper()
	reg, ok := sdk.LookupProcessor(name)
	if !ok {
		t.Fatalf("processortest: %s: no processor registered as %q (import its package for the registration)", file, name)
		return
	}
	cmds, err := parseScript(file, script)
	if err != nil {
		t.Fatalf("processortest: %v", err)
		return
	}
	r := &runner{t: t, file: file, name: name, reg: reg, counters: map[string]*sdk.Counter{}}
	defer r.close()
	for i := 0; i < len(cmds); i++ {
		c := cmds[i]
		var next *command
		if i+1 < len(cmds) {
			next = cmds[i+1]
		}
		err := r.exec(c)
		var se *scriptError
		if errors.As(err, &se) {
			t.Fatalf("processortest: %s", se.msg)
			return
		}
		if !acceptsExpectError(c.kind) {
			if err != nil { // cannot happen: only actions return plain errors
				t.Fatalf("processortest: %s: %v", r.pos(c), err)
				return
			}
			continue
		}
		if next == nil || next.kind != cmdExpectError {
			if c.kind == cmdConfigError {
				t.Fatalf("processortest: %s: \"config error\" must be followed by expect error \"SUBSTRING\"", r.pos(c))
				return
			}
			if err != nil {
				t.Fatalf("processortest: %s: %s failed: %v", r.pos(c), c.text, err)
				return
			}
			continue
		}
		i++ // the expect error is consumed here
		switch {
		case err == nil:
			t.Errorf("processortest: %s: %s: want an error containing %q, got none", r.pos(next), c.text, next.substr)
			if c.kind == cmdConfigError {
				return // the instance is not what the script thinks it is
			}
		case !strings.Contains(err.Error(), next.substr):
			t.Errorf("processortest: %s: %s: want an error containing %q, got: %v", r.pos(next), c.text, next.substr, err)
		}
	}
	if len(r.out) > 0 {
		since := "the start"
		if r.lastExpect > 0 {
			since = fmt.Sprintf("the expect at line %d", r.lastExpect)
		}
		t.Errorf("processortest: %s: %d event(s) emitted since %s were not checked; state them with an expect block:\n%s",
			r.file, len(r.out), since, pasteBlock(r.out))
	}
}

// acceptsExpectError reports whether "expect error" may follow a command.
func acceptsExpectError(k cmdKind) bool {
	switch k {
	case cmdConfigError, cmdSend, cmdTick, cmdRestart, cmdFinish:
		return true
	}
	return false
}

func (r *runner) pos(c *command) string { return fmt.Sprintf("%s:%d", r.file, c.line) }

func (r *runner) fail(c *command, format string, args ...any) error {
	return &scriptError{msg: r.pos(c) + ": " + fmt.Sprintf(format, args...)}
}

// exec runs one command. A *scriptError stops the script; other errors are
// failures of the processor that "expect error" may match.
func (r *runner) exec(c *command) error {
	ctx := context.Background()
	if r.cfg == nil {
		switch c.kind {
		case cmdConfig, cmdConfigError, cmdExpectError:
		default:
			return r.fail(c, "%q before config: a script starts with config (or config error blocks)", c.text)
		}
	}
	switch c.kind {
	case cmdConfig:
		if r.cfg != nil {
			return r.fail(c, "second config (the first is at line %d); use one file per configuration", r.cfg.line)
		}
		r.cfg = c
		p, err := r.newInstance(c)
		if err != nil {
			return r.fail(c, "config: %v", err)
		}
		r.proc = p
		return nil

	case cmdConfigError:
		p, err := r.newInstance(c)
		if err == nil {
			r.closeProc(p)
		}
		return err

	case cmdSend:
		if c.hasAt {
			r.now.Store(int64(c.at))
		}
		batch := make(sdk.Batch, 0, len(c.body))
		for _, l := range c.body {
			ev, err := parseEvent(l.text)
			if err != nil {
				return &scriptError{msg: fmt.Sprintf("%s:%d: bad event %q: %v", r.file, l.line, l.text, err)}
			}
			batch = append(batch, ev)
		}
		out, err := r.proc.Process(ctx, batch)
		if err != nil {
			return err
		}
		r.collect(c, out)
		return nil

	case cmdTick:
		tk, ok := r.proc.(sdk.Ticker)
		if !ok {
			return r.fail(c, "tick: processor %q does not implement sdk.Ticker", r.name)
		}
		r.now.Store(int64(c.at))
		out, err := tk.Tick(ctx, epoch.Add(c.at))
		if err != nil {
			return err
		}
		r.collect(c, out)
		return nil

	case cmdRestart:
		st, ok := r.proc.(sdk.Stateful)
		if !ok {
			return r.fail(c, "restart: processor %q does not implement sdk.Stateful", r.name)
		}
		state, err := st.Snapshot()
		if err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		r.closeProc(r.proc)
		p, err := r.newInstance(r.cfg)
		if err != nil {
			return r.fail(c, "restart: config: %v", err)
		}
		r.proc = p
		if err := p.(sdk.Stateful).Restore(state); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		return nil

	case cmdFinish:
		f, ok := r.proc.(sdk.Finisher)
		if !ok {
			return r.fail(c, "finish: processor %q does not implement sdk.Finisher", r.name)
		}
		out, err := f.Finish(ctx)
		if err != nil {
			return err
		}
		r.collect(c, out)
		return nil

	case cmdExpect:
		want := make([]string, 0, len(c.body))
		for _, l := range c.body {
			ev, err := parseEvent(l.text)
			if err != nil {
				return &scriptError{msg: fmt.Sprintf("%s:%d: bad expected event %q: %v", r.file, l.line, l.text, err)}
			}
			want = append(want, render(&ev))
		}
		r.checkOutput(c, want)
		return nil

	case cmdExpectNone:
		r.checkOutput(c, nil)
		return nil

	case cmdExpectCounter:
		r.mu.Lock()
		ctr, ok := r.counters[c.counter]
		names := make([]string, 0, len(r.counters))
		for n := range r.counters {
			names = append(names, n)
		}
		r.mu.Unlock()
		if !ok {
			sort.Strings(names)
			r.t.Errorf("processortest: %s: counter %q was never created through Env.Counter (created: %s)",
				r.pos(c), c.counter, strings.Join(names, ", "))
			return nil
		}
		if got := ctr.Load(); got != c.value {
			r.t.Errorf("processortest: %s: counter %s = %d, want %d", r.pos(c), c.counter, got, c.value)
		}
		return nil

	case cmdExpectError:
		return r.fail(c, "expect error must directly follow config error, send, tick, restart or finish")
	}
	return r.fail(c, "unhandled command %q", c.text)
}

// newInstance creates, configures and initialises a processor from the body
// of a config command.
func (r *runner) newInstance(c *command) (sdk.Processor, error) {
	p := r.reg.New()
	if p == nil {
		return nil, &scriptError{msg: fmt.Sprintf("%s: registration of %q: New returned nil", r.pos(c), r.name)}
	}
	if cs, ok := p.(clockSetter); ok {
		cs.SetClock(r.clock)
	}
	md, err := toml.Decode(bodyText(c.body), p)
	if err != nil {
		r.closeProc(p)
		return nil, err
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		r.closeProc(p)
		return nil, fmt.Errorf("unknown configuration key(s): %s", strings.Join(keys, ", "))
	}
	if in, ok := p.(sdk.Initializer); ok {
		env := sdk.Env{Logger: r.logger(), Counter: r.counter, Test: false}
		if err := in.Init(env); err != nil {
			r.closeProc(p)
			return nil, err
		}
	}
	return p, nil
}

// clock returns the runner's processing time.
func (r *runner) clock() time.Time { return epoch.Add(time.Duration(r.now.Load())) }

// counter is the Env.Counter factory. Counters are kept by name for the whole
// script, so a restarted instance continues the same counters.
func (r *runner) counter(name, _ string) *sdk.Counter {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.counters[name]
	if !ok {
		c = new(sdk.Counter)
		r.counters[name] = c
	}
	return c
}

// logger returns a logger writing to the test log.
func (r *runner) logger() *slog.Logger {
	h := slog.NewTextHandler(logWriter{r}, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})
	return slog.New(h).With("plugin", "processors."+r.name)
}

type logWriter struct{ r *runner }

func (w logWriter) Write(p []byte) (int, error) {
	if !w.r.logOff.Load() {
		w.r.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// collect renders and keeps a processor's output.
func (r *runner) collect(c *command, b sdk.Batch) {
	for i := range b {
		if err := checkTags(&b[i]); err != nil {
			r.t.Errorf("processortest: %s: event %d emitted by %q: %v", r.pos(c), i, c.text, err)
		}
		r.out = append(r.out, output{text: render(&b[i]), cmd: c})
	}
}

// checkOutput compares and consumes the output collected since the last
// expect.
func (r *runner) checkOutput(c *command, want []string) {
	got := r.out
	r.out = nil
	r.lastExpect = c.line
	equal := len(got) == len(want)
	for i := 0; equal && i < len(want); i++ {
		equal = got[i].text == want[i]
	}
	if equal {
		return
	}
	r.t.Errorf("processortest: %s: output differs (-want +got):\n%s\ngot, ready to paste:\n%s",
		r.pos(c), diffLines(want, got), pasteBlock(got))
}

// close releases the processor and silences its logger.
func (r *runner) close() {
	if r.proc != nil {
		r.closeProc(r.proc)
		r.proc = nil
	}
	r.logOff.Store(true)
}

func (r *runner) closeProc(p sdk.Processor) {
	if cl, ok := p.(sdk.Closer); ok {
		if err := cl.Close(); err != nil {
			r.t.Errorf("processortest: %s: Close: %v", r.file, err)
		}
	}
}

func pasteBlock(out []output) string {
	if len(out) == 0 {
		return "expect none"
	}
	var b strings.Builder
	b.WriteString("expect")
	for _, o := range out {
		b.WriteString("\n  ")
		b.WriteString(o.text)
	}
	return b.String()
}

// diffLines renders a line diff of want against got (longest common
// subsequence); got lines name the command that emitted them.
func diffLines(want []string, got []output) string {
	n, m := len(want), len(got)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if want[i] == got[j].text {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var b strings.Builder
	plus := func(o output) {
		fmt.Fprintf(&b, "+ %s    (line %d: %s)\n", o.text, o.cmd.line, o.cmd.text)
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && want[i] == got[j].text:
			fmt.Fprintf(&b, "  %s\n", want[i])
			i++
			j++
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			fmt.Fprintf(&b, "- %s\n", want[i])
			i++
		default:
			plus(got[j])
			j++
		}
	}
	if n == 0 && m == 0 {
		return "(no difference)\n"
	}
	return strings.TrimRight(b.String(), "\n")
}
