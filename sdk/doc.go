// Package sdk is the public, stable API for rowflux plugin authors.
//
// A plugin is an Input (captures changes and emits batches of events), a
// Processor (transforms batches, possibly keeping state such as open windows)
// or an Output (writes batches somewhere). Plugins register themselves in an
// init function with RegisterInput, RegisterProcessor or RegisterOutput and
// embed their sample configuration with go:embed.
//
// Events always travel in batches. Tags and fields are slices rather than
// maps because per-event maps dominate the cost of a pipeline.
//
// Optional interfaces add capabilities without widening the core ones:
//
//   - Initializer: validate configuration and receive a logger and counters.
//   - Closer: release resources at shutdown.
//   - Stateful: a processor whose state is checkpointed and restored.
//   - CheckpointListener: an input told when a checkpoint is durable, so it
//     may release source resources (for example delete consumed changelog rows).
//   - Ticker: a processor that must act on the passage of time.
//   - Finisher: a processor that can emit what it holds at the end of a
//     one-off (--test) run.
//   - SourceManager: an input that installs, removes and checks capture
//     objects on its source (agent setup | teardown | doctor).
package sdk
