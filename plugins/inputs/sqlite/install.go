package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/sdk"
)

// object is one capture object with the exact SQL that creates it.
type object struct {
	kind, name, create string
}

func changelogDDL(changelog string) string {
	return "CREATE TABLE " + quote(changelog) + ` (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  table_name TEXT NOT NULL,
  op TEXT NOT NULL,
  row_image TEXT NOT NULL,
  changed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
)`
}

var triggerOps = []struct{ suffix, event, op, row string }{
	{"ins", "INSERT", "insert", "NEW"},
	{"upd", "UPDATE", "update", "NEW"},
	{"del", "DELETE", "delete", "OLD"},
}

// triggerName is derived from validated identifiers only. It carries the
// changelog's name, so two inputs with their own changelogs can capture the
// same table without replacing each other's triggers.
func triggerName(changelog string, t *capture.Table, suffix string) string {
	return changelog + "__" + t.Name + "__" + suffix
}

// objects lists what the strategy needs, in creation order. The row image
// is a JSON array: the captured column names, then their values (see
// image.go).
func objects(st capture.Strategy, changelog string, tables []*capture.Table) []object {
	if st != capture.Trigger && st != capture.Notify {
		return nil
	}
	objs := []object{{"table", changelog, changelogDDL(changelog)}}
	for _, t := range tables {
		for _, op := range triggerOps {
			names := make([]string, len(t.Columns))
			vals := make([]string, len(t.Columns))
			for i, c := range t.Columns {
				names[i] = literal(c.Name)
				// Any column can hold a blob whatever its declared type, and
				// JSON cannot: a blob would make the application's own write
				// fail. Blobs are written as a one-element array of hex.
				v := op.row + "." + quote(c.Name)
				vals[i] = "CASE typeof(" + v + ") WHEN 'blob' THEN json_array(hex(" + v + ")) ELSE " + v + " END"
			}
			img := "json_array(json_array(" + strings.Join(names, ", ") + "), " + strings.Join(vals, ", ") + ")"
			name := triggerName(changelog, t, op.suffix)
			create := fmt.Sprintf("CREATE TRIGGER %s AFTER %s ON %s BEGIN\n  INSERT INTO %s (table_name, op, row_image) VALUES (%s, %s, %s);\nEND",
				quote(name), op.event, quote(t.Name), quote(changelog), literal(t.Name), literal(op.op), img)
			objs = append(objs, object{"trigger", name, create})
		}
	}
	return objs
}

func checkSchemas(tables []*capture.Table) error {
	for _, t := range tables {
		if t.Schema != "" && !strings.EqualFold(t.Schema, "main") {
			return fmt.Errorf("table %s: capture objects can only be installed in the main database", t.Config.Name)
		}
	}
	return nil
}

// existing returns the SQL that sqlite_master holds for a name ("" if none).
func existing(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, kind, name string) (string, error) {
	var s string
	err := q.QueryRowContext(ctx, "SELECT sql FROM sqlite_master WHERE type = ? AND name = ?", kind, name).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return s, err
}

// Setup creates missing objects and replaces triggers whose definition
// changed (for example after columns were added), in one transaction.
// Running it twice changes nothing.
//
// When everything is installed already (every start with auto_setup but
// the first), it takes no write lock: SQLite has one, the application's
// writers hold it most of the time under load, and an agent restarting
// must not wait for it (up to busy_timeout, then fail with SQLITE_BUSY).
func (s *source) Setup(ctx context.Context, st capture.Strategy, tables []*capture.Table) error {
	if err := checkSchemas(tables); err != nil {
		return err
	}
	if installed, err := s.installed(ctx, st, tables); err != nil || installed {
		return err
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, o := range objects(st, s.changelog, tables) {
		have, err := existing(ctx, tx, o.kind, o.name)
		if err != nil {
			return err
		}
		if have == o.create {
			continue
		}
		if have != "" {
			if o.kind == "table" {
				return fmt.Errorf("%s exists with another definition; it is not rowflux's changelog (choose another changelog_table)", o.name)
			}
			if !strings.Contains(have, "INSERT INTO "+quote(s.changelog)) {
				return fmt.Errorf("trigger %s exists and does not write into %s; it is not this input's (choose another changelog_table)", o.name, s.changelog)
			}
			if _, err := tx.ExecContext(ctx, "DROP TRIGGER "+quote(o.name)); err != nil {
				return fmt.Errorf("replace %s: %w", o.name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, o.create); err != nil {
			return fmt.Errorf("create %s %s: %w", o.kind, o.name, err)
		}
	}
	return tx.Commit()
}

// installed reports whether every object the strategy needs exists with
// the definition this configuration gives it, reading outside any
// transaction.
func (s *source) installed(ctx context.Context, st capture.Strategy, tables []*capture.Table) (bool, error) {
	db, err := s.handle()
	if err != nil {
		return false, err
	}
	for _, o := range objects(st, s.changelog, tables) {
		have, err := existing(ctx, db, o.kind, o.name)
		if err != nil || have != o.create {
			return false, err
		}
	}
	return true, nil
}

// Teardown drops the triggers of the configured tables, then the changelog
// table once no rowflux trigger writes into it any more.
func (s *source) Teardown(ctx context.Context, st capture.Strategy, tables []*capture.Table) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, t := range tables {
		for _, op := range triggerOps {
			if _, err := tx.ExecContext(ctx, "DROP TRIGGER IF EXISTS "+quote(triggerName(s.changelog, t, op.suffix))); err != nil {
				return err
			}
		}
	}
	var users int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND instr(sql, ?) > 0",
		"INSERT INTO "+quote(s.changelog)).Scan(&users); err != nil {
		return err
	}
	if users == 0 {
		if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+quote(s.changelog)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Doctor checks what the strategy needs and prints the statements that
// would create what is missing.
func (s *source) Doctor(ctx context.Context, st capture.Strategy, tables []*capture.Table) ([]sdk.Check, error) {
	db, err := s.handle()
	if err != nil {
		return nil, err
	}
	var checks []sdk.Check
	if st == capture.Polling {
		for _, t := range tables {
			ok, err := indexed(ctx, db, t)
			if err != nil {
				return nil, err
			}
			cols := []string{quote(t.Columns[t.TSIdx].Name)}
			for _, k := range t.KeyIdx {
				cols = append(cols, quote(t.Columns[k].Name))
			}
			checks = append(checks, sdk.Check{
				Name: fmt.Sprintf("index on %s (%s) for polling", t.Config.Name, t.Columns[t.TSIdx].Name), OK: ok,
				Detail: "without it every poll scans the table",
				Fix:    fmt.Sprintf("CREATE INDEX %s ON %s (%s);", quote("rowflux_"+t.Name+"_poll"), quote(t.Name), strings.Join(cols, ", ")),
			})
		}
		return checks, nil
	}
	if err := checkSchemas(tables); err != nil {
		return nil, err
	}
	for _, o := range objects(st, s.changelog, tables) {
		have, err := existing(ctx, db, o.kind, o.name)
		if err != nil {
			return nil, err
		}
		c := sdk.Check{Name: fmt.Sprintf("%s %s", o.kind, o.name), OK: have == o.create}
		switch {
		case have == "":
			c.Detail = "missing (agent setup installs it)"
		case !c.OK:
			c.Detail = "differs from what this configuration needs (agent setup replaces it)"
		default:
			c.Detail = "installed"
		}
		if !c.OK {
			c.Fix = o.create + ";"
		}
		checks = append(checks, c)
	}
	return checks, nil
}

// indexed reports whether some index starts with the timestamp column.
func indexed(ctx context.Context, db *sql.DB, t *capture.Table) (bool, error) {
	rows, err := db.QueryContext(ctx, "SELECT il.name FROM pragma_index_list(?) il", t.Name)
	if err != nil {
		return false, err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return false, err
		}
		names = append(names, n)
	}
	rows.Close()
	for _, n := range names {
		var first string
		err := db.QueryRowContext(ctx, "SELECT name FROM pragma_index_info(?) WHERE seqno = 0", n).Scan(&first)
		if err == nil && strings.EqualFold(first, t.Columns[t.TSIdx].Name) {
			return true, nil
		}
	}
	return false, nil
}
