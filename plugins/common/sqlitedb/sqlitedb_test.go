package sqlitedb

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"
)

func TestDSNOpensExactlyThePathGiven(t *testing.T) {
	for _, name := range []string{"shop.db", "shop#1.db", "what?.db", "100%.db", "sp ace.db"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, name)
			if _, err := sql.Open("sqlite", DSN(path, false)); err != nil {
				t.Fatal(err)
			}
			db, _ := sql.Open("sqlite", DSN(path, false))
			if err := db.Ping(); err == nil {
				t.Fatalf("opening a missing %q without create succeeded", name)
			}
			db.Close()
			db, err := sql.Open("sqlite", DSN(path, true))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec("CREATE TABLE t (x)"); err != nil {
				t.Fatal(err)
			}
			var mode string
			db.QueryRow("PRAGMA journal_mode").Scan(&mode)
			db.Close()
			if mode != "wal" {
				t.Errorf("journal_mode %s", mode)
			}
			entries, _ := os.ReadDir(dir)
			found := false
			for _, e := range entries {
				found = found || e.Name() == name
			}
			if !found {
				t.Fatalf("%q was not created; directory holds %v", name, entries)
			}
		})
	}
}
