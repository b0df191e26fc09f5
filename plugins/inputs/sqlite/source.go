package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/plugins/common/sqlitedb"
	"github.com/rowflux/rowflux/sdk"

	_ "modernc.org/sqlite" // the pure-Go driver, registered as "sqlite"
)

// source is the SQLite dialect of the capture engine.
type source struct {
	path       string
	changelog  string
	checkEvery time.Duration

	mu  sync.Mutex
	db  *sql.DB
	pin *sql.Conn // PRAGMA data_version is per connection: always ask the same one
	ver int64

	// layouts caches row-image column mappings; only ReadChangelog, on the
	// engine's goroutine, uses it.
	layouts map[imageKey][]int
}

func quote(ident string) string { return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"` }

func literal(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

func (s *source) Name() string { return "sqlite" }

func (s *source) Connect(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
	if _, err := os.Stat(s.path); err != nil {
		return fmt.Errorf("database file: %w", err)
	}
	db, err := sql.Open("sqlite", sqlitedb.DSN(s.path, false))
	if err != nil {
		return err
	}
	pin, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return fmt.Errorf("open %s: %w", s.path, err)
	}
	if err := pin.QueryRowContext(ctx, "PRAGMA data_version").Scan(&s.ver); err != nil {
		pin.Close()
		db.Close()
		return fmt.Errorf("open %s: %w", s.path, err)
	}
	s.db, s.pin = db, pin
	return nil
}

func (s *source) closeLocked() {
	if s.pin != nil {
		s.pin.Close()
		s.pin = nil
	}
	if s.db != nil {
		s.db.Close()
		s.db = nil
	}
}

func (s *source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
	return nil
}

func (s *source) handle() (*sql.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil, errors.New("not connected")
	}
	return s.db, nil
}

// begin starts a write transaction (IMMEDIATE, from the DSN).
func (s *source) begin(ctx context.Context) (*sql.Tx, error) {
	db, err := s.handle()
	if err != nil {
		return nil, err
	}
	return db.BeginTx(ctx, nil)
}

func schemaPrefix(schema string) string {
	if schema == "" {
		return ""
	}
	return quote(schema) + "."
}

func (s *source) Describe(ctx context.Context, schema, table string) ([]capture.ColumnInfo, error) {
	db, err := s.handle()
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, "SELECT name, type FROM "+schemaPrefix(schema)+"pragma_table_info(?)", table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []capture.ColumnInfo
	for rows.Next() {
		var c capture.ColumnInfo
		if err := rows.Scan(&c.Name, &c.Type); err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("no such table in %s: %w", s.path, capture.ErrNotFound)
	}
	return cols, nil
}

func columnList(t *capture.Table) string {
	var b strings.Builder
	for i, c := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(c.Name))
	}
	return b.String()
}

func tableRef(t *capture.Table) string { return schemaPrefix(t.Schema) + quote(t.Name) }

// PollUpper is now − lag. SQLite admits one writer at a time, so there is
// no set of open transactions to bound by; rows whose timestamp is taken
// long before their commit are what lag covers.
func (s *source) PollUpper(_ context.Context, lag time.Duration) (any, error) {
	return time.Now().UTC().Add(-lag), nil
}

// PollPage compares (timestamp, key) as a row value. Timestamps compare as
// text, which orders correctly for ISO-8601 UTC text in one format — what
// SQLite's date functions and rowflux's workload write. The cursor is read
// as stored (+col has no declared type, so the driver does not turn it into
// a time.Time whose rebound text could sort differently from the stored one).
func (s *source) PollPage(ctx context.Context, t *capture.Table, after []any, upper any, limit int) (capture.Page, error) {
	db, err := s.handle()
	if err != nil {
		return capture.Page{}, err
	}
	order := []string{quote(t.Columns[t.TSIdx].Name)}
	for _, k := range t.KeyIdx {
		order = append(order, quote(t.Columns[k].Name))
	}
	raw := make([]string, len(order))
	for i, c := range order {
		raw[i] = "+" + c
	}
	var q strings.Builder
	fmt.Fprintf(&q, "SELECT %s, %s FROM %s WHERE %s < ?", columnList(t), strings.Join(raw, ", "), tableRef(t), order[0])
	args := []any{upper}
	if after != nil {
		fmt.Fprintf(&q, " AND (%s) > (%s)", strings.Join(order, ", "), strings.TrimSuffix(strings.Repeat("?, ", len(after)), ", "))
		args = append(args, after...)
	}
	fmt.Fprintf(&q, " ORDER BY %s LIMIT ?", strings.Join(order, ", "))
	args = append(args, limit)
	rows, err := db.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return capture.Page{}, err
	}
	defer rows.Close()
	kinds := make([]kind, len(t.Columns))
	for i, c := range t.Columns {
		kinds[i] = kindOf(c.Type)
	}
	var page capture.Page
	n := len(t.Columns)
	for rows.Next() {
		vals := make([]any, n+len(raw))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return capture.Page{}, err
		}
		for i := range n {
			vals[i] = normalize(kinds[i], vals[i])
		}
		page.Rows = append(page.Rows, vals[:n:n])
		page.Cursor = vals[n:]
	}
	return page, rows.Err()
}

func (s *source) SeqCommitOrdered() bool { return true }

func (s *source) ReadChangelog(ctx context.Context, tables []*capture.Table, after int64, limit int) ([]capture.Change, error) {
	db, err := s.handle()
	if err != nil {
		return nil, err
	}
	byName := make(map[string]*capture.Table, len(tables))
	args := []any{after}
	for _, t := range tables {
		byName[t.Name] = t
		args = append(args, t.Name)
	}
	args = append(args, limit)
	q := fmt.Sprintf("SELECT seq, table_name, op, row_image, changed_at FROM %s WHERE seq > ? AND table_name IN (%s) ORDER BY seq LIMIT ?",
		quote(s.changelog), strings.TrimSuffix(strings.Repeat("?, ", len(tables)), ", "))
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil, fmt.Errorf("changelog table %s is missing: run `agent setup --config FILE` or set auto_setup = true: %w", s.changelog, capture.ErrNotFound)
		}
		return nil, err
	}
	defer rows.Close()
	var out []capture.Change
	for rows.Next() {
		var (
			seq            int64
			table, op, img string
			changedAt      string
		)
		if err := rows.Scan(&seq, &table, &op, &img, &changedAt); err != nil {
			return nil, err
		}
		t := byName[table]
		c := capture.Change{Seq: seq, Table: t}
		if c.Op, err = sdk.ParseOp(op); err != nil {
			return nil, fmt.Errorf("changelog row %d of %s (%s): %w: %v", seq, table, s.changelog, capture.ErrBadData, err)
		}
		if c.Values, err = s.decodeImage(t, img); err != nil {
			return nil, fmt.Errorf("changelog row %d of %s (%s): %w: %v", seq, table, s.changelog, capture.ErrBadData, err)
		}
		if at, ok := parseTime(changedAt); ok {
			c.Time = at
		} else {
			c.Time = time.Now()
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// decodeImage maps an image's values onto the table's columns by the
// names in its header. The mapping is cached per (table, header): a table
// has one header as long as its trigger is unchanged.
func (s *source) decodeImage(t *capture.Table, img string) ([]any, error) {
	header, raw, err := parseImage(img)
	if err != nil {
		return nil, err
	}
	key := imageKey{t, header}
	m, ok := s.layouts[key]
	if !ok {
		names, err := parseHeader(header)
		if err != nil {
			return nil, err
		}
		m = make([]int, len(names))
		for i, n := range names {
			m[i] = -1
			for j, c := range t.Columns {
				if c.Name == n {
					m[i] = j
				}
			}
		}
		if s.layouts == nil {
			s.layouts = map[imageKey][]int{}
		}
		s.layouts[key] = m
	}
	if len(raw) != len(m) {
		return nil, fmt.Errorf("row image has %d values for %d columns", len(raw), len(m))
	}
	vals := make([]any, len(t.Columns))
	for i, v := range raw {
		j := m[i]
		if j < 0 {
			continue // a column no longer captured
		}
		vals[j] = normalize(kindOf(t.Columns[j].Type), v)
	}
	return vals, nil
}

type imageKey struct {
	t      *capture.Table
	header string
}

// DeleteChangelog deletes exactly the given rows, one statement per run of
// consecutive sequence numbers (a run of emitted numbers cannot contain a
// row that was not emitted).
func (s *source) DeleteChangelog(ctx context.Context, seqs []int64) error {
	sorted := slices.Clone(seqs)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, "DELETE FROM "+quote(s.changelog)+" WHERE seq BETWEEN ? AND ?")
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i := 0; i < len(sorted); {
		j := i
		for j+1 < len(sorted) && sorted[j+1] == sorted[j]+1 {
			j++
		}
		if _, err := stmt.ExecContext(ctx, sorted[i], sorted[j]); err != nil {
			return err
		}
		i = j + 1
	}
	return tx.Commit()
}

// Wait polls PRAGMA data_version on the pinned connection: it changes when
// another connection commits, costs microseconds, and holds no read
// transaction between checks (which would stop WAL checkpoints).
func (s *source) Wait(ctx context.Context, timeout time.Duration) (bool, error) {
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		pin := s.pin
		s.mu.Unlock()
		if pin == nil {
			return false, errors.New("not connected")
		}
		var v int64
		if err := pin.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
			return false, err
		}
		s.mu.Lock()
		changed := v != s.ver
		s.ver = v
		s.mu.Unlock()
		if changed {
			return true, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false, nil
		}
		t := time.NewTimer(min(s.checkEvery, left))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		}
	}
}
