package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestClusterSurvivesStopsAndRestarts: a committed row survives a clean
// stop and a crash, connections fail while the server is down, and the
// port stays the same, so a client only has to reconnect.
func TestClusterSurvivesStopsAndRestarts(t *testing.T) {
	c := NewCluster(t)
	dsn := c.DB(t)
	Exec(t, dsn, "CREATE TABLE t (id int)", "INSERT INTO t VALUES (1)")
	count := func() (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return 0, err
		}
		defer conn.Close(context.Background())
		var n int
		err = conn.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n)
		return n, err
	}
	held := Conn(t, dsn)
	for i, mode := range []StopMode{Fast, Immediate} {
		if err := c.Stop(mode); err != nil {
			t.Fatal(err)
		}
		if c.Running() {
			t.Fatalf("%s: still running after Stop", mode)
		}
		if _, err := count(); err == nil {
			t.Fatalf("%s: connected to a stopped server", mode)
		}
		if i == 0 {
			// A session open across the stop is gone, not hanging.
			if err := held.Ping(context.Background()); err == nil {
				t.Fatal("a session opened before the stop still answers")
			}
		}
		if err := c.Start(); err != nil {
			t.Fatalf("start after a %s stop: %v\n%s", mode, err, c.Log())
		}
		if n, err := count(); err != nil || n != 1+i {
			t.Fatalf("after a %s stop: %d rows, %v; want %d", mode, n, err, 1+i)
		}
		Exec(t, dsn, "INSERT INTO t VALUES (2)")
	}
	if err := c.Start(); err == nil {
		t.Fatal("started a running cluster")
	}
	if err := c.Stop("slow"); err == nil {
		t.Fatal("accepted an unknown stop mode")
	}
}
