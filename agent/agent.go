// Package agent is the rowflux runtime: it loads a configuration, builds the
// plugins, restores the last checkpoint, runs the pipeline and serves the
// agent's own metrics. cmd/agent only parses flags and calls into it.
package agent

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/rowflux/rowflux/agent/checkpoint"
	"github.com/rowflux/rowflux/agent/config"
	_ "github.com/rowflux/rowflux/agent/external" // [[inputs|processors|outputs.external]]
	"github.com/rowflux/rowflux/agent/pipeline"
	"github.com/rowflux/rowflux/agent/selfmetrics"
	"github.com/rowflux/rowflux/sdk"
	"github.com/rowflux/rowflux/sdk/encoding"
)

//go:embed agent.conf
var agentSampleConfig string

// Options are the command-line settings of a run.
type Options struct {
	ConfigPath string
	// Test runs inputs and processors only and prints what would reach the
	// outputs to Stdout, for TestDuration; nothing is checkpointed.
	Test         bool
	TestDuration time.Duration
	TestFormat   string // json (default) or influx
	// LogLevel overrides [agent] log_level when not empty.
	LogLevel   string
	ResetState bool
	// DryRun makes setup, teardown and doctor print the statements they
	// would send (sdk.SourcePlanner) without connecting.
	DryRun bool

	Stdout, Stderr io.Writer
	LookupEnv      func(string) (string, bool)
}

// ConfigError is a problem with the configuration or the command line; the
// process exits with status 2 for it and 1 for every other failure.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

func (o *Options) defaults() {
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.TestDuration <= 0 {
		o.TestDuration = 5 * time.Second
	}
	if o.TestFormat == "" {
		o.TestFormat = encoding.FormatJSON
	}
}

// NewLogger builds the agent's logger for a level and format name.
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	hopts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

// load reads the configuration and builds the logger. Values taken from
// the environment are registered with red as secrets, and the logger
// redacts them.
func load(opts *Options, red *redactor) (*config.Config, *slog.Logger, error) {
	opts.defaults()
	if opts.ConfigPath == "" {
		return nil, nil, &ConfigError{errors.New("no configuration: use --config FILE (agent config prints a sample)")}
	}
	cfg, err := config.Load(opts.ConfigPath, red.lookupEnv(opts.LookupEnv))
	if err != nil {
		return nil, nil, &ConfigError{err}
	}
	level := cfg.Agent.LogLevel
	if opts.LogLevel != "" {
		level = opts.LogLevel
	}
	log, err := NewLogger(opts.Stderr, level, cfg.Agent.LogFormat)
	if err != nil {
		return nil, nil, &ConfigError{err}
	}
	return cfg, slog.New(handler{next: log.Handler(), r: red}), nil
}

var metricName = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// env is what a plugin instance receives at Init.
func env(log *slog.Logger, reg *selfmetrics.Registry, inst config.Instance, test bool, echo func(sdk.Statement)) sdk.Env {
	kind := strings.TrimSuffix(string(inst.Kind), "s")
	return sdk.Env{
		Echo:   echo,
		Logger: log.With(kind, inst.ID),
		Counter: func(name, help string) *sdk.Counter {
			name = "rowflux_" + kind + "_" + metricName.ReplaceAllString(strings.TrimSuffix(name, "_total"), "_") + "_total"
			return reg.Counter(name, help, selfmetrics.Label{Name: "instance", Value: inst.ID})
		},
		Test: test,
	}
}

// session is what Run and Manage share: the loaded configuration, the
// logger, the metrics registry and the plugins initialised so far (closed
// together at the end).
type session struct {
	cfg    *config.Config
	log    *slog.Logger
	reg    *selfmetrics.Registry
	test   bool
	opened []opened
	// echo receives the statements source managers send (agent setup and
	// teardown print them; a run logs them).
	echo func(sdk.Statement)
}

type opened struct {
	id     string
	plugin any
}

func newSession(opts *Options, red *redactor) (*session, error) {
	cfg, log, err := load(opts, red)
	if err != nil {
		return nil, err
	}
	s := &session{cfg: cfg, log: log, reg: selfmetrics.NewRegistry(), test: opts.Test}
	s.reg.RegisterRuntime()
	s.echo = func(st sdk.Statement) {
		log.Info("sending statement to the source", "purpose", st.Purpose, "sql", st.SQL)
	}
	return s, nil
}

// init hands a plugin its Env and validates it; an Init error is a
// configuration error naming the instance. The plugin is closed at the end
// even when Init fails, since Init may have opened something first.
func (s *session) init(p any, inst config.Instance) error {
	s.opened = append(s.opened, opened{inst.ID, p})
	if in, ok := p.(sdk.Initializer); ok {
		if err := in.Init(env(s.log, s.reg, inst, s.test, s.echo)); err != nil {
			return &ConfigError{fmt.Errorf("%s: %w", inst.ID, err)}
		}
	}
	return nil
}

func (s *session) close() {
	for _, o := range s.opened {
		if c, ok := o.plugin.(sdk.Closer); ok {
			if err := c.Close(); err != nil {
				s.log.Warn("close failed", "plugin", o.id, "error", err)
			}
		}
	}
}

// Run runs the pipeline of opts.ConfigPath until ctx is cancelled (a
// graceful shutdown) or every input has finished.
func Run(ctx context.Context, opts Options) error {
	red := newRedactor()
	return red.Error(run(ctx, opts, red))
}

func run(ctx context.Context, opts Options, red *redactor) error {
	s, err := newSession(&opts, red)
	if err != nil {
		return err
	}
	defer s.close()
	cfg, log := s.cfg, s.log

	popts := pipeline.Options{
		ChannelSize:        cfg.Agent.ChannelSize,
		CheckpointInterval: time.Duration(cfg.Agent.CheckpointInterval),
		ShutdownTimeout:    time.Duration(cfg.Agent.ShutdownTimeout),
		Logger:             log,
		Metrics:            s.reg,
	}
	for _, in := range cfg.Inputs {
		if err := s.init(in.Plugin, in.Instance); err != nil {
			return err
		}
		popts.Inputs = append(popts.Inputs, pipeline.Input{ID: in.ID, Plugin: in.Plugin})
	}
	for _, pr := range cfg.Processors {
		if err := s.init(pr.Plugin, pr.Instance); err != nil {
			return err
		}
		popts.Processors = append(popts.Processors, pipeline.Processor{ID: pr.ID, Plugin: pr.Plugin})
	}

	if opts.Test {
		out, err := newTestOutput(opts.Stdout, opts.TestFormat)
		if err != nil {
			return &ConfigError{err}
		}
		popts.Outputs = []pipeline.Output{{ID: "test", Plugin: out, BatchSize: 1000, BufferLimit: 100_000,
			FlushInterval: 100 * time.Millisecond, RetryMaxInterval: time.Second}}
		popts.CheckpointInterval = 0
		popts.Finish = true
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.TestDuration)
		defer cancel()
	} else {
		for _, o := range cfg.Outputs {
			if err := s.init(o.Plugin, o.Instance); err != nil {
				return err
			}
			popts.Outputs = append(popts.Outputs, pipeline.Output{
				ID: o.ID, Plugin: o.Plugin, BatchSize: o.BatchSize, FlushInterval: time.Duration(o.FlushInterval),
				BufferLimit: o.BufferLimit, DropOldest: o.OnFull == "drop_oldest", RetryMaxInterval: time.Duration(o.RetryMaxInterval),
			})
		}
		if err := restore(cfg, &popts, opts.ResetState, log); err != nil {
			return err
		}
	}

	p, err := pipeline.New(popts)
	if err != nil {
		return err
	}
	if cfg.Agent.HTTPListen != "" && !opts.Test {
		stop, err := serveHTTP(cfg.Agent.HTTPListen, s.reg, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	log.Info("agent started", "config", cfg.Path, "inputs", len(popts.Inputs), "processors", len(popts.Processors), "outputs", len(popts.Outputs), "test", opts.Test)
	err = p.Run(ctx)
	if err != nil {
		log.Error("agent stopped with an error", "error", err)
		return err
	}
	log.Info("agent stopped")
	return nil
}

// restore loads the checkpoint of state_dir into the pipeline options and
// sets up the commit function that writes the next ones.
func restore(cfg *config.Config, popts *pipeline.Options, reset bool, log *slog.Logger) error {
	if cfg.Agent.StateDir == "" {
		log.Info("no [agent] state_dir: positions are not persisted; a restart begins every input from its configured start")
		return nil
	}
	store, err := checkpoint.Open(cfg.Agent.StateDir)
	if err != nil {
		return err
	}
	if reset {
		if err := store.Reset(); err != nil {
			return err
		}
		log.Warn("state reset: every input starts from its configured beginning", "file", store.Path())
	}
	st, err := store.Load()
	if err != nil {
		return err
	}
	// A crash during a write leaves a temporary file, which would take space
	// in the state directory (perhaps the space the next write needs) for
	// good. Only after a successful load: a start that fails changes nothing
	// in state_dir.
	removed, err := store.RemoveTemps()
	for _, f := range removed {
		log.Info("removed a temporary checkpoint file left by an interrupted write", "file", f)
	}
	if err != nil {
		log.Warn("could not clean the state directory; checkpoints fail until it is writable", "error", err)
	}
	popts.Commit = func(c *pipeline.Checkpoint) error {
		s := &checkpoint.State{ID: c.ID, Time: time.Now().UTC(), Inputs: make(map[string][]byte, len(c.Positions)), Processors: c.States}
		for id, pos := range c.Positions {
			s.Inputs[id] = pos
		}
		return store.Save(s)
	}
	if st == nil {
		return nil
	}
	known := map[string]bool{}
	for i := range popts.Inputs {
		in := &popts.Inputs[i]
		known[in.ID] = true
		if pos, ok := st.Inputs[in.ID]; ok {
			in.From = pos
		} else {
			log.Info("no checkpointed position for this input; it starts from its configured beginning", "input", in.ID)
		}
	}
	for _, pr := range popts.Processors {
		known[pr.ID] = true
		state, ok := st.Processors[pr.ID]
		s, stateful := pr.Plugin.(sdk.Stateful)
		if !ok || !stateful {
			continue
		}
		if err := s.Restore(state); err != nil {
			return &checkpoint.CorruptError{Path: store.Path(), Reason: fmt.Sprintf("state of %s cannot be restored: %v", pr.ID, err)}
		}
	}
	for id := range st.Inputs {
		if !known[id] {
			log.Warn("checkpoint holds a position for an input that is no longer configured; it is ignored", "input", id)
		}
	}
	for id := range st.Processors {
		if !known[id] {
			log.Warn("checkpoint holds state for a processor that is no longer configured; it is ignored", "processor", id)
		}
	}
	popts.FirstCheckpointID = st.ID + 1
	log.Info("restored checkpoint", "file", store.Path(), "checkpoint", st.ID, "taken", st.Time)
	return nil
}

// serveHTTP starts the /metrics and /healthz server and returns its stop.
func serveHTTP(addr string, reg *selfmetrics.Registry, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("[agent] http_listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", reg.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "error", err)
		}
	}()
	log.Info("serving /metrics and /healthz", "address", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

// testOutput prints what would reach the outputs during --test.
type testOutput struct {
	w   io.Writer
	enc encoding.Encoder
	buf []byte
}

func newTestOutput(w io.Writer, format string) (*testOutput, error) {
	enc, err := encoding.New(format)
	if err != nil {
		return nil, fmt.Errorf("--test-format: %w", err)
	}
	return &testOutput{w: w, enc: enc}, nil
}

func (t *testOutput) Write(_ context.Context, b sdk.Batch) error {
	t.buf, _ = t.enc.Encode(t.buf[:0], b)
	_, err := t.w.Write(t.buf)
	return err
}
