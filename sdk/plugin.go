package sdk

import (
	"context"
	"log/slog"
	"time"
)

// Position is an input's opaque, serialisable resume point (a watermark, an
// SCN, a set of changelog sequence numbers…). The agent stores it in
// checkpoints and hands it back on start; only the input interprets it.
type Position []byte

// Emitter receives an input's batches.
type Emitter interface {
	// Emit hands a batch to the pipeline together with the position to resume
	// from once this batch (and all before it) are delivered. It blocks while
	// the pipeline is full (backpressure) and returns an error only when the
	// pipeline is shutting down; the input should then return from Run.
	// The pipeline owns the batch and the position after the call: do not
	// modify or reuse either (a checkpoint may store pos later).
	Emit(ctx context.Context, batch Batch, pos Position) error
}

// Input captures changes from a source.
type Input interface {
	// Run emits batches until ctx is cancelled or the source is exhausted.
	// from is the position of the last durable checkpoint, or nil on a first
	// start; an input running as its own binary (sdk/plugin) that the agent
	// restarted after a crash gets the position of the last batch the agent
	// took instead, so release source data in CheckpointDurable only. A
	// returned error other than ctx.Err() stops the agent.
	Run(ctx context.Context, from Position, out Emitter) error
}

// Processor transforms batches. Calls to Process, Tick, Snapshot and Finish
// on one processor instance never overlap, so it needs no locking.
type Processor interface {
	// Process returns the batch to pass on: the input modified in place, a
	// new batch, or an empty one. A returned error stops the agent (nothing is
	// lost: events after the last checkpoint are replayed on restart); errors
	// about single events should be counted and logged instead.
	Process(ctx context.Context, batch Batch) (Batch, error)
}

// Output writes batches to a destination. The agent buffers, batches and
// retries; Write only has to try once.
type Output interface {
	// Write sends the batch. An error makes the agent retry the same events
	// with backoff. The batch must not be retained after Write returns.
	Write(ctx context.Context, batch Batch) error
}

// Env is what the agent gives a plugin at Init.
type Env struct {
	// Logger is tagged with the plugin instance.
	Logger *slog.Logger
	// Counter returns a counter exported in the agent's /metrics under this
	// plugin instance. Create counters in Init and keep them.
	Counter func(name, help string) *Counter
	// Test is true during `agent --test`: inputs must not consume or modify
	// source state, processors emit open state at the end.
	Test bool
	// Echo, when set, receives each statement a SourceManager sends to its
	// source while it runs (agent setup and teardown print them).
	Echo func(Statement)
}

// Initializer is implemented by plugins that validate their configuration or
// need the Env. Init runs after the configuration is decoded into the plugin
// and before anything starts; an error is reported as a configuration error.
type Initializer interface {
	Init(env Env) error
}

// Closer is implemented by plugins holding resources. Close is called once,
// after the plugin's last use — also when Init failed, so Close must cope
// with a partly initialised plugin.
type Closer interface {
	Close() error
}

// CheckpointListener is implemented by inputs that release source resources
// (for example consumed changelog rows) once a checkpoint holding pos is
// durable. It may be called after Run has returned.
type CheckpointListener interface {
	CheckpointDurable(ctx context.Context, pos Position) error
}

// Stateful is implemented by processors whose state (open windows) is part
// of a checkpoint. Snapshot is called between two batches; Restore once
// before the first batch when a checkpoint exists. A Restore error stops the
// agent with a message naming the state file.
type Stateful interface {
	Snapshot() ([]byte, error)
	Restore(state []byte) error
}

// Ticker is implemented by processors that act on the passage of time
// (closing windows of an idle source). Tick is called every TickInterval on
// the processor's goroutine; what it returns is passed on like a Process
// result.
type Ticker interface {
	TickInterval() time.Duration
	Tick(ctx context.Context, now time.Time) (Batch, error)
}

// Finisher is implemented by processors that hold events back (open
// windows). In a one-off --test run, Finish is called after the last batch
// and what it returns is emitted; in a normal shutdown the state goes into
// the final checkpoint instead.
type Finisher interface {
	Finish(ctx context.Context) (Batch, error)
}

// Check is one prerequisite reported by `agent doctor`.
type Check struct {
	Name   string // what was checked, e.g. "SELECT on shop.transactions"
	OK     bool
	Detail string // what was found
	Fix    string // the exact statement(s) that would fix it, when not OK
}

// SourceManager is implemented by capture inputs that install objects on
// their source. Setup and Teardown must be idempotent; Teardown removes
// exactly what Setup made.
type SourceManager interface {
	Setup(ctx context.Context) error
	Teardown(ctx context.Context) error
	Doctor(ctx context.Context) ([]Check, error)
}

// Statement is one statement `agent setup` or `agent teardown` runs, or one
// query `agent doctor` makes, as shown to whoever reviews it first.
type Statement struct {
	Purpose string // a one-line comment: what the statement is for
	SQL     string // the exact text sent to the source
}

// SourcePlanner is implemented by SourceManagers that can show, without
// connecting, what action ("setup", "teardown" or "doctor") would send:
// `agent setup --dry-run` prints the script so that a DBA reviews DDL
// before it touches production. The script is in the source's own
// client syntax (runnable as it is); Setup and Teardown send exactly its
// statements, each reported through Env.Echo as it runs.
type SourcePlanner interface {
	Plan(action string) (string, error)
}
