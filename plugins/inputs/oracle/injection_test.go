package oracle

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/sdk"
)

// No Oracle server runs here: these tests check the configuration's
// validation and the exact SQL and PL/SQL text the input would send.

const testDSN = "oracle://rowflux:pw@localhost:1521/FREEPDB1"

// Every configuration key of this input that reaches SQL as an identifier,
// with where a validation error names it. changelog_table is also the base
// of the sequence, the per-table changelogs and triggers, the CQN handler
// and the DBMS_ALERT name.
var identifierKeys = []struct {
	key string
	set func(o *Oracle, v string)
}{
	{"changelog_table", func(o *Oracle, v string) { o.ChangelogTable = v }},
	{"tables[0].name", func(o *Oracle, v string) { o.Tables[0].Name = v }},
	{"tables[0].name", func(o *Oracle, v string) { o.Tables[0].Name = v + ".transactions" }},
	{"tables[0] (transactions).key", func(o *Oracle, v string) { o.Tables[0].Key = []string{"transaction_id", v} }},
	{"tables[0] (transactions).columns", func(o *Oracle, v string) { o.Tables[0].Columns = []string{"amount", v} }},
	{"tables[0] (transactions).tags", func(o *Oracle, v string) { o.Tables[0].Tags = []string{v} }},
	{"tables[0] (transactions).timestamp_column", func(o *Oracle, v string) { o.Tables[0].TimestampColumn = v }},
}

var hostileIdentifiers = []string{
	`x"; DROP TABLE canary; --`,
	`x'; DROP TABLE canary; --`,
	"x`; DROP TABLE canary; --",
	"x]; DROP TABLE canary; --",
	"a;b", "a b", " transactions", "transactions\n", "a\tb", "a\nEND;\n/",
	"tàble", "表", "a\u202eb" /* right-to-left override */, "a\u200bb", /* zero-width space */
	"a\x00b", strings.Repeat("t", 129),
	"`t`", "[t]", "a-b", "a/*c*/", "a#b", "1abc", "$a", "",
}

func newOracle(strategy string) *Oracle {
	o := &Oracle{DSN: testDSN, Config: capture.DefaultConfig(), CQNMode: "object"}
	o.Strategy = strategy
	o.Tables = []capture.TableConfig{{Name: "transactions", Key: []string{"transaction_id"}, TimestampColumn: "updated_at"}}
	return o
}

// TestHostileIdentifiersRefused: every identifier key refuses every
// hostile value, under every strategy, with an error that names the key,
// shows the value and says what is allowed.
func TestHostileIdentifiersRefused(t *testing.T) {
	for _, strategy := range []string{"polling", "trigger", "rowscn", "cqn"} {
		for _, k := range identifierKeys {
			for _, v := range hostileIdentifiers {
				if v == "" && strings.HasSuffix(k.key, "timestamp_column") {
					continue // empty means "none"
				}
				o := newOracle(strategy)
				k.set(o, v)
				err := o.Init(sdk.Env{})
				want := fmt.Sprintf("%s: invalid identifier %q (letters, digits, _ and $ only, not starting with a digit, at most 128 characters)", k.key, v)
				if err == nil || err.Error() != want {
					t.Errorf("%s %s=%q:\n got %v\nwant %s", strategy, k.key, v, err, want)
				}
				o.Close()
			}
		}
	}
}

// TestWhereRefusesStatements: where (cqn_mode = "query") is SQL run
// verbatim at registration, the one key that is not an identifier; what
// would end the statement, open a comment or unbalance a quote is refused.
func TestWhereRefusesStatements(t *testing.T) {
	for _, tc := range []struct{ where, want string }{
		{"1=1; DROP TABLE canary", `must not contain ";" (it is SQL run verbatim at registration)`},
		{"amount > 0 -- x", `must not contain "--" (it is SQL run verbatim at registration)`},
		{"amount > 0 /* x */", `must not contain "/*" (it is SQL run verbatim at registration)`},
		{"currency = 'EUR", "unbalanced single quotes"},
		{`"AMOUNT > 0`, "unbalanced double quotes"},
		{"amount > 0\n/\nDROP TABLE canary", `must not contain a line holding only "/"`},
		{"  \n ", "empty"},
	} {
		o := newOracle("cqn")
		o.CQNMode = "query"
		o.Tables[0].Where = tc.where
		err := o.Init(sdk.Env{})
		want := "tables[0] (transactions).where: " + tc.want
		if err == nil || err.Error() != want {
			t.Errorf("where %q:\n got %v\nwant %s", tc.where, err, want)
		}
	}
	o := newOracle("cqn")
	o.CQNMode = "query"
	o.Tables[0].Where = "currency = 'EUR' AND amount > 1000"
	if err := o.Init(sdk.Env{}); err != nil {
		t.Fatalf("a plain condition: %v", err)
	}
}

// TestPlanQuotesUnusualNames: names that pass validation but are unusual
// ($, a leading _, mixed case, the longest allowed) appear in every setup,
// teardown and doctor script only inside quotes, folded as Oracle stores
// them; derived object names longer than Oracle allows are refused.
func TestPlanQuotesUnusualNames(t *testing.T) {
	table := "Tx$Odd_" + strings.Repeat("z", 20)
	for _, strategy := range []string{"polling", "trigger", "rowscn", "cqn"} {
		o := newOracle(strategy)
		o.ChangelogTable = "_Cl$q"
		o.Tables = []capture.TableConfig{{Name: "Sch$Odd." + table, Key: []string{"Id$Odd", "_Kq9"}, TimestampColumn: "Ts$Odd"}}
		if strategy == "cqn" {
			// The CQN callback names its handler unquoted: the handler's
			// schema must be the user's and its name (from changelog_table)
			// plain; both are refused otherwise (below).
			o.Tables[0].Name = table
			o.ChangelogTable = "Cl$q_CL$Q"
		}
		if err := o.Init(sdk.Env{}); err != nil {
			t.Fatalf("%s: %v", strategy, err)
		}
		for _, action := range []string{"setup", "teardown", "doctor"} {
			script, err := o.Plan(action)
			if err != nil {
				t.Fatalf("%s %s: %v", strategy, action, err)
			}
			bare := strings.ToUpper(sqlBare(t, script))
			for _, n := range []string{"ODD", "_CL$Q", "_KQ9"} {
				if strings.Contains(bare, n) {
					t.Errorf("%s %s: %s outside quotes in\n%s", strategy, action, n, script)
				}
			}
			if strategy == "trigger" && action == "setup" {
				for _, quoted := range []string{`"` + strings.ToUpper(table) + `"`, `"ID$ODD"`, `"_KQ9"`, `"_CL$Q$` + strings.ToUpper(table) + `$T"`} {
					if !strings.Contains(script, quoted) {
						t.Errorf("trigger setup does not quote %s:\n%s", quoted, script)
					}
				}
			}
		}
		o.Close()
	}

	o := newOracle("cqn")
	o.ChangelogTable = "_cl"
	if err := o.Init(sdk.Env{}); err != nil {
		t.Fatal(err)
	}
	_, err := o.Plan("setup")
	if want := "cqn: notification handler name _CL$CQN is not a plain upper-case identifier (changelog_table must start with a letter); the CQN callback names it unquoted"; err == nil || err.Error() != want {
		t.Errorf("cqn handler from _cl:\n got %v\nwant %s", err, want)
	}

	// The trigger strategy names a changelog and a trigger after changelog
	// and table: valid parts can make a name Oracle cannot store.
	o = newOracle("trigger")
	o.ChangelogTable = strings.Repeat("c", 100)
	o.Tables[0].Name = strings.Repeat("t", 30)
	if err := o.Init(sdk.Env{}); err != nil {
		t.Fatal(err)
	}
	_, err = o.Plan("setup")
	want := "table " + strings.Repeat("t", 30) + ": changelog table name " + strings.Repeat("C", 100) + "$" + strings.Repeat("T", 30) + " is 131 bytes, longer than Oracle's 128 (choose a shorter changelog_table)"
	if err == nil || err.Error() != want {
		t.Errorf("long derived name:\n got %v\nwant %s", err, want)
	}
}

// TestRuntimeSQLQuotesStoredNames: names read back from the dictionary
// are not validated (a quoted Oracle identifier may hold anything but a
// double quote); every statement capture sends at run time carries them
// only inside quotes.
func TestRuntimeSQLQuotesStoredNames(t *testing.T) {
	evil := "X'; DROP TABLE EVIL; --\nEVIL\u202e表"
	tab := func(schema string) *capture.Table {
		return &capture.Table{
			Schema: schema, Name: "T" + evil, EventName: "t",
			Columns: []capture.Column{
				col("K"+evil, "NUMBER(10,0)"), col("V"+evil, "VARCHAR2(20)"), col("TS"+evil, "TIMESTAMP(6)"),
				{Name: "ROWID", Out: "rowid", Type: "ROWID"},
			},
			KeyIdx: []int{0}, TSIdx: 2,
		}
	}
	for _, schema := range []string{"", "S" + evil} {
		t1 := tab(schema)
		var texts []string
		for _, legacy := range []bool{false, true} {
			for _, cursor := range []bool{false, true} {
				q, _, err := pollPageSQL(t1, cursor, 100, legacy)
				if err != nil {
					t.Fatal(err)
				}
				texts = append(texts, q)
				if q, err = changedSQL(t1, cursor, 100, legacy); err != nil {
					t.Fatal(err)
				}
				texts = append(texts, q)
			}
			for _, o := range []objects{newObjects("rowflux_changelog"), {Schema: "CDC" + evil, Changelog: "C" + evil}} {
				q, err := triggerReadSQL(o, t1, 100, legacy)
				if err != nil {
					t.Fatal(err)
				}
				texts = append(texts, q, triggerDeleteSQL(o, t1, 3), cqnReadSQL(o, []*capture.Table{t1}, "U"+evil, 100, legacy), cqnDeleteSQL(o, 2))
			}
		}
		texts = append(texts, rowidFetchSQL(t1, 3), rescanSQL(t1))
		for i, text := range texts {
			if bare := sqlBare(t, text); strings.Contains(bare, "EVIL") {
				t.Errorf("statement %d: stored name outside quotes:\n%s\nbare:\n%s", i, text, bare)
			}
		}
	}
}

// TestGranteeQuoted: the DSN's user only reaches the GRANT statements
// doctor prints, and there as a plain name or quoted.
func TestGranteeQuoted(t *testing.T) {
	for _, user := range []string{"rowflux", "Row$Flux#1", "we ird", `x"y`, "表"} {
		opt := scriptOptions{User: user}
		g := opt.grantee()
		if plainUser.MatchString(user) {
			if g != strings.ToUpper(user) {
				t.Errorf("%q: grantee %s", user, g)
			}
			continue
		}
		if g != quote(user) || strings.TrimSpace(sqlBare(t, "GRANT X TO "+g)) != "GRANT X TO" {
			t.Errorf("%q: grantee %s", user, g)
		}
	}
}
