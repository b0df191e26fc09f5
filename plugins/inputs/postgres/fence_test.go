package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/rowflux/rowflux/plugins/common/pgtest"
)

// Regression test (multi-writer changelog floor): the engine may stop
// re-reading changelog rows below a sequence once every transaction that
// existed when a drain finished has ended. It used the snapshot's xmax as
// the bound on those transactions, but on PostgreSQL xmax is the last
// completed xid + 1: a transaction that got its xid earlier and is still
// running can be at or above it. The floor then passed a running
// transaction, and its changelog row, committed later below the floor, was
// never read (the concurrency suite lost an insert about once in six runs
// under load). Fence must bound every assigned xid.
func TestFenceIsAboveRunningTransactions(t *testing.T) {
	dsn := pgtest.DB(t)
	ctx := context.Background()
	xact := func() (pgx.Tx, int64) {
		t.Helper()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(ctx) })
		tx, err := c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var id int64
		if err := tx.QueryRow(ctx, "SELECT pg_current_xact_id()::text::bigint").Scan(&id); err != nil {
			t.Fatal(err)
		}
		return tx, id
	}
	first, _ := xact()
	running, runningID := xact() // got its id after first, still running
	if err := first.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	src := &source{dsn: dsn}
	if err := src.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	// What the engine used to take as the bound: not above the running
	// transaction unless another session completed a later xid meanwhile.
	var xmax int64
	if err := pgtest.Conn(t, dsn).QueryRow(ctx, "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint").Scan(&xmax); err != nil {
		t.Fatal(err)
	}
	t.Logf("running xid %d, snapshot xmax %d", runningID, xmax)
	fence, err := src.Fence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if int64(fence) <= runningID {
		t.Fatalf("fence %d is not above running transaction %d", fence, runningID)
	}
	horizon, err := src.Horizon(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if int64(horizon) > runningID {
		t.Fatalf("horizon %d passed running transaction %d", horizon, runningID)
	}
	running.Rollback(ctx)
}
