package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/plugins/common/inputtest"
	"github.com/rowflux/rowflux/sdk"
)

// Every configuration key of this input that reaches SQL as an identifier,
// with where a validation error names it. tables[].name is tried as the
// table and as the schema of schema.table.
var identifierKeys = []struct {
	key string
	set func(in *SQLite, v string)
}{
	{"changelog_table", func(in *SQLite, v string) { in.ChangelogTable = v }},
	{"tables[0].name", func(in *SQLite, v string) { in.Tables[0].Name = v }},
	{"tables[0].name", func(in *SQLite, v string) { in.Tables[0].Name = v + ".transactions" }},
	{"tables[0] (transactions).key", func(in *SQLite, v string) { in.Tables[0].Key = []string{"transaction_id", v} }},
	{"tables[0] (transactions).columns", func(in *SQLite, v string) { in.Tables[0].Columns = []string{"amount", v} }},
	{"tables[0] (transactions).tags", func(in *SQLite, v string) { in.Tables[0].Tags = []string{v} }},
	{"tables[0] (transactions).timestamp_column", func(in *SQLite, v string) { in.Tables[0].TimestampColumn = v }},
}

// hostileIdentifiers are refused wherever an identifier is configured.
var hostileIdentifiers = []string{
	`x"; DROP TABLE canary; --`,
	`x'; DROP TABLE canary; --`,
	"x`; DROP TABLE canary; --",
	"x]; DROP TABLE canary; --",
	"a;b", "a b", " transactions", "transactions\n", "a\tb",
	"tàble", "表", "a\u202eb" /* right-to-left override */, "a\u200bb", /* zero-width space */
	"a\x00b", strings.Repeat("t", 129),
	"`t`", "[t]", "a-b", "a/*c*/", "1abc", "$a", "",
}

// canaryDB is newDB, with the transactions table
// and a canary table holding three rows.
func canaryDB(t *testing.T) (string, *sql.DB) {
	t.Helper()
	path, db := newDB(t)
	if _, err := db.Exec(`CREATE TABLE canary (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO canary VALUES (1, 'a'), (2, 'b'), (3, 'c')`); err != nil {
		t.Fatal(err)
	}
	return path, db
}

// schemaObjects lists everything the database file defines.
func schemaObjects(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query("SELECT type || ' ' || name FROM sqlite_master ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func checkCanary(t *testing.T, db *sql.DB) {
	t.Helper()
	var n int
	var vs string
	if err := db.QueryRow("SELECT count(*), group_concat(v, '') FROM canary").Scan(&n, &vs); err != nil || n != 3 || vs != "abc" {
		t.Fatalf("canary: %d rows %q, %v", n, vs, err)
	}
}

// TestHostileIdentifiersRefused: every identifier key refuses every
// hostile value with an error that names the key, shows the value and says
// what is allowed; the database is not touched.
func TestHostileIdentifiersRefused(t *testing.T) {
	path, db := canaryDB(t)
	before := schemaObjects(t, db)
	fi, _ := os.Stat(path)
	for _, k := range identifierKeys {
		for _, v := range hostileIdentifiers {
			if v == "" && strings.HasSuffix(k.key, "timestamp_column") {
				continue // empty means "none"
			}
			t.Run(k.key+"="+strconv.Quote(v), func(t *testing.T) {
				in := &SQLite{Path: path, NotifyCheckInterval: sdk.Duration(time.Millisecond), Config: capture.DefaultConfig()}
				in.Tables = []capture.TableConfig{{Name: "transactions", Key: []string{"transaction_id"}}}
				k.set(in, v)
				err := in.Init(sdk.Env{})
				want := fmt.Sprintf("%s: invalid identifier %q (letters, digits, _ and $ only, not starting with a digit, at most 128 characters)", k.key, v)
				if err == nil || err.Error() != want {
					t.Fatalf("got  %v\nwant %s", err, want)
				}
				in.Close()
			})
		}
	}
	if after := schemaObjects(t, db); !slices.Equal(before, after) {
		t.Fatalf("schema changed: %v -> %v", before, after)
	}
	if fi2, _ := os.Stat(path); !fi2.ModTime().Equal(fi.ModTime()) {
		t.Fatal("the database file was written")
	}
	checkCanary(t, db)
}

// TestPathIsAFileNameNotOptions: path goes into the driver's DSN; query
// syntax in it names a (missing) file rather than adding pragmas.
func TestPathIsAFileNameNotOptions(t *testing.T) {
	path, db := canaryDB(t)
	for _, p := range []string{
		path + "?_pragma=writable_schema(1)",
		path + "#x",
		path + "?mode=rwc&_pragma=journal_mode(DELETE)",
	} {
		in := newInput(t, p, "trigger")
		err := in.Setup(context.Background())
		if err == nil || !strings.Contains(err.Error(), "no such file") {
			t.Errorf("path %q: setup %v, want a missing file", p, err)
		}
		if _, err := os.Stat(p); err == nil {
			t.Errorf("path %q was created", p)
		}
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q, %v", mode, err)
	}
	checkCanary(t, db)
}

// TestUnusualValidIdentifiersQuoted: identifiers that pass validation but
// are unusual ($, a leading _, mixed case, 128 characters) reach exactly
// the objects of those names under every strategy, and setup and teardown
// create and drop exactly the capture objects and nothing else.
func TestUnusualValidIdentifiersQuoted(t *testing.T) {
	long := "T" + strings.Repeat("x", 127)
	for _, strategy := range []string{"polling", "trigger", "notify"} {
		t.Run(strategy, func(t *testing.T) {
			path, db := canaryDB(t)
			ddl := fmt.Sprintf(`CREATE TABLE %s (%s INTEGER PRIMARY KEY, "Amount$" REAL, "_tag" TEXT, %s TEXT)`,
				quote(long), quote("ID$"), quote("ts$rowflux$"))
			if _, err := db.Exec(ddl); err != nil {
				t.Fatal(err)
			}
			before := schemaObjects(t, db)
			in := newInput(t, path, strategy, func(s *SQLite) {
				s.ChangelogTable = "cl$rowflux$"
				s.ColumnCase = "preserve"
				s.Tables = []capture.TableConfig{{Name: strings.ToLower(long), Key: []string{"id$"}, Columns: []string{"amount$"},
					Tags: []string{"_TAG"}, TimestampColumn: "TS$ROWFLUX$"}}
			})
			ctx := context.Background()
			if err := in.Setup(ctx); err != nil {
				t.Fatal(err)
			}
			var want []string
			if strategy != "polling" {
				want = append(want, "table cl$rowflux$", "table sqlite_sequence")
				for _, op := range []string{"del", "ins", "upd"} {
					want = append(want, "trigger cl$rowflux$__"+strings.ToLower(long)+"__"+op)
				}
			}
			want = append(want, before...)
			slices.Sort(want)
			if got := schemaObjects(t, db); !slices.Equal(got, want) {
				t.Fatalf("after setup:\n got %q\nwant %q", got, want)
			}
			rec, stop := inputtest.Start(t, in)
			insert := fmt.Sprintf("INSERT INTO %s VALUES (?, ?, ?, ?)", quote(long))
			for i := 1; i <= 3; i++ {
				if _, err := db.Exec(insert, i, float64(i)/2, "t"+strconv.Itoa(i), t0.Add(time.Duration(i)*time.Millisecond).Format("2006-01-02 15:04:05.000")); err != nil {
					t.Fatal(err)
				}
			}
			ev := rec.WaitFor(t, 3)
			stop()
			for i, e := range ev[:3] {
				id, _ := e.Field("ID$")
				amount, _ := e.Field("Amount$")
				tag, _ := e.Tag("_tag")
				// column_case = "preserve" keeps the table's name as configured.
				if e.Name != strings.ToLower(long) || id != int64(i+1) || amount != float64(i+1)/2 || tag != "t"+strconv.Itoa(i+1) {
					t.Errorf("event %d: %s %v %v", i, e.Name, e.Fields, e.Tags)
				}
			}
			if err := in.Teardown(ctx); err != nil {
				t.Fatal(err)
			}
			got := slices.DeleteFunc(schemaObjects(t, db), func(s string) bool { return s == "table sqlite_sequence" })
			if !slices.Equal(got, before) {
				t.Fatalf("after teardown:\n got %q\nwant %q", got, before)
			}
			checkCanary(t, db)
		})
	}
}

// TestHostileStoredColumnNames: column names come from the database too
// (columns = [] captures all of them), unvalidated. Whoever may add a
// column to a captured table must not get SQL run by setup or capture: the
// names are quoted everywhere and the events carry them exactly.
func TestHostileStoredColumnNames(t *testing.T) {
	hostile := []string{
		`x"); DROP TABLE canary; --`,
		`x'); DROP TABLE canary; --`,
		"x`]; DROP TABLE canary; --",
		"a b", "表", "a\u202eb", "a\u200bb", "$rowflux$", "END; DROP TABLE canary; --",
		"'", `"`, strings.Repeat("c", 300),
	}
	for _, strategy := range []string{"polling", "trigger"} {
		t.Run(strategy, func(t *testing.T) {
			path, db := canaryDB(t)
			cols := []string{"id INTEGER PRIMARY KEY", "ts TEXT"}
			for _, h := range hostile {
				cols = append(cols, quote(h)+" TEXT")
			}
			if _, err := db.Exec("CREATE TABLE victim (" + strings.Join(cols, ", ") + ")"); err != nil {
				t.Fatal(err)
			}
			in := newInput(t, path, strategy, func(s *SQLite) {
				s.ColumnCase = "preserve"
				s.Tables = []capture.TableConfig{{Name: "victim", Key: []string{"id"}, TimestampColumn: "ts"}}
			})
			if err := in.Setup(context.Background()); err != nil {
				t.Fatal(err)
			}
			rec, stop := inputtest.Start(t, in)
			args := []any{1, t0.Format("2006-01-02 15:04:05.000")}
			marks := strings.TrimSuffix(strings.Repeat("?, ", len(hostile)+2), ", ")
			for i := range hostile {
				args = append(args, "v"+strconv.Itoa(i))
			}
			if _, err := db.Exec("INSERT INTO victim VALUES ("+marks+")", args...); err != nil {
				t.Fatal(err)
			}
			e := rec.WaitFor(t, 1)[0]
			stop()
			for i, h := range hostile {
				if v, ok := e.Field(h); !ok || v != "v"+strconv.Itoa(i) {
					t.Errorf("column %q: %v %v", h, v, ok)
				}
			}
			checkCanary(t, db)
		})
	}
}
