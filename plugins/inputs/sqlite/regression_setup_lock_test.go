package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/rowflux/rowflux/plugins/common/inputtest"
)

// Found by the kill -9 fault scenario (cmd/agent/faults_kill_test.go): with
// auto_setup = true, every start ran Setup in an IMMEDIATE transaction,
// even with every capture object installed (and for polling, which needs
// none). SQLite has one write lock; while the application's writers kept it
// busy, a restarted agent captured nothing and after busy_timeout (5 s)
// stopped with "auto_setup: database is locked (SQLITE_BUSY)". Here another
// connection holds the write lock for the whole test: an agent whose
// objects are installed must start capturing regardless.
func TestAutoSetupStartsWhileTheWriteLockIsHeld(t *testing.T) {
	for _, strategy := range []string{"polling", "trigger", "notify"} {
		t.Run(strategy, func(t *testing.T) {
			path, db := newDB(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			in := newInput(t, path, strategy, func(s *SQLite) { s.AutoSetup = true })
			// Installed by an earlier start (or agent setup).
			if err := in.Setup(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec("INSERT INTO transactions VALUES (1, 1, 'EUR', 'books', '2026-01-01 00:00:00', '2026-01-01 00:00:00', NULL)"); err != nil {
				t.Fatal(err)
			}
			writer, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer writer.Close()
			if _, err := writer.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
				t.Fatal(err)
			}
			defer writer.ExecContext(context.Background(), "ROLLBACK")

			restarted := newInput(t, path, strategy, func(s *SQLite) { s.AutoSetup = true })
			rec := &inputtest.Recorder{}
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- restarted.Run(runCtx, nil, rec) }()
			// Well under busy_timeout: waiting for the lock is the bug.
			deadline := time.Now().Add(2 * time.Second)
			for time.Now().Before(deadline) {
				if ev, _ := rec.Snapshot(); len(ev) > 0 {
					stop()
					if err := <-done; err != nil {
						t.Fatalf("Run: %v", err)
					}
					return
				}
				select {
				case err := <-done:
					stop()
					t.Fatalf("Run ended while another connection held the write lock: %v", err)
				case <-time.After(10 * time.Millisecond):
				}
			}
			stop()
			err = <-done
			t.Fatalf("nothing captured within 2s while another connection held the write lock (Run: %v)", err)
		})
	}
}
