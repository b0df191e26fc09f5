// Package pipeline runs a configured set of plugins as a channel pipeline:
//
//	inputs ──▶ merge ──▶ processor 1 ──▶ … ──▶ processor N ──▶ fan-out ──▶ output buffers ──▶ writers
//
// Stages exchange batches over bounded channels, so a slow output fills its
// buffer, then the channels, and finally blocks the inputs' Emit calls: the
// source is read no faster than the slowest output writes.
//
// # Checkpoint barriers
//
// Every checkpoint interval the coordinator takes every input's emit lock,
// records the position after the last batch each input emitted, and sends
// one barrier into the merged channel before releasing the locks. That is
// the aligned-barrier scheme of DESIGN.md collapsed onto the merge point:
// because all inputs share the merged channel and the barrier is sent while
// none of them can emit, the barrier is preceded by exactly the batches its
// positions cover. Processors snapshot their state when the barrier passes
// them, outputs flush everything before it and acknowledge, and only when
// every output has acknowledged is the checkpoint committed (written to the
// state directory) and are the inputs told that it is durable.
//
// # Shutdown
//
// Cancelling Run's context stops the inputs. A final barrier follows their
// last batches, processors drain, outputs flush, the final checkpoint is
// committed and Run returns. If draining takes longer than the shutdown
// timeout, or a processor fails, the pipeline is aborted without a final
// checkpoint: whatever was not delivered is replayed from the last one.
package pipeline
