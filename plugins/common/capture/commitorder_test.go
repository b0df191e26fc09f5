package capture

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// versionFake is an in-memory stand-in for a database with transaction
// ids, for testing the engine's commit_order loop (not a database). Rows
// carry the id of the transaction that wrote them; the horizon is the
// smallest id still open, or the next id when none is.
type versionFake struct {
	mu      sync.Mutex
	nextXid uint64
	open    map[uint64]bool
	rows    map[int64]vrow // by key
	fail    int            // fail this many Changed calls
	reads   int
	// unbounded: Changed ignores high, as a dialect whose versions are
	// upper bounds (Oracle) must; afterHorizon runs once after a Horizon.
	unbounded    bool
	afterHorizon func()
}

type vrow struct {
	key     int64
	xid     uint64
	payload string
}

func newVersionFake() *versionFake {
	return &versionFake{nextXid: 100, open: map[uint64]bool{}, rows: map[int64]vrow{}}
}

// begin starts a transaction and returns its id.
func (f *versionFake) begin() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	x := f.nextXid
	f.nextXid++
	f.open[x] = true
	return x
}

func (f *versionFake) write(xid uint64, key int64, payload string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rows[key] = vrow{key, xid, payload}
}

func (f *versionFake) commit(xid uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.open, xid)
}

// commitWrite is a one-row transaction.
func (f *versionFake) commitWrite(key int64, payload string) {
	x := f.begin()
	f.write(x, key, payload)
	f.commit(x)
}

func (f *versionFake) Name() string                  { return "versionfake" }
func (f *versionFake) Connect(context.Context) error { return nil }
func (f *versionFake) Close() error                  { return nil }
func (f *versionFake) Describe(_ context.Context, _, table string) ([]ColumnInfo, error) {
	if table != "orders" {
		return nil, ErrNotFound
	}
	return []ColumnInfo{{Name: "id", Type: "bigint"}, {Name: "payload", Type: "text"}}, nil
}

func (f *versionFake) Horizon(context.Context) (uint64, error) {
	f.mu.Lock()
	h := f.nextXid
	for x := range f.open {
		h = min(h, x)
	}
	hook := f.afterHorizon
	f.afterHorizon = nil
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	return h, nil
}

func (f *versionFake) Changed(_ context.Context, t *Table, low, high uint64, after []any, limit int) (VersionPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.fail > 0 {
		f.fail--
		return VersionPage{}, errors.New("connection reset")
	}
	var rows []vrow
	for _, r := range f.rows {
		if f.open[r.xid] || r.xid < low || (r.xid >= high && !f.unbounded) {
			continue
		}
		if after != nil {
			av, ak := uint64(after[0].(int64)), after[1].(int64)
			if r.xid < av || r.xid == av && r.key <= ak {
				continue
			}
		}
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b vrow) int {
		if a.xid != b.xid {
			return int(a.xid) - int(b.xid)
		}
		return int(a.key - b.key)
	})
	if len(rows) > limit {
		rows = rows[:limit]
	}
	var p VersionPage
	for _, r := range rows {
		p.Rows = append(p.Rows, []any{r.key, r.payload})
		p.Versions = append(p.Versions, r.xid)
	}
	if len(rows) > 0 {
		last := rows[len(rows)-1]
		p.Cursor = []any{int64(last.xid), last.key}
	}
	return p, nil
}

func coConfig(batch int) *Config {
	c := DefaultConfig()
	c.Strategy = "commit_order"
	c.BatchSize = batch
	c.PollInterval = sdk.Duration(2 * time.Millisecond)
	c.Tables = []TableConfig{{Name: "orders", Key: []string{"id"}}}
	return &c
}

type coRec struct {
	mu  sync.Mutex
	got []string
	pos []sdk.Position
}

func (r *coRec) Emit(_ context.Context, b sdk.Batch, p sdk.Position) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range b {
		id, _ := e.Field("id")
		pl, _ := e.Field("payload")
		r.got = append(r.got, fmt.Sprintf("%v=%v", id, pl))
	}
	r.pos = append(r.pos, p)
	return nil
}

func (r *coRec) snapshot() ([]string, sdk.Position) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var last sdk.Position
	if len(r.pos) > 0 {
		last = r.pos[len(r.pos)-1]
	}
	return slices.Clone(r.got), last
}

func (r *coRec) wait(t *testing.T, n int) []string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if got, _ := r.snapshot(); len(got) >= n {
			return got
		}
	}
	got, _ := r.snapshot()
	t.Fatalf("got %d events %v, want %d", len(got), got, n)
	return nil
}

func runCO(t *testing.T, f *versionFake, cfg *Config, from sdk.Position, rec *coRec) func() {
	t.Helper()
	e, err := NewEngine(cfg, f, sdk.Env{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, from, rec) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func TestCommitOrderWaitsForTheHorizon(t *testing.T) {
	f := newVersionFake()
	long := f.begin() // opened first
	f.write(long, 1, "long")
	f.commitWrite(2, "a")
	f.commitWrite(3, "b")
	rec := &coRec{}
	stop := runCO(t, f, coConfig(100), nil, rec)
	defer stop()
	// The open transaction holds the horizon at its id: rows of later,
	// committed transactions wait too, so nothing can slip below a
	// watermark that moved past the open one.
	time.Sleep(30 * time.Millisecond)
	if got, _ := rec.snapshot(); len(got) != 0 {
		t.Fatalf("read %v past an open older transaction", got)
	}
	f.commit(long) // commits last
	got := rec.wait(t, 3)
	slices.Sort(got)
	if want := []string{"1=long", "2=a", "3=b"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// A later update is read again, as the row's new state.
	f.commitWrite(2, "a2")
	if got := rec.wait(t, 4); got[3] != "2=a2" {
		t.Fatalf("update read as %v", got)
	}
}

func TestCommitOrderPagesAndResumesInsideARound(t *testing.T) {
	f := newVersionFake()
	for k := int64(1); k <= 25; k++ {
		f.commitWrite(k, "v")
	}
	// Stop after the first pages of the round, restart from the last
	// position: the rest of the round is read, nothing twice.
	rec := &coRec{}
	f.fail = 0
	stop := runCO(t, f, coConfig(10), nil, rec)
	rec.wait(t, 10)
	stop()
	first, pos := rec.snapshot()
	rec2 := &coRec{}
	stop = runCO(t, f, coConfig(10), pos, rec2)
	rec2.wait(t, 25-len(first))
	time.Sleep(20 * time.Millisecond)
	stop()
	second, _ := rec2.snapshot()
	all := append(first, second...)
	if len(all) != 25 {
		t.Fatalf("read %d rows over a restart, want 25 exactly: %v", len(all), all)
	}
	seen := map[string]bool{}
	for _, s := range all {
		if seen[s] {
			t.Fatalf("%s read twice", s)
		}
		seen[s] = true
	}
}

func TestCommitOrderResumesAfterAReadError(t *testing.T) {
	f := newVersionFake()
	for k := int64(1); k <= 12; k++ {
		f.commitWrite(k, "v")
	}
	f.fail = 2
	rec := &coRec{}
	stop := runCO(t, f, coConfig(5), nil, rec)
	defer stop()
	got := rec.wait(t, 12)
	time.Sleep(20 * time.Millisecond)
	if got, _ = rec.snapshot(); len(got) != 12 {
		t.Fatalf("got %d rows after read errors, want 12: %v", len(got), got)
	}
}

// A dialect that cannot bound versions above returns a row committed after
// the horizon in this round and again in the next: the engine emits it
// once, and still emits a later change of the same key.
func TestCommitOrderDropsRowsReadAheadOfTheHorizon(t *testing.T) {
	f := newVersionFake()
	f.unbounded = true
	f.commitWrite(1, "a")
	f.afterHorizon = func() { f.commitWrite(2, "b") } // commits above the horizon just read
	rec := &coRec{}
	stop := runCO(t, f, coConfig(10), nil, rec)
	defer stop()
	rec.wait(t, 2)
	// Several more rounds re-read row 2 (its version stays at or above the
	// horizons read while it was being emitted) before it falls below one.
	for deadline := time.Now().Add(time.Second); f.readCount() < 8 && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
	}
	f.commitWrite(2, "c")
	got := rec.wait(t, 3)
	time.Sleep(20 * time.Millisecond)
	got, _ = rec.snapshot()
	if want := []string{"1=a", "2=b", "2=c"}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func (f *versionFake) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}
