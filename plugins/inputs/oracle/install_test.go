package oracle

import (
	"regexp"
	"strings"
	"testing"

	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/sdk"
)

// installTables builds tables as configuration alone gives them (names
// folded to upper case): "one" is an unqualified table with a one-column
// key; "two" adds, first, a schema-qualified table with a composite key,
// so that the capture objects go to that schema.
func installTables(set string) []*capture.Table {
	orders := &capture.Table{
		Config:  capture.TableConfig{Name: "orders", Key: []string{"order_id"}, TimestampColumn: "updated_at"},
		Name:    "ORDERS",
		Columns: []capture.Column{{Name: "ORDER_ID", Out: "order_id"}, {Name: "UPDATED_AT", Out: "updated_at"}},
		KeyIdx:  []int{0},
		TSIdx:   1,
	}
	if set == "one" {
		return []*capture.Table{orders}
	}
	lines := &capture.Table{
		Config: capture.TableConfig{Name: "shop.order_lines", Key: []string{"order_id", "line_no"}, TimestampColumn: "changed_at"},
		Schema: "SHOP",
		Name:   "ORDER_LINES",
		Columns: []capture.Column{
			{Name: "ORDER_ID", Out: "order_id"}, {Name: "LINE_NO", Out: "line_no"}, {Name: "CHANGED_AT", Out: "changed_at"},
		},
		KeyIdx: []int{0, 1},
		TSIdx:  2,
	}
	return []*capture.Table{lines, orders}
}

type installCase struct {
	name     string
	strategy capture.Strategy
	opt      scriptOptions
}

func installCases() []installCase {
	user := "rf_agent"
	return []installCase{
		{"polling", capture.Polling, scriptOptions{User: user, Bounded: true}},
		{"polling_unbounded", capture.Polling, scriptOptions{Bounded: false}},
		{"rowscn", capture.CommitOrder, scriptOptions{User: user}},
		{"trigger", capture.Trigger, scriptOptions{User: user, ConfigFile: "agent.conf"}},
		{"cqn_object", capture.Notify, scriptOptions{User: user, CQNMode: "object", ConfigFile: "agent.conf"}},
		{"cqn_query", capture.Notify, scriptOptions{CQNMode: "query", ConfigFile: "agent.conf"}},
	}
}

func header(c installCase, set, action string, tables []*capture.Table) string {
	var names []string
	for _, t := range tables {
		names = append(names, t.Config.Name)
	}
	h := "-- " + action + ", strategy " + c.name + ", tables " + strings.Join(names, ", ")
	if c.opt.User != "" {
		h += ", user " + c.opt.User
	}
	return h + "\n\n"
}

// TestInstallGolden: the scripts of every strategy and option, one table
// and two, as a reviewer reads them (regenerate with -update).
func TestInstallGolden(t *testing.T) {
	for _, c := range installCases() {
		for _, set := range []string{"one", "two"} {
			t.Run(c.name+"_"+set, func(t *testing.T) {
				tables := installTables(set)
				opt := c.opt
				if c.name == "cqn_query" && set == "two" { // "one" registers the whole table
					tables[0].Config.Where = "qty > 0 AND note <> 'x''y'"
					tables[1].Config.Where = "status = 'OPEN'"
				}
				o := newObjects("rowflux_changelog")
				base := "install/" + c.name + "_" + set
				setup, err := setupScript(c.strategy, o, tables, opt)
				if err != nil {
					t.Fatal(err)
				}
				teardown, err := teardownScript(c.strategy, o, tables, opt)
				if err != nil {
					t.Fatal(err)
				}
				checks, err := doctorChecks(c.strategy, o, tables, opt)
				if err != nil {
					t.Fatal(err)
				}
				golden(t, base+".setup.sql", header(c, set, "setup", tables)+orNothing(renderScript(setup)))
				golden(t, base+".teardown.sql", header(c, set, "teardown", tables)+orNothing(renderScript(teardown)))
				golden(t, base+".doctor.sql", header(c, set, "doctor", tables)+renderChecks(checks))
				for _, s := range append(append(setup, teardown...), checkStatements(checks)...) {
					runnableAsSent(t, s)
				}
			})
		}
	}
}

func orNothing(s string) string {
	if s == "" {
		return "-- (nothing: this strategy installs no objects)\n"
	}
	return s
}

// runnableAsSent: plain SQL without a trailing ";", PL/SQL ending in
// "END;", and nothing SQL*Plus would cut short (a blank line ends a SQL
// statement there, a lone "/" runs the buffer).
func runnableAsSent(t *testing.T, s sdk.Statement) {
	t.Helper()
	sql := strings.TrimSpace(s.SQL)
	if sql != s.SQL {
		t.Errorf("%s: surrounding white space", s.Purpose)
	}
	plsql := strings.HasPrefix(sql, "BEGIN") || strings.HasPrefix(sql, "DECLARE") || strings.HasPrefix(sql, "CREATE OR REPLACE PROCEDURE") ||
		strings.HasPrefix(sql, "CREATE OR REPLACE TRIGGER")
	switch {
	case plsql && !strings.HasSuffix(sql, "END;"):
		t.Errorf("%s: PL/SQL not ending in END;:\n%s", s.Purpose, sql)
	case !plsql && strings.HasSuffix(sql, ";"):
		t.Errorf("%s: SQL ending in ';':\n%s", s.Purpose, sql)
	}
	for _, line := range strings.Split(sql, "\n") {
		if strings.TrimSpace(line) == "" || strings.TrimSpace(line) == "/" {
			t.Errorf("%s: a blank or lone-/ line:\n%s", s.Purpose, sql)
		}
	}
	if s.Purpose == "" || strings.Contains(s.Purpose, "\n") {
		t.Errorf("purpose %q: want one line", s.Purpose)
	}
}

func TestPollingAndRowscnInstallNothing(t *testing.T) {
	tables := installTables("two")
	o := newObjects("rowflux_changelog")
	for _, st := range []capture.Strategy{capture.Polling, capture.CommitOrder} {
		s, err := setupScript(st, o, tables, scriptOptions{})
		if err != nil || len(s) != 0 {
			t.Errorf("%s setup: %v %v", st, s, err)
		}
		s, err = teardownScript(st, o, tables, scriptOptions{})
		if err != nil || len(s) != 0 {
			t.Errorf("%s teardown: %v %v", st, s, err)
		}
	}
	if _, err := setupScript("bogus", o, tables, scriptOptions{}); err == nil {
		t.Error("unknown strategy accepted")
	}
}

func TestTolerantDoublesQuotes(t *testing.T) {
	got := tolerant(`CREATE TABLE "it's" ("c" CHAR(1) DEFAULT 'x')`, oraNameUsed)
	want := "BEGIN\n" +
		"  EXECUTE IMMEDIATE 'CREATE TABLE \"it''s\" (\"c\" CHAR(1) DEFAULT ''x'')';\n" +
		"EXCEPTION\n" +
		"  WHEN OTHERS THEN\n" +
		"    IF SQLCODE != -955 THEN\n" +
		"      RAISE;\n" +
		"    END IF;\n" +
		"END;"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if got := tolerant("DROP TABLE x", 942, 2289); !strings.Contains(got, "IF SQLCODE NOT IN (-942, -2289) THEN") {
		t.Fatalf("several codes:\n%s", got)
	}
	// Nested: the trigger text inside EXECUTE IMMEDIATE has its quotes doubled.
	tables := installTables("one")
	o := newObjects("rowflux_changelog")
	block := triggerBlock(o, tables[0], []string{"ORDER_ID"})
	if !strings.Contains(block, "VALUES (\"ROWFLUX_CHANGELOG_SEQ\".NEXTVAL, ''D'', SYSTIMESTAMP, :OLD.\"ORDER_ID\")") {
		t.Fatalf("trigger body not doubled:\n%s", block)
	}
}

func TestObjectNamesAtMost128Bytes(t *testing.T) {
	tables := installTables("two")
	long := strings.Repeat("c", 110) // + "$ORDER_LINES$T" = 124 bytes, + "$ORDER_LINES$PK" = 125; ORDERS fits too
	o := newObjects(long)
	if _, err := setupScript(capture.Trigger, o, tables, scriptOptions{}); err != nil {
		t.Fatalf("names up to 128 bytes: %v", err)
	}
	long = strings.Repeat("c", 115) // "$ORDER_LINES$PK" makes 130
	o = newObjects(long)
	for _, f := range []func() error{
		func() error { _, err := setupScript(capture.Trigger, o, tables, scriptOptions{}); return err },
		func() error { _, err := teardownScript(capture.Trigger, o, tables, scriptOptions{}); return err },
		func() error { _, err := doctorChecks(capture.Trigger, o, tables, scriptOptions{}); return err },
	} {
		err := f()
		if err == nil {
			t.Fatal("a 130-byte name accepted")
		}
		for _, want := range []string{"table shop.order_lines", strings.ToUpper(long) + "$ORDER_LINES$", "128", "shorter changelog_table"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%q does not name %q", err, want)
			}
		}
	}
	o = newObjects(strings.Repeat("c", 125)) // + "_SEQ" = 129
	if _, err := setupScript(capture.Notify, o, tables, scriptOptions{}); err == nil || !strings.Contains(err.Error(), "sequence") {
		t.Fatalf("long sequence name: %v", err)
	}
}

func TestCQNHandlerMustBeAPlainName(t *testing.T) {
	tables := installTables("one")
	o := newObjects("_rf")
	if _, err := setupScript(capture.Notify, o, tables, scriptOptions{}); err == nil || !strings.Contains(err.Error(), "start with a letter") {
		t.Fatalf("got %v", err)
	}
	if _, err := setupScript(capture.Trigger, o, tables, scriptOptions{}); err != nil {
		t.Fatalf("trigger does not name the handler: %v", err)
	}
	o = objects{Schema: "shop", Changelog: "RF"} // an exact stored lower-case schema
	if _, err := teardownScript(capture.Notify, o, tables, scriptOptions{}); err == nil || !strings.Contains(err.Error(), "schema") {
		t.Fatalf("got %v", err)
	}
}

func TestTriggerKeyNamedLikeAChangelogColumn(t *testing.T) {
	tables := installTables("one")
	tables[0].Columns[0].Name = "RF_SEQ"
	_, err := setupScript(capture.Trigger, newObjects("rf"), tables, scriptOptions{})
	if err == nil || !strings.Contains(err.Error(), "RF_SEQ") {
		t.Fatalf("got %v", err)
	}
	tables[0].KeyIdx = nil
	if _, err := setupScript(capture.Trigger, newObjects("rf"), tables, scriptOptions{}); err == nil {
		t.Fatal("a table without key accepted")
	}
}

func TestValidWhere(t *testing.T) {
	for _, ok := range []string{"status = 'OPEN'", `"Mixed" > 0`, "note = 'it''s'", "a IN (1, 2)\n  AND b IS NULL"} {
		if err := validWhere(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "  ", "1 = 1; DROP TABLE t", "a = 1 -- x", "a = 1 /* x */", "a = 'x", `"a = 1`, "a = 1\n/\nb"} {
		if err := validWhere(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	tables := installTables("one")
	o := newObjects("rf")
	tables[0].Config.Where = "1 = 1; DELETE FROM x"
	opt := scriptOptions{CQNMode: "query"}
	if _, err := registrationScript(o, tables, opt); err == nil || !strings.Contains(err.Error(), "orders") {
		t.Fatalf("bad where: %v", err)
	}
	opt.CQNMode = "object"
	tables[0].Config.Where = "a = 1"
	if _, err := registrationScript(o, tables, opt); err == nil {
		t.Fatal("where in object mode accepted")
	}
}

// sqlBare returns the text of sql outside string literals, quoted
// identifiers and comments; the literal given to EXECUTE IMMEDIATE is SQL
// itself and is scanned too. Unterminated quotes fail the test.
func sqlBare(t *testing.T, sql string) string {
	t.Helper()
	var bare strings.Builder
	for i := 0; i < len(sql); {
		switch {
		case strings.HasPrefix(sql[i:], "--"):
			end := strings.IndexByte(sql[i:], '\n')
			if end < 0 {
				end = len(sql) - i
			}
			i += end
		case sql[i] == '\'' || sql[i] == '"':
			q := sql[i]
			var content strings.Builder
			j := i + 1
			for ; ; j++ {
				if j >= len(sql) {
					t.Fatalf("unterminated %c in:\n%s", q, sql)
				}
				if sql[j] == q {
					if j+1 < len(sql) && sql[j+1] == q {
						content.WriteByte(q)
						j++
						continue
					}
					break
				}
				content.WriteByte(sql[j])
			}
			if q == '\'' && strings.HasSuffix(strings.TrimSpace(bare.String()), "EXECUTE IMMEDIATE") {
				bare.WriteString(" " + sqlBare(t, content.String()) + " ")
			} else {
				bare.WriteString(" ")
			}
			i = j + 1
		default:
			bare.WriteByte(sql[i])
			i++
		}
	}
	return bare.String()
}

// TestNoConfigTextOutsideQuotes: names as odd as Oracle stores them (quoted
// identifiers may hold quotes, semicolons and line breaks) only ever reach
// the SQL quoted, as identifiers or literals; the where text is the one
// exception.
func TestNoConfigTextOutsideQuotes(t *testing.T) {
	evil := "X'\"; DROP TABLE EVIL; --\nEVIL"
	odd := func(schema string) []*capture.Table {
		return []*capture.Table{
			{Config: capture.TableConfig{Name: "a"}, Schema: schema, Name: "T" + evil, TSIdx: 1,
				Columns: []capture.Column{{Name: "K" + evil}, {Name: "TS" + evil}}, KeyIdx: []int{0}},
			{Config: capture.TableConfig{Name: "b"}, Schema: "S" + evil, Name: "U" + evil, TSIdx: 2,
				Columns: []capture.Column{{Name: "K1" + evil}, {Name: "K2" + evil}, {Name: "TS"}}, KeyIdx: []int{0, 1}},
		}
	}
	where := "W_COL = 'it''s'" // SQL run verbatim: the one exception
	for _, c := range installCases() {
		schemas := []string{"", "S" + evil}
		if c.strategy == capture.Notify {
			schemas = schemas[:1] // the handler's schema must be a plain name
		}
		for _, schema := range schemas {
			tables := odd(schema)
			o := newObjects("rowflux_changelog")
			opt := c.opt
			if opt.queryMode() {
				tables[0].Config.Where = where
			}
			setup, err := setupScript(c.strategy, o, tables, opt)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			teardown, err := teardownScript(c.strategy, o, tables, opt)
			if err != nil {
				t.Fatal(err)
			}
			checks, err := doctorChecks(c.strategy, o, tables, opt)
			if err != nil {
				t.Fatal(err)
			}
			var texts []string
			for _, s := range append(append(setup, teardown...), checkStatements(checks)...) {
				runnableAsSent(t, s)
				texts = append(texts, s.SQL)
			}
			for _, ch := range checks {
				texts = append(texts, ch.Fix)
			}
			texts = append(texts, renderScript(setup), renderChecks(checks))
			if opt.queryMode() && !strings.Contains(setup[len(setup)-1].SQL, " WHERE "+where+") LOOP") {
				t.Errorf("the where text is not registered verbatim:\n%s", setup[len(setup)-1].SQL)
			}
			for _, text := range texts {
				if bare := sqlBare(t, text); strings.Contains(bare, "EVIL") {
					t.Errorf("%s: configuration text outside quotes:\n%s\nbare:\n%s", c.name, text, bare)
				}
			}
		}
	}
}

func TestCallbackPattern(t *testing.T) {
	// Capture objects live in the user's schema; a schema-qualified objects
	// value still has to match only its own schema.
	qualified := objects{Schema: "SHOP", Changelog: "ROWFLUX_CHANGELOG"}
	plain := newObjects("rowflux_changelog")
	for _, c := range []struct {
		o        objects
		callback string
		want     bool
	}{
		{qualified, "plsql://SHOP.ROWFLUX_CHANGELOG$CQN?PR=0", true},
		{qualified, "plsql://shop.rowflux_changelog$cqn", true},
		{qualified, `plsql://"SHOP"."ROWFLUX_CHANGELOG$CQN"`, true},
		{qualified, "ROWFLUX_CHANGELOG$CQN", true},
		{qualified, "plsql://OTHER.ROWFLUX_CHANGELOG$CQN", false},
		{qualified, "plsql://SHOP.ROWFLUX_CHANGELOG$CQN2", false},
		{qualified, "plsql://SHOP.XROWFLUX_CHANGELOG$CQN", false},
		{plain, "plsql://RF_AGENT.ROWFLUX_CHANGELOG$CQN?PR=0", true},
		{plain, "plsql://ROWFLUX_CHANGELOG$CQN", true},
		{plain, "plsql://ROWFLUX_CHANGELOGXCQN", false},
		{plain, "plsql://RF_AGENT.OTHER$CQN", false},
	} {
		// Oracle's REGEXP_LIKE(..., 'i') and Go's (?i) agree on this subset.
		re := regexp.MustCompile("(?i)" + callbackPattern(c.o))
		if got := re.MatchString(c.callback); got != c.want {
			t.Errorf("%s ~ %s: got %v", callbackPattern(c.o), c.callback, got)
		}
	}
}

func findCheck(t *testing.T, checks []check, prefix string) check {
	t.Helper()
	for _, c := range checks {
		if strings.HasPrefix(c.Name, prefix) {
			return c
		}
	}
	t.Fatalf("no check %q", prefix)
	return check{}
}

func TestDoctorPredicates(t *testing.T) {
	doctor := func(st capture.Strategy, set string, opt scriptOptions) []check {
		tables := installTables(set)
		checks, err := doctorChecks(st, newObjects("rowflux_changelog"), tables, opt)
		if err != nil {
			t.Fatal(err)
		}
		return checks
	}
	type val struct {
		value  string
		ok     bool
		detail string
	}
	cases := []struct {
		checks []check
		prefix string
		vals   []val
	}{
		{doctor(capture.Polling, "one", scriptOptions{Bounded: true}), "SELECT on \"ORDERS\"", []val{{"0", true, "readable"}}},
		{doctor(capture.Polling, "one", scriptOptions{Bounded: true}), "SELECT on GV$TRANSACTION", []val{{"3", true, "readable"}}},
		{doctor(capture.Polling, "one", scriptOptions{}), "index on", []val{{"1", true, "present"}, {"0", false, "no index starts with UPDATED_AT"}, {"x", false, "unexpected"}}},
		{doctor(capture.CommitOrder, "one", scriptOptions{}), "SELECT on V$DATABASE", []val{{"123456", true, "readable"}, {"", false, "no CURRENT_SCN"}}},
		{doctor(capture.CommitOrder, "one", scriptOptions{}), "ROWDEPENDENCIES", []val{{"ENABLED", true, "enabled"}, {"DISABLED", false, "never missed ones"}, {"", false, "not found"}}},
		{doctor(capture.Trigger, "one", scriptOptions{}), "CREATE TRIGGER", []val{{"1", true, "granted"}, {"0", false, "cannot create the triggers"}}},
		{doctor(capture.Trigger, "one", scriptOptions{}), "sequence", []val{{"1", true, "present"}, {"0", false, "missing"}}},
		{doctor(capture.Trigger, "two", scriptOptions{}), "changelog table \"ROWFLUX_CHANGELOG$ORDER_LINES\"", []val{
			{"5,1", true, "present"}, {"0,0", false, "missing"}, {"2,0", false, "not rowflux's changelog"}, {"5,0", false, "without its primary key"}, {"5", false, "unexpected"}}},
		{doctor(capture.Trigger, "one", scriptOptions{}), "trigger", []val{
			{"ENABLED VALID", true, "enabled and valid"}, {"", false, "not captured"}, {"DISABLED VALID", false, "not captured"},
			{"ENABLED INVALID", false, "ORA-04098"}, {"DISABLED INVALID", false, "ORA-04098"}}},
		{doctor(capture.Notify, "one", scriptOptions{}), "the user is not SYS", []val{{"RF_AGENT", true, "RF_AGENT"}, {"SYS", false, "SYS"}}},
		{doctor(capture.Notify, "one", scriptOptions{}), "CHANGE NOTIFICATION", []val{{"1", true, "granted"}, {"0", false, "not granted"}}},
		{doctor(capture.Notify, "one", scriptOptions{}), "EXECUTE on SYS.DBMS_ALERT", []val{
			{"1,1", true, "granted"}, {"1,0", false, "through a role"}, {"0,0", false, "not granted"}, {"1", false, "unexpected"}}},
		{doctor(capture.Notify, "one", scriptOptions{}), "job_queue_processes", []val{
			{"20", true, "= 20"}, {"0", false, "never runs"}, {"", false, "not found"}}},
		{doctor(capture.Notify, "one", scriptOptions{}), "notification handler", []val{{"VALID", true, "valid"}, {"INVALID", false, "ALL_ERRORS"}, {"", false, "missing"}}},
		{doctor(capture.Notify, "one", scriptOptions{}), "exactly one", []val{{"1", true, "registered"}, {"0", false, "not registered"}, {"2", false, "agent teardown, then agent setup"}}},
		{doctor(capture.Notify, "two", scriptOptions{}), "the registration covers", []val{{"none", true, "every table"}, {"SHOP.ORDER_LINES", false, "SHOP.ORDER_LINES"}}},
		{doctor(capture.Notify, "one", scriptOptions{CQNMode: "query"}), "at most 255 columns", []val{{"12", true, "12 columns"}, {"256", false, "cannot register"}, {"0", false, "not found"}}},
	}
	for _, c := range cases {
		ch := findCheck(t, c.checks, c.prefix)
		if ch.Fix == "" {
			t.Errorf("%s: no fix", ch.Name)
		}
		for _, v := range c.vals {
			ok, detail := ch.OK(v.value)
			if ok != v.ok || !strings.Contains(detail, v.detail) {
				t.Errorf("%s on %q: got %v %q, want %v containing %q", ch.Name, v.value, ok, detail, v.ok, v.detail)
			}
		}
	}
	if len(doctor(capture.Polling, "one", scriptOptions{Bounded: false})) != 2 {
		t.Error("polling without bound_by_open_transactions checks GV$TRANSACTION")
	}
	for _, ch := range doctor(capture.Notify, "two", scriptOptions{}) {
		if strings.HasPrefix(ch.Name, "at most 255") {
			t.Error("object mode checks the QRCN column limit")
		}
	}
}

func TestPrivilegeCheckOwnership(t *testing.T) {
	for _, c := range []struct {
		user, schema, name, fix string
	}{
		{"rf_agent", "", "CREATE TABLE privilege", "GRANT CREATE TABLE TO RF_AGENT;"},
		{"rf_agent", "RF_AGENT", "CREATE TABLE privilege", "GRANT CREATE TABLE TO RF_AGENT;"},
		{"rf_agent", "SHOP", "CREATE ANY TABLE privilege", "GRANT CREATE ANY TABLE TO RF_AGENT;"},
		{"", "SHOP", "CREATE TABLE privilege (CREATE ANY TABLE", "GRANT CREATE ANY TABLE TO <agent_user>;"},
	} {
		ch := privilegeCheck("CREATE TABLE", []string{c.schema}, scriptOptions{User: c.user}, "x")
		if !strings.HasPrefix(ch.Name, c.name) || !strings.Contains(ch.Fix, c.fix) {
			t.Errorf("%+v: got %q / %q", c, ch.Name, ch.Fix)
		}
		if !strings.Contains(ch.SQL, "PRIVILEGE = 'CREATE ANY TABLE' OR (PRIVILEGE = 'CREATE TABLE' AND ") {
			t.Errorf("SQL: %s", ch.SQL)
		}
	}
	if got := (scriptOptions{User: `odd"user`}).grantee(); got != `"odd""user"` {
		t.Errorf("odd user: %s", got)
	}
}

func TestRenderScript(t *testing.T) {
	got := renderScript([]sdk.Statement{
		{Purpose: "one", SQL: "BEGIN\n  NULL;\nEND;"},
		{Purpose: "two\nlines", SQL: "SELECT 1 FROM DUAL"},
	})
	want := "-- one\nBEGIN\n  NULL;\nEND;\n/\n\n-- two lines\nSELECT 1 FROM DUAL\n/\n"
	if got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	if got := renderScript([]sdk.Statement{{Purpose: "a", SQL: "SELECT 'a&b' FROM DUAL"}}); !strings.HasPrefix(got, "SET DEFINE OFF\n") {
		t.Fatalf("an & needs SET DEFINE OFF:\n%s", got)
	}
	got = renderChecks([]check{{Name: "n", SQL: "SELECT 1 FROM DUAL", Fix: "GRANT x TO y;\n-- or not"}})
	want = "-- check: n\nSELECT 1 FROM DUAL;\n-- fix:\n-- GRANT x TO y;\n-- -- or not\n"
	if got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}

// TestRegistrationReuse: object mode may reuse a registration, query mode
// never does; a new registration always records rescan markers.
func TestRegistrationReuse(t *testing.T) {
	tables := installTables("two")
	o := newObjects("rowflux_changelog")
	obj, err := registrationScript(o, tables, scriptOptions{CQNMode: "object"})
	if err != nil {
		t.Fatal(err)
	}
	qry, err := registrationScript(o, tables, scriptOptions{CQNMode: "query"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(obj[0].SQL, "v_reuse := v_have = 2 AND v_match = 2") || strings.Contains(qry[0].SQL, "v_reuse :=") {
		t.Fatal("reuse: object mode only")
	}
	for _, s := range []string{obj[0].SQL, qry[0].SQL} {
		if strings.Count(s, "'R');") != 2 || !strings.Contains(s, "DBMS_CQ_NOTIFICATION.DEREGISTER(v_ids(i))") ||
			strings.Contains(s, "DEREG_NFY") || strings.Index(s, "REG_END") > strings.Index(s, "INSERT INTO") {
			t.Fatalf("registration:\n%s", s)
		}
	}
	if !strings.Contains(qry[0].SQL, "QOS_QUERY") || strings.Contains(obj[0].SQL, "QOS_QUERY") {
		t.Fatal("QOS_QUERY in query mode only")
	}
}
