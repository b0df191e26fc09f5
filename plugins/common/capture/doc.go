// Package capture is the strategy engine shared by the database inputs.
//
// A database input supplies a dialect (a Source plus the capability
// interfaces it supports: Poller, Changelog, Waiter, Installer); the engine
// turns the configured strategy into reads, events, positions and
// checkpoint-driven clean-up:
//
//   - polling: pages of (timestamp, key) > cursor below an upper bound the
//     dialect computes (now − lag, and where the source can tell, the start
//     of its oldest open transaction). Deletes are invisible.
//   - trigger: a row trigger writes every change into a changelog table in
//     the user's transaction; the engine reads it in sequence order and
//     deletes consumed rows only once a checkpoint covering them is durable.
//   - notify: as trigger, but a source signal wakes the engine; a timed-out
//     wait doubles as a safety poll.
//   - commit_order: rounds over a commit horizon (ORA_ROWSCN, xmin): read
//     the horizon H first, then every row whose version is in [low, H),
//     then low = H. The position names the round and the cursor inside it.
//
// Changelog sequence numbers are assigned when a row is written, not when
// its transaction commits, so a high-water mark over them loses late
// commits on multi-writer databases. The engine therefore remembers every
// sequence number it emitted until it is deleted, and reads from the
// high-water mark only when the dialect declares its sequence commit-ordered
// (SQLite, which has one writer at a time).
//
// The engine never builds SQL: identifiers from configuration are validated
// here and quoted by the dialect.
package capture
