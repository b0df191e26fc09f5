package capture

// Test helpers for the engine's unit tests.
//
// fakeSource is an IN-MEMORY STAND-IN FOR A DATABASE DIALECT, used only to
// test the engine's own logic (strategies, cursors, positions, retries,
// checkpoint-driven deletes). It is not a database and says nothing about
// how a real dialect behaves: there is no SQL, no transaction isolation and
// no type system beyond the sdk value types. The real dialects are tested
// against real databases in their own packages.
//
// What it can do that a test needs:
//   - tables with columns and rows (Describe, PollPage);
//   - a changelog of (seq, table, op, row image) entries, where an entry can
//     be written "uncommitted" (invisible) and committed later, so that a
//     LOWER sequence number becomes visible after a higher one was read, as
//     a late-committing transaction does on a multi-writer database;
//   - failure injection per method ("let K calls pass, then fail the next N
//     with error X"), optionally dropping the connection so that every call
//     fails until Connect succeeds again;
//   - a channel-based Waiter, an Installer that records its calls, and
//     hooks/gates to order the engine's reads against a test's actions.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

var (
	errConnLost     = errors.New("fake: connection lost")
	errNotConnected = errors.New("fake: not connected")
)

type fakeTable struct {
	columns []ColumnInfo
	rows    [][]any // in columns order
}

type fakeChange struct {
	seq       int64
	table     string // lower-case, as a fakeSource table key
	op        sdk.Op
	row       []any // in the fake table's column order
	at        time.Time
	committed bool
}

type failRule struct {
	skip, n int
	err     error
	drop    bool // also lose the connection
}

// fakeSource implements Source, Poller, Changelog, Waiter and Installer.
type fakeSource struct {
	mu sync.Mutex

	tables map[string]*fakeTable // key: lower("schema.table") or lower("table")

	upper any // PollUpper's result; nil means "no upper bound"

	changes       []fakeChange // ordered by seq
	nextSeq       int64
	commitOrdered bool

	connected bool
	rules     map[string][]*failRule
	calls     map[string]int
	order     []string // every call, in order

	readAfters  []int64   // the after argument of every ReadChangelog call
	deleteCalls [][]int64 // every DeleteChangelog call's seqs (failed ones too)
	deleted     [][]int64 // successful DeleteChangelog calls
	waitTimeout int       // Wait calls that timed out
	setups      []Strategy
	setupTables [][]*Table
	doctorCheck []sdk.Check

	wake chan struct{}

	// afterRead, when set, runs after ReadChangelog computed its result and
	// released the fake's lock, before the result is returned to the engine.
	afterRead func(changes []Change)

	// gate, when set, holds ReadChangelog on entry; parked is signalled when
	// a call is held there.
	gate   chan struct{}
	parked chan struct{}
}

func newFake() *fakeSource {
	return &fakeSource{
		tables:  map[string]*fakeTable{},
		rules:   map[string][]*failRule{},
		calls:   map[string]int{},
		nextSeq: 1,
		wake:    make(chan struct{}, 1),
	}
}

// --- set-up and inspection helpers (called by tests) ---

// addTable declares a table; columns are "NAME" or "NAME TYPE".
func (f *fakeSource) addTable(name string, columns ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTable{}
	for _, c := range columns {
		n, typ, _ := strings.Cut(c, " ")
		t.columns = append(t.columns, ColumnInfo{Name: n, Type: typ})
	}
	f.tables[strings.ToLower(name)] = t
}

// insert appends rows (values in table column order) to a table.
func (f *fakeSource) insert(table string, rows ...[]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tables[strings.ToLower(table)]
	for _, r := range rows {
		if len(r) != len(t.columns) {
			panic(fmt.Sprintf("fake: row %v does not fit %s", r, table))
		}
		t.rows = append(t.rows, slices.Clone(r))
	}
}

// setUpper sets what PollUpper returns.
func (f *fakeSource) setUpper(v any) {
	f.mu.Lock()
	f.upper = v
	f.mu.Unlock()
}

// addChange appends a committed (visible) changelog entry; it returns its seq.
func (f *fakeSource) addChange(table string, op sdk.Op, row ...any) int64 {
	return f.write(table, op, row, true)
}

// addUncommitted writes a changelog entry that stays invisible until
// commit(seq): a transaction that took its sequence number early and
// commits late.
func (f *fakeSource) addUncommitted(table string, op sdk.Op, row ...any) int64 {
	return f.write(table, op, row, false)
}

func (f *fakeSource) write(table string, op sdk.Op, row []any, committed bool) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	seq := f.nextSeq
	f.nextSeq++
	f.changes = append(f.changes, fakeChange{seq: seq, table: strings.ToLower(table), op: op, row: slices.Clone(row),
		at: time.Unix(1_700_000_000+seq, 0).UTC(), committed: committed})
	return seq
}

func (f *fakeSource) commit(seq int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.changes {
		if f.changes[i].seq == seq {
			f.changes[i].committed = true
			return
		}
	}
	panic(fmt.Sprintf("fake: no changelog seq %d", seq))
}

// remaining lists the seqs still in the changelog (committed or not).
func (f *fakeSource) remaining() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int64
	for _, c := range f.changes {
		out = append(out, c.seq)
	}
	return out
}

// failAfter lets skip calls of method pass, then fails the next n with err.
// With drop, a failure also loses the connection: every later call fails
// until Connect succeeds again.
func (f *fakeSource) failAfter(method string, skip, n int, err error, drop bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules[method] = append(f.rules[method], &failRule{skip: skip, n: n, err: err, drop: drop})
}

// failNext fails the next n calls of method with err.
func (f *fakeSource) failNext(method string, n int, err error) { f.failAfter(method, 0, n, err, false) }

// loseConnection makes every call fail until Connect succeeds again.
func (f *fakeSource) loseConnection() {
	f.mu.Lock()
	f.connected = false
	f.mu.Unlock()
}

// notify wakes a pending or the next Wait (at most one wake is buffered).
func (f *fakeSource) notify() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *fakeSource) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func (f *fakeSource) callOrder() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.order)
}

func (f *fakeSource) deleteLog() (calls, ok [][]int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.deleteCalls), slices.Clone(f.deleted)
}

func (f *fakeSource) reads() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.readAfters)
}

func (f *fakeSource) setAfterRead(fn func([]Change)) {
	f.mu.Lock()
	f.afterRead = fn
	f.mu.Unlock()
}

// pauseReads returns once the engine is held at the entry of a
// ReadChangelog call, i.e. it is not between a read and its emit.
func (f *fakeSource) pauseReads(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	f.gate = make(chan struct{})
	f.parked = make(chan struct{}, 1)
	parked := f.parked
	f.mu.Unlock()
	select {
	case <-parked:
	case <-time.After(5 * time.Second):
		t.Fatal("engine did not come back to read the changelog")
	}
}

func (f *fakeSource) resumeReads() {
	f.mu.Lock()
	if f.gate != nil {
		close(f.gate)
	}
	f.gate, f.parked = nil, nil
	f.mu.Unlock()
}

// hit records a call and applies failure rules; the caller holds f.mu.
func (f *fakeSource) hit(method string, needConn bool) error {
	f.calls[method]++
	f.order = append(f.order, method)
	for _, r := range f.rules[method] {
		if r.skip > 0 {
			r.skip--
			continue
		}
		if r.n > 0 {
			r.n--
			if r.drop {
				f.connected = false
			}
			return r.err
		}
	}
	if needConn && !f.connected {
		return errNotConnected
	}
	return nil
}

// --- Source ---

func (f *fakeSource) Name() string { return "fake" }

func (f *fakeSource) Connect(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.hit("Connect", false); err != nil {
		return err
	}
	f.connected = true
	return nil
}

func (f *fakeSource) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["Close"]++
	f.connected = false
	return nil
}

func (f *fakeSource) Describe(ctx context.Context, schema, table string) ([]ColumnInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.hit("Describe", true); err != nil {
		return nil, err
	}
	name := table
	if schema != "" {
		name = schema + "." + table
	}
	t, ok := f.tables[strings.ToLower(name)]
	if !ok {
		return nil, fmt.Errorf("fake: table %q: %w", name, ErrNotFound)
	}
	return slices.Clone(t.columns), nil
}

func (f *fakeSource) tableOf(t *Table) *fakeTable {
	name := t.Name
	if t.Schema != "" {
		name = t.Schema + "." + t.Name
	}
	return f.tables[strings.ToLower(name)]
}

// project maps a row in fake column order to t.Columns order.
func project(ft *fakeTable, t *Table, row []any) []any {
	out := make([]any, len(t.Columns))
	for i, c := range t.Columns {
		for j, fc := range ft.columns {
			if strings.EqualFold(fc.Name, c.Name) {
				out[i] = row[j]
			}
		}
	}
	return out
}

// --- Poller ---

func (f *fakeSource) PollUpper(ctx context.Context, lag time.Duration) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.hit("PollUpper", true); err != nil {
		return nil, err
	}
	return f.upper, nil
}

func (f *fakeSource) PollPage(ctx context.Context, t *Table, after []any, upper any, limit int) (Page, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.hit("PollPage", true); err != nil {
		return Page{}, err
	}
	ft := f.tableOf(t)
	if ft == nil {
		return Page{}, fmt.Errorf("fake: table %s: %w", t.Name, ErrNotFound)
	}
	tuple := func(r []any) []any {
		k := []any{r[t.TSIdx]}
		for _, i := range t.KeyIdx {
			k = append(k, r[i])
		}
		return k
	}
	var rows [][]any
	for _, raw := range ft.rows {
		r := project(ft, t, raw)
		if upper != nil && compareValues(r[t.TSIdx], upper) >= 0 {
			continue
		}
		if after != nil && compareTuples(tuple(r), after) <= 0 {
			continue
		}
		rows = append(rows, r)
	}
	slices.SortStableFunc(rows, func(a, b []any) int { return compareTuples(tuple(a), tuple(b)) })
	if len(rows) > limit {
		rows = rows[:limit]
	}
	page := Page{Rows: rows}
	if len(rows) > 0 {
		page.Cursor = tuple(rows[len(rows)-1])
	}
	return page, nil
}

func compareTuples(a, b []any) int {
	for i := range min(len(a), len(b)) {
		if c := compareValues(a[i], b[i]); c != 0 {
			return c
		}
	}
	return len(a) - len(b)
}

func compareValues(a, b any) int {
	switch x := a.(type) {
	case int64:
		return cmpOrdered(x, b.(int64))
	case float64:
		return cmpOrdered(x, b.(float64))
	case string:
		return strings.Compare(x, b.(string))
	case []byte:
		return bytes.Compare(x, b.([]byte))
	case time.Time:
		return x.Compare(b.(time.Time))
	}
	panic(fmt.Sprintf("fake: cannot compare %T", a))
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// --- Changelog ---

func (f *fakeSource) ReadChangelog(ctx context.Context, tables []*Table, after int64, limit int) ([]Change, error) {
	f.mu.Lock()
	gate, parked := f.gate, f.parked
	f.mu.Unlock()
	if gate != nil {
		select {
		case parked <- struct{}{}:
		default:
		}
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}

	f.mu.Lock()
	if err := f.hit("ReadChangelog", true); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	f.readAfters = append(f.readAfters, after)
	var out []Change
	for _, c := range f.changes { // f.changes is in seq order
		if !c.committed || c.seq <= after {
			continue
		}
		for _, t := range tables {
			name := t.Name
			if t.Schema != "" {
				name = t.Schema + "." + t.Name
			}
			if strings.ToLower(name) == c.table {
				out = append(out, Change{Seq: c.seq, Table: t, Op: c.op, Values: project(f.tables[c.table], t, c.row), Time: c.at})
			}
		}
		if len(out) == limit {
			break
		}
	}
	hook := f.afterRead
	f.mu.Unlock()
	if hook != nil {
		hook(out)
	}
	return out, nil
}

func (f *fakeSource) DeleteChangelog(ctx context.Context, seqs []int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleteCalls = append(f.deleteCalls, slices.Clone(seqs))
	if err := f.hit("DeleteChangelog", true); err != nil {
		return err
	}
	f.deleted = append(f.deleted, slices.Clone(seqs))
	f.changes = slices.DeleteFunc(f.changes, func(c fakeChange) bool { return slices.Contains(seqs, c.seq) })
	return nil
}

func (f *fakeSource) SeqCommitOrdered() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.commitOrdered
}

// --- Waiter ---

func (f *fakeSource) Wait(ctx context.Context, timeout time.Duration) (bool, error) {
	f.mu.Lock()
	err := f.hit("Wait", true)
	f.mu.Unlock()
	if err != nil {
		return false, err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-f.wake:
		return true, nil
	case <-t.C:
		f.mu.Lock()
		f.waitTimeout++
		f.mu.Unlock()
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (f *fakeSource) timeouts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.waitTimeout
}

// --- Installer ---

func (f *fakeSource) Setup(ctx context.Context, s Strategy, tables []*Table) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.hit("Setup", true); err != nil {
		return err
	}
	f.setups = append(f.setups, s)
	f.setupTables = append(f.setupTables, tables)
	return nil
}

func (f *fakeSource) Teardown(ctx context.Context, s Strategy, tables []*Table) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hit("Teardown", true)
}

func (f *fakeSource) Doctor(ctx context.Context, s Strategy, tables []*Table) ([]sdk.Check, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.hit("Doctor", true); err != nil {
		return nil, err
	}
	return slices.Clone(f.doctorCheck), nil
}

// Dialects with fewer capabilities, for Supported and Validate.
type (
	pollOnlySource struct {
		Source
		Poller
	}
	triggerOnlySource struct {
		Source
		Changelog
	}
)

// --- recording emitter ---

// recEmitter is an sdk.Emitter that records batches and positions. With
// failAfter >= 0 it accepts that many batches and then fails every Emit
// with failErr, as a shut-down pipeline does.
type recEmitter struct {
	mu        sync.Mutex
	batches   []sdk.Batch
	positions []sdk.Position
	failAfter int
	failErr   error
	failed    int
}

var errPipelineDown = errors.New("recEmitter: pipeline shut down")

func newRec() *recEmitter { return &recEmitter{failAfter: -1} }

func (r *recEmitter) Emit(ctx context.Context, b sdk.Batch, pos sdk.Position) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failAfter >= 0 && len(r.batches) >= r.failAfter {
		r.failed++
		if r.failErr != nil {
			return r.failErr
		}
		return errPipelineDown
	}
	r.batches = append(r.batches, b)
	r.positions = append(r.positions, pos)
	return nil
}

func (r *recEmitter) events() []sdk.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sdk.Event
	for _, b := range r.batches {
		out = append(out, b...)
	}
	return out
}

func (r *recEmitter) batchSizes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for _, b := range r.batches {
		out = append(out, len(b))
	}
	return out
}

func (r *recEmitter) pos() []sdk.Position {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.positions)
}

func (r *recEmitter) lastPos() sdk.Position {
	p := r.pos()
	if len(p) == 0 {
		return nil
	}
	return p[len(p)-1]
}

// waitEvents waits (with a generous deadline) until at least n events
// arrived and returns them.
func (r *recEmitter) waitEvents(t *testing.T, n int) []sdk.Event {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d events", n), func() bool { return len(r.events()) >= n })
	return r.events()
}

// --- running the engine ---

const testDeadline = 5 * time.Second

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// testConfig is a valid config for one table with fast intervals.
func testConfig(strategy string, tables ...TableConfig) *Config {
	c := DefaultConfig()
	c.Strategy = strategy
	c.PollInterval = sdk.Duration(5 * time.Millisecond)
	c.BatchSize = 100
	c.Lag = 0
	c.Tables = tables
	return &c
}

func newEngine(t *testing.T, cfg *Config, src Source, env sdk.Env) *Engine {
	t.Helper()
	e, err := NewEngine(cfg, src, env)
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	return e
}

// running is an engine Run in a goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, e *Engine, from sdk.Position, out sdk.Emitter) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- e.Run(ctx, from, out) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and returns its result (nil after a cancel).
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	return r.wait(t)
}

// wait waits for Run to return by itself.
func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case err, ok := <-r.done:
		if !ok {
			return nil
		}
		close(r.done)
		return err
	case <-time.After(testDeadline):
		t.Fatal("Run did not return")
		return nil
	}
}

// returned reports whether Run has returned, without waiting.
func (r *running) returned() bool { return len(r.done) > 0 }

// ids returns the int64 field key of every event.
func ids(t *testing.T, evs []sdk.Event, key string) []int64 {
	t.Helper()
	out := make([]int64, len(evs))
	for i := range evs {
		v, ok := evs[i].Field(key)
		if !ok {
			t.Fatalf("event %d has no field %q: %+v", i, key, evs[i])
		}
		out[i] = v.(int64)
	}
	return out
}

func seqRange(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func mustDecode(t *testing.T, p sdk.Position) position {
	t.Helper()
	pos, err := decodePosition(p)
	if err != nil {
		t.Fatalf("decode position %s: %v", p, err)
	}
	return pos
}
