package workload

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib" // registers the database/sql driver "pgx"
)

// postgresDialect drives a PostgreSQL database through pgx's database/sql
// driver.
//
// Transactions run at READ COMMITTED with row locks: the read before an
// update or delete is SELECT … FOR UPDATE, so writers only wait for each
// other on the same row (which the workload's reserved ids already avoid).
// A long transaction therefore holds its one row lock while the other
// writers go on committing: commits really reorder, and the long
// transaction's updated_at (taken when its change was made) ends up earlier
// than the stamps of changes committed before it.
type postgresDialect struct {
	dsn     string   // as given; only ever handed to the driver
	safe    string   // the DSN with its password replaced, for messages
	secrets []string // what scrub removes from error text
}

// redacted replaces a password in a DSN or an error message.
const redacted = "xxxxx"

func newPostgres(dsn string) (*postgresDialect, error) {
	scheme, _, _ := strings.Cut(dsn, "://")
	u, err := url.Parse(dsn)
	if err != nil {
		// url.Error quotes the whole DSN, password included: say what is
		// wrong without it.
		return nil, &ConfigError{fmt.Errorf("%s DSN is not a valid URL (want %s://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…], with special characters in the password %%-escaped)", scheme, scheme)}
	}
	d := &postgresDialect{dsn: dsn}
	if pw, ok := u.User.Password(); ok {
		d.secrets = append(d.secrets, pw, url.QueryEscape(pw), url.PathEscape(pw))
		// The password as written, whatever its escaping: what follows the
		// first ':' of the user info (everything up to the last '@' of the
		// authority).
		auth, _, _ := strings.Cut(strings.SplitN(dsn, "://", 2)[1], "/")
		if at := strings.LastIndexByte(auth, '@'); at >= 0 {
			if _, raw, ok := strings.Cut(auth[:at], ":"); ok {
				d.secrets = append(d.secrets, raw)
			}
		}
		u.User = url.UserPassword(u.User.Username(), redacted)
	}
	if q := u.Query(); q.Has("password") {
		pw := q.Get("password")
		d.secrets = append(d.secrets, pw, url.QueryEscape(pw))
		q.Set("password", redacted)
		u.RawQuery = q.Encode()
	}
	d.safe = u.String()
	if _, err := pgx.ParseConfig(dsn); err != nil {
		// pgconn redacts the password itself; scrub makes sure.
		return nil, &ConfigError{d.scrub(fmt.Errorf("%s: %w", d.safe, err))}
	}
	return d, nil
}

func (d *postgresDialect) open(ctx context.Context) (*sql.DB, error) {
	db, err := sql.Open("pgx", d.dsn)
	if err != nil {
		return nil, d.scrub(fmt.Errorf("open %s: %w", d.safe, err))
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, d.scrub(fmt.Errorf("open %s: %w", d.safe, err))
	}
	return db, nil
}

func (d *postgresDialect) createSchema(ctx context.Context, db *sql.DB) error {
	if err := createTransactions(ctx, db, "BIGINT"); err != nil {
		return d.scrub(fmt.Errorf("create schema on %s: %w", d.safe, err))
	}
	return nil
}

func (*postgresDialect) placeholder(i int) string { return fmt.Sprintf("$%d", i) }

func (*postgresDialect) lockRow() string { return " FOR UPDATE" }

func (*postgresDialect) retryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "40001", // serialization_failure
		"40P01", // deadlock_detected
		"55P03": // lock_not_available
		return true
	}
	return false
}

// scrub returns err with every trace of the DSN's password replaced. The
// result still unwraps to err, so errors.As finds a ConfigError or a
// PgError inside.
func (d *postgresDialect) scrub(err error) error { return scrubSecrets(err, d.dsn, d.safe, d.secrets) }

// scrubSecrets returns err with the DSN replaced by its safe form and every
// secret replaced by redacted; the result still unwraps to err.
func scrubSecrets(err error, dsn, safe string, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := strings.ReplaceAll(msg, dsn, safe)
	for _, s := range secrets {
		// Very short passwords are left alone rather than garbling the
		// message; the drivers do not print passwords anyway.
		if len(s) >= 4 {
			clean = strings.ReplaceAll(clean, s, redacted)
		}
	}
	if clean == msg {
		return err
	}
	return &scrubbedError{msg: clean, err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// insertRows preloads es with COPY in one transaction: several times faster
// than one INSERT per row.
func (d *postgresDialect) insertRows(ctx context.Context, db *sql.DB, es []Entry) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	return conn.Raw(func(driverConn any) error {
		pc := driverConn.(*stdlib.Conn).Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		defer tx.Rollback(ctx) // after a failed COPY or COMMIT; its error says nothing new
		rows := make([][]any, len(es))
		for i := range es {
			e := &es[i]
			e.CreatedAt = now()
			e.UpdatedAt = e.CreatedAt
			var amount pgtype.Numeric
			if err := amount.Scan(e.Amount); err != nil {
				return fmt.Errorf("amount %q: %w", e.Amount, err)
			}
			rows[i] = []any{e.ID, amount, e.Currency, e.Category, e.CreatedAt, e.UpdatedAt}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"transactions"},
			[]string{"transaction_id", "amount", "currency", "product_category", "created_at", "updated_at"},
			pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("copy %d rows: %w", len(es), err)
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	})
}
