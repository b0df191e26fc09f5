package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
)

// source gives every phase the same starting point: an empty
// transactions table, so that each strategy sees the same data.
type source struct {
	kind string // sqlite | postgres
	dsn  string
}

// phaseDB is one phase's database.
type phaseDB struct {
	dsn  string // for the workload
	path string // sqlite: the file, for inputs.sqlite's path
}

// reset prepares a fresh transactions table for the phase called name.
// SQLite gets a new file beside the one the DSN names (same disk, and the
// user's file is never touched); PostgreSQL gets the table dropped, to be
// recreated by the workload (its capture objects are gone by then:
// teardown runs at the end of each phase).
func (s *source) reset(ctx context.Context, name string) (phaseDB, error) {
	switch s.kind {
	case "sqlite":
		_, p, _ := strings.Cut(s.dsn, "://")
		p = filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".bench-"+name+".db")
		if err := removeSQLite(p); err != nil {
			return phaseDB{}, fmt.Errorf("reset %s: %w", p, err)
		}
		return phaseDB{dsn: "sqlite://" + p, path: p}, nil
	case "postgres":
		conn, err := pgx.Connect(ctx, s.dsn)
		if err != nil {
			return phaseDB{}, fmt.Errorf("reset the transactions table: %w", err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		if _, err := conn.Exec(ctx, "DROP TABLE IF EXISTS transactions"); err != nil {
			return phaseDB{}, fmt.Errorf("reset the transactions table: %w", err)
		}
		return phaseDB{dsn: s.dsn}, nil
	}
	return phaseDB{}, fmt.Errorf("source %q: not supported", s.kind)
}

// cleanup removes what reset made for a phase, once it is over.
func (s *source) cleanup(db phaseDB) error {
	if s.kind == "sqlite" {
		return removeSQLite(db.path)
	}
	return nil
}

// removeSQLite deletes a database file with its WAL and shared-memory
// files: a stale WAL beside a new file would be replayed into it.
func removeSQLite(path string) error {
	var errs []error
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
