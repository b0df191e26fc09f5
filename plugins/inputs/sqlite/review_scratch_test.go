package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
)

func TestScratchBlobInTextColumn(t *testing.T) {
	path, db := newDB(t)
	in := newInput(t, path, "trigger")
	if err := in.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, err := db.Exec("INSERT INTO transactions VALUES (1, 12.50, x'414243', 'books', '2026-01-01 00:00:00', '2026-01-01 00:00:00', NULL)")
	t.Logf("insert blob into VARCHAR column with trigger installed: %v", err)
	var r string
	db.QueryRow("SELECT json_array(0.1+0.2, 1e300*10, 9007199254740993)").Scan(&r)
	t.Logf("json_array reals: %s", r)
	var n int
	err = db.QueryRow(`SELECT count(*) FROM "main".pragma_table_info(?)`, "transactions").Scan(&n)
	t.Logf("main.pragma_table_info: %d %v", n, err)
}

func TestScratchHashPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a#b.db")
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "a%23b.db")+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(schema); err != nil {
		t.Fatal(err)
	}
	db.Close()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		t.Logf("file %q", e.Name())
	}
	_ = path
	in := newInput(t, path, "trigger")
	err = in.Setup(context.Background())
	t.Logf("setup on %s: %v", path, err)
	in2 := newInput(t, filepath.Join(dir, "x%41.db"), "trigger")
	os.WriteFile(filepath.Join(dir, "x%41.db"), nil, 0o644)
	err = in2.Setup(context.Background())
	t.Logf("setup on x%%41.db: %v", err)
	ents, _ = os.ReadDir(dir)
	for _, e := range ents {
		t.Logf("file %q", e.Name())
	}
}
