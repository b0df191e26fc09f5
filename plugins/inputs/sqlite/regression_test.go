package sqlite

// Regression tests for bugs found in review; each comment describes the
// failure as it was, before the fix.

import (
	"context"
	"database/sql"
	"github.com/rowflux/rowflux/plugins/common/inputtest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rowflux/rowflux/plugins/common/capture"
)

// SQLite columns hold any type whatever their declaration. The triggers
// hex() only columns declared BLOB; a blob in any other column (untyped,
// TEXT, …) reaches json_array, which raises "JSON cannot hold BLOB values"
// — inside the application's own statement. Installing capture must never
// make the application's writes fail.
func TestBlobInUndeclaredColumnDoesNotBreakApplicationWrites(t *testing.T) {
	path, db := newDB(t)
	if _, err := db.Exec("CREATE TABLE docs (id INTEGER PRIMARY KEY, body, label TEXT)"); err != nil {
		t.Fatal(err)
	}
	in := newInput(t, path, "trigger", func(s *SQLite) {
		s.Tables = []capture.TableConfig{{Name: "docs", Key: []string{"id"}}}
	})
	if err := in.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO docs VALUES (1, x'00ff', 'a')"); err != nil {
		t.Fatalf("application insert failed because of the capture trigger: %v", err)
	}
	if _, err := db.Exec("INSERT INTO docs VALUES (2, 'text', x'01')"); err != nil {
		t.Fatalf("application insert failed because of the capture trigger: %v", err)
	}
}

// A REAL column may hold ±Inf (SQLite writes it to JSON as 9.0e+999). The
// row image cannot be decoded, ReadChangelog fails on every drain, and the
// engine retries it as an outage forever: the change after it (and every
// later one) is never emitted, with only a "source unavailable" warning.
// Either decode it, or stop with an error naming the row; never stall.
func TestUndecodableChangelogRowDoesNotStallCapture(t *testing.T) {
	path, db := newDB(t)
	in := newInput(t, path, "trigger")
	if err := in.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"INSERT INTO transactions VALUES (1, 1e308*10, 'EUR', 'books', '2026-01-01 00:00:00', '2026-01-01 00:00:00', NULL)",
		"INSERT INTO transactions VALUES (2, 1, 'EUR', 'books', '2026-01-01 00:00:00', '2026-01-01 00:00:00', NULL)",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	rec := &inputtest.Recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, nil, rec) }()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("Run returned nil before it was stopped")
			}
			return // a clear error is an acceptable outcome
		default:
		}
		if ev, _ := rec.Snapshot(); len(ev) >= 2 {
			cancel()
			<-done
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	ev, _ := rec.Snapshot()
	t.Fatalf("capture stalled: %d of 2 changes emitted after 5s and Run still retrying", len(ev))
}

// Trigger names do not depend on changelog_table, so a second input that
// captures the same table into its own changelog replaces the first
// input's triggers: the first input then silently captures nothing (and a
// teardown of either removes the other's triggers).
func TestSecondChangelogKeepsItsOwnTriggers(t *testing.T) {
	path, db := newDB(t)
	a := newInput(t, path, "trigger", func(s *SQLite) { s.ChangelogTable = "cl_a" })
	b := newInput(t, path, "trigger", func(s *SQLite) { s.ChangelogTable = "cl_b" })
	ctx := context.Background()
	if err := a.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO transactions VALUES (1, 1, 'EUR', 'books', '2026-01-01 00:00:00', '2026-01-01 00:00:00', NULL)"); err != nil {
		t.Fatal(err)
	}
	var na, nb int
	db.QueryRow("SELECT count(*) FROM cl_a").Scan(&na)
	db.QueryRow("SELECT count(*) FROM cl_b").Scan(&nb)
	if na != 1 || nb != 1 {
		t.Fatalf("changelog rows: cl_a=%d cl_b=%d, want 1 each: input a lost its capture", na, nb)
	}
}

// DSN does not escape the path for the "file:" URI: a '#' ends the path
// (and hides mode=rw, which sits after it), so the input opens — and
// creates — another, empty database instead of the configured file.
func TestPathWithHashOpensThatFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "shop#1.db")
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "shop%231.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(schema); err != nil {
		t.Fatal(err)
	}
	db.Close()
	in := newInput(t, path, "trigger")
	err = in.Setup(context.Background())
	if _, serr := os.Stat(filepath.Join(dir, "shop")); serr == nil {
		t.Errorf("opening %s created a stray database file %s", path, filepath.Join(dir, "shop"))
	}
	if err != nil {
		t.Fatalf("setup on an existing database whose path contains '#': %v", err)
	}
}
