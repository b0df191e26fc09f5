package oracle

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	go_ora "github.com/sijms/go-ora/v2"

	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/plugins/common/secret"
	"github.com/rowflux/rowflux/sdk"
)

// source is the Oracle dialect of the capture engine.
//
// It keeps two sessions of its own rather than a pool: q runs every query
// and delete (the engine reads on one goroutine, CheckpointDurable deletes
// from another, so q is shared under qmu), and w does nothing but wait in
// DBMS_ALERT.WAITONE (cqn), which commits implicitly and blocks, so it
// needs a session to itself. Both get the session settings the SQL relies
// on (NLS_NUMERIC_CHARACTERS) once, when they are opened.
type source struct {
	driver    string // database/sql driver name; "oracle" (go-ora)
	dsn       string
	user      string
	password  string
	strategy  capture.Strategy
	bounded   bool // polling: bound by the oldest open transaction
	legacy    bool // ROWNUM pagination
	cqnMode   string
	changelog string
	echo      func(sdk.Statement)
	test      bool // agent --test: change nothing on the source

	qmu    sync.Mutex
	db     *sql.DB
	q      *sql.Conn
	schema string // the session's current schema

	wmu sync.Mutex
	w   *sql.Conn
	reg bool // w has run DBMS_ALERT.REGISTER

	cmu   sync.Mutex
	convs map[*capture.Table]tableConv
	// tables are the engine's resolved tables, remembered from the reads
	// for DeleteChangelog.
	tables []*capture.Table
	// names maps configured (schema, table) to the stored spelling.
	names map[[2]string]storedName
}

// tableConv turns one table's driver values into event values.
type tableConv struct {
	cols []converter
}

func (s *source) Name() string { return "oracle" }

func (s *source) wrap(err error) error { return redact(s.password, err) }

func (s *source) driverName() string {
	if s.driver == "" {
		return "oracle"
	}
	return s.driver
}

// objects names the capture objects for tables.
func (s *source) objects() objects { return newObjects(s.changelog) }

func (s *source) Connect(ctx context.Context) error {
	s.Close()
	db, err := sql.Open(s.driverName(), s.dsn)
	if err != nil {
		return s.wrap(err)
	}
	// No idle pool: a session is only ever reused through s.q or s.w, and
	// one whose call was interrupted must not come back from a pool.
	db.SetMaxIdleConns(0)
	q, err := s.session(ctx, db)
	if err != nil {
		db.Close()
		return err
	}
	var schema string
	if err := q.QueryRowContext(ctx, currentSchemaSQL).Scan(&schema); err != nil {
		q.Close()
		db.Close()
		return s.wrap(fmt.Errorf("read the current schema: %w", err))
	}
	s.qmu.Lock()
	s.db, s.q, s.schema = db, q, schema
	s.qmu.Unlock()
	return nil
}

// session opens a dedicated session with the settings the SQL relies on.
func (s *source) session(ctx context.Context, db *sql.DB) (*sql.Conn, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, s.wrap(err)
	}
	if _, err := c.ExecContext(ctx, sessionSetupSQL); err != nil {
		c.Close()
		return nil, s.wrap(fmt.Errorf("session setup: %w", err))
	}
	return c, nil
}

func (s *source) Close() error {
	s.wmu.Lock()
	if s.w != nil {
		s.w.Close()
		s.w, s.reg = nil, false
	}
	s.wmu.Unlock()
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if s.q != nil {
		s.q.Close()
		s.q = nil
	}
	if s.db != nil {
		err := s.db.Close()
		s.db = nil
		return err
	}
	return nil
}

// use runs fn on the query session.
func (s *source) use(ctx context.Context, fn func(c *sql.Conn) error) error {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if s.q == nil {
		if s.db == nil {
			return errors.New("not connected")
		}
		// The session was discarded after an interrupted call: open a
		// fresh one (checkpoint deletes run after the engine stopped).
		q, err := s.session(ctx, s.db)
		if err != nil {
			return err
		}
		s.q = q
	}
	err := fn(s.q)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) {
		// An interrupted call leaves the session in an unknown state: the
		// next use reconnects (the engine calls Connect after an error).
		discard(s.q)
		s.q.Close()
		s.q = nil
	}
	return s.wrap(err)
}

// query runs q on the query session and hands each row's driver values to
// fn (the slice is reused between rows).
func (s *source) query(ctx context.Context, text string, args []any, fn func(row []any) error) error {
	return s.use(ctx, func(c *sql.Conn) error {
		rows, err := c.QueryContext(ctx, text, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			return err
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			if err := fn(vals); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

func (s *source) exec(ctx context.Context, text string, args ...any) (int64, error) {
	var n int64
	err := s.use(ctx, func(c *sql.Conn) error {
		r, err := c.ExecContext(ctx, text, args...)
		if err != nil {
			return err
		}
		n, _ = r.RowsAffected()
		return nil
	})
	return n, err
}

func (s *source) owner(schema string) string {
	if schema == "" {
		return s.schema
	}
	return schema
}

// Describe lists a table's columns. Configured names match the stored
// name exactly or, as Oracle folds unquoted names, in upper case.
func (s *source) Describe(ctx context.Context, schema, table string) ([]capture.ColumnInfo, error) {
	var cols []capture.ColumnInfo
	for _, owner := range dedupe(s.owner(schema), fold(s.owner(schema))) {
		for _, name := range dedupe(table, fold(table)) {
			err := s.query(ctx, describeSQL, []any{owner, name}, func(row []any) error {
				n, _ := row[0].(string)
				t, _ := row[1].(string)
				cols = append(cols, capture.ColumnInfo{Name: n, Type: t})
				return nil
			})
			if err != nil {
				return nil, err
			}
			if len(cols) > 0 {
				stored := storedName{table: name}
				if schema != "" {
					stored.schema = owner
				}
				s.cmu.Lock()
				if s.names == nil {
					s.names = map[[2]string]storedName{}
				}
				s.names[[2]string{schema, table}] = stored
				s.cmu.Unlock()
				return cols, nil
			}
		}
	}
	return nil, fmt.Errorf("%s.%s is not visible to this user: %w", s.owner(schema), table, capture.ErrNotFound)
}

type storedName struct{ schema, table string }

// StoredName is the spelling Describe found for a configured name: SQL
// quotes names, so it must use the stored (usually upper-case) one.
func (s *source) StoredName(schema, table string) (string, string) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if n, ok := s.names[[2]string{schema, table}]; ok {
		return n.schema, n.table
	}
	return schema, table
}

func dedupe(a, b string) []string {
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}

// PseudoColumns: under cqn every event carries the row's ROWID, all a
// delete notification knows of the row.
func (s *source) PseudoColumns() []capture.ColumnInfo {
	if s.strategy != capture.Notify {
		return nil
	}
	return []capture.ColumnInfo{{Name: "ROWID", Type: "ROWID"}}
}

// conv returns t's converters, built once.
func (s *source) conv(t *capture.Table) (tableConv, error) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if c, ok := s.convs[t]; ok {
		return c, nil
	}
	exact := t.Config.Decimal == "string"
	var tc tableConv
	for _, c := range t.Columns {
		tc.cols = append(tc.cols, converterFor(c, exact))
	}
	if s.convs == nil {
		s.convs = map[*capture.Table]tableConv{}
	}
	s.convs[t] = tc
	return tc, nil
}

// values converts a row's first len(t.Columns) driver values.
func (s *source) values(t *capture.Table, row []any) ([]any, error) {
	tc, err := s.conv(t)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(t.Columns))
	for i, f := range tc.cols {
		v, err := f(row[i])
		if err != nil {
			return nil, fmt.Errorf("%w: table %s: %w", capture.ErrBadData, t.Config.Name, err)
		}
		out[i] = v
	}
	return out, nil
}

// cursorValue keeps a cursor value as the driver gave it, in a form the
// engine can checkpoint.
func cursorValue(v any) any {
	if f, ok := v.(float32); ok {
		return float64(f)
	}
	return v
}

// upper is polling's bound, computed by the server: its wall clock minus
// lag (bounded by the oldest open transaction) and its zone offset.
type upper struct{ wall, tz string }

func (s *source) PollUpper(ctx context.Context, lag time.Duration) (any, error) {
	var u upper
	err := s.query(ctx, pollUpperSQL(s.bounded), []any{lag.Seconds()}, func(row []any) error {
		u.wall, _ = row[0].(string)
		u.tz, _ = row[1].(string)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if u.wall == "" {
		return nil, errors.New("the server returned no upper bound")
	}
	return u, nil
}

func (s *source) PollPage(ctx context.Context, t *capture.Table, after []any, up any, limit int) (capture.Page, error) {
	u, ok := up.(upper)
	if !ok {
		return capture.Page{}, fmt.Errorf("upper bound of type %T", up)
	}
	text, cursorArgs, err := pollPageSQL(t, after != nil, limit, s.legacy)
	if err != nil {
		return capture.Page{}, err
	}
	args, err := bindArgs(after, cursorArgs, upperArg(t.Columns[t.TSIdx], u.wall, u.tz))
	if err != nil {
		return capture.Page{}, err
	}
	return s.page(ctx, t, text, args, 1+len(t.KeyIdx), nil)
}

// page runs a query whose rows are t's columns followed by n cursor
// values, and, when versions is not nil, the version column first among
// the extra ones (read into versions).
func (s *source) page(ctx context.Context, t *capture.Table, text string, args []any, n int, versions *[]uint64) (capture.Page, error) {
	var p capture.Page
	nc := len(t.Columns)
	err := s.query(ctx, text, args, func(row []any) error {
		vals, err := s.values(t, row)
		if err != nil {
			return err
		}
		p.Rows = append(p.Rows, vals)
		extra := row[nc:]
		if versions != nil {
			v, err := parseSCN(extra[0])
			if err != nil {
				return fmt.Errorf("%w: table %s: ORA_ROWSCN: %w", capture.ErrBadData, t.Config.Name, err)
			}
			*versions = append(*versions, v)
			extra = extra[1:]
		}
		if len(extra) != n {
			return fmt.Errorf("query returned %d cursor columns, want %d", len(extra), n)
		}
		cur := make([]any, n)
		for i, v := range extra {
			cur[i] = cursorValue(v)
		}
		p.Cursor = cur
		return nil
	})
	return p, err
}

// parseSCN reads an SCN, which go-ora returns as a decimal string.
func parseSCN(v any) (uint64, error) {
	switch x := v.(type) {
	case string:
		return strconv.ParseUint(strings.TrimSpace(x), 10, 64)
	case int64:
		if x >= 0 {
			return uint64(x), nil
		}
	case float64:
		if x >= 0 && x < math.MaxUint64 && x == math.Trunc(x) {
			return uint64(x), nil
		}
	}
	return 0, fmt.Errorf("not an SCN: %v (%T)", v, v)
}

// Horizon is CURRENT_SCN, read before each round's delta queries.
func (s *source) Horizon(ctx context.Context) (uint64, error) {
	var h uint64
	err := s.query(ctx, horizonSQL, nil, func(row []any) error {
		var err error
		h, err = parseSCN(row[0])
		return err
	})
	return h, err
}

// Changed reads rows with ORA_ROWSCN ≥ low (a commit at the horizon SCN itself is
// not lost; the engine drops the re-read), paged by key. It does not
// apply high: ORA_ROWSCN is only an upper bound of the commit SCN until
// the block is cleaned out, so a row committed below the horizon can read
// above it now and below it later; bounding it would lose it. The engine
// drops the rows read ahead when the next round reads them again.
func (s *source) Changed(ctx context.Context, t *capture.Table, low, high uint64, after []any, limit int) (capture.VersionPage, error) {
	if low > math.MaxInt64 {
		return capture.VersionPage{}, fmt.Errorf("SCN %d out of range", low)
	}
	text, err := changedSQL(t, after != nil, limit, s.legacy)
	if err != nil {
		return capture.VersionPage{}, err
	}
	var idx []int
	if after != nil {
		idx = cursorBinds(len(t.KeyIdx))
	}
	args, err := bindArgs(after, idx, int64(low))
	if err != nil {
		return capture.VersionPage{}, err
	}
	var vp capture.VersionPage
	p, err := s.page(ctx, t, text, args, len(t.KeyIdx), &vp.Versions)
	vp.Page = p
	return vp, err
}

// SeqCommitOrdered: triggers fire in many sessions at once, and CQN
// handlers run in several job slaves: sequence order is not commit order.
func (s *source) SeqCommitOrdered() bool { return false }

func (s *source) ReadChangelog(ctx context.Context, tables []*capture.Table, after int64, limit int) ([]capture.Change, error) {
	s.cmu.Lock()
	s.tables = tables
	s.cmu.Unlock()
	if s.strategy == capture.Notify {
		return s.readCQN(ctx, tables, after, limit)
	}
	return s.readTriggers(ctx, tables, after, limit)
}

// readTriggers reads each table's changelog joined with the table's
// current rows and merges them in sequence order.
func (s *source) readTriggers(ctx context.Context, tables []*capture.Table, after int64, limit int) ([]capture.Change, error) {
	o := s.objects()
	var out []capture.Change
	for _, t := range tables {
		text, err := triggerReadSQL(o, t, limit, s.legacy)
		if err != nil {
			return nil, err
		}
		nk := len(t.KeyIdx)
		err = s.query(ctx, text, []any{after}, func(row []any) error {
			c, err := s.triggerChange(t, row, nk)
			if err != nil {
				return err
			}
			out = append(out, c)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b capture.Change) int { return cmpInt64(a.Seq, b.Seq) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// triggerChange decodes one joined row: RF_SEQ, RF_OP, RF_AT, the
// changelog's key values, then the table's columns (all NULL when the row
// is gone). A delete, or a change whose row is gone by now, becomes a
// delete event carrying only the key.
func (s *source) triggerChange(t *capture.Table, row []any, nk int) (capture.Change, error) {
	seq, err := parseSeq(row[0])
	if err != nil {
		return capture.Change{}, fmt.Errorf("%w: changelog of %s: RF_SEQ: %w", capture.ErrBadData, t.Config.Name, err)
	}
	code, _ := row[1].(string)
	op, err := opOf(code)
	if err != nil {
		return capture.Change{}, fmt.Errorf("%w: changelog of %s, seq %d: %w", capture.ErrBadData, t.Config.Name, seq, err)
	}
	at, _ := row[2].(time.Time)
	if at.IsZero() {
		at = time.Now()
	}
	keys := row[3 : 3+nk]
	cols := row[3+nk:]
	gone := true
	for _, i := range t.KeyIdx {
		if cols[i] != nil {
			gone = false
		}
	}
	c := capture.Change{Seq: seq, Table: t, Op: op, Time: at}
	if op == sdk.OpDelete || gone {
		c.Op = sdk.OpDelete
		c.Values = make([]any, len(t.Columns))
		tc, err := s.conv(t)
		if err != nil {
			return c, err
		}
		for j, i := range t.KeyIdx {
			v, err := tc.cols[i](keys[j])
			if err != nil {
				return c, fmt.Errorf("%w: changelog of %s, seq %d: %w", capture.ErrBadData, t.Config.Name, seq, err)
			}
			c.Values[i] = v
		}
		return c, nil
	}
	c.Values, err = s.values(t, cols)
	return c, err
}

// parseSeq reads a changelog sequence number (a NUMBER: a decimal string).
func parseSeq(v any) (int64, error) {
	switch x := v.(type) {
	case string:
		return strconv.ParseInt(strings.TrimSpace(x), 10, 64)
	case int64:
		return x, nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), nil
		}
	}
	return 0, fmt.Errorf("not a sequence number: %v (%T)", v, v)
}

// DeleteChangelog removes consumed rows: from every table's changelog
// (trigger; the engine does not say which table a sequence came from) or
// from the cqn changelog, in IN-lists of at most 1000 (ORA-01795).
func (s *source) DeleteChangelog(ctx context.Context, seqs []int64) error {
	s.cmu.Lock()
	tables := s.tables
	s.cmu.Unlock()
	o := s.objects()
	return s.deleteSeqs(ctx, func(n int) []string {
		if s.strategy == capture.Notify {
			return []string{cqnDeleteSQL(o, n)}
		}
		var out []string
		for _, t := range tables {
			out = append(out, triggerDeleteSQL(o, t, n))
		}
		return out
	}, seqs)
}

func (s *source) deleteSeqs(ctx context.Context, sqlFor func(n int) []string, seqs []int64) error {
	for start := 0; start < len(seqs); start += 1000 {
		chunk := seqs[start:min(start+1000, len(seqs))]
		args := make([]any, len(chunk))
		for i, v := range chunk {
			args[i] = v
		}
		for _, text := range sqlFor(len(chunk)) {
			if _, err := s.exec(ctx, text, args...); err != nil {
				return err
			}
		}
	}
	return nil
}

// readCQN reads the cqn changelog and turns its records into changes:
// rows fetched by ROWID for inserts and updates, deletes carrying the
// ROWID, whole-table rescans for ALL_ROWS markers and for ROWIDs whose row
// is gone without a later delete record (the row moved), and a
// re-registration for a deregistration record.
func (s *source) readCQN(ctx context.Context, tables []*capture.Table, after int64, limit int) ([]capture.Change, error) {
	o := s.objects()
	byName := map[string]*capture.Table{}
	for _, t := range tables {
		byName[cqnTableName(t, s.schema)] = t
	}
	text := cqnReadSQL(o, tables, s.schema, limit, s.legacy)
	var recs []cqnRecord
	err := s.query(ctx, text, []any{after}, func(row []any) error {
		r, err := parseCQNRecord(row)
		if err != nil {
			return fmt.Errorf("%w: cqn changelog: %w", capture.ErrBadData, err)
		}
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.cqnChanges(ctx, o, tables, byName, recs)
}

// cqnChanges resolves records (in sequence order) into changes.
//
// A rescan reads the table after every record of this read was
// committed, so one rescan per table answers all of the read's records
// that need one. It is emitted at the place of the last of them and with
// its sequence number: the engine skips sequence numbers it emitted
// before (drains re-read records until the checkpoint deletes them), so
// tagging a new rescan with an old record's number would drop it. The
// earlier records are deleted directly — the last one stays until its
// checkpoint is durable, so a crash runs the rescan again.
func (s *source) cqnChanges(ctx context.Context, o objects, tables []*capture.Table, byName map[string]*capture.Table, recs []cqnRecord) ([]capture.Change, error) {
	var dereg []int64
	want := map[*capture.Table][]string{} // ROWIDs to fetch per table
	lastDelete := map[string]int64{}      // table + ROWID → last delete record's seq
	for _, r := range recs {
		if r.op == cqnDereg {
			dereg = append(dereg, r.seq)
			continue
		}
		t := byName[r.table]
		if t == nil {
			return nil, fmt.Errorf("%w: cqn changelog row %d names table %q, which this input does not capture", capture.ErrBadData, r.seq, r.table)
		}
		if r.op == cqnInsert || r.op == cqnUpdate || r.op == cqnDelete {
			want[t] = append(want[t], r.rowid)
		}
		if r.op == cqnDelete {
			lastDelete[r.table+"\x00"+r.rowid] = r.seq
		}
	}
	found := map[*capture.Table]map[string][]any{}
	for t, ids := range want {
		rows, err := s.rowsByROWID(ctx, t, ids)
		if err != nil {
			return nil, err
		}
		found[t] = rows
	}
	// needsRescan: a marker, or an insert or update whose ROWID finds no
	// row and no later delete record explains it (the row moved: row
	// movement, shrink, partition moves change ROWIDs).
	needsRescan := func(r cqnRecord) bool {
		switch r.op {
		case cqnRescan:
			return true
		case cqnInsert, cqnUpdate:
			_, ok := found[byName[r.table]][r.rowid]
			return !ok && lastDelete[r.table+"\x00"+r.rowid] < r.seq
		}
		return false
	}
	rescanAt := map[*capture.Table]int{}
	for i, r := range recs {
		if r.op != cqnDereg && needsRescan(r) {
			rescanAt[byName[r.table]] = i
		}
	}
	var out []capture.Change
	var consumed []int64 // records answered by this read's rescan of their table
	for i, r := range recs {
		if r.op == cqnDereg {
			continue
		}
		t := byName[r.table]
		if needsRescan(r) {
			if rescanAt[t] != i {
				consumed = append(consumed, r.seq)
				continue
			}
			rows, err := s.rescan(ctx, t)
			if err != nil {
				return nil, err
			}
			if len(rows) == 0 {
				consumed = append(consumed, r.seq)
			}
			for _, v := range rows {
				out = append(out, capture.Change{Seq: r.seq, Table: t, Op: sdk.OpUpsert, Values: v, Time: r.at})
			}
			continue
		}
		switch r.op {
		case cqnDelete:
			out = append(out, capture.Change{Seq: r.seq, Table: t, Op: sdk.OpDelete, Values: s.rowidOnly(t, r.rowid), Time: r.at})
			if v, ok := found[t][r.rowid]; ok {
				// The ROWID was reused by a row inserted after the delete
				// (handlers can record out of commit order): follow the
				// delete with the row that lives there now, so that a
				// consumer keyed by ROWID ends with it.
				out = append(out, capture.Change{Seq: r.seq, Table: t, Op: sdk.OpUpsert, Values: v, Time: r.at})
			}
		case cqnInsert, cqnUpdate:
			if v, ok := found[t][r.rowid]; ok {
				op := sdk.OpInsert
				if r.op == cqnUpdate {
					op = sdk.OpUpdate
				}
				out = append(out, capture.Change{Seq: r.seq, Table: t, Op: op, Values: v, Time: r.at})
			} else {
				// Gone, and a later delete record of this read reports it.
				out = append(out, capture.Change{Seq: r.seq, Table: t, Op: sdk.OpDelete, Values: s.rowidOnly(t, r.rowid), Time: r.at})
			}
		}
	}
	if len(consumed) > 0 && !s.test {
		if err := s.deleteSeqs(ctx, func(n int) []string { return []string{cqnDeleteSQL(o, n)} }, consumed); err != nil {
			return nil, err
		}
	}
	if len(dereg) > 0 && !s.test {
		if err := s.reregister(ctx, tables, dereg); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// rowidOnly is a delete's values: all NULL but the ROWID pseudo column.
func (s *source) rowidOnly(t *capture.Table, rowid string) []any {
	v := make([]any, len(t.Columns))
	for i, c := range t.Columns {
		if c.Type == "ROWID" {
			v[i] = rowid
		}
	}
	return v
}

// rowsByROWID fetches current rows by ROWID, in IN-lists of at most 1000.
func (s *source) rowsByROWID(ctx context.Context, t *capture.Table, ids []string) (map[string][]any, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	out := make(map[string][]any, len(ids))
	for start := 0; start < len(ids); start += 1000 {
		chunk := ids[start:min(start+1000, len(ids))]
		args := make([]any, len(chunk))
		for i, v := range chunk {
			args[i] = v
		}
		if err := s.query(ctx, rowidFetchSQL(t, len(chunk)), args, func(row []any) error {
			id, _ := row[0].(string)
			vals, err := s.values(t, row[1:])
			if err != nil {
				return err
			}
			out[id] = vals
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// rescan reads a whole table (an ALL_ROWS notification, a registration
// gap, or a moved row).
func (s *source) rescan(ctx context.Context, t *capture.Table) ([][]any, error) {
	var rows [][]any
	err := s.query(ctx, rescanSQL(t), nil, func(row []any) error {
		vals, err := s.values(t, row[1:])
		if err != nil {
			return err
		}
		rows = append(rows, vals)
		return nil
	})
	return rows, err
}

// reregister answers a deregistration (timeout, lost privilege, dropped
// table): the registration is made again (it records rescan markers for
// the gap), and the deregistration records are removed. If the database
// refuses, capture stops loudly: without a registration nothing would be
// captured.
func (s *source) reregister(ctx context.Context, tables []*capture.Table, seqs []int64) error {
	stmts, err := registrationScript(s.objects(), tables, s.scriptOptions())
	if err != nil {
		return capture.Permanent(err)
	}
	for _, st := range stmts {
		s.echo(st)
		if _, err := s.exec(ctx, st.SQL); err != nil {
			return capture.Permanent(fmt.Errorf("the change notification registration was removed by the database and registering again failed (run agent doctor): %s: %w", st.Purpose, err))
		}
	}
	o := s.objects()
	return s.deleteSeqs(ctx, func(n int) []string { return []string{cqnDeleteSQL(o, n)} }, seqs)
}

// Wait blocks in DBMS_ALERT.WAITONE on the wait session for at most
// timeout (a server-side bound: go-ora is slow to honour cancellation).
func (s *source) Wait(ctx context.Context, timeout time.Duration) (bool, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.qmu.Lock()
	db := s.db
	s.qmu.Unlock()
	if db == nil {
		return false, errors.New("not connected")
	}
	alert := s.objects().Alert()
	if s.w == nil {
		w, err := s.session(ctx, db)
		if err != nil {
			return false, err
		}
		s.w, s.reg = w, false
	}
	if !s.reg {
		if _, err := s.w.ExecContext(ctx, alertRegisterSQL, alert); err != nil {
			s.dropWait()
			return false, s.wrap(fmt.Errorf("DBMS_ALERT.REGISTER: %w", err))
		}
		s.reg = true
	}
	secs := int64(math.Ceil(timeout.Seconds()))
	if secs < 1 {
		secs = 1
	}
	var msg string
	var status int64
	_, err := s.w.ExecContext(ctx, alertWaitSQL, alert, go_ora.Out{Dest: &msg, Size: 1800}, go_ora.Out{Dest: &status}, secs)
	if err != nil {
		// A wait interrupted by cancellation leaves the session in an
		// unknown state: open a new one next time.
		s.dropWait()
		return false, s.wrap(fmt.Errorf("DBMS_ALERT.WAITONE: %w", err))
	}
	return status == 0, nil
}

func (s *source) dropWait() {
	if s.w != nil {
		discard(s.w)
		s.w.Close()
		s.w, s.reg = nil, false
	}
}

// redact returns err with the DSN's password hidden.
func redact(password string, err error) error { return secret.Redact(password, err) }

// discard marks c's session bad so that database/sql closes it instead of
// reusing it: go-ora does not mark a session whose call was cancelled as
// broken, and its state is unknown (a break may still be in flight).
func discard(c *sql.Conn) {
	_ = c.Raw(func(any) error { return driver.ErrBadConn })
}
