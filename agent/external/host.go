// Package external runs plugins that live in their own binaries: the
// agent's side of sdk/plugin. [[inputs.external]], [[processors.external]]
// and [[outputs.external]] start the binary named by command, hand it the
// instance's config table, and then stand in the pipeline for the plugin,
// forwarding batches, checkpoint positions and state over gRPC, restarting
// the process when it dies.
package external

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rowflux/rowflux/sdk"
	"github.com/rowflux/rowflux/sdk/plugin"
	"github.com/rowflux/rowflux/sdk/plugin/pluginv1"
)

// settings are the keys every external plugin instance has.
type settings struct {
	Command            []string       `toml:"command"`
	Env                []string       `toml:"env"`
	Config             map[string]any `toml:"config"`
	StartTimeout       sdk.Duration   `toml:"start_timeout"`
	RestartMaxInterval sdk.Duration   `toml:"restart_max_interval"`
	CallTimeout        sdk.Duration   `toml:"call_timeout"`
}

func defaultSettings() settings {
	return settings{
		StartTimeout:       sdk.Duration(10 * time.Second),
		RestartMaxInterval: sdk.Duration(30 * time.Second),
		CallTimeout:        sdk.Duration(time.Minute),
	}
}

var envKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

func (s *settings) validate() error {
	if len(s.Command) == 0 || s.Command[0] == "" {
		return errors.New(`command: required: the plugin binary and its arguments, e.g. command = ["/usr/local/bin/rowflux-currency"]`)
	}
	for i, e := range s.Env {
		if !envKey.MatchString(e) {
			// The entry may hold a secret: show only a name before '='.
			if name, _, found := strings.Cut(e, "="); found {
				return fmt.Errorf("env[%d]: must be \"NAME=VALUE\" with NAME made of letters, digits and '_', got %q=…", i, name)
			}
			return fmt.Errorf("env[%d]: must be \"NAME=VALUE\" (no '=' found; the entry is not shown, it may be a secret)", i)
		}
	}
	if s.StartTimeout <= 0 {
		return errors.New("start_timeout: must be positive")
	}
	if s.RestartMaxInterval <= 0 {
		return errors.New("restart_max_interval: must be positive")
	}
	if s.CallTimeout <= 0 {
		return errors.New("call_timeout: must be positive")
	}
	return nil
}

// host manages the plugin process of one instance: start, handshake,
// Configure, crash diagnosis and restart with backoff.
type host struct {
	settings
	kind sdk.Kind
	log  *slog.Logger
	env  sdk.Env
	name string // the command's base name, for messages

	configTOML string
	caps       *pluginv1.ConfigureResponse
	counters   []*sdk.Counter

	backoff backoff

	mu   sync.Mutex
	proc *process
}

// process is one run of the plugin binary.
type process struct {
	client *goplugin.Client
	cmd    *exec.Cmd
	stderr *tail
	rpc    any // the dispensed pluginv1 client
	// seen is the last value of each counter this process reported; a new
	// process counts from zero again, and the agent's counters keep going.
	seen []int64
}

func (h *host) init(kind sdk.Kind, env sdk.Env) error {
	h.kind, h.env = kind, env
	h.log = env.Logger
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if err := h.settings.validate(); err != nil {
		return err
	}
	h.name = filepath.Base(h.Command[0])
	if len(h.Config) > 0 {
		var buf bytes.Buffer
		if err := toml.NewEncoder(&buf).Encode(h.Config); err != nil {
			return fmt.Errorf("config: cannot encode the table for the plugin: %w", err)
		}
		h.configTOML = buf.String()
	}
	h.backoff = backoff{min: 250 * time.Millisecond, max: time.Duration(h.RestartMaxInterval)}
	p, err := h.start(context.Background())
	if err != nil {
		return err
	}
	h.setProc(p)
	for _, c := range h.caps.Counters {
		if env.Counter != nil {
			h.counters = append(h.counters, env.Counter(c.Name, c.Help))
		} else {
			h.counters = append(h.counters, &sdk.Counter{})
		}
	}
	h.log.Info("external plugin started", "plugin", h.name, "registered_as", h.caps.PluginName, "pid", p.pid())
	return nil
}

func (p *process) pid() int {
	if p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

func (h *host) current() *process {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.proc
}

func (h *host) setProc(p *process) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.proc = p
}

// start runs the binary, completes the handshake and configures the plugin.
// Its errors say what went wrong in terms of what the user can change.
func (h *host) start(ctx context.Context) (*process, error) {
	// start_timeout covers the whole start: handshake and Configure.
	ctx, cancel := context.WithTimeout(ctx, time.Duration(h.StartTimeout))
	defer cancel()
	cmd := exec.Command(h.Command[0], h.Command[1:]...)
	// The instance's env comes after the agent's, so it wins.
	cmd.Env = append(os.Environ(), h.Env...)
	p := &process{cmd: cmd, stderr: newTail()}
	out := &lineWriter{emit: func(l string) { h.log.Info(l, "plugin", h.name, "stream", "stdout") }}
	errw := &lineWriter{emit: func(l string) { h.log.Warn(l, "plugin", h.name, "stream", "stderr") }}
	p.client = goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  plugin.Handshake,
		Plugins:          plugin.HostPlugins(),
		Cmd:              cmd,
		SkipHostEnv:      true,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           newHCLogger(h.log.With("plugin", h.name)),
		Stderr:           p.stderr,
		SyncStdout:       out,
		SyncStderr:       errw,
		StartTimeout:     time.Duration(h.StartTimeout),
		GRPCDialOptions:  plugin.DialOptions(),
	})
	rpc, err := p.client.Client()
	if err != nil {
		p.kill()
		return nil, h.startError(err, p)
	}
	raw, err := rpc.Dispense(plugin.KindName(h.kind))
	if err != nil {
		p.kill()
		return nil, fmt.Errorf("plugin %s: %w", h.Command[0], err)
	}
	p.rpc = raw
	caps, err := h.configure(ctx, p)
	if err != nil {
		p.kill()
		return nil, err
	}
	if h.caps == nil {
		h.caps = caps
	}
	return p, nil
}

func (h *host) configure(ctx context.Context, p *process) (*pluginv1.ConfigureResponse, error) {
	req := &pluginv1.ConfigureRequest{ConfigToml: h.configTOML, Test: h.env.Test, LogLevel: levelName(h.log)}
	var resp *pluginv1.ConfigureResponse
	var err error
	switch c := p.rpc.(type) {
	case pluginv1.InputClient:
		resp, err = c.Configure(ctx, req)
	case pluginv1.ProcessorClient:
		resp, err = c.Configure(ctx, req)
	case pluginv1.OutputClient:
		resp, err = c.Configure(ctx, req)
	}
	if err == nil {
		return resp, nil
	}
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.InvalidArgument:
		// The plugin rejected its configuration: its words, after its name.
		return nil, &configError{msg: h.name + ": " + st.Message()}
	case codes.Unimplemented:
		return nil, fmt.Errorf("plugin %s does not serve %s (%s): declare it in the section of the kind it serves, or check that its main calls plugin.Serve%s",
			h.Command[0], an(plugin.KindName(h.kind)), st.Message(), title(plugin.KindName(h.kind)))
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("plugin %s did not accept its configuration within start_timeout (%s): raise start_timeout if its Init is slow",
			h.Command[0], time.Duration(h.StartTimeout))
	}
	return nil, fmt.Errorf("plugin %s: configure: %s%s", h.Command[0], st.Message(), p.exitDetail(true))
}

// configError is a configuration the plugin refused; restarting cannot
// help.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func an(s string) string {
	if strings.ContainsRune("aeiou", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}

func title(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

var (
	versionRE      = regexp.MustCompile(`Plugin version: (\d+), Client versions: \[([\d ]*)\]`)
	unrecognisedRE = regexp.MustCompile(`(?s)Unrecognized remote plugin message: (.*?)(?:\n|$)`)
)

// startError explains a failed start or handshake.
func (h *host) startError(err error, p *process) error {
	cmd := h.Command[0]
	msg := err.Error()
	var pathErr *fs.PathError
	var execErr *exec.Error
	switch {
	case errors.As(err, &pathErr), errors.As(err, &execErr):
		// exec could not start the binary: no process, nothing to add.
		return fmt.Errorf("cannot run plugin %s: %v", cmd, err)
	case versionRE.MatchString(msg):
		m := versionRE.FindStringSubmatch(msg)
		return fmt.Errorf("plugin %s speaks rowflux plugin protocol %s, this agent speaks %d: rebuild the plugin against the github.com/rowflux/rowflux/sdk of this agent's version, or run an agent that speaks protocol %s",
			cmd, m[1], plugin.ProtocolVersion, m[1])
	case strings.Contains(msg, "unsupported plugin protocol"):
		return fmt.Errorf("plugin %s does not speak gRPC (%s): rowflux plugins are served with github.com/rowflux/rowflux/sdk/plugin", cmd, msg)
	case strings.Contains(msg, "incompatible core API version"):
		return fmt.Errorf("plugin %s was built with an incompatible hashicorp/go-plugin (%s): rebuild it against the sdk of this agent's version", cmd, firstLine(msg))
	case unrecognisedRE.MatchString(msg) && strings.TrimSpace(unrecognisedRE.FindStringSubmatch(msg)[1]) != "":
		first := strings.TrimSpace(unrecognisedRE.FindStringSubmatch(msg)[1])
		return fmt.Errorf("plugin %s broke the handshake: its first line on stdout was %q, not the go-plugin handshake line%s: is it a rowflux plugin whose main calls plugin.Serve%s, and does it print nothing to stdout before that?",
			cmd, first, p.exitDetail(false), title(plugin.KindName(h.kind)))
	case strings.Contains(msg, "exited before we could connect"), unrecognisedRE.MatchString(msg):
		return fmt.Errorf("plugin %s exited during the handshake%s: is it a rowflux plugin whose main calls plugin.Serve%s?",
			cmd, p.exitDetail(true), title(plugin.KindName(h.kind)))
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		return fmt.Errorf("plugin %s did not complete the handshake within start_timeout (%s)%s: raise start_timeout if it is slow to start",
			cmd, time.Duration(h.StartTimeout), p.exitDetail(false))
	}
	return fmt.Errorf("plugin %s: %v%s", cmd, firstLine(msg), p.exitDetail(true))
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// exitDetail describes how the process ended (when status is set: after a
// failed handshake go-plugin kills the process itself, so its status says
// nothing) and what it last wrote to stderr, as far as known.
func (p *process) exitDetail(status bool) string {
	var parts []string
	if status {
		if st := p.exitStatus(2 * time.Second); st != "" {
			parts = append(parts, st)
		}
	}
	if t := p.stderr.String(); t != "" {
		parts = append(parts, "last stderr lines:\n"+t)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// exitStatus waits up to wait for the process to have exited and returns
// how it ended ("exit status 2", "signal: killed"), or "" if it still runs.
func (p *process) exitStatus(wait time.Duration) string {
	if p.client == nil || p.cmd.Process == nil {
		return ""
	}
	deadline := time.Now().Add(wait)
	for !p.client.Exited() {
		if time.Now().After(deadline) {
			return ""
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Exited is set after Wait filled in ProcessState, under go-plugin's
	// lock, so reading it now does not race.
	if p.cmd.ProcessState == nil {
		return ""
	}
	return p.cmd.ProcessState.String()
}

// kill ends the process: gracefully through go-plugin (the plugin's Close
// has already been called) and by force after two seconds.
func (p *process) kill() {
	if p.client != nil {
		p.client.Kill()
	}
}

// lost reports whether err means the process is gone or its connection
// broke, as opposed to the plugin returning an error.
func lost(p *process, err error) bool {
	if err == nil {
		return false
	}
	if status.Code(err) == codes.Unavailable {
		return true
	}
	return p != nil && p.client.Exited()
}

// expired reports whether err comes from ctx ending. The plugin learns
// the call's deadline too and may cancel the call a moment before the
// agent's own timer fires, so a cancelled call waits briefly for ctx.
func expired(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return true
	}
	if c := status.Code(err); c != codes.Canceled && c != codes.DeadlineExceeded {
		return false
	}
	if _, ok := ctx.Deadline(); !ok {
		return false
	}
	select {
	case <-ctx.Done():
		return true
	case <-time.After(100 * time.Millisecond):
		return false
	}
}

// crashed logs why the current process died and ends it for good.
func (h *host) crashed(p *process, err error) string {
	p.kill()
	reason := p.exitStatus(2 * time.Second)
	if reason == "" {
		reason = status.Convert(err).Message()
	}
	h.log.Error("external plugin crashed", "plugin", h.name, "pid", p.pid(), "reason", reason, "stderr", p.stderr.String())
	return reason
}

// restart starts a new process after a crash, with backoff, until one
// starts and resume succeeds or ctx ends. A configuration the plugin
// refuses ends the attempts.
func (h *host) restart(ctx context.Context, resume func(context.Context, *process) error) error {
	for {
		d := h.backoff.next()
		h.log.Info("restarting external plugin", "plugin", h.name, "in", d)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
		p, err := h.start(ctx)
		if err == nil && resume != nil {
			if err = resume(ctx, p); err != nil && !lost(p, err) {
				p.kill()
				return err
			}
			if err != nil {
				h.crashed(p, err)
				continue
			}
		}
		if err != nil {
			var ce *configError
			if errors.As(err, &ce) {
				return err
			}
			h.log.Error("external plugin restart failed", "plugin", h.name, "error", err)
			continue
		}
		h.setProc(p)
		h.log.Info("external plugin restarted", "plugin", h.name, "pid", p.pid())
		return nil
	}
}

// rebase takes the counts of a reply to a replayed call as the new
// baseline: replayed work was counted by the process that died.
func (h *host) rebase(p *process, c *pluginv1.Counts) {
	if c == nil {
		return
	}
	p.seen = make([]int64, len(h.counters))
	copy(p.seen, c.Values)
}

// count adds what the plugin's counters gained since p last reported.
func (h *host) count(p *process, c *pluginv1.Counts) {
	if c == nil {
		return
	}
	if p.seen == nil {
		p.seen = make([]int64, len(h.counters))
	}
	for i, v := range c.Values {
		if i >= len(h.counters) {
			break
		}
		if d := v - p.seen[i]; d > 0 {
			h.counters[i].Add(d)
		}
		p.seen[i] = v
	}
}

// stop closes the plugin and ends its process.
func (h *host) stop() error {
	h.mu.Lock()
	p := h.proc
	h.proc = nil
	h.mu.Unlock()
	if p == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	switch c := p.rpc.(type) {
	case pluginv1.InputClient:
		_, err = c.Close(ctx, &pluginv1.Empty{})
	case pluginv1.ProcessorClient:
		_, err = c.Close(ctx, &pluginv1.Empty{})
	case pluginv1.OutputClient:
		_, err = c.Close(ctx, &pluginv1.Empty{})
	}
	p.kill()
	if err != nil && !lost(p, err) {
		return fmt.Errorf("close: %s", status.Convert(err).Message())
	}
	return nil
}

// levelName is the most verbose level log prints, for the plugin's logger.
func levelName(log *slog.Logger) string {
	ctx := context.Background()
	switch {
	case log.Enabled(ctx, slog.LevelDebug):
		return "debug"
	case log.Enabled(ctx, slog.LevelInfo):
		return "info"
	case log.Enabled(ctx, slog.LevelWarn):
		return "warn"
	}
	return "error"
}

// wrapCall words an error of a call for the pipeline, which adds the
// instance: a plugin's error by its message, without gRPC's decoration.
func wrapCall(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if st, ok := status.FromError(err); ok {
		return fmt.Errorf("%s: %s", op, st.Message())
	}
	return fmt.Errorf("%s: %w", op, err)
}

// backoff doubles the wait between restarts up to a maximum; a plugin that
// has worked again resets it.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	switch {
	case b.cur == 0:
		b.cur = b.min
	case b.cur < b.max:
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }
