package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/plugins/common/secret"
	"github.com/rowflux/rowflux/sdk"
)

// source is the PostgreSQL dialect of the capture engine.
//
// Queries go through a small pgxpool (the engine reads on one goroutine;
// CheckpointDurable deletes from another); the notify strategy adds a
// dedicated connection that ran LISTEN and does nothing but wait.
type source struct {
	dsn       string
	password  string
	schema    string // where the changelog and trigger functions live
	changelog string
	listen    bool // open the LISTEN connection (notify)
	bounded   bool // polling: bound by the oldest open transaction

	qmu  sync.Mutex
	pool *pgxpool.Pool

	lmu      sync.Mutex
	listener *pgx.Conn
}

// dsnPassword finds the password a DSN carries (URL or key=value form).
func dsnPassword(dsn string) string {
	if cfg, err := pgconn.ParseConfig(dsn); err == nil && cfg.Password != "" {
		return cfg.Password
	}
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		p, _ := u.User.Password()
		return p
	}
	return ""
}

// redact returns err with the DSN's password hidden.
func redact(password string, err error) error { return secret.Redact(password, err) }

func (s *source) wrap(err error) error { return redact(s.password, err) }

func ident(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

func literal(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

func schemaOf(t *capture.Table) string {
	if t.Schema == "" {
		return "public"
	}
	return t.Schema
}

func tableRef(t *capture.Table) string { return ident(schemaOf(t), t.Name) }

// qualified is the name a table has in the changelog's table_name column.
func qualified(t *capture.Table) string { return schemaOf(t) + "." + t.Name }

func (s *source) Name() string { return "postgres" }

// applicationName is what the agent's sessions show in pg_stat_activity
// unless the DSN names one: operators find (and may terminate) them by it.
const applicationName = "rowflux"

func nameSessions(params map[string]string) {
	if _, ok := params["application_name"]; !ok {
		params["application_name"] = applicationName
	}
}

func (s *source) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(s.dsn)
	if err != nil {
		return nil, s.wrap(err)
	}
	nameSessions(cfg.RuntimeParams)
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, s.wrap(err)
	}
	return c, nil
}

func (s *source) Connect(ctx context.Context) error {
	s.Close()
	cfg, err := pgxpool.ParseConfig(s.dsn)
	if err != nil {
		return s.wrap(err)
	}
	cfg.MaxConns = 4
	nameSessions(cfg.ConnConfig.RuntimeParams)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return s.wrap(err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return s.wrap(err)
	}
	s.qmu.Lock()
	s.pool = pool
	s.qmu.Unlock()
	if s.listen {
		l, err := s.connect(ctx)
		if err != nil {
			return err
		}
		if _, err := l.Exec(ctx, "LISTEN "+ident(s.channel())); err != nil {
			l.Close(context.Background())
			return s.wrap(fmt.Errorf("listen: %w", err))
		}
		s.lmu.Lock()
		s.listener = l
		s.lmu.Unlock()
	}
	return nil
}

func (s *source) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.qmu.Lock()
	if s.pool != nil {
		s.pool.Close()
		s.pool = nil
	}
	s.qmu.Unlock()
	s.lmu.Lock()
	if s.listener != nil {
		s.listener.Close(ctx)
		s.listener = nil
	}
	s.lmu.Unlock()
	return nil
}

// use runs fn on a pooled connection, holding it for fn's duration.
func (s *source) use(ctx context.Context, fn func(c *pgx.Conn) error) error {
	s.qmu.Lock()
	pool := s.pool
	s.qmu.Unlock()
	if pool == nil {
		return errors.New("not connected")
	}
	err := pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error { return fn(c.Conn()) })
	return s.wrap(err)
}

const describeSQL = `SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`

// Describe lists a table's columns. Names are looked up as given, then
// folded to lower case as PostgreSQL folds unquoted names.
func (s *source) Describe(ctx context.Context, schema, table string) ([]capture.ColumnInfo, error) {
	if schema == "" {
		schema = "public"
	}
	var cols []capture.ColumnInfo
	err := s.use(ctx, func(c *pgx.Conn) error {
		for _, name := range []struct{ schema, table string }{{schema, table}, {strings.ToLower(schema), strings.ToLower(table)}} {
			rows, err := c.Query(ctx, describeSQL, name.schema, name.table)
			if err != nil {
				return err
			}
			cols, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (capture.ColumnInfo, error) {
				var ci capture.ColumnInfo
				err := r.Scan(&ci.Name, &ci.Type)
				return ci, err
			})
			if err != nil || len(cols) > 0 {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("no table %s.%s: %w", schema, table, capture.ErrNotFound)
	}
	return cols, nil
}

// selectList is the table's captured columns, each through selectExpr.
func selectList(t *capture.Table) (string, []kind) {
	exprs := make([]string, len(t.Columns))
	kinds := make([]kind, len(t.Columns))
	for i, c := range t.Columns {
		kinds[i] = kindOf(c.Type)
		exprs[i] = selectExpr(kinds[i], ident(c.Name))
	}
	return strings.Join(exprs, ", "), kinds
}

// cursorExpr and cursorArg give a cursor column's raw form: what the
// engine can checkpoint (int64, float64, bool, time.Time, string) and bind
// back so that it compares exactly as stored.
func cursorExpr(c capture.Column) string {
	switch kindOf(c.Type) {
	case kindInt, kindFloat, kindBool, kindTime:
		return ident(c.Name)
	}
	return ident(c.Name) + "::text"
}

func cursorArg(c capture.Column, n int) string {
	switch kindOf(c.Type) {
	case kindInt, kindFloat, kindBool, kindTime:
		return fmt.Sprintf("$%d::%s", n, c.Type)
	}
	return fmt.Sprintf("$%d::text::%s", n, c.Type)
}

// cursorValue widens pgx's int16/int32/float32 to the types a position
// can store; anything else is kept as the driver returned it.
func cursorValue(v any) any {
	if n, err := sdk.NormalizeValue(v); err == nil {
		return n
	}
	return v
}

// scanPage reads rows of the captured columns followed by extra raw
// columns (the cursor).
func scanPage(rows pgx.Rows, kinds []kind, extra int) (capture.Page, [][]any, error) {
	defer rows.Close()
	var page capture.Page
	var raws [][]any
	n := len(kinds)
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return capture.Page{}, nil, err
		}
		if len(vals) != n+extra {
			return capture.Page{}, nil, fmt.Errorf("query returned %d columns, want %d", len(vals), n+extra)
		}
		for i := range n {
			vals[i] = normalize(kinds[i], vals[i])
		}
		for i := n; i < n+extra; i++ {
			vals[i] = cursorValue(vals[i])
		}
		page.Rows = append(page.Rows, vals[:n:n])
		raws = append(raws, vals[n:])
		page.Cursor = vals[n:]
	}
	return page, raws, rows.Err()
}

// ---- polling ----

// boundMargin is taken off the oldest open transaction's start: a row it
// writes carries now() = xact_start, which must stay above the bound.
const boundMargin = 10 * time.Millisecond

// PollUpper is the lesser of statement_timestamp() − lag and, with
// bound_by_open_transactions, the start of the oldest open transaction of
// another client backend in this database (minus a margin). Without
// pg_read_all_stats other users' xact_start reads as NULL: doctor checks.
func (s *source) PollUpper(ctx context.Context, lag time.Duration) (any, error) {
	var upper time.Time
	q := `SELECT statement_timestamp() - make_interval(secs => $1::float8 / 1e6)`
	if s.bounded {
		q = `SELECT least(statement_timestamp() - make_interval(secs => $1::float8 / 1e6),
  (SELECT min(xact_start) FROM pg_stat_activity
   WHERE datname = current_database() AND pid <> pg_backend_pid()
     AND xact_start IS NOT NULL AND backend_type = 'client backend') - make_interval(secs => $2::float8 / 1e6))`
	}
	err := s.use(ctx, func(c *pgx.Conn) error {
		args := []any{float64(lag.Microseconds())}
		if s.bounded {
			args = append(args, float64(boundMargin.Microseconds()))
		}
		return c.QueryRow(ctx, q, args...).Scan(&upper)
	})
	if err != nil {
		return nil, err
	}
	return upper, nil
}

// PollPage compares (timestamp, key) as a row value, so an index on
// (timestamp_column, key) serves it. upper is a timestamptz: against a
// timestamp without time zone column it is converted in the session's
// TimeZone, which must be the zone the application writes in (UTC in
// rowflux's workload).
func (s *source) PollPage(ctx context.Context, t *capture.Table, after []any, upper any, limit int) (capture.Page, error) {
	order := []capture.Column{t.Columns[t.TSIdx]}
	for _, k := range t.KeyIdx {
		order = append(order, t.Columns[k])
	}
	list, kinds := selectList(t)
	names := make([]string, len(order))
	raw := make([]string, len(order))
	for i, c := range order {
		names[i] = ident(c.Name)
		raw[i] = cursorExpr(c)
	}
	var q strings.Builder
	fmt.Fprintf(&q, "SELECT %s, %s FROM %s WHERE %s < $1::timestamptz", list, strings.Join(raw, ", "), tableRef(t), names[0])
	args := []any{upper}
	if after != nil {
		if len(after) != len(order) {
			return capture.Page{}, fmt.Errorf("cursor has %d values, want %d", len(after), len(order))
		}
		ph := make([]string, len(after))
		for i := range after {
			ph[i] = cursorArg(order[i], len(args)+1)
			args = append(args, after[i])
		}
		fmt.Fprintf(&q, " AND (%s) > (%s)", strings.Join(names, ", "), strings.Join(ph, ", "))
	}
	fmt.Fprintf(&q, " ORDER BY %s LIMIT %d", strings.Join(names, ", "), limit)
	var page capture.Page
	err := s.use(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, q.String(), args...)
		if err != nil {
			return err
		}
		page, _, err = scanPage(rows, kinds, len(order))
		return err
	})
	return page, err
}

// ---- commit_order (xmin) ----

// Horizon is the oldest xid still running: every transaction that can
// still commit has an xid ≥ it. It is cluster-wide, so an open writing
// transaction in any database holds it back (latency, never a loss).
func (s *source) Horizon(ctx context.Context) (uint64, error) {
	var h int64
	err := s.use(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").Scan(&h)
	})
	return uint64(h), err
}

// Fence assigns this query a transaction id, which is above every id
// assigned before it; the snapshot's xmax is not (it is the last completed
// id + 1, and transactions with higher ids may be running), and using it
// let the floor pass a running transaction. The engine asks at most once
// per poll_interval, so the id cost is small.
func (s *source) Fence(ctx context.Context) (uint64, error) {
	var id int64
	err := s.use(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT pg_current_xact_id()::text::bigint").Scan(&id)
	})
	return uint64(id) + 1, err
}

// versionExpr reconstructs a row's 64-bit xid from its 32-bit xmin and the
// horizon $1, for rows known to lie below it.
const versionExpr = "($1::bigint - (($1::bigint - xmin::text::bigint) & 4294967295))"

// firstVersionExpr is the first run's version: every xmin is taken as
// below the horizon (see Changed).
const firstVersionExpr = "greatest(0, $1::bigint - 1 - (($1::bigint - 1 - xmin::text::bigint) & 4294967295))"

// Changed reads the rows whose xid (reconstructed epoch-aware from xmin)
// lies in [low, high), as SOURCES.md gives it:
// ((h − xmin) & 0xFFFFFFFF) BETWEEN 1 AND (h − low), version h − that
// distance. With low = 0 (first run) it reads every visible row, each
// xmin taken as below the horizon (version h − 1 − ((h − 1 − xmin) & 0xFFFFFFFF),
// at least 0): rows of very old frozen tuples, whose xmin PostgreSQL keeps,
// are not mistaken for future ones and lost; a row of a transaction that
// committed above the horizon gets a low first-run version and is read
// again in the next round (a duplicate, never a loss).
//
// xmin cannot be indexed, so every page is a sequential scan of the table
// (the cursor only trims what is returned): this strategy suits moderate
// tables.
func (s *source) Changed(ctx context.Context, t *capture.Table, low, high uint64, after []any, limit int) (capture.VersionPage, error) {
	list, kinds := selectList(t)
	keys := make([]capture.Column, len(t.KeyIdx))
	keyNames := make([]string, len(t.KeyIdx))
	raw := make([]string, len(t.KeyIdx))
	for i, k := range t.KeyIdx {
		keys[i] = t.Columns[k]
		keyNames[i] = ident(t.Columns[k].Name)
		raw[i] = cursorExpr(t.Columns[k])
	}
	vexpr := versionExpr
	if low == 0 {
		vexpr = firstVersionExpr
	}
	var q strings.Builder
	fmt.Fprintf(&q, "SELECT %s, %s AS rowflux_version, %s FROM %s", list, vexpr, strings.Join(raw, ", "), tableRef(t))
	args := []any{int64(high)}
	var where []string
	if low > 0 {
		if low >= high {
			return capture.VersionPage{}, nil
		}
		where = append(where, "((($1::bigint - xmin::text::bigint)) & 4294967295) BETWEEN 1 AND $2::bigint")
		args = append(args, int64(high-low))
	}
	if after != nil {
		if len(after) != 1+len(keys) {
			return capture.VersionPage{}, fmt.Errorf("cursor has %d values, want %d", len(after), 1+len(keys))
		}
		v, ok := after[0].(int64)
		if !ok {
			if u, isU := after[0].(uint64); isU {
				v, ok = int64(u), true
			}
		}
		if !ok {
			return capture.VersionPage{}, fmt.Errorf("cursor version %v (%T) is not an integer", after[0], after[0])
		}
		ph := []string{fmt.Sprintf("$%d::bigint", len(args)+1)}
		args = append(args, v)
		for i, k := range keys {
			ph = append(ph, cursorArg(k, len(args)+1))
			args = append(args, after[1+i])
		}
		where = append(where, fmt.Sprintf("(%s, %s) > (%s)", vexpr, strings.Join(keyNames, ", "), strings.Join(ph, ", ")))
	}
	if len(where) > 0 {
		q.WriteString(" WHERE " + strings.Join(where, " AND "))
	}
	fmt.Fprintf(&q, " ORDER BY rowflux_version, %s LIMIT %d", strings.Join(keyNames, ", "), limit)
	var out capture.VersionPage
	err := s.use(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, q.String(), args...)
		if err != nil {
			return err
		}
		var raws [][]any
		out.Page, raws, err = scanPage(rows, kinds, 1+len(keys))
		for _, r := range raws {
			out.Versions = append(out.Versions, uint64(r[0].(int64)))
		}
		return err
	})
	return out, err
}

// ---- trigger and notify ----

// SeqCommitOrdered is false: bigserial values are taken at insert, not at
// commit, so the engine keeps the set of emitted sequence numbers.
func (s *source) SeqCommitOrdered() bool { return false }

func (s *source) changelogRef() string { return ident(s.schema, s.changelog) }

// channel is the LISTEN/NOTIFY channel: the changelog's name.
func (s *source) channel() string { return s.changelog }

func (s *source) ReadChangelog(ctx context.Context, tables []*capture.Table, after int64, limit int) ([]capture.Change, error) {
	byName := make(map[string]*capture.Table, len(tables))
	names := make([]string, 0, len(tables))
	for _, t := range tables {
		byName[qualified(t)] = t
		names = append(names, qualified(t))
	}
	q := fmt.Sprintf("SELECT seq, table_name, op, row_image::text, changed_at FROM %s WHERE seq > $1 AND table_name = ANY($2) ORDER BY seq LIMIT $3", s.changelogRef())
	var out []capture.Change
	err := s.use(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, q, after, names, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				seq            int64
				table, op, img string
				at             time.Time
			)
			if err := rows.Scan(&seq, &table, &op, &img, &at); err != nil {
				return err
			}
			t := byName[table]
			ch := capture.Change{Seq: seq, Table: t, Time: at.UTC()}
			if ch.Op, err = sdk.ParseOp(op); err != nil {
				return fmt.Errorf("changelog row %d of %s (%s): %w: %v", seq, table, s.changelog, capture.ErrBadData, err)
			}
			if ch.Values, err = decodeImage(t, img); err != nil {
				return fmt.Errorf("changelog row %d of %s (%s): %w: %v", seq, table, s.changelog, capture.ErrBadData, err)
			}
			out = append(out, ch)
		}
		return rows.Err()
	})
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42P01" {
			return nil, fmt.Errorf("changelog table %s is missing: run `agent setup --config FILE` or set auto_setup = true: %w", s.changelogRef(), capture.ErrNotFound)
		}
		return nil, err
	}
	return out, nil
}

// decodeImage maps a jsonb row image onto the table's columns by name.
// Columns missing from the image (added after the trigger) are NULL.
func decodeImage(t *capture.Table, img string) ([]any, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(img), &m); err != nil {
		return nil, err
	}
	vals := make([]any, len(t.Columns))
	for i, c := range t.Columns {
		raw, ok := m[c.Name]
		if !ok {
			continue
		}
		v, err := fromJSON(kindOf(c.Type), raw)
		if err != nil {
			return nil, fmt.Errorf("column %s: %v", c.Name, err)
		}
		vals[i] = v
	}
	return vals, nil
}

// DeleteChangelog deletes exactly the given sequence numbers.
func (s *source) DeleteChangelog(ctx context.Context, seqs []int64) error {
	return s.use(ctx, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, "DELETE FROM "+s.changelogRef()+" WHERE seq = ANY($1)", seqs)
		return err
	})
}

// Wait blocks on the LISTEN connection until a notification arrives (true)
// or timeout passes (false). A timed-out wait leaves the connection usable;
// any other error closes it and is returned, and the engine reconnects.
func (s *source) Wait(ctx context.Context, timeout time.Duration) (bool, error) {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if s.listener == nil {
		return false, errors.New("not listening (not connected)")
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := s.listener.WaitForNotification(wctx)
	if err == nil {
		return true, nil
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if wctx.Err() != nil && !s.listener.IsClosed() {
		return false, nil
	}
	s.listener.Close(context.Background())
	s.listener = nil
	return false, s.wrap(err)
}
