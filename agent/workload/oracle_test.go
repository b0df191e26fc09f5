package workload

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sijms/go-ora/v2/network"
)

// The Oracle dialect's tests. Those named ...Server... need a real Oracle
// Database: no CI machine runs one, so without $ORACLE_DSN they skip, even
// under ROWFLUX_REQUIRE_SERVICES=1 (Oracle is not one of the services CI
// installs). The others need no server: DSN handling, the SQL text (golden
// files under testdata/, regenerated with `go test ./agent/workload -update`),
// error classification.

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or writes it there under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./agent/workload -update creates it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (go test ./agent/workload -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// oracleSkip says why a server test did not run and how to run it.
const oracleSkip = "ORACLE_DSN is not set: this test needs an Oracle Database, which CI does not run " +
	"(Oracle is not one of the services ROWFLUX_REQUIRE_SERVICES=1 requires). To run it, start Oracle Database Free " +
	"(examples/oracle/README.md) and: make test-oracle ORACLE_DSN=oracle://rowflux:PASSWORD@localhost:1521/FREEPDB1"

// oracleServer returns $ORACLE_DSN with the transactions table dropped, or
// skips the test.
func oracleServer(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("ORACLE_DSN")
	if dsn == "" {
		t.Skip(oracleSkip)
	}
	if _, err := oracleOpen(t, dsn).Exec(oracleDropTransactions); err != nil {
		t.Fatalf("drop the transactions table: %v", err)
	}
	return dsn
}

// oracleDropTransactions drops the table (PURGE: no recycle-bin copy keeps
// its name or triggers around), ignoring ORA-00942 table does not exist.
const oracleDropTransactions = `BEGIN
  EXECUTE IMMEDIATE 'DROP TABLE transactions PURGE';
EXCEPTION
  WHEN OTHERS THEN
    IF SQLCODE != -942 THEN
      RAISE;
    END IF;
END;`

func oracleOpen(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("oracle", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func oracleTable(t *testing.T, dsn string) func() map[int64]Entry {
	return func() map[int64]Entry {
		// go-ora labels the TIMESTAMPs with the server's offset; readRows
		// turns them into UTC instants, as the ledger has them.
		return readRows(t, oracleOpen(t, dsn), `SELECT transaction_id, TO_CHAR(amount, 'FM9999999990.00'), currency, product_category, created_at, updated_at FROM transactions`)
	}
}

func TestOracleDSNScheme(t *testing.T) {
	for in, safe := range map[string]string{
		"oracle://app:s3cret-Pw@db:1521/FREEPDB1":                             "oracle://app:xxxxx@db:1521/FREEPDB1",
		"ORACLE://app:s3cret-Pw@db:1521/FREEPDB1":                             "oracle://app:xxxxx@db:1521/FREEPDB1",
		"oracle://app:p%40ss%2Fw0rd@db:1521/FREEPDB1?PREFETCH_ROWS=1000":      "oracle://app:xxxxx@db:1521/FREEPDB1?PREFETCH_ROWS=1000",
		"oracle://app@db:1521/FREEPDB1?wallet%20password=s3cret-Pw&SSL=false": "oracle://app@db:1521/FREEPDB1?SSL=false&wallet+password=xxxxx",
	} {
		d, err := newDialect(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		od, ok := d.(*oracleDialect)
		if !ok {
			t.Errorf("%s: dialect %T, want *oracleDialect", in, d)
			continue
		}
		if od.safe != safe {
			t.Errorf("redacted %s = %s, want %s", in, od.safe, safe)
		}
		if strings.Contains(od.safe, "s3cret") || strings.Contains(od.safe, "p%40ss") {
			t.Errorf("redacted %s still holds the password: %s", in, od.safe)
		}
	}
}

// Bad DSNs are configuration errors that say what is wrong, without the
// password. No server is contacted.
func TestOracleDSNErrors(t *testing.T) {
	const pw = "s3cret-Pw"
	cases := []struct{ name, dsn, msg string }{
		{"no port", "oracle://app:" + pw + "@db/FREEPDB1", "missing port"},
		{"no service", "oracle://app:" + pw + "@db:1521", "empty SID and service name"},
		{"unknown option", "oracle://app:" + pw + "@db:1521/FREEPDB1?nope=1", "unknown URL option"},
		{"bad URL escape", "oracle://app:" + pw + "%zz@db:1521/FREEPDB1", "oracle DSN is not a valid URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), Options{DSN: tc.dsn, Duration: time.Millisecond})
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v (%T), want a ConfigError containing %q", err, err, tc.msg)
			}
			if strings.Contains(err.Error(), pw) {
				t.Fatalf("the password is in the error: %v", err)
			}
			if !strings.Contains(err.Error(), "oracle://USER:PASSWORD@HOST:PORT/SERVICE") {
				t.Errorf("error %v does not show the expected form", err)
			}
		})
	}
}

// Nothing listens on 127.0.0.1:1: the connection is refused at once, and
// the error names the DSN without its password.
func TestOracleDSNPasswordNotInErrors(t *testing.T) {
	const pw = "s3cret-Pw"
	for name, dsn := range map[string]string{
		"plain":   "oracle://app:" + pw + "@127.0.0.1:1/FREEPDB1?connect%20timeout=2",
		"escaped": (&url.URL{Scheme: "oracle", User: url.UserPassword("app", pw+"@/:?"), Host: "127.0.0.1:1", Path: "/FREEPDB1", RawQuery: "connect%20timeout=2"}).String(),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Run(context.Background(), Options{DSN: dsn, Duration: time.Millisecond})
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			if strings.Contains(err.Error(), pw) {
				t.Fatalf("the password is in the error: %v", err)
			}
			var ce *ConfigError
			if errors.As(err, &ce) {
				t.Fatalf("an unreachable server is a ConfigError: %v", err)
			}
			if !strings.Contains(err.Error(), "oracle://app:"+redacted+"@127.0.0.1:1/FREEPDB1") {
				t.Errorf("error %v does not name the (redacted) DSN", err)
			}
		})
	}
}

func TestOracleScrubKeepsTheCause(t *testing.T) {
	const pw = "s3cret-Pw"
	d, err := newOracle("oracle://app:" + pw + "@db:1521/FREEPDB1")
	if err != nil {
		t.Fatal(err)
	}
	cause := &network.OracleError{ErrCode: 1017, ErrMsg: "ORA-01017: invalid credential or not authorized; logon denied"}
	err = d.scrub(fmt.Errorf("connect %s with %s: %w", d.dsn, pw, cause))
	if strings.Contains(err.Error(), pw) {
		t.Fatalf("the password is in the error: %v", err)
	}
	if want := "connect oracle://app:xxxxx@db:1521/FREEPDB1 with xxxxx: ORA-01017"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("scrubbed: %v, want it to begin with %q", err, want)
	}
	var oe *network.OracleError
	if !errors.As(err, &oe) || oe.ErrCode != 1017 {
		t.Errorf("the scrubbed error does not unwrap to the OracleError: %#v", err)
	}
	if d.scrub(nil) != nil {
		t.Error("scrub(nil) != nil")
	}
}

func TestOracleQueries(t *testing.T) {
	q := buildQueries(&oracleDialect{})
	for got, want := range map[string]string{
		q.load:   "SELECT transaction_id, updated_at FROM transactions",
		q.insert: "INSERT INTO transactions (transaction_id, amount, currency, product_category, created_at, updated_at) VALUES (:1, :2, :3, :4, :5, :6)",
		q.read:   "SELECT amount, currency, product_category, created_at, updated_at FROM transactions WHERE transaction_id = :1 FOR UPDATE",
		q.update: "UPDATE transactions SET amount = :1, product_category = :2, updated_at = :3 WHERE transaction_id = :4",
		q.delete: "DELETE FROM transactions WHERE transaction_id = :1",
	} {
		if got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}

func TestOracleRetryable(t *testing.T) {
	d := &oracleDialect{}
	for code, want := range map[int]bool{
		60:   true,  // deadlock detected while waiting for resource
		8177: true,  // cannot serialize access for this transaction
		1:    false, // unique constraint violated
		54:   false, // resource busy and acquire with NOWAIT (the workload never asks for NOWAIT)
		942:  false, // table or view does not exist
		3113: false, // end-of-file on communication channel
	} {
		err := fmt.Errorf("update transaction_id 7: %w", &network.OracleError{ErrCode: code})
		if got := d.retryable(err); got != want {
			t.Errorf("ORA-%05d: retryable %v, want %v", code, got, want)
		}
		// The scrubber's wrapper must not hide the code.
		if got := d.retryable(scrubSecrets(err, "x", "y", []string{"transaction"})); got != want {
			t.Errorf("scrubbed ORA-%05d: retryable %v, want %v", code, got, want)
		}
	}
	if d.retryable(errors.New("ORA-00060: deadlock detected while waiting for resource")) {
		t.Error("a plain error that merely says ORA-00060 is retryable")
	}
	if d.retryable(nil) {
		t.Error("nil is retryable")
	}
}

// The DDL and the session setup, as a SQL*Plus script a reviewer can read
// (and run).
func TestOracleSchemaSQL(t *testing.T) {
	var b strings.Builder
	b.WriteString("-- agent workload: createSchema on Oracle (each block ignores \"already exists\")\n")
	for _, s := range oracleSchema {
		b.WriteString(s + "\n/\n")
	}
	golden(t, "oracle_schema.sql", b.String())
	golden(t, "oracle_session.sql", "-- agent workload: run on every new Oracle session\n"+oracleSession+"\n/\n")
}

// examples/oracle/setup.sql creates the same table, for whoever creates it
// by hand.
func TestOracleSetupSQLHasTheSchema(t *testing.T) {
	setup, err := os.ReadFile(filepath.Join("..", "..", "examples", "oracle", "setup.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ddl := range []string{oracleCreateTable, oracleCreateIndex} {
		if !strings.Contains(string(setup), ddl+";\n") {
			t.Errorf("examples/oracle/setup.sql does not contain\n%s;", ddl)
		}
	}
}

func TestOracleParseOffset(t *testing.T) {
	for in, want := range map[string]int{"+00:00": 0, "+02:00": 7200, "-05:30": -19800, " +05:45 ": 20700, "-00:30": -1800, "+14:00": 50400} {
		loc, err := parseOffset(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if _, off := time.Date(2026, 1, 1, 0, 0, 0, 0, loc).Zone(); off != want {
			t.Errorf("%q: offset %d, want %d", in, off, want)
		}
		if want == 0 && loc != time.UTC {
			t.Errorf("%q: %v, want time.UTC", in, loc)
		}
	}
	for _, bad := range []string{"", "UTC", "+2:00", "02:00", "+02-00", "+ab:cd", "+02:75", "Europe/Paris"} {
		if _, err := parseOffset(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// bindTime keeps the instant and changes only the zone, so the server
// stores its own wall clock.
func TestOracleBindTime(t *testing.T) {
	stamp := time.Date(2026, 3, 1, 10, 0, 0, 123456000, time.UTC)
	zone, _ := parseOffset("+02:00")
	got, ok := (&oracleDialect{zone: zone}).bindTime(stamp).(time.Time)
	if !ok || !got.Equal(stamp) || got.Format("15:04:05.000000 -07:00") != "12:00:00.123456 +02:00" {
		t.Errorf("bindTime = %v, want 12:00:00.123456 +02:00, the same instant", got)
	}
	if got := (&oracleDialect{}).bindTime(stamp); got != any(stamp) {
		t.Errorf("before open: bindTime = %v, want the stamp unchanged", got)
	}
	r := &runner{d: &sqliteDialect{}}
	if got := r.bindTime(stamp); got != any(stamp) {
		t.Errorf("sqlite: bindTime = %v, want the stamp unchanged", got)
	}
}

// ----- tests against a real server (skipped without $ORACLE_DSN) -----

func TestOracleServerReplayReproducesTable(t *testing.T) {
	dsn := oracleServer(t)
	ledger := filepath.Join(t.TempDir(), "ledger.jsonl")
	mustRun(t, context.Background(), Options{DSN: dsn, Ledger: ledger, Preload: 200, Duration: time.Millisecond, Seed: 1})
	st := mustRun(t, context.Background(), Options{
		DSN: dsn, Ledger: ledger, Rate: 0, Duration: time.Second, Writers: 4, Mix: [3]int{50, 30, 20}, Seed: 2,
	})
	es := checkLedgerMatches(t, ledger, oracleTable(t, dsn))
	if st.Commits == 0 || st.Inserts+st.Updates+st.Deletes != st.Commits {
		t.Fatalf("stats %+v", st)
	}
	if st.Updates == 0 || st.Deletes == 0 {
		t.Errorf("stats %+v: want updates and deletes too", st)
	}
	if len(es) < 200+int(st.Commits) {
		t.Errorf("%d ledger entries, want at least 200 preloaded + %d", len(es), st.Commits)
	}
}

func TestOracleServerSchemaOnlyAndPreload(t *testing.T) {
	dsn := oracleServer(t)
	ledger := filepath.Join(t.TempDir(), "ledger.jsonl")
	if st := mustRun(t, context.Background(), Options{DSN: dsn, Ledger: ledger, SchemaOnly: true}); st != (Stats{}) {
		t.Fatalf("stats %+v", st)
	}
	db := oracleOpen(t, dsn)
	var deps string
	if err := db.QueryRow(`SELECT dependencies FROM user_tables WHERE table_name = 'TRANSACTIONS'`).Scan(&deps); err != nil || deps != "ENABLED" {
		t.Fatalf("USER_TABLES.DEPENDENCIES = %q (%v), want ENABLED (ROWDEPENDENCIES)", deps, err)
	}
	rows, err := db.Query(`SELECT column_name, data_type, data_precision, data_scale, char_length, nullable FROM user_tab_columns WHERE table_name = 'TRANSACTIONS' ORDER BY column_id`)
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for rows.Next() {
		var name, typ, null string
		var prec, scale, clen sql.NullInt64
		if err := rows.Scan(&name, &typ, &prec, &scale, &clen, &null); err != nil {
			t.Fatal(err)
		}
		switch typ {
		case "NUMBER":
			typ = fmt.Sprintf("NUMBER(%d,%d)", prec.Int64, scale.Int64)
		case "VARCHAR2":
			typ = fmt.Sprintf("VARCHAR2(%d)", clen.Int64)
		}
		cols = append(cols, name+" "+typ+" nullable="+null)
	}
	rows.Close()
	want := []string{
		"TRANSACTION_ID NUMBER(19,0) nullable=N",
		"AMOUNT NUMBER(12,2) nullable=N",
		"CURRENCY VARCHAR2(3) nullable=N",
		"PRODUCT_CATEGORY VARCHAR2(32) nullable=N",
		"CREATED_AT TIMESTAMP(6) nullable=N",
		"UPDATED_AT TIMESTAMP(6) nullable=N",
	}
	if strings.Join(cols, "\n") != strings.Join(want, "\n") {
		t.Errorf("columns:\n%s\nwant:\n%s", strings.Join(cols, "\n"), strings.Join(want, "\n"))
	}
	var idx string
	if err := db.QueryRow(`SELECT LISTAGG(column_name, ',') WITHIN GROUP (ORDER BY column_position) FROM user_ind_columns WHERE index_name = 'TRANSACTIONS_UPDATED_AT'`).Scan(&idx); err != nil || idx != "UPDATED_AT,TRANSACTION_ID" {
		t.Fatalf("index columns %q (%v)", idx, err)
	}
	if _, err := os.Stat(ledger); err == nil {
		t.Fatal("--schema-only created a ledger")
	}
	// Idempotent.
	mustRun(t, context.Background(), Options{DSN: dsn, SchemaOnly: true})

	const preload = 2*preloadBatch + 1234
	st := mustRun(t, context.Background(), Options{DSN: dsn, Ledger: ledger, Preload: preload, Duration: 200 * time.Millisecond, Seed: 4})
	es := checkLedgerMatches(t, ledger, oracleTable(t, dsn))
	if len(es) != preload+int(st.Commits) {
		t.Fatalf("%d ledger entries, want %d preloaded + %d", len(es), preload, st.Commits)
	}
	txs := map[int64]int{}
	for _, e := range es[:preload] {
		if e.Op != OpInsert {
			t.Fatalf("preload entry %+v", e)
		}
		txs[e.Tx]++
	}
	if len(txs) != 3 {
		t.Errorf("preload used %d transactions, want 3", len(txs))
	}
}

// The stamps hold the server's wall clock: the text Oracle shows for the
// last change is its ledger instant in the server's offset, and it is close
// to CAST(SYSTIMESTAMP AS TIMESTAMP), which timestamp polling bounds by.
func TestOracleServerStampsAreServerWallClock(t *testing.T) {
	dsn := oracleServer(t)
	ledger := filepath.Join(t.TempDir(), "ledger.jsonl")
	mustRun(t, context.Background(), Options{DSN: dsn, Ledger: ledger, Rate: 50, Duration: 300 * time.Millisecond, Mix: [3]int{1, 1, 0}, Seed: 5})
	es, err := ReadLedger(ledger)
	if err != nil || len(es) == 0 {
		t.Fatalf("ledger: %d entries, %v", len(es), err)
	}
	last := es[len(es)-1]
	db := oracleOpen(t, dsn)
	var text, tz string
	var lagSeconds float64
	err = db.QueryRow(`SELECT TO_CHAR(updated_at, 'YYYY-MM-DD HH24:MI:SS.FF6'), TO_CHAR(SYSTIMESTAMP, 'TZH:TZM'),
  EXTRACT(DAY FROM (CAST(SYSTIMESTAMP AS TIMESTAMP(6)) - updated_at)) * 86400 + EXTRACT(HOUR FROM (CAST(SYSTIMESTAMP AS TIMESTAMP(6)) - updated_at)) * 3600
  + EXTRACT(MINUTE FROM (CAST(SYSTIMESTAMP AS TIMESTAMP(6)) - updated_at)) * 60 + EXTRACT(SECOND FROM (CAST(SYSTIMESTAMP AS TIMESTAMP(6)) - updated_at))
FROM transactions WHERE transaction_id = :1`, last.ID).Scan(&text, &tz, &lagSeconds)
	if err != nil {
		t.Fatal(err)
	}
	zone, err := parseOffset(tz)
	if err != nil {
		t.Fatal(err)
	}
	if want := last.UpdatedAt.In(zone).Format("2006-01-02 15:04:05.000000"); text != want {
		t.Errorf("updated_at of id %d is %s on the server; the ledger's %v in the server's offset %s is %s", last.ID, text, last.UpdatedAt, tz, want)
	}
	t.Logf("server offset %s; CAST(SYSTIMESTAMP AS TIMESTAMP) - last updated_at = %.3fs", tz, lagSeconds)
	if lagSeconds < -5 || lagSeconds > 60 {
		t.Errorf("the last stamp is %.3fs behind the server's wall clock: it does not hold the server's wall clock (or the clocks disagree)", lagSeconds)
	}
}

// With several writers, a long transaction holds only its row lock: writers
// that began after it commit first, and its updated_at is earlier than
// theirs although its n is higher.
func TestOracleServerLongTransactionsCommitOutOfOrder(t *testing.T) {
	dsn := oracleServer(t)
	ledger := filepath.Join(t.TempDir(), "ledger.jsonl")
	type txInfo struct {
		e     Entry
		began time.Time
		long  bool
	}
	var (
		mu  sync.Mutex
		txs = map[int64]txInfo{}
	)
	st := mustRun(t, context.Background(), Options{
		DSN: dsn, Ledger: ledger, Rate: 0, Duration: 1500 * time.Millisecond, Writers: 4,
		LongTxEvery: 10, LongTxHold: 300 * time.Millisecond, Seed: 3,
		OnCommit: func(e Entry, began, _ time.Time, long bool) {
			mu.Lock()
			defer mu.Unlock()
			txs[e.N] = txInfo{e, began, long}
		},
	})
	es := checkLedgerMatches(t, ledger, oracleTable(t, dsn))
	if st.LongTx == 0 || st.Commits != int64(len(es)) {
		t.Fatalf("stats %+v, ledger has %d entries", st, len(es))
	}
	if st.Retries != 0 {
		t.Errorf("%d retries: writers on distinct rows should never conflict", st.Retries)
	}
	var outOfOrder, stampedEarlier int
	for _, l := range txs {
		if !l.long {
			continue
		}
		for n := int64(1); n < l.e.N; n++ {
			if e, ok := txs[n]; ok && e.began.After(l.began) {
				outOfOrder++
				break
			}
		}
		if l.e.N >= 2 && l.e.Op != OpDelete {
			if prev := es[l.e.N-2]; prev.Op != OpDelete && l.e.UpdatedAt.Before(prev.UpdatedAt) {
				stampedEarlier++
			}
		}
	}
	t.Logf("%d long transactions: %d committed after a transaction that began later, %d stamped earlier than the entry before them",
		st.LongTx, outOfOrder, stampedEarlier)
	if outOfOrder == 0 || stampedEarlier == 0 {
		t.Error("no long transaction committed out of order: the workload no longer exposes timestamp polling on Oracle")
	}
}

// ORA-08177 and ORA-00060 raised by a real server are retried; a missing
// table is not.
func TestOracleServerRetryableErrors(t *testing.T) {
	dsn := oracleServer(t)
	mustRun(t, context.Background(), Options{DSN: dsn, Preload: 2, Duration: time.Millisecond})
	db := oracleOpen(t, dsn)
	ctx := context.Background()
	d := &oracleDialect{}
	begin := func() *sql.Tx {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tx.Rollback() })
		return tx
	}

	// ORA-08177: a SERIALIZABLE transaction updating a row changed and
	// committed since it began.
	ser := begin()
	if _, err := ser.Exec(`SET TRANSACTION ISOLATION LEVEL SERIALIZABLE`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := ser.QueryRow(`SELECT COUNT(*) FROM transactions`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE transactions SET amount = amount + 1 WHERE transaction_id = 1`); err != nil { // autocommit
		t.Fatal(err)
	}
	_, serial := ser.Exec(`UPDATE transactions SET amount = amount + 1 WHERE transaction_id = 1`)
	if !d.retryable(serial) {
		t.Errorf("update after a concurrent commit at SERIALIZABLE: %v; want a retryable error (ORA-08177)", serial)
	}

	// ORA-00060: two transactions each waiting for the other's row. Oracle
	// rolls back one statement of one of them after a few seconds.
	a, b := begin(), begin()
	if _, err := a.Exec(`UPDATE transactions SET amount = amount + 1 WHERE transaction_id = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Exec(`UPDATE transactions SET amount = amount + 1 WHERE transaction_id = 2`); err != nil {
		t.Fatal(err)
	}
	type res struct {
		tx  *sql.Tx
		err error
	}
	done := make(chan res, 2)
	go func() {
		_, err := a.Exec(`UPDATE transactions SET amount = amount + 1 WHERE transaction_id = 2`)
		done <- res{a, err}
	}()
	go func() {
		_, err := b.Exec(`UPDATE transactions SET amount = amount + 1 WHERE transaction_id = 1`)
		done <- res{b, err}
	}()
	var first res
	select {
	case first = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("no deadlock detected within 30s")
	}
	first.tx.Rollback() // releases its lock: the other statement completes
	second := <-done
	if !d.retryable(first.err) {
		t.Errorf("deadlock victim: %v; want a retryable error (ORA-00060)", first.err)
	}
	if second.err != nil {
		t.Errorf("the other transaction: %v", second.err)
	}

	_, missing := db.Exec(`DELETE FROM rowflux_no_such_table`)
	if missing == nil || d.retryable(missing) {
		t.Errorf("missing table: %v; want a non-retryable error", missing)
	}
}

// A wrong password on a real server: the server's own error (ORA-01017),
// still without the password.
func TestOracleServerPasswordNotInServerErrors(t *testing.T) {
	base := oracleServer(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	const pw = "s3cret-Wrong-Pw"
	u.User = url.UserPassword(u.User.Username(), pw)
	_, err = Run(context.Background(), Options{DSN: u.String(), Duration: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "ORA-01017") {
		t.Fatalf("error %v, want ORA-01017", err)
	}
	t.Log(err)
	if strings.Contains(err.Error(), pw) {
		t.Fatalf("the password is in the error: %v", err)
	}
	if !strings.Contains(err.Error(), ":"+redacted+"@") {
		t.Errorf("error %v does not name the (redacted) DSN", err)
	}
}
