package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rowflux/rowflux/agent/bench/verdict"
)

// agentCommand runs a one-shot agent subcommand (setup, teardown) and
// returns its output in the error when it fails.
func agentCommand(ctx context.Context, bin string, args ...string) error {
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("agent %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// agentProc is a running `agent --config` whose stdout (JSON lines from
// outputs.stdout) is read as it comes, each line stamped with its arrival.
type agentProc struct {
	cmd    *exec.Cmd
	stderr tail
	eof    chan struct{} // closed when stdout ends: the agent exited

	mu       sync.Mutex
	events   []verdict.Event
	lines    int       // every line read, events or not
	last     time.Time // arrival of the last line
	badLines int       // lines that were not an event with transaction_id and updated_at
	readErr  error
}

func startAgent(bin, conf string) (*agentProc, error) {
	a := &agentProc{cmd: exec.Command(bin, "--config", conf), eof: make(chan struct{})}
	a.cmd.Stderr = &a.stderr
	out, err := a.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("agent stdout: %w", err)
	}
	if err := a.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start agent: %w", err)
	}
	a.last = time.Now()
	go a.read(out)
	return a, nil
}

// stdoutEvent is the part of outputs.stdout's JSON the bench needs.
type stdoutEvent struct {
	Op     string `json:"op"`
	Fields struct {
		ID        *int64 `json:"transaction_id"`
		UpdatedAt string `json:"updated_at"`
	} `json:"fields"`
}

func (a *agentProc) read(r io.Reader) {
	defer close(a.eof)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		// Stamped before parsing, so that parsing is not part of the
		// measured capture latency.
		arrived := time.Now()
		var e stdoutEvent
		err := json.Unmarshal(sc.Bytes(), &e)
		var upd time.Time
		if err == nil && e.Fields.ID != nil {
			upd, err = time.Parse(time.RFC3339Nano, e.Fields.UpdatedAt)
		}
		a.mu.Lock()
		a.lines++
		a.last = arrived
		if err != nil || e.Fields.ID == nil {
			a.badLines++
		} else {
			a.events = append(a.events, verdict.Event{Op: e.Op, ID: *e.Fields.ID, UpdatedAt: upd, Arrived: arrived})
		}
		a.mu.Unlock()
	}
	a.mu.Lock()
	a.readErr = sc.Err()
	a.mu.Unlock()
}

// waitQuiet returns true once no line has arrived for quiet, false when
// limit passed first. It fails when the agent exits on its own.
func (a *agentProc) waitQuiet(ctx context.Context, quiet, limit time.Duration) (bool, error) {
	// Quiet is counted from the later of the last line and the start of
	// the wait (the workload's end): a strategy that printed nothing for a
	// while before the end (held back by a long transaction, or a low
	// rate) still gets a whole quiet spell to deliver the last changes.
	start := time.Now()
	deadline := start.Add(limit)
	tick := time.NewTicker(min(quiet/4, 100*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-a.eof:
			return false, fmt.Errorf("agent exited before it was stopped: %s", a.stderr.String())
		case now := <-tick.C:
			a.mu.Lock()
			last := a.last
			a.mu.Unlock()
			if last.Before(start) {
				last = start
			}
			if now.Sub(last) >= quiet {
				return true, nil
			}
			if now.After(deadline) {
				return false, nil
			}
		}
	}
}

// stopTimeout bounds a clean shutdown; the agent's own shutdown_timeout
// (30s) is longer, but a bench phase that takes this long is broken.
const stopTimeout = 20 * time.Second

// stop sends SIGTERM, reads the rest of stdout, waits for the exit and
// returns the process's resource use.
func (a *agentProc) stop() (Usage, error) {
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return Usage{}, fmt.Errorf("stop agent: %w", err)
	}
	select {
	case <-a.eof:
	case <-time.After(stopTimeout):
		a.cmd.Process.Kill()
		<-a.eof
	}
	// Wait only after stdout is drained: it closes the pipe.
	werr := a.cmd.Wait()
	var u Usage
	if ru, ok := a.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		u.CPUSeconds = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		u.PeakRSSBytes = ru.Maxrss * 1024 // Linux reports kilobytes
	}
	if werr != nil {
		return u, fmt.Errorf("agent did not stop cleanly: %w: %s", werr, a.stderr.String())
	}
	if a.readErr != nil {
		return u, fmt.Errorf("read agent output: %w", a.readErr)
	}
	return u, nil
}

// kill ends the agent when a phase is abandoned.
func (a *agentProc) kill() {
	if a.cmd.ProcessState == nil {
		a.cmd.Process.Kill()
		<-a.eof
		a.cmd.Wait()
	}
}

// tail keeps the last tailSize bytes written to it: enough of the agent's
// stderr to say why it failed, without holding a debug log in memory.
type tail struct {
	mu sync.Mutex
	b  []byte
}

const tailSize = 4 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > tailSize {
		t.b = t.b[len(t.b)-tailSize:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.b))
}
