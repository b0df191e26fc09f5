package pgtest

import (
	"context"
	"net/url"
	"strings"
	"testing"
)

func TestDBIsFreshAndDropped(t *testing.T) {
	var dsn string
	t.Run("use", func(t *testing.T) {
		dsn = DB(t)
		Exec(t, dsn, "CREATE TABLE t (id int)", "INSERT INTO t VALUES (1)")
		c := Conn(t, dsn)
		var db string
		if err := c.QueryRow(context.Background(), "SELECT current_database()").Scan(&db); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(db, "rowflux_test_") {
			t.Fatalf("database %q", db)
		}
		other := DB(t)
		if other == dsn {
			t.Fatal("two calls returned the same database")
		}
	})
	if dsn == "" {
		t.Skip("no server")
	}
	u, _ := url.Parse(dsn)
	name := strings.TrimPrefix(u.Path, "/")
	admin := Conn(t, DB(t))
	var n int
	if err := admin.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("database %s still exists after cleanup", name)
	}
}

func TestWithDatabase(t *testing.T) {
	got, err := withDatabase("postgres://u:p@h:5/postgres?sslmode=disable", "x")
	if err != nil || got != "postgres://u:p@h:5/x?sslmode=disable" {
		t.Fatalf("%q %v", got, err)
	}
	if got, _ := withDatabase("host=h user=u", "x"); got != "host=h user=u dbname=x" {
		t.Fatalf("%q", got)
	}
}
