package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	go_ora "github.com/sijms/go-ora/v2"
)

// source gives every phase the same starting point: an empty
// transactions table, so that each strategy sees the same data.
type source struct {
	kind string // sqlite | postgres | oracle
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
// teardown runs at the end of each phase). Oracle likewise, with PURGE so
// that no copy piles up in the recycle bin; the workload recreates it with
// ROWDEPENDENCIES, which the rowscn strategy needs.
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
	case "oracle":
		if err := dropOracleTable(ctx, s.dsn); err != nil {
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

// oracleDropTable drops the transactions table of the connecting user's
// schema, if there is one (ORA-00942: table or view does not exist).
const oracleDropTable = `BEGIN
  EXECUTE IMMEDIATE 'DROP TABLE transactions PURGE';
EXCEPTION
  WHEN OTHERS THEN
    IF SQLCODE != -942 THEN
      RAISE;
    END IF;
END;`

// dropOracleTable runs oracleDropTable through go-ora, the driver of the
// workload and of inputs.oracle. The error never carries the password.
func dropOracleTable(ctx context.Context, dsn string) error {
	db := sql.OpenDB(go_ora.NewConnector(dsn))
	defer db.Close()
	if _, err := db.ExecContext(ctx, oracleDropTable); err != nil {
		return scrubPassword(err, dsn)
	}
	return nil
}

// scrubPassword removes dsn's password, as written and decoded, from err's
// text.
func scrubPassword(err error, dsn string) error {
	u, perr := url.Parse(dsn)
	if perr != nil {
		return errors.New("oracle: connection failed (the DSN is not a valid URL)")
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" {
		return err
	}
	msg := err.Error()
	secrets := []string{pw, url.QueryEscape(pw), url.PathEscape(pw)}
	// The password as written, whatever its escaping.
	_, rest, _ := strings.Cut(dsn, "://")
	auth, _, _ := strings.Cut(rest, "/")
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		if _, raw, ok := strings.Cut(auth[:at], ":"); ok {
			secrets = append(secrets, raw)
		}
	}
	for _, sec := range secrets {
		if sec != "" {
			msg = strings.ReplaceAll(msg, sec, "xxxxx")
		}
	}
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}
