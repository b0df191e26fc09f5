package capture

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// txChangelog is an in-memory stand-in for a multi-writer changelog with
// transactions, for testing the engine's floor (not a database): a
// transaction gets its id at begin, each write takes the next sequence
// number, rows become visible at commit, Horizon reports the smallest open
// id and Fence the next id.
type txChangelog struct {
	mu      sync.Mutex
	nextXid uint64
	nextSeq int64
	open    map[uint64]bool
	rows    []txRow
	scanned int // rows returned by ReadChangelog, to measure re-reads
	// onRead, when set, runs once at the start of the next ReadChangelog:
	// what other transactions do while a drain is reading.
	onRead func()
}

type txRow struct {
	seq     int64
	xid     uint64
	id      int64
	deleted bool
}

func newTxChangelog() *txChangelog {
	return &txChangelog{nextXid: 10, open: map[uint64]bool{}}
}

func (f *txChangelog) begin() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	x := f.nextXid
	f.nextXid++
	f.open[x] = true
	return x
}

func (f *txChangelog) write(xid uint64, id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextSeq++
	f.rows = append(f.rows, txRow{seq: f.nextSeq, xid: xid, id: id})
}

func (f *txChangelog) commit(xid uint64) { f.mu.Lock(); delete(f.open, xid); f.mu.Unlock() }
func (f *txChangelog) rollback(xid uint64) {
	f.mu.Lock()
	f.drop(xid)
	delete(f.open, xid)
	f.mu.Unlock()
}

func (f *txChangelog) drop(xid uint64) {
	f.rows = slices.DeleteFunc(f.rows, func(r txRow) bool { return r.xid == xid })
}

func (f *txChangelog) Name() string                  { return "txchangelog" }
func (f *txChangelog) Connect(context.Context) error { return nil }
func (f *txChangelog) Close() error                  { return nil }
func (f *txChangelog) Describe(_ context.Context, _, table string) ([]ColumnInfo, error) {
	if table != "orders" {
		return nil, ErrNotFound
	}
	return []ColumnInfo{{Name: "id", Type: "bigint"}}, nil
}
func (f *txChangelog) SeqCommitOrdered() bool { return false }

func (f *txChangelog) Horizon(context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	xmin := f.nextXid
	for x := range f.open {
		xmin = min(xmin, x)
	}
	return xmin, nil
}

func (f *txChangelog) Fence(context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nextXid, nil
}

func (f *txChangelog) ReadChangelog(_ context.Context, tables []*Table, after int64, limit int) ([]Change, error) {
	if hook := f.onRead; hook != nil {
		f.onRead = nil
		hook()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Change
	for _, r := range f.rows {
		if r.seq <= after || f.open[r.xid] || r.deleted {
			continue
		}
		out = append(out, Change{Seq: r.seq, Table: tables[0], Op: sdk.OpInsert, Values: []any{r.id}})
		if len(out) == limit {
			break
		}
	}
	f.scanned += len(out)
	return out, nil
}

func (f *txChangelog) DeleteChangelog(_ context.Context, seqs []int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.rows {
		if slices.Contains(seqs, f.rows[i].seq) {
			f.rows[i].deleted = true
		}
	}
	return nil
}

func floorEngine(t *testing.T, f *txChangelog) (*Engine, *coRec, func()) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Strategy = "trigger"
	cfg.PollInterval = sdk.Duration(2 * time.Millisecond)
	cfg.Tables = []TableConfig{{Name: "orders", Key: []string{"id"}}}
	e, err := NewEngine(&cfg, f, sdk.Env{})
	if err != nil {
		t.Fatal(err)
	}
	rec := &coRec{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, nil, rec) }()
	return e, rec, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func (r *coRec) ids() []string {
	got, _ := r.snapshot()
	return got
}

// A transaction that took a lower sequence number and commits after later
// ones must still be read, however many drains ran meanwhile, and the
// floor must not pass it.
func TestFloorNeverPassesAnOpenTransaction(t *testing.T) {
	f := newTxChangelog()
	_, rec, stop := floorEngine(t, f)
	defer stop()
	slow := f.begin()
	f.write(slow, 1) // seq 1, open
	for id := int64(2); id <= 20; id++ {
		x := f.begin()
		f.write(x, id)
		f.commit(x)
		time.Sleep(time.Millisecond) // let drains run in between
	}
	rec.wait(t, 19)
	time.Sleep(30 * time.Millisecond)
	f.commit(slow)
	got := rec.wait(t, 20)
	time.Sleep(20 * time.Millisecond)
	if got = rec.ids(); len(got) != 20 || !slices.Contains(got, "1=<nil>") {
		t.Fatalf("got %v: the late-committing row with the lowest sequence was lost or duplicated", got)
	}
}

// Once no transaction is open, drains read only above the floor: the
// rows re-read per drain stay bounded instead of growing with the
// undeleted changelog. A rolled-back transaction's sequence gap does not
// hold the floor back for ever.
func TestFloorStopsRereadingTheChangelog(t *testing.T) {
	f := newTxChangelog()
	_, rec, stop := floorEngine(t, f)
	defer stop()
	x := f.begin()
	f.write(x, 999)
	f.rollback(x) // a permanent gap at seq 1
	for id := int64(1); id <= 200; id++ {
		x := f.begin()
		f.write(x, id)
		f.commit(x)
	}
	rec.wait(t, 200)
	// Let many drains run with nothing new (the safety poll is 2 ms).
	time.Sleep(100 * time.Millisecond)
	f.mu.Lock()
	before := f.scanned
	f.mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	f.mu.Lock()
	rereads := f.scanned - before
	f.mu.Unlock()
	if rereads != 0 {
		t.Fatalf("%d changelog rows re-read in 100 ms with nothing new: the floor did not move past the gap", rereads)
	}
	if got := rec.ids(); len(got) != 200 {
		t.Fatalf("got %d events, want 200", len(got))
	}
}

// A transaction that begins while a drain runs can take a lower sequence
// number than a row that drain reads. The floor may only pass it once a
// snapshot taken after that drain's reads shows it ended. Driven step by
// step: the interleaving is the one a real server can produce.
func TestFloorWaitsForTransactionsBegunDuringADrain(t *testing.T) {
	f := newTxChangelog()
	cfg := DefaultConfig()
	cfg.Strategy = "trigger"
	cfg.Tables = []TableConfig{{Name: "orders", Key: []string{"id"}}}
	e, err := NewEngine(&cfg, f, sdk.Env{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := e.connect(ctx); err != nil {
		t.Fatal(err)
	}
	rec := &coRec{}
	b := f.begin() // running before the drain's first snapshot
	var a uint64
	f.onRead = func() { // during drain 1, after its first snapshot
		a = f.begin()
		f.write(a, 1) // seq 1
		f.write(b, 2) // seq 2
		f.commit(b)
	}
	for i, step := range []func(){
		func() {},              // drain 1 reads seq 2; seq 1 is open
		func() {},              // drain 2: a is still open
		func() { f.commit(a) }, // drain 3 must read seq 1
		func() {},
	} {
		step()
		if err := e.drain(ctx, rec); err != nil {
			t.Fatalf("drain %d: %v", i+1, err)
		}
	}
	got := rec.ids()
	slices.Sort(got)
	if !slices.Equal(got, []string{"1=<nil>", "2=<nil>"}) {
		t.Fatalf("got %v: the row of the transaction begun during a drain was lost", got)
	}
}
