package workload

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/rowflux/rowflux/plugins/common/sqlitedb"
)

// dialect holds what differs between databases. Everything else in the
// workload is plain database/sql, so PostgreSQL and Oracle need only a new
// implementation of this and a case in newDialect.
type dialect interface {
	// open returns a connection pool for the database, checked with a ping.
	open(ctx context.Context) (*sql.DB, error)
	// createSchema creates the transactions table and its index when they
	// are missing, and leaves existing ones alone.
	createSchema(ctx context.Context, db *sql.DB) error
	// placeholder is the bind marker for the i-th argument (1-based).
	placeholder(i int) string
	// lockRow is appended to the read that precedes an update or delete.
	// Reserved ids already keep the workload's own writers apart; the lock
	// makes the read and the change one consistent step where the database
	// lets several writers in at once.
	lockRow() string
	// retryable reports whether err means "the database is busy, try the
	// whole transaction again" rather than a real failure.
	retryable(err error) bool
}

// bulkInserter is implemented by dialects that have a faster way than one
// INSERT per row to insert many rows in one transaction (the preload). It
// sets every entry's CreatedAt and UpdatedAt to the time it wrote.
type bulkInserter interface {
	insertRows(ctx context.Context, db *sql.DB, es []Entry) error
}

// timeBinder is implemented by dialects that bind created_at and
// updated_at as something other than the UTC time.Time the ledger records
// (Oracle: the same instant in the server's offset, see oracleDialect).
type timeBinder interface {
	bindTime(t time.Time) any
}

// scrubber is implemented by dialects whose DSN can carry a password: scrub
// returns err with the password removed from its text (still unwrapping to
// err). Run passes every error it returns through it.
type scrubber interface {
	scrub(err error) error
}

// newDialect picks the dialect from the DSN's scheme.
func newDialect(dsn string) (dialect, error) {
	if dsn == "" {
		return nil, &ConfigError{errors.New("no DSN: use sqlite://PATH, postgres://USER@HOST/DATABASE or oracle://USER:PASSWORD@HOST:PORT/SERVICE")}
	}
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		// The DSN is not echoed: other schemes carry passwords.
		return nil, &ConfigError{errors.New("DSN has no scheme: want SCHEME://…, e.g. sqlite://data.db")}
	}
	switch strings.ToLower(scheme) {
	case "sqlite":
		return newSQLite(rest)
	case "postgres", "postgresql":
		return newPostgres(strings.ToLower(scheme) + "://" + rest)
	case "oracle":
		return newOracle("oracle://" + rest)
	}
	return nil, &ConfigError{fmt.Errorf("unsupported DSN scheme %q (supported: sqlite, postgres, oracle)", scheme)}
}

// queries are the workload's statements in a dialect's syntax.
type queries struct {
	load, insert, read, update, delete string
}

func buildQueries(d dialect) queries {
	p := d.placeholder
	return queries{
		load: "SELECT transaction_id, updated_at FROM transactions",
		insert: fmt.Sprintf("INSERT INTO transactions (transaction_id, amount, currency, product_category, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s)",
			p(1), p(2), p(3), p(4), p(5), p(6)),
		read: fmt.Sprintf("SELECT amount, currency, product_category, created_at, updated_at FROM transactions WHERE transaction_id = %s%s",
			p(1), d.lockRow()),
		update: fmt.Sprintf("UPDATE transactions SET amount = %s, product_category = %s, updated_at = %s WHERE transaction_id = %s",
			p(1), p(2), p(3), p(4)),
		delete: fmt.Sprintf("DELETE FROM transactions WHERE transaction_id = %s", p(1)),
	}
}

// sqliteDialect drives a database file through modernc.org/sqlite.
//
// Every transaction starts with BEGIN IMMEDIATE (_txlock=immediate), so it
// holds the database's single write lock from its first statement to
// COMMIT. Writers therefore never deadlock on a lock upgrade, but they are
// serialised: while one transaction is open (a long one included) the others
// wait in BEGIN for up to busy_timeout and then fail with SQLITE_BUSY, which
// the workload retries. Commits cannot reorder on SQLite.
type sqliteDialect struct{ path string }

func newSQLite(path string) (*sqliteDialect, error) {
	if path == "" {
		return nil, &ConfigError{errors.New("sqlite DSN has no path: want sqlite://PATH")}
	}
	path = filepath.Clean(path)
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &ConfigError{fmt.Errorf("sqlite://%s: directory %s does not exist", path, dir)}
	case err != nil:
		return nil, &ConfigError{fmt.Errorf("sqlite://%s: %w", path, err)}
	case !fi.IsDir():
		return nil, &ConfigError{fmt.Errorf("sqlite://%s: %s is not a directory", path, dir)}
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, &ConfigError{fmt.Errorf("sqlite://%s is a directory, not a database file", path)}
	}
	return &sqliteDialect{path: path}, nil
}

func (d *sqliteDialect) open(ctx context.Context) (*sql.DB, error) {
	// WAL lets readers (the capture inputs) run while the workload writes;
	// _time_format=sqlite stores a time.Time as text that SQLite's date
	// functions understand and that reads back exactly.
	db, err := sql.Open("sqlite", sqlitedb.DSN(d.path, true))
	if err != nil {
		return nil, fmt.Errorf("open sqlite://%s: %w", d.path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite://%s: %w", d.path, err)
	}
	return db, nil
}

func (d *sqliteDialect) createSchema(ctx context.Context, db *sql.DB) error {
	if err := createTransactions(ctx, db, "INTEGER"); err != nil {
		return fmt.Errorf("create schema on sqlite://%s: %w", d.path, err)
	}
	return nil
}

// createTransactions creates DESIGN.md's transactions table, with the
// dialect's key type, and the index timestamp polling reads
// (updated_at, transaction_id) ranges with, if they are missing. TIMESTAMP
// columns hold UTC wall-clock values on every database, so a reader sees
// the same values whatever its time zone.
func createTransactions(ctx context.Context, db *sql.DB, keyType string) error {
	for _, stmt := range []string{
		`CREATE TABLE IF NOT EXISTS transactions (
  transaction_id   ` + keyType + ` PRIMARY KEY,
  amount           NUMERIC(12,2) NOT NULL,
  currency         VARCHAR(3)    NOT NULL,
  product_category VARCHAR(32)   NOT NULL,
  created_at       TIMESTAMP     NOT NULL,
  updated_at       TIMESTAMP     NOT NULL
)`,
		`CREATE INDEX IF NOT EXISTS transactions_updated_at ON transactions (updated_at, transaction_id)`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

func (*sqliteDialect) placeholder(int) string { return "?" }

// lockRow is empty: BEGIN IMMEDIATE already holds the write lock.
func (*sqliteDialect) lockRow() string { return "" }

func (*sqliteDialect) retryable(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	// Extended codes (SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED_SHAREDCACHE, …)
	// carry the primary code in the low byte.
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}
