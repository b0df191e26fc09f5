package postgres

import (
	"context"
	"github.com/rowflux/rowflux/plugins/common/inputtest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/plugins/common/pgtest"
	"github.com/rowflux/rowflux/sdk"
)

func xmlTable(t *testing.T, in *Postgres) (*source, *capture.Table) {
	t.Helper()
	if err := in.Setup(context.Background()); err != nil { // connects and resolves; commit_order installs nothing
		t.Fatal(err)
	}
	return in.src, in.Engine().Tables()[0]
}

func ids(p capture.VersionPage) []int64 {
	var out []int64
	for _, r := range p.Rows {
		out = append(out, r[0].(int64))
	}
	return out
}

// waitHorizon waits until the cluster-wide horizon passes xid (another
// session anywhere in the cluster may hold it back for a while).
func waitHorizon(t *testing.T, src *source, xid uint64) uint64 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		h, err := src.Horizon(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if h > xid {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("horizon %d did not pass %d", h, xid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCommitOrderHorizonAndChanged(t *testing.T) {
	dsn, app := newDB(t)
	ctx := context.Background()
	src, tab := xmlTable(t, newInput(t, dsn, "commit_order"))
	// write runs one statement in its own transaction and returns its xid.
	write := func(q pgx.Tx, sql string, args ...any) uint64 {
		t.Helper()
		var xid int64
		var err error
		if q != nil {
			err = q.QueryRow(ctx, sql+" RETURNING pg_current_xact_id()::text::bigint", args...).Scan(&xid)
		} else {
			err = app.QueryRow(ctx, sql+" RETURNING pg_current_xact_id()::text::bigint", args...).Scan(&xid)
		}
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return uint64(xid)
	}
	const ins = "INSERT INTO transactions (transaction_id, amount, currency, product_category, created_at, updated_at) VALUES ($1, 1, 'EUR', 'a', $2, $2)"
	x1 := write(nil, ins, 1, t0)
	x2 := write(nil, ins, 2, t0)
	h1 := waitHorizon(t, src, x2)
	all, err := src.Changed(ctx, tab, 0, h1, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(all); len(got) != 2 || got[0] != 1 || got[1] != 2 || all.Versions[0] != x1 || all.Versions[1] != x2 {
		t.Fatalf("first run: ids %v versions %v, want xids %d %d", got, all.Versions, x1, x2)
	}
	// Paging with the (version, key) cursor.
	var paged []int64
	var after []any
	for {
		p, err := src.Changed(ctx, tab, 0, h1, after, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Rows) == 0 {
			break
		}
		paged = append(paged, ids(p)...)
		after = p.Cursor
		if len(after) != 2 || after[0] != int64(p.Versions[0]) {
			t.Fatalf("cursor %#v", after)
		}
	}
	if len(paged) != 2 || paged[0] != 1 || paged[1] != 2 {
		t.Fatalf("paged %v", paged)
	}
	// An update gives the row a new version, read in the next range.
	xu := write(nil, "UPDATE transactions SET amount = 13 WHERE transaction_id = 1")
	h2 := waitHorizon(t, src, xu)
	d, err := src.Changed(ctx, tab, h1, h2, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(d); len(got) != 1 || got[0] != 1 || d.Rows[0][1] != 13.0 || d.Versions[0] != xu {
		t.Fatalf("delta [%d,%d): ids %v rows %v versions %v, want xid %d", h1, h2, got, d.Rows, d.Versions, xu)
	}
	// A transaction that wrote first and commits last holds the horizon
	// back: rows committed after it wait, and nothing is lost.
	long := pgtest.Conn(t, dsn)
	tx, err := long.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	xl := write(tx, ins, 100, t0)
	x3 := write(nil, ins, 3, t0)
	h3, _ := src.Horizon(ctx)
	if h3 > xl {
		t.Fatalf("horizon %d passed the open transaction %d", h3, xl)
	}
	d, err = src.Changed(ctx, tab, h2, h3, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Rows) != 0 {
		t.Fatalf("rows above the open transaction's xid were read early: %v", ids(d))
	}
	// A first run (low = 0) reads every visible row, each below the horizon.
	first, err := src.Changed(ctx, tab, 0, h3, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(first); len(got) != 3 {
		t.Fatalf("first run with an open transaction: %v", got)
	}
	for _, v := range first.Versions {
		if v >= h3 {
			t.Fatalf("first-run version %d not below horizon %d", v, h3)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	h4 := waitHorizon(t, src, x3)
	d, err = src.Changed(ctx, tab, h3, h4, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(d); len(got) != 2 || got[0] != 100 || got[1] != 3 || d.Versions[0] != xl || d.Versions[1] != x3 {
		t.Fatalf("after the long transaction committed: %v versions %v, want xids %d %d", got, d.Versions, xl, x3)
	}
}

// TestCommitOrderEpochAware checks the version arithmetic across an xid
// epoch boundary without a real wraparound: the expression is evaluated
// for a horizon just past 2^32 and xmin values on both sides of it.
func TestCommitOrderEpochAware(t *testing.T) {
	dsn, app := newDB(t)
	ctx := context.Background()
	h := int64(1<<32 + 10)
	expr := strings.ReplaceAll(versionExpr, "xmin::text::bigint", "$2::bigint")
	for _, c := range []struct{ xmin, want int64 }{
		{5, 1<<32 + 5},           // this epoch, below the horizon
		{4294967290, 4294967290}, // previous epoch
		{20, 20},                 // above the horizon: taken as the previous epoch's (never in range)
	} {
		var got int64
		if err := app.QueryRow(ctx, "SELECT "+expr, h, c.xmin).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("xmin %d with horizon %d: version %d, want %d", c.xmin, h, got, c.want)
		}
		var in bool
		last := int64(4294967280)
		if err := app.QueryRow(ctx, "SELECT (($1::bigint - $2::bigint) & 4294967295) BETWEEN 1 AND $3::bigint", h, c.xmin, h-last).Scan(&in); err != nil {
			t.Fatal(err)
		}
		if wantIn := c.want >= last && c.want < h; in != wantIn {
			t.Errorf("xmin %d in [%d,%d): %v, want %v", c.xmin, last, h, in, wantIn)
		}
	}
	_ = dsn
}

// TestCommitOrderEngine runs the engine's commit_order loop over the dialect.
func TestCommitOrderEngine(t *testing.T) {
	dsn, app := newDB(t)
	writeChanges(t, app)
	in := newInput(t, dsn, "xmin")
	rec, stop := inputtest.Start(t, in)
	ev := rec.WaitFor(t, 1)
	if got, want := summary(ev[0]), "transactions upsert id=1(int64) amount=13(float64) currency=EUR"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	ctx := context.Background()
	long := pgtest.Conn(t, dsn)
	tx, err := long.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "INSERT INTO transactions (transaction_id, amount, currency, product_category, created_at, updated_at) VALUES (100, 1, 'EUR', 'long', $1, $1)", t0); err != nil {
		t.Fatal(err)
	}
	exec(t, app, "INSERT INTO transactions (transaction_id, amount, currency, product_category, created_at, updated_at) VALUES (3, 1, 'GBP', 'a', $1, $1)", t0)
	time.Sleep(150 * time.Millisecond)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	rec.WaitFor(t, 3)
	time.Sleep(100 * time.Millisecond)
	stop()
	all, _ := rec.Snapshot()
	seen := map[any]int{}
	for _, e := range all {
		id, _ := e.Field("transaction_id")
		seen[id]++
	}
	// Another session of the cluster can hold the horizon back during the
	// first run: rows committed above it are then read again (duplicates,
	// never losses).
	if seen[int64(3)] == 0 || seen[int64(100)] == 0 || seen[int64(1)] == 0 || len(seen) != 3 {
		t.Fatalf("got %v", summaries(all))
	}
	var last sdk.Event
	for _, e := range all {
		if id, _ := e.Field("transaction_id"); id == int64(1) {
			last = e
		}
	}
	checkTypes(t, last)
}
