package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rowflux/rowflux/sdk"
	"github.com/rowflux/rowflux/sdk/plugin/pluginv1"
)

// MaxMessageSize bounds one call's message (a batch) in both directions;
// gRPC's default of 4 MiB is too small for 5000 wide rows.
const MaxMessageSize = 256 << 20

// windowSize is the HTTP/2 flow-control window of both sides. gRPC starts
// at 64 KiB and grows it by measuring, which made a 100 KiB batch wait for
// window updates; the peers are on one machine, so a large fixed window
// costs nothing.
const windowSize = 16 << 20

// ioBufferSize lets a batch go out in a few writes rather than one per
// 32 KiB, gRPC's default.
const ioBufferSize = 512 << 10

// DialOptions are the gRPC options the agent connects to a plugin with.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)),
		grpc.WithInitialWindowSize(windowSize), grpc.WithInitialConnWindowSize(windowSize),
		grpc.WithWriteBufferSize(ioBufferSize), grpc.WithReadBufferSize(ioBufferSize),
	}
}

// ServeInput serves an input until the agent stops the process. It does
// not return.
func ServeInput(reg sdk.Registration[sdk.Input]) {
	inst := newInstance(reg.Name, func() any { return reg.New() })
	serve(NameInput, inst, func(s *grpc.Server) { pluginv1.RegisterInputServer(s, &inputServer{inst: inst}) })
}

// ServeProcessor serves a processor until the agent stops the process. It
// does not return.
func ServeProcessor(reg sdk.Registration[sdk.Processor]) {
	inst := newInstance(reg.Name, func() any { return reg.New() })
	serve(NameProcessor, inst, func(s *grpc.Server) { pluginv1.RegisterProcessorServer(s, &processorServer{inst: inst}) })
}

// ServeOutput serves an output until the agent stops the process. It does
// not return.
func ServeOutput(reg sdk.Registration[sdk.Output]) {
	inst := newInstance(reg.Name, func() any { return reg.New() })
	serve(NameOutput, inst, func(s *grpc.Server) { pluginv1.RegisterOutputServer(s, &outputServer{inst: inst}) })
}

func serve(kind string, inst *instance, register func(*grpc.Server)) {
	watchAgent(inst)
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         goplugin.PluginSet{kind: &grpcPlugin{server: register}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.ForceServerCodecV2(newBatchCodec()),
				grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize),
				grpc.InitialWindowSize(windowSize), grpc.InitialConnWindowSize(windowSize),
				grpc.WriteBufferSize(ioBufferSize), grpc.ReadBufferSize(ioBufferSize))
			return grpc.NewServer(opts...)
		},
		Logger: newHCLogJSON(inst.stderr, inst.name),
	})
	// The agent ends a plugin by calling Close and then go-plugin's
	// shutdown; a plugin whose Init failed, or an agent that skipped Close,
	// still gets its Close here.
	inst.close()
	os.Exit(0)
}

// watchAgent ends the process when the agent that started it is gone (a
// kill -9 leaves no time to stop plugins), by polling the parent process.
// SIGTERM is ignored, as go-plugin ignores SIGINT: a service manager sends
// it to every process of the service at once, and the plugin must keep
// working while the agent drains, until the agent stops it.
func watchAgent(inst *instance) {
	parent := os.Getppid()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	go func() {
		for range sig {
			inst.stderr.line(`{"@level":"debug","@message":"plugin ignores SIGTERM: the agent stops it"}`)
		}
	}()
	go func() {
		for range time.Tick(250 * time.Millisecond) {
			if os.Getppid() == parent {
				continue
			}
			inst.stderr.line(`{"@level":"info","@message":"plugin exiting: the agent that started it is gone"}`)
			done := make(chan struct{})
			go func() { inst.close(); close(done) }()
			select {
			case <-done:
			case <-time.After(time.Second):
			}
			os.Exit(0)
		}
	}()
}

// instance is the one plugin a process serves, created at Configure.
type instance struct {
	name  string
	newFn func() any
	// stderr is the process's stderr as the agent connected it; go-plugin
	// replaces os.Stderr with a pipe of its own once it serves.
	stderrFile *os.File
	stderr     *stderrLog

	mu         sync.Mutex
	plugin     any
	counters   []*sdk.Counter
	configured bool // Init has returned: counters are declared
	closed     bool
}

func newInstance(name string, newFn func() any) *instance {
	return &instance{name: name, newFn: newFn, stderrFile: os.Stderr, stderr: &stderrLog{w: os.Stderr}}
}

var errNotConfigured = status.Error(codes.FailedPrecondition, "plugin called before Configure")

// configure builds the plugin from its configuration and initialises it.
func (in *instance) configure(req *pluginv1.ConfigureRequest) (*pluginv1.ConfigureResponse, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.plugin != nil {
		return nil, status.Error(codes.FailedPrecondition, "plugin configured twice")
	}
	p := in.newFn()
	if err := decodeConfig(req.ConfigToml, p); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(req.LogLevel)); err != nil {
		lv = slog.LevelInfo
	}
	resp := &pluginv1.ConfigureResponse{PluginName: in.name}
	env := sdk.Env{
		Logger: slog.New(newJSONHandler(in.stderr, lv)),
		Counter: func(name, help string) *sdk.Counter {
			c := &sdk.Counter{}
			if in.configured {
				// Declared too late for the agent to export it (the sdk
				// asks for counters in Init); it still counts.
				return c
			}
			in.counters = append(in.counters, c)
			resp.Counters = append(resp.Counters, &pluginv1.Counter{Name: name, Help: help})
			return c
		},
		Test: req.Test,
	}
	// go-plugin has pointed os.Stderr at a pipe it forwards over gRPC, which
	// loses the last words of a dying process; the real stderr gets them to
	// the agent's crash report.
	os.Stderr = in.stderrFile
	in.plugin = p
	if i, ok := p.(sdk.Initializer); ok {
		if err := i.Init(env); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	in.configured = true
	if _, ok := p.(sdk.Stateful); ok {
		resp.Stateful = true
	}
	if t, ok := p.(sdk.Ticker); ok && t.TickInterval() > 0 {
		resp.TickIntervalNanos = int64(t.TickInterval())
	}
	if _, ok := p.(sdk.Finisher); ok {
		resp.Finisher = true
	}
	if _, ok := p.(sdk.CheckpointListener); ok {
		resp.CheckpointListener = true
	}
	return resp, nil
}

var lastKeyRE = regexp.MustCompile(`(?s)^line \d+ \(last key "((?:[^"\\]|\\.)*)"\): (.*)$`)

// decodeConfig decodes the instance's config table into p as the agent
// does for compiled-in plugins: unknown keys are errors.
func decodeConfig(text string, p any) error {
	if strings.TrimSpace(text) == "" {
		if p == nil {
			return errors.New("plugin New returned nil")
		}
		return nil
	}
	rv := reflect.ValueOf(p)
	if p == nil || rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("plugin New returned %T, not a non-nil pointer, so its configuration cannot be decoded", p)
	}
	md, err := toml.Decode(text, p)
	if err != nil {
		// Line numbers would point into the agent's re-encoding of the
		// table, not into the user's file.
		msg := strings.TrimPrefix(err.Error(), "toml: ")
		if m := lastKeyRE.FindStringSubmatch(msg); m != nil {
			msg = m[1] + ": " + m[2]
		}
		return fmt.Errorf("config: %s", msg)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return fmt.Errorf("config: unknown key(s) %s", strings.Join(keys, ", "))
	}
	return nil
}

func (in *instance) get() (any, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.plugin == nil {
		return nil, errNotConfigured
	}
	return in.plugin, nil
}

func (in *instance) counts() *pluginv1.Counts {
	if len(in.counters) == 0 {
		return nil
	}
	v := make([]int64, len(in.counters))
	for i, c := range in.counters {
		v[i] = c.Load()
	}
	return &pluginv1.Counts{Values: v}
}

func (in *instance) close() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed || in.plugin == nil {
		return nil
	}
	in.closed = true
	if c, ok := in.plugin.(sdk.Closer); ok {
		return c.Close()
	}
	return nil
}

// callError turns a plugin's error into the status the agent shows as it
// is. Whatever status the error wraps (a plugin may itself be a gRPC
// client), it goes out as UNKNOWN: the agent reads UNAVAILABLE as a dead
// process, and INVALID_ARGUMENT as a configuration the plugin refused.
func callError(err error) error {
	if err == nil {
		return nil
	}
	return status.Error(codes.Unknown, err.Error())
}

// protect turns a panic in plugin code into an error, so the agent reports
// it instead of seeing a crash without a reason.
func protect(err *error) {
	if v := recover(); v != nil {
		*err = status.Error(codes.Internal, fmt.Sprintf("panic: %v", v))
	}
}

func decodeBatch(b *pluginv1.Batch) (sdk.Batch, error) {
	if b == nil {
		return nil, nil
	}
	batch, err := pluginv1.DecodeEvents(b.Events)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, "batch: "+err.Error())
	}
	return batch, nil
}

func encodeBatch(b sdk.Batch) (*pluginv1.Batch, error) {
	if len(b) == 0 {
		return &pluginv1.Batch{}, nil
	}
	data, err := pluginv1.AppendEvents(replyBuffer(160*len(b)), b)
	if err != nil {
		return nil, status.Error(codes.Internal, "encoding the result: "+err.Error())
	}
	return &pluginv1.Batch{Events: data}, nil
}

type processorServer struct {
	pluginv1.UnimplementedProcessorServer
	inst *instance
	mu   sync.Mutex // the sdk promises a processor no overlapping calls
}

func (s *processorServer) Configure(_ context.Context, req *pluginv1.ConfigureRequest) (*pluginv1.ConfigureResponse, error) {
	return s.inst.configure(req)
}

func (s *processorServer) processor() (sdk.Processor, error) {
	p, err := s.inst.get()
	if err != nil {
		return nil, err
	}
	return p.(sdk.Processor), nil
}

func (s *processorServer) batchCall(f func(sdk.Processor) (sdk.Batch, error)) (resp *pluginv1.BatchResponse, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer protect(&err)
	p, err := s.processor()
	if err != nil {
		return nil, err
	}
	out, err := f(p)
	if err != nil {
		return nil, callError(err)
	}
	b, err := encodeBatch(out)
	if err != nil {
		return nil, err
	}
	return &pluginv1.BatchResponse{Batch: b, Counts: s.inst.counts()}, nil
}

func (s *processorServer) Process(ctx context.Context, req *pluginv1.Batch) (resp *pluginv1.BatchResponse, err error) {
	defer protect(&err)
	batch, err := decodeBatch(req)
	if err != nil {
		return nil, err
	}
	return s.batchCall(func(p sdk.Processor) (sdk.Batch, error) { return p.Process(ctx, batch) })
}

func (s *processorServer) Tick(ctx context.Context, req *pluginv1.TickRequest) (*pluginv1.BatchResponse, error) {
	return s.batchCall(func(p sdk.Processor) (sdk.Batch, error) {
		t, ok := p.(sdk.Ticker)
		if !ok {
			return nil, nil
		}
		return t.Tick(ctx, pluginv1.ToTime(req.Now))
	})
}

func (s *processorServer) Finish(ctx context.Context, _ *pluginv1.Empty) (*pluginv1.BatchResponse, error) {
	return s.batchCall(func(p sdk.Processor) (sdk.Batch, error) {
		f, ok := p.(sdk.Finisher)
		if !ok {
			return nil, nil
		}
		return f.Finish(ctx)
	})
}

func (s *processorServer) Snapshot(context.Context, *pluginv1.Empty) (resp *pluginv1.State, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer protect(&err)
	p, err := s.processor()
	if err != nil {
		return nil, err
	}
	st, ok := p.(sdk.Stateful)
	if !ok {
		return &pluginv1.State{}, nil
	}
	data, err := st.Snapshot()
	if err != nil {
		return nil, callError(err)
	}
	return &pluginv1.State{Data: data}, nil
}

func (s *processorServer) Restore(_ context.Context, req *pluginv1.State) (resp *pluginv1.Empty, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer protect(&err)
	p, err := s.processor()
	if err != nil {
		return nil, err
	}
	st, ok := p.(sdk.Stateful)
	if !ok {
		return &pluginv1.Empty{}, nil
	}
	if err := st.Restore(req.Data); err != nil {
		return nil, callError(err)
	}
	return &pluginv1.Empty{}, nil
}

func (s *processorServer) Close(context.Context, *pluginv1.Empty) (*pluginv1.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &pluginv1.Empty{}, callError(s.inst.close())
}

type outputServer struct {
	pluginv1.UnimplementedOutputServer
	inst *instance
	mu   sync.Mutex
}

func (s *outputServer) Configure(_ context.Context, req *pluginv1.ConfigureRequest) (*pluginv1.ConfigureResponse, error) {
	return s.inst.configure(req)
}

func (s *outputServer) Write(ctx context.Context, req *pluginv1.Batch) (resp *pluginv1.WriteResponse, err error) {
	defer protect(&err)
	batch, err := decodeBatch(req)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.inst.get()
	if err != nil {
		return nil, err
	}
	if err := p.(sdk.Output).Write(ctx, batch); err != nil {
		return nil, callError(err)
	}
	return &pluginv1.WriteResponse{Counts: s.inst.counts()}, nil
}

func (s *outputServer) Close(context.Context, *pluginv1.Empty) (*pluginv1.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &pluginv1.Empty{}, callError(s.inst.close())
}

type inputServer struct {
	pluginv1.UnimplementedInputServer
	inst *instance
	// runs counts Run calls in progress: the agent's side of a stream ends
	// at once when it stops, the plugin's Run a little later, and Close
	// must come after it.
	runs sync.WaitGroup
}

func (s *inputServer) Configure(_ context.Context, req *pluginv1.ConfigureRequest) (*pluginv1.ConfigureResponse, error) {
	return s.inst.configure(req)
}

// Run runs the input for one stream: the first request says where from,
// each later one acknowledges a batch.
func (s *inputServer) Run(stream pluginv1.Input_RunServer) (err error) {
	s.runs.Add(1)
	defer s.runs.Done()
	defer protect(&err)
	p, err := s.inst.get()
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	start := first.GetStart()
	if start == nil {
		return status.Error(codes.InvalidArgument, "the first Run request must be a start")
	}
	var from sdk.Position
	if start.From != nil {
		from = start.From.Data
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	acks := make(chan struct{}, 1)
	go func() {
		defer cancel()
		for {
			req, err := stream.Recv()
			if err != nil {
				return
			}
			if req.GetAck() == nil {
				return
			}
			select {
			case acks <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}()
	em := &emitter{stream: stream, acks: acks, inst: s.inst}
	return callError(p.(sdk.Input).Run(ctx, from, em))
}

type emitter struct {
	mu     sync.Mutex
	stream pluginv1.Input_RunServer
	acks   <-chan struct{}
	inst   *instance
}

// Emit sends the batch and waits until the agent has taken it into its
// pipeline, as a compiled-in input's Emit would.
func (e *emitter) Emit(ctx context.Context, batch sdk.Batch, pos sdk.Position) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	b, err := encodeBatch(batch)
	if err != nil {
		return err
	}
	resp := &pluginv1.RunResponse{Batch: b, Counts: e.inst.counts()}
	if pos != nil {
		resp.Position = &pluginv1.Position{Data: pos}
	}
	if err := e.stream.Send(resp); err != nil {
		return fmt.Errorf("agent stopped taking batches: %w", err)
	}
	select {
	case <-e.acks:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-e.stream.Context().Done():
		// Also when the plugin passed a context of its own to Emit.
		return fmt.Errorf("the agent stopped this input: %w", context.Cause(e.stream.Context()))
	}
}

func (s *inputServer) CheckpointDurable(ctx context.Context, req *pluginv1.Position) (resp *pluginv1.Empty, err error) {
	defer protect(&err)
	p, err := s.inst.get()
	if err != nil {
		return nil, err
	}
	if l, ok := p.(sdk.CheckpointListener); ok {
		if err := l.CheckpointDurable(ctx, req.Data); err != nil {
			return nil, callError(err)
		}
	}
	return &pluginv1.Empty{}, nil
}

func (s *inputServer) Close(ctx context.Context, _ *pluginv1.Empty) (*pluginv1.Empty, error) {
	done := make(chan struct{})
	go func() { s.runs.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, status.Error(codes.DeadlineExceeded, "Run did not return after the agent stopped it; closing anyway")
	}
	return &pluginv1.Empty{}, callError(s.inst.close())
}

var _ io.Writer = (*stderrLog)(nil)
