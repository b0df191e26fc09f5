package capture

import (
	"context"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// ColumnInfo is a column as the source describes it.
type ColumnInfo struct {
	Name string // as stored in the database
	Type string // declared type, e.g. "NUMERIC(12,2)"
}

// Source is the part every dialect implements.
type Source interface {
	// Name is the dialect's name in messages ("sqlite", "postgres", "oracle").
	Name() string
	// Connect opens the connections; it is called again after a failure,
	// so it must replace whatever was open before.
	Connect(ctx context.Context) error
	Close() error
	// Describe lists a table's columns in table order; a missing table is
	// an error wrapping ErrNotFound.
	Describe(ctx context.Context, schema, table string) ([]ColumnInfo, error)
}

// Poller reads pages of a table in (timestamp, key) order.
type Poller interface {
	// PollUpper returns the exclusive upper bound for timestamps that are
	// safe to consume now: now − lag, lowered to the start of the oldest
	// open transaction where the source can tell.
	PollUpper(ctx context.Context, lag time.Duration) (any, error)
	// PollPage returns up to limit rows with (timestamp, key...) greater
	// than after (nil: from the beginning) and timestamp < upper, ordered
	// by timestamp then key. Values are in t.Columns order.
	PollPage(ctx context.Context, t *Table, after []any, upper any, limit int) (Page, error)
}

// Page is one polled page.
type Page struct {
	Rows [][]any
	// Cursor is the (timestamp, key...) of the last row in the source's own
	// representation, passed back as after for the next page. It is not
	// taken from Rows because event values are normalised (a timestamp
	// becomes a time.Time) and binding them back need not compare equal to
	// what is stored.
	Cursor []any
}

// Change is one changelog row, decoded.
type Change struct {
	Seq   int64
	Table *Table
	Op    sdk.Op
	// Values is the row image in Table.Columns order: the new row for
	// inserts and updates, the old row for deletes.
	Values []any
	Time   time.Time
}

// Changelog reads and trims the changelog written by triggers.
type Changelog interface {
	// ReadChangelog returns up to limit changes with sequence > after for
	// the given tables, in sequence order. It must not leave a read
	// transaction open when it returns.
	ReadChangelog(ctx context.Context, tables []*Table, after int64, limit int) ([]Change, error)
	// DeleteChangelog removes exactly the given sequence numbers.
	DeleteChangelog(ctx context.Context, seqs []int64) error
	// SeqCommitOrdered reports whether sequence order is commit order (one
	// writer at a time), which lets the engine read from a high-water mark.
	SeqCommitOrdered() bool
}

// Snapshotter is implemented by multi-writer changelog sources that can
// tell when every transaction running at some moment has ended. The engine
// uses it to stop re-reading changelog rows below a gap no transaction can
// fill any more (a rolled-back or already deleted sequence number).
type Snapshotter interface {
	// Horizon returns an id such that every transaction with a lower id
	// has ended.
	Horizon(ctx context.Context) (uint64, error)
	// Fence returns an id above that of every transaction that has one
	// now, running or not. (A snapshot's xmax is not such a bound on
	// PostgreSQL: it is the last completed id + 1, and transactions with
	// higher ids can be running.) It may cost the source a transaction id.
	Fence(ctx context.Context) (uint64, error)
}

// Waiter blocks until the source signals a committed change.
type Waiter interface {
	// Wait returns true when woken by a change, false when timeout passed.
	Wait(ctx context.Context, timeout time.Duration) (bool, error)
}

// VersionReader reads rows by the version their last committed change
// gave them (ORA_ROWSCN on Oracle, xmin on PostgreSQL), bounded by the
// source's commit horizon: the commit_order strategy.
type VersionReader interface {
	// Horizon returns the current commit horizon H: every transaction that
	// can still commit will give its rows versions ≥ H. The engine reads it
	// before each delta query and, once every row below it is emitted,
	// resumes from it: never from the largest version seen, which could
	// pass a transaction that commits later with a smaller version.
	Horizon(ctx context.Context) (uint64, error)
	// Changed returns up to limit rows whose version v satisfies
	// low ≤ v < high (as the dialect defines the order, e.g. epoch-aware for
	// xids), continuing after the cursor after when it is not nil. Values
	// are in t.Columns order; Page.Cursor is whatever the dialect needs to
	// continue (PostgreSQL: the (version, key...) of the last row, in
	// (version, key) order); Versions holds each row's version.
	//
	// A dialect whose versions are only an upper bound of the commit
	// (Oracle's ORA_ROWSCN until block cleanout) cannot apply high without
	// losing rows, so it may also return rows with v ≥ high: the engine
	// drops such a row when the next round returns it again with the same
	// version.
	Changed(ctx context.Context, t *Table, low, high uint64, after []any, limit int) (VersionPage, error)
}

// VersionPage is a page of rows with their versions.
type VersionPage struct {
	Page
	Versions []uint64
}

// TableOptioner lists the optional per-table keys a dialect honours
// ("decimal", "where"); the others are rejected at load.
type TableOptioner interface {
	TableOptions() []string
}

// PseudoColumner is implemented by dialects that add columns every event
// of a table carries although the table does not declare them (Oracle's
// ROWID under cqn, which is all a delete can carry). They are captured
// whatever the columns setting says.
type PseudoColumner interface {
	PseudoColumns() []ColumnInfo
}

// TableNamer is implemented by dialects where a configured name matches a
// differently spelled stored name (Oracle folds unquoted names to upper
// case): after Describe, it returns the stored schema and table name that
// SQL must quote. An unqualified table stays unqualified.
type TableNamer interface {
	StoredName(schema, table string) (string, string)
}

// Installer manages capture objects on the source.
type Installer interface {
	Setup(ctx context.Context, s Strategy, tables []*Table) error
	Teardown(ctx context.Context, s Strategy, tables []*Table) error
	Doctor(ctx context.Context, s Strategy, tables []*Table) ([]sdk.Check, error)
}

// Supported lists the strategies a dialect's capabilities allow.
func Supported(src Source) []Strategy {
	var out []Strategy
	if _, ok := src.(Poller); ok {
		out = append(out, Polling)
	}
	if _, ok := src.(VersionReader); ok {
		out = append(out, CommitOrder)
	}
	if _, ok := src.(Changelog); ok {
		out = append(out, Trigger)
		if _, ok := src.(Waiter); ok {
			out = append(out, Notify)
		}
	}
	return out
}
