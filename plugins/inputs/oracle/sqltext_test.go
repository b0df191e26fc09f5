package oracle

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rowflux/rowflux/plugins/common/capture"
)

// Fixtures: tables as resolve leaves them (names as stored).

func col(name, typ string) capture.Column {
	return capture.Column{Name: name, Out: strings.ToLower(name), Type: typ}
}

// transactions: the seed schema's table, schema-qualified, one NUMBER key.
func txTable() *capture.Table {
	return &capture.Table{
		Schema: "SHOP", Name: "TRANSACTIONS", EventName: "transactions",
		Columns: []capture.Column{
			col("TRANSACTION_ID", "NUMBER(10,0)"),
			col("AMOUNT", "NUMBER(12,2)"),
			col("CURRENCY", "VARCHAR2(3)"),
			col("UPDATED_AT", "TIMESTAMP(6)"),
		},
		KeyIdx: []int{0}, TSIdx: 3,
	}
}

// orders: unqualified, composite key (CHAR, NUMBER), zoned timestamp.
func ordersTable() *capture.Table {
	return &capture.Table{
		Name: "ORDERS", EventName: "orders",
		Columns: []capture.Column{
			col("REGION", "CHAR(2)"),
			col("ORDER_NO", "NUMBER(19,0)"),
			col("TOTAL", "NUMBER"),
			col("NOTE", "CLOB"),
			col("CHANGED_AT", "TIMESTAMP(6) WITH TIME ZONE"),
		},
		KeyIdx: []int{0, 1}, TSIdx: 4,
	}
}

// Mixed: stored with quoted mixed-case names, DATE timestamp, RAW key.
func mixedTable() *capture.Table {
	return &capture.Table{
		Schema: "App", Name: "Mixed", EventName: "mixed",
		Columns: []capture.Column{
			col("Id", "RAW(16)"),
			col("Label", "NVARCHAR2(10)"),
			col("Changed", "DATE"),
		},
		KeyIdx: []int{0}, TSIdx: 2,
	}
}

// typedTable has a NUMBER(10,0) key and a TIMESTAMP(6) timestamp column,
// with typ replacing the timestamp's type when ts is true, else the key's.
func typedTable(typ string, ts bool) *capture.Table {
	t := &capture.Table{Schema: "S", Name: "T", EventName: "t",
		Columns: []capture.Column{col("K", "NUMBER(10,0)"), col("V", "VARCHAR2(20)"), col("TS", "TIMESTAMP(6)")},
		KeyIdx:  []int{0}, TSIdx: 2}
	if ts {
		t.Columns[2].Type = typ
	} else {
		t.Columns[0].Type = typ
	}
	return t
}

// withRowid adds cqn's ROWID pseudo column.
func withRowid(t *capture.Table) *capture.Table {
	t.Columns = append(t.Columns, capture.Column{Name: "ROWID", Out: "rowid", Type: "ROWID"})
	return t
}

// sqlCase is one golden SQL file: the statement and what each
// placeholder, in order, takes.
type sqlCase struct {
	name  string
	about string
	sql   string
	binds []string
	err   error
}

// pollBinds describes pollPageSQL's binds.
func pollBinds(t *capture.Table, cursorArgs []int) []string {
	binds := []string{"upper bound: upperArg(" + t.Columns[t.TSIdx].Name + ", wall, tz)"}
	order := []int{t.TSIdx}
	order = append(order, t.KeyIdx...)
	for _, i := range cursorArgs {
		binds = append(binds, fmt.Sprintf("after[%d] (RF$C%d, %s %s)", i, i, t.Columns[order[i]].Name, t.Columns[order[i]].Type))
	}
	return binds
}

func pollCase(name, about string, t *capture.Table, withCursor, legacy bool) sqlCase {
	q, args, err := pollPageSQL(t, withCursor, 500, legacy)
	return sqlCase{name: name, about: about, sql: q, binds: pollBinds(t, args), err: err}
}

func changedCase(name, about string, t *capture.Table, withCursor, legacy bool) sqlCase {
	q, err := changedSQL(t, withCursor, 500, legacy)
	binds := []string{"low: the last horizon (SCN)"}
	if withCursor {
		for _, i := range cursorBinds(len(t.KeyIdx)) {
			c := t.Columns[t.KeyIdx[i]]
			binds = append(binds, fmt.Sprintf("after[%d] (RF$C%d, %s %s)", i, i, c.Name, c.Type))
		}
	}
	return sqlCase{name: name, about: about, sql: q, binds: binds, err: err}
}

func triggerCase(name, about string, t *capture.Table, o objects, legacy bool) sqlCase {
	q, err := triggerReadSQL(o, t, 500, legacy)
	return sqlCase{name: name, about: about, sql: q, binds: []string{"the last RF_SEQ read"}, err: err}
}

func numbered(n int, what string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s %d", what, i+1)
	}
	return out
}

func sqlCases() []sqlCase {
	// own is what newObjects makes: capture objects in the connecting
	// user's schema; o names a schema, as a DBA-chosen one would.
	own := newObjects("rowflux_changelog")
	o := objects{Schema: "CDC", Changelog: fold("rowflux_changelog")}
	cases := []sqlCase{
		{name: "session_setup", about: "first statement of every session", sql: sessionSetupSQL},
		{name: "current_schema", about: "owner of unqualified tables", sql: currentSchemaSQL},
		{name: "describe", about: "Describe: columns in table order", sql: describeSQL, binds: []string{"owner (as stored)", "table name (as stored)"}},
		{name: "horizon", about: "rowscn: commit horizon, read before each round", sql: horizonSQL},
		{name: "alert_register", about: "cqn wait session: subscribe", sql: alertRegisterSQL, binds: []string{"alert name"}},
		{name: "alert_wait", about: "cqn wait session: wait", sql: alertWaitSQL,
			binds: []string{"alert name", "OUT message VARCHAR2(1800)", "OUT status (0 alert, 1 timeout)", "timeout in seconds"}},
		{name: "poll_upper", about: "polling upper bound: now - lag", sql: pollUpperSQL(false), binds: []string{"lag in seconds"}},
		{name: "poll_upper_bounded", about: "polling upper bound with bound_by_open_transactions", sql: pollUpperSQL(true), binds: []string{"lag in seconds"}},

		pollCase("poll_first", "polling, first page (no cursor)", txTable(), false, false),
		pollCase("poll_next", "polling, next page", txTable(), true, false),
		pollCase("poll_first_legacy", "polling, first page, 11g pagination", txTable(), false, true),
		pollCase("poll_next_legacy", "polling, next page, 11g pagination", txTable(), true, true),
		pollCase("poll_composite_next", "polling, composite key (CHAR, NUMBER), unqualified table, TIMESTAMP WITH TIME ZONE", ordersTable(), true, false),
		pollCase("poll_mixed_next", "polling, quoted mixed-case names, RAW key, DATE timestamp", mixedTable(), true, false),

		changedCase("changed_first", "rowscn, first page", txTable(), false, false),
		changedCase("changed_next", "rowscn, next page", txTable(), true, false),
		changedCase("changed_first_legacy", "rowscn, first page, 11g pagination", txTable(), false, true),
		changedCase("changed_next_legacy", "rowscn, next page, 11g pagination", txTable(), true, true),
		changedCase("changed_composite_next", "rowscn, composite key, unqualified table", ordersTable(), true, false),
		changedCase("changed_mixed_next", "rowscn, quoted mixed-case names, RAW key", mixedTable(), true, false),

		triggerCase("trigger_read", "trigger: changelog joined with the table (objects in CDC)", txTable(), o, false),
		triggerCase("trigger_read_legacy", "trigger, 11g pagination (objects in CDC)", txTable(), o, true),
		triggerCase("trigger_read_composite", "trigger, composite key, unqualified table (objects in the current schema)", ordersTable(), own, false),
		triggerCase("trigger_read_mixed", "trigger, quoted mixed-case table (objects in the current schema)", mixedTable(), own, false),
		{name: "trigger_delete_1", about: "trigger: consume one changelog row (objects in CDC)", sql: triggerDeleteSQL(o, txTable(), 1), binds: numbered(1, "RF_SEQ")},
		{name: "trigger_delete_3", about: "trigger: consume three changelog rows (objects in CDC)", sql: triggerDeleteSQL(o, txTable(), 3), binds: numbered(3, "RF_SEQ")},
		{name: "trigger_delete_unqualified", about: "trigger: consume, objects in the current schema", sql: triggerDeleteSQL(own, ordersTable(), 2), binds: numbered(2, "RF_SEQ")},

		{name: "cqn_read", about: "cqn: read the changelog for two tables (objects in CDC)", binds: []string{"the last RF_SEQ read"},
			sql: cqnReadSQL(o, []*capture.Table{withRowid(txTable()), withRowid(ordersTable())}, "APP_USER", 500, false)},
		{name: "cqn_read_legacy", about: "cqn: read, 11g pagination (objects in the current schema)", binds: []string{"the last RF_SEQ read"},
			sql: cqnReadSQL(own, []*capture.Table{withRowid(txTable())}, "APP_USER", 500, true)},
		{name: "cqn_read_mixed", about: "cqn: read, quoted mixed-case table (RF_TABLE compared upper-cased)", binds: []string{"the last RF_SEQ read"},
			sql: cqnReadSQL(own, []*capture.Table{withRowid(mixedTable())}, "APP_USER", 500, false)},
		{name: "cqn_read_no_tables", about: "cqn: read deregistration markers only", binds: []string{"the last RF_SEQ read"},
			sql: cqnReadSQL(own, nil, "APP_USER", 500, false)},
		{name: "cqn_delete_3", about: "cqn: consume three changelog rows (objects in CDC)", sql: cqnDeleteSQL(o, 3), binds: numbered(3, "RF_SEQ")},
		{name: "cqn_delete_unqualified", about: "cqn: consume, objects in the current schema", sql: cqnDeleteSQL(own, 1), binds: numbered(1, "RF_SEQ")},
		{name: "rowid_fetch_1", about: "cqn: current row of one ROWID", sql: rowidFetchSQL(withRowid(txTable()), 1), binds: numbered(1, "ROWID text")},
		{name: "rowid_fetch_3", about: "cqn: current rows of three ROWIDs", sql: rowidFetchSQL(withRowid(txTable()), 3), binds: numbered(3, "ROWID text")},
		{name: "rowid_fetch_mixed", about: "cqn: ROWID fetch, quoted mixed-case table", sql: rowidFetchSQL(withRowid(mixedTable()), 2), binds: numbered(2, "ROWID text")},
		{name: "rescan", about: "cqn: whole table (ALL_ROWS, re-registration)", sql: rescanSQL(withRowid(txTable()))},
		{name: "rescan_unqualified", about: "cqn: whole unqualified table", sql: rescanSQL(withRowid(ordersTable()))},
	}
	// Every type a timestamp column can have, and every type a key can.
	for _, ts := range []string{"DATE", "TIMESTAMP(6)", "TIMESTAMP(9) WITH TIME ZONE", "TIMESTAMP(3) WITH LOCAL TIME ZONE"} {
		cases = append(cases, pollCase("poll_ts_"+slug(ts), "polling, timestamp column "+ts, typedTable(ts, true), true, false))
	}
	for _, k := range []string{"NUMBER", "NUMBER(10,0)", "FLOAT(126)", "BINARY_DOUBLE", "BINARY_FLOAT", "DATE", "TIMESTAMP(6)",
		"TIMESTAMP(6) WITH TIME ZONE", "TIMESTAMP(6) WITH LOCAL TIME ZONE", "VARCHAR2(32)", "NVARCHAR2(10)", "CHAR(3)", "NCHAR(2)", "RAW(16)"} {
		cases = append(cases, pollCase("poll_key_"+slug(k), "polling, key column "+k, typedTable(k, false), true, false))
		cases = append(cases, changedCase("changed_key_"+slug(k), "rowscn, key column "+k, typedTable(k, false), true, false))
	}
	return cases
}

// slug makes a type a file name part: "TIMESTAMP(6) WITH TIME ZONE" →
// "timestamp6_with_time_zone".
func slug(typ string) string {
	s := strings.ToLower(typ)
	s = strings.NewReplacer("(", "", ")", "", ",", "_", " ", "_").Replace(s)
	return s
}

var placeholderRE = regexp.MustCompile(`:(\d+)`)

// checkPlaceholders asserts the placeholders are :1..:n in order of
// appearance, each used once, and that n is the number of binds described.
func checkPlaceholders(t *testing.T, q string, binds int) {
	t.Helper()
	m := placeholderRE.FindAllStringSubmatch(q, -1)
	for i, p := range m {
		if p[1] != strconv.Itoa(i+1) {
			t.Errorf("placeholder %d is :%s, want :%d", i+1, p[1], i+1)
		}
	}
	if len(m) != binds {
		t.Errorf("%d placeholders, %d binds described", len(m), binds)
	}
}

func render(c sqlCase) string {
	var b strings.Builder
	fmt.Fprintf(&b, "-- case: %s\n-- %s\n", c.name, c.about)
	if len(c.binds) == 0 {
		b.WriteString("-- binds: none\n")
	} else {
		b.WriteString("-- binds:\n")
	}
	for i, d := range c.binds {
		fmt.Fprintf(&b, "--   :%d  %s\n", i+1, d)
	}
	b.WriteString(c.sql)
	b.WriteString("\n")
	return b.String()
}

func TestSQLGolden(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range sqlCases() {
		t.Run(c.name, func(t *testing.T) {
			if seen[c.name] {
				t.Fatalf("duplicate case %s", c.name)
			}
			seen[c.name] = true
			if c.err != nil {
				t.Fatal(c.err)
			}
			checkPlaceholders(t, c.sql, len(c.binds))
			if strings.Contains(c.sql, "ROWNUM") != strings.HasSuffix(c.name, "_legacy") {
				t.Errorf("ROWNUM pagination in %s: only _legacy cases use it", c.name)
			}
			golden(t, "sql/"+c.name+".sql", render(c))
		})
	}
}

func TestCursorArgsMatchPlaceholders(t *testing.T) {
	for _, n := range []int{1, 2, 3} {
		want := []int{}
		for i := 0; i < n; i++ {
			want = append(want, i)
			if i < n-1 {
				want = append(want, i)
			}
		}
		if got := cursorBinds(n); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("cursorBinds(%d) = %v, want %v", n, got, want)
		}
	}
	tbl := ordersTable()
	q, idx, err := pollPageSQL(tbl, true, 10, false)
	if err != nil {
		t.Fatal(err)
	}
	// (ts, region, order_no): 5 cursor placeholders after the bound.
	if fmt.Sprint(idx) != "[0 0 1 1 2]" {
		t.Errorf("cursorArgs = %v", idx)
	}
	checkPlaceholders(t, q, 1+len(idx))
	args, err := bindArgs([]any{"ts", "EU", "42"}, idx, "upper")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(args) != "[upper ts ts EU EU 42]" {
		t.Errorf("bindArgs = %v", args)
	}
	if _, err := bindArgs([]any{"ts"}, idx, "upper"); err == nil {
		t.Error("bindArgs accepted a short cursor")
	}
	if _, idx, _ := pollPageSQL(tbl, false, 10, false); idx != nil {
		t.Errorf("first page cursorArgs = %v, want nil", idx)
	}
}

func TestUpperArg(t *testing.T) {
	for typ, want := range map[string]string{
		"DATE":                              "2026-11-21 06:00:00.123456789",
		"TIMESTAMP(6)":                      "2026-11-21 06:00:00.123456789",
		"TIMESTAMP(6) WITH TIME ZONE":       "2026-11-21 06:00:00.123456789 +05:30",
		"TIMESTAMP(6) WITH LOCAL TIME ZONE": "2026-11-21 06:00:00.123456789 +05:30",
	} {
		if got := upperArg(col("TS", typ), "2026-11-21 06:00:00.123456789", "+05:30"); got != want {
			t.Errorf("%s: %q, want %q", typ, got, want)
		}
	}
}

func TestBuilderErrors(t *testing.T) {
	noTS := txTable()
	noTS.TSIdx = -1
	noKey := txTable()
	noKey.KeyIdx = nil
	numTS := typedTable("NUMBER", true)
	clobKey := typedTable("CLOB", false)
	for _, c := range []struct {
		name string
		err  func() error
		want []string
	}{
		{"poll without timestamp", func() error { _, _, err := pollPageSQL(noTS, true, 1, false); return err }, []string{`"SHOP"."TRANSACTIONS"`, "timestamp_column"}},
		{"poll without key", func() error { _, _, err := pollPageSQL(noKey, true, 1, false); return err }, []string{`"SHOP"."TRANSACTIONS"`, "key"}},
		{"poll NUMBER timestamp", func() error { _, _, err := pollPageSQL(numTS, false, 1, false); return err }, []string{`"S"."T"`, "TS (NUMBER)", "DATE or TIMESTAMP"}},
		{"poll CLOB key", func() error { _, _, err := pollPageSQL(clobKey, false, 1, false); return err }, []string{`"S"."T"`, "K (CLOB)", "cannot be a key"}},
		{"rowscn CLOB key", func() error { _, err := changedSQL(clobKey, true, 1, false); return err }, []string{`"S"."T"`, "K (CLOB)"}},
		{"rowscn without key", func() error { _, err := changedSQL(noKey, true, 1, false); return err }, []string{"key"}},
		{"trigger without key", func() error { _, err := triggerReadSQL(objects{}, noKey, 1, false); return err }, []string{"key"}},
	} {
		err := c.err()
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", c.name, err, w)
			}
		}
	}
}

func TestCursorExpressions(t *testing.T) {
	for _, c := range []struct {
		typ, sel, bind string
	}{
		{"NUMBER", `t."C"`, `TO_NUMBER(:3)`},
		{"NUMBER(10,0)", `t."C"`, `TO_NUMBER(:3)`},
		{"FLOAT(126)", `t."C"`, `TO_NUMBER(:3)`},
		{"BINARY_DOUBLE", `t."C"`, `:3`},
		{"DATE", `TO_CHAR(t."C", 'YYYY-MM-DD HH24:MI:SS')`, `TO_DATE(:3, 'YYYY-MM-DD HH24:MI:SS')`},
		{"TIMESTAMP(6)", `TO_CHAR(t."C", 'YYYY-MM-DD HH24:MI:SS.FF9')`, `TO_TIMESTAMP(:3, 'YYYY-MM-DD HH24:MI:SS.FF9')`},
		{"TIMESTAMP(6) WITH TIME ZONE", `TO_CHAR(t."C", 'YYYY-MM-DD HH24:MI:SS.FF9 TZH:TZM')`, `TO_TIMESTAMP_TZ(:3, 'YYYY-MM-DD HH24:MI:SS.FF9 TZH:TZM')`},
		{"TIMESTAMP(6) WITH LOCAL TIME ZONE", `TO_CHAR(CAST(t."C" AS TIMESTAMP WITH TIME ZONE), 'YYYY-MM-DD HH24:MI:SS.FF9 TZH:TZM')`,
			`CAST(TO_TIMESTAMP_TZ(:3, 'YYYY-MM-DD HH24:MI:SS.FF9 TZH:TZM') AS TIMESTAMP WITH LOCAL TIME ZONE)`},
		{"VARCHAR2(3)", `t."C"`, `:3`},
		{"CHAR(3)", `t."C"`, `:3`},
		{"RAW(16)", `RAWTOHEX(t."C")`, `HEXTORAW(:3)`},
	} {
		sel, err := cursorSelect(col("C", c.typ), "t")
		if err != nil || sel != c.sel {
			t.Errorf("cursorSelect(%s) = %q, %v; want %q", c.typ, sel, err, c.sel)
		}
		bind, err := cursorBind(col("C", c.typ), ":3")
		if err != nil || bind != c.bind {
			t.Errorf("cursorBind(%s) = %q, %v; want %q", c.typ, bind, err, c.bind)
		}
	}
	for _, typ := range []string{"CLOB", "NCLOB", "BLOB", "LONG", "LONG RAW", "ROWID", "XMLTYPE", "INTERVAL DAY(2) TO SECOND(6)"} {
		_, err1 := cursorSelect(col("DOC", typ), "")
		_, err2 := cursorBind(col("DOC", typ), ":1")
		for _, err := range []error{err1, err2} {
			if err == nil || !strings.Contains(err.Error(), "DOC ("+typ+")") {
				t.Errorf("%s: error %v does not name the column and type", typ, err)
			}
		}
	}
}

func TestSelectExpr(t *testing.T) {
	rowid := capture.Column{Name: "ROWID", Out: "rowid", Type: "ROWID"}
	for _, c := range []struct {
		c     capture.Column
		alias string
		want  string
	}{
		{rowid, "", "ROWIDTOCHAR(ROWID)"},
		{rowid, "t", "ROWIDTOCHAR(t.ROWID)"},
		{col("R", "ROWID"), "", `ROWIDTOCHAR("R")`},
		{col("Mixed", "NUMBER"), "t", `t."Mixed"`},
		{col(`we"ird`, "VARCHAR2(3)"), "", `"we""ird"`},
		{col("ROWID", "VARCHAR2(18)"), "", `"ROWID"`}, // a real column so named is not the pseudo column
	} {
		if got := selectExpr(c.c, c.alias); got != c.want {
			t.Errorf("selectExpr(%s %s, %q) = %s, want %s", c.c.Name, c.c.Type, c.alias, got, c.want)
		}
	}
}

func TestQuoting(t *testing.T) {
	for in, want := range map[string]string{`A`: `"A"`, `Mixed`: `"Mixed"`, `a"b`: `"a""b"`, `""`: `""""""`} {
		if got := quote(in); got != want {
			t.Errorf("quote(%s) = %s, want %s", in, got, want)
		}
	}
	if got := literal(`O'Brien.T`); got != `'O''Brien.T'` {
		t.Errorf("literal = %s", got)
	}
	weird := &capture.Table{Schema: `s"x`, Name: `t"y`, Columns: []capture.Column{col(`k"z`, "NUMBER")}, KeyIdx: []int{0}, TSIdx: -1}
	q, err := changedSQL(weird, true, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`FROM "s""x"."t""y"`, `"k""z" > TO_NUMBER(:2)`, `ORDER BY "k""z"`} {
		if !strings.Contains(q, w) {
			t.Errorf("%s\ndoes not contain %s", q, w)
		}
	}
	if got := cqnTableName(weird, "ME"); got != `S"X.T"Y` {
		t.Errorf("cqnTableName = %s", got)
	}
	if got := literal(cqnTableName(mixedTable(), "ME")); got != `'APP.MIXED'` {
		t.Errorf("cqn name of mixed = %s", got)
	}
	if got := cqnTableName(ordersTable(), "APP_USER"); got != "APP_USER.ORDERS" {
		t.Errorf("cqn name of unqualified = %s", got)
	}
}

func TestInListBounds(t *testing.T) {
	q := cqnDeleteSQL(objects{Changelog: "C"}, maxInList)
	if !strings.HasSuffix(q, ":1000)") || strings.Count(q, ":") != maxInList {
		t.Errorf("1000-value delete: ...%s", q[len(q)-20:])
	}
	for _, n := range []int{0, maxInList + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("IN list of %d did not panic", n)
				}
			}()
			rowidFetchSQL(txTable(), n)
		}()
	}
}
