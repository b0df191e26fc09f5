package workload

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	go_ora "github.com/sijms/go-ora/v2" // also registers the database/sql driver "oracle"
	"github.com/sijms/go-ora/v2/network"
)

// oracleDialect drives an Oracle database through go-ora (pure Go, no
// Instant Client), DSN oracle://USER:PASSWORD@HOST:PORT/SERVICE[?OPTIONS].
//
// Transactions run at Oracle's READ COMMITTED with row locks: the read
// before an update or delete is SELECT … FOR UPDATE, so writers only wait
// for each other on the same row (which the workload's reserved ids
// already avoid). As on PostgreSQL, a long transaction holds its one row
// lock while the other writers go on committing: commits really reorder.
// An Oracle transaction begins with its first change, not at BEGIN.
//
// # Timestamps
//
// The ledger records created_at/updated_at as instants (UTC), and the
// capture tests compare them with what the agent emits: go-ora returns a
// TIMESTAMP (which has no zone) labelled with the fixed offset of the
// server's SYSTIMESTAMP at connect time, the agent keeps that label, and
// its JSON prints the instant in UTC (cmd/agent's normTime compares
// instants). Timestamp polling, for its part, compares the column with the
// server's wall clock (CAST(SYSTIMESTAMP AS TIMESTAMP) minus the lag).
// Both only agree with the ledger when the column holds the server's wall
// clock — what SYSTIMESTAMP would have said at that instant. Writing UTC
// wall-clock values (as on PostgreSQL) would be right only on a server
// whose operating system runs in UTC (the usual container, not every
// server): elsewhere the agent's events would be shifted by the server's
// offset and polling's lag bound would be hours off.
//
// So the workload keeps taking its stamps from the Go clock (it needs them
// in the ledger, strictly increasing per id, before the statement runs:
// SQL-side SYSTIMESTAMP would need a RETURNING round trip and could not
// keep that order) and binds them as the same instant in the server's
// offset (bindTime). go-ora sends a time.Time as TIMESTAMP WITH TIME ZONE;
// every session also sets its TIME_ZONE to that offset, so the conversion
// to TIMESTAMP stores the server's wall clock whether Oracle keeps the
// value's own wall clock or converts to the session's zone first. Reading
// back, go-ora's label is that same offset, so the workload's own reads
// (.UTC()) get the instant back exactly. Limits: the client's and the
// server's clocks are assumed to agree (as they do when both run on one
// host; the PostgreSQL workload assumes the same), and a daylight-saving
// change of the server's offset during a run is not followed (go-ora's
// labels do not follow it either).
type oracleDialect struct {
	dsn     string   // as given; only ever handed to the driver
	safe    string   // the DSN with its password replaced, for messages
	secrets []string // what scrub removes from error text

	zone *time.Location // the server's SYSTIMESTAMP offset, set by open
}

// oracleSession runs on every connection the workload opens. The decimal
// point is pinned because amounts are bound as text ("412.07") and Oracle
// converts text to NUMBER with the session's NLS_NUMERIC_CHARACTERS; the
// time zone is the server's own offset, for the reason given on
// oracleDialect. The offset is only known inside the session, hence the
// dynamic SQL.
const oracleSession = `BEGIN
  EXECUTE IMMEDIATE 'ALTER SESSION SET NLS_NUMERIC_CHARACTERS = ''.,''';
  EXECUTE IMMEDIATE 'ALTER SESSION SET TIME_ZONE = ''' || TO_CHAR(SYSTIMESTAMP, 'TZH:TZM') || '''';
END;`

// oracleCreateTable is DESIGN.md's transactions table in Oracle types.
// ROWDEPENDENCIES makes ORA_ROWSCN (the rowscn strategy's version) track
// each row instead of its whole block; it cannot be added to an existing
// table without rebuilding it. examples/oracle/setup.sql carries the same
// text (a test checks).
const oracleCreateTable = `CREATE TABLE transactions (
  transaction_id   NUMBER(19)    PRIMARY KEY,
  amount           NUMBER(12,2)  NOT NULL,
  currency         VARCHAR2(3)   NOT NULL,
  product_category VARCHAR2(32)  NOT NULL,
  created_at       TIMESTAMP(6)  NOT NULL,
  updated_at       TIMESTAMP(6)  NOT NULL
) ROWDEPENDENCIES`

// oracleCreateIndex is the index timestamp polling reads
// (updated_at, transaction_id) ranges with.
const oracleCreateIndex = `CREATE INDEX transactions_updated_at ON transactions (updated_at, transaction_id)`

// oracleSchema is what createSchema runs: each DDL statement inside a
// PL/SQL block that ignores "already exists" (Oracle has no IF NOT EXISTS
// before 23ai): ORA-00955 name already used by an existing object, and for
// the index ORA-01408 such column list already indexed (the same index
// under another name).
var oracleSchema = []string{
	ignoreErrors(oracleCreateTable, 955),
	ignoreErrors(oracleCreateIndex, 955, 1408),
}

// ignoreErrors wraps a DDL statement (without quotes in it) in a PL/SQL
// block that ignores the given ORA- error numbers.
func ignoreErrors(ddl string, codes ...int) string {
	conds := make([]string, len(codes))
	for i, c := range codes {
		conds[i] = fmt.Sprintf("SQLCODE != -%d", c)
	}
	return "BEGIN\n  EXECUTE IMMEDIATE '" + strings.ReplaceAll(ddl, "'", "''") + "';\nEXCEPTION\n  WHEN OTHERS THEN\n    IF " +
		strings.Join(conds, " AND ") + " THEN\n      RAISE;\n    END IF;\nEND;"
}

func newOracle(dsn string) (*oracleDialect, error) {
	const want = "want oracle://USER:PASSWORD@HOST:PORT/SERVICE[?OPTIONS], with special characters in the password %-escaped"
	u, err := url.Parse(dsn)
	if err != nil {
		// url.Error quotes the whole DSN, password included: say what is
		// wrong without it.
		return nil, &ConfigError{errors.New("oracle DSN is not a valid URL (" + want + ")")}
	}
	d := &oracleDialect{dsn: dsn}
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
	// go-ora's own secret options: WALLET PASSWORD, OS PASSWORD (OS PASS),
	// OS PASSWORD HASH (OS HASH, OS PASSHASH).
	if q := u.Query(); len(q) > 0 {
		changed := false
		for k, vs := range q {
			if uk := strings.ToUpper(k); !strings.Contains(uk, "PASS") && !strings.Contains(uk, "HASH") {
				continue
			}
			for i, v := range vs {
				d.secrets = append(d.secrets, v, url.QueryEscape(v))
				vs[i] = redacted
			}
			changed = true
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	d.safe = u.String()
	if _, err := go_ora.ParseConfig(dsn); err != nil {
		// e.g. "missing port in address", "unknown URL option: x",
		// "empty SID and service name".
		return nil, &ConfigError{d.scrub(fmt.Errorf("%s: %w (%s)", d.safe, err, want))}
	}
	return d, nil
}

func (d *oracleDialect) open(ctx context.Context) (*sql.DB, error) {
	// A connector of our own rather than sql.Open("oracle", …): it runs
	// oracleSession on every new connection, without registering session
	// parameters on go-ora's process-wide driver (which the oracle input
	// may share when both run in one process).
	db := sql.OpenDB(sessionConnector{Connector: go_ora.NewConnector(d.dsn), setup: oracleSession})
	fail := func(err error) (*sql.DB, error) {
		db.Close()
		return nil, d.scrub(fmt.Errorf("open %s: %w", d.safe, err))
	}
	if err := db.PingContext(ctx); err != nil {
		return fail(err)
	}
	var tz string
	if err := db.QueryRowContext(ctx, `SELECT TO_CHAR(SYSTIMESTAMP, 'TZH:TZM') FROM DUAL`).Scan(&tz); err != nil {
		return fail(fmt.Errorf("read the server's time zone offset: %w", err))
	}
	zone, err := parseOffset(tz)
	if err != nil {
		return fail(err)
	}
	d.zone = zone
	return db, nil
}

// sessionConnector runs setup on each connection go-ora opens, before
// database/sql hands it out.
type sessionConnector struct {
	driver.Connector
	setup string
}

func (c sessionConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("the driver's connection (%T) cannot run statements", conn)
	}
	if _, err := ex.ExecContext(ctx, c.setup, nil); err != nil {
		conn.Close()
		return nil, fmt.Errorf("session setup: %w", err)
	}
	return conn, nil
}

// parseOffset reads TO_CHAR(SYSTIMESTAMP, 'TZH:TZM'), e.g. "+02:00",
// "-05:30", into a fixed zone named like go-ora's own labels; "+00:00" is
// time.UTC.
func parseOffset(s string) (*time.Location, error) {
	var h, m int
	s = strings.TrimSpace(s)
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return nil, fmt.Errorf("server time zone offset %q: want ±HH:MM", s)
	}
	if _, err := fmt.Sscanf(s[1:], "%02d:%02d", &h, &m); err != nil || h > 15 || m > 59 {
		return nil, fmt.Errorf("server time zone offset %q: want ±HH:MM", s)
	}
	off := h*3600 + m*60
	if s[0] == '-' {
		off = -off
	}
	if off == 0 {
		return time.UTC, nil
	}
	return time.FixedZone(s, off), nil
}

// bindTime is t as bound to created_at/updated_at: the same instant in the
// server's offset (see oracleDialect).
func (d *oracleDialect) bindTime(t time.Time) any {
	if d.zone == nil {
		return t
	}
	return t.In(d.zone)
}

func (d *oracleDialect) createSchema(ctx context.Context, db *sql.DB) error {
	for _, stmt := range oracleSchema {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return d.scrub(fmt.Errorf("create schema on %s: %w", d.safe, err))
		}
	}
	return nil
}

func (*oracleDialect) placeholder(i int) string { return fmt.Sprintf(":%d", i) }

func (*oracleDialect) lockRow() string { return " FOR UPDATE" }

// retryable: ORA-00060 (deadlock detected while waiting for resource: the
// statement was rolled back, the transaction must be) and ORA-08177
// (cannot serialize access for this transaction, at SERIALIZABLE). The
// workload causes neither by itself. The code is matched, never the text.
func (*oracleDialect) retryable(err error) bool {
	var oe *network.OracleError
	if !errors.As(err, &oe) {
		return false
	}
	switch oe.ErrCode {
	case 60, 8177:
		return true
	}
	return false
}

// scrub returns err with every trace of the DSN's password replaced, still
// unwrapping to err (see postgresDialect.scrub).
func (d *oracleDialect) scrub(err error) error { return scrubSecrets(err, d.dsn, d.safe, d.secrets) }
