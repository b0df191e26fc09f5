package oracle

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/sdk"
)

// The scripts `agent setup`, `agent teardown` and `agent doctor` send to
// Oracle. They are pure functions of the configuration, so that a DBA can
// review them with `agent setup --dry-run` before granting anything: they
// depend only on the tables' names and keys (folded to upper case offline,
// as Oracle stores unquoted names; exact stored names online), the
// strategy, the options and the DSN's user. Unqualified tables live in the
// session's current schema; where the owner is needed as data (the
// 'OWNER.TABLE' names CQN reports) the SQL reads it from
// SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA').
//
// Every statement is runnable as the driver sends it (plain SQL without a
// trailing ";", PL/SQL blocks ending in "END;") and idempotent: CREATE runs
// in a block that ignores ORA-00955 (name already used), triggers and
// procedures are CREATE OR REPLACE, DROP ignores "does not exist".

// maxIdentBytes is Oracle's identifier limit (12.2 and later).
const maxIdentBytes = 128

// currentSchema is the owner of unqualified names, as SQL data.
const currentSchema = "SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA')"

// ORA- codes the idempotent statements tolerate.
const (
	oraNameUsed        = 955   // ORA-00955: name is already used by an existing object
	oraNoTable         = 942   // ORA-00942: table or view does not exist
	oraNoSequence      = 2289  // ORA-02289: sequence does not exist
	oraNoTrigger       = 4080  // ORA-04080: trigger does not exist
	oraNoObject        = 4043  // ORA-04043: object does not exist (DROP PROCEDURE)
	oraCompiledErrored = 24344 // ORA-24344: success with compilation error
)

// Column names of the trigger strategy's per-table changelogs, before the
// key columns copied from the table.
var triggerChangelogColumns = []string{"RF_SEQ", "RF_OP", "RF_AT"}

// Column names of the cqn strategy's shared changelog.
var cqnChangelogColumns = []string{"RF_SEQ", "RF_TABLE", "RF_OP", "RF_ROWID", "RF_TXID", "RF_AT"}

// scriptOptions are the settings besides the tables that the scripts
// depend on.
type scriptOptions struct {
	// CQNMode is "object" (the default: any committed change to a
	// registered table) or "query" (changes to the result of
	// SELECT * FROM table WHERE where, with each table's Config.Where; a
	// table without one registers its whole content). The where text is
	// SQL run verbatim at registration, checked only by validWhere.
	CQNMode string
	// User is the DSN's user, the grantee of the GRANTs doctor prints
	// ("" writes <agent_user>).
	User string
	// Bounded is polling's bound_by_open_transactions.
	Bounded bool
	// ConfigFile is shown in fixes ("agent setup --config <file>").
	ConfigFile string
}

func (opt scriptOptions) queryMode() bool { return opt.CQNMode == "query" }

func (opt scriptOptions) where(t *capture.Table) string { return strings.TrimSpace(t.Config.Where) }

var plainUser = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_$#]*$`)

// grantee is the user in GRANT statements.
func (opt scriptOptions) grantee() string {
	switch {
	case opt.User == "":
		return "<agent_user>"
	case plainUser.MatchString(opt.User):
		return fold(opt.User)
	default:
		return quote(opt.User)
	}
}

// ownerName names the owner of objects in schema for fixes: the schema,
// or the user for the current schema.
func (opt scriptOptions) ownerName(schema string) string {
	if schema == "" {
		return opt.grantee()
	}
	return quote(schema)
}

func (opt scriptOptions) configFile() string {
	if opt.ConfigFile == "" {
		return "<file>"
	}
	return opt.ConfigFile
}

// ownership tells whether schema ("" is the current schema) belongs to the
// DSN's user, as far as configuration tells.
type ownership int

const (
	ownSchema ownership = iota
	otherSchema
	unknownSchema
)

func (opt scriptOptions) ownership(schema string) ownership {
	switch {
	case schema == "":
		return ownSchema
	case opt.User == "":
		return unknownSchema
	case fold(schema) == fold(opt.User):
		return ownSchema
	default:
		return otherSchema
	}
}

// check is one doctor check. SQL returns one row with one column, read as
// text ("" when there is no row); a query error (ORA-00942, ORA-01031...)
// fails the check with the error as its detail, and Fix is shown.
type check struct {
	Name string
	SQL  string
	// OK judges the value SQL returned and describes it.
	OK  func(value string) (ok bool, detail string)
	Fix string
}

// ---- helpers ---------------------------------------------------------

// ownerSQL is the owner of names in schema as SQL data.
func ownerSQL(schema string) string {
	if schema == "" {
		return currentSchema
	}
	return literal(schema)
}

// cqnName is a table's name as CQN reports it ('OWNER.TABLE'), as SQL.
func cqnName(t *capture.Table) string {
	if t.Schema == "" {
		return currentSchema + " || " + literal("."+t.Name)
	}
	return literal(t.Schema + "." + t.Name)
}

// tableLabel names a table in messages.
func tableLabel(t *capture.Table) string {
	if t.Config.Name != "" {
		return t.Config.Name
	}
	if t.Schema == "" {
		return t.Name
	}
	return t.Schema + "." + t.Name
}

// oneLine keeps a name that is shown in a "--" comment on its line (a
// quoted identifier may hold a line break).
func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }

// checkName rejects an object name longer than Oracle allows.
func checkName(t *capture.Table, kind, name string) error {
	if len(name) <= maxIdentBytes {
		return nil
	}
	if t == nil {
		return fmt.Errorf("%s name %s is %d bytes, longer than Oracle's %d (choose a shorter changelog_table)", kind, name, len(name), maxIdentBytes)
	}
	return fmt.Errorf("table %s: %s name %s is %d bytes, longer than Oracle's %d (choose a shorter changelog_table)", tableLabel(t), kind, name, len(name), maxIdentBytes)
}

// truncateName cuts a suggested name to Oracle's limit at a character
// boundary.
func truncateName(s string) string {
	if len(s) <= maxIdentBytes {
		return s
	}
	n := maxIdentBytes
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// keyNames lists a table's key columns.
func keyNames(t *capture.Table) ([]string, error) {
	if len(t.KeyIdx) == 0 {
		return nil, fmt.Errorf("table %s: no key column", tableLabel(t))
	}
	out := make([]string, len(t.KeyIdx))
	for i, k := range t.KeyIdx {
		out[i] = t.Columns[k].Name
	}
	return out, nil
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = quote(n)
	}
	return out
}

func literalAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = literal(n)
	}
	return out
}

// sqlcodeNot is the condition under which an error is not one of codes.
func sqlcodeNot(codes []int) string {
	if len(codes) == 1 {
		return fmt.Sprintf("SQLCODE != -%d", codes[0])
	}
	s := make([]string, len(codes))
	for i, c := range codes {
		s[i] = fmt.Sprintf("-%d", c)
	}
	return "SQLCODE NOT IN (" + strings.Join(s, ", ") + ")"
}

// tolerant runs ddl with EXECUTE IMMEDIATE, ignoring the ORA- codes given
// (positive numbers): the idempotence wrapper.
func tolerant(ddl string, codes ...int) string {
	return "BEGIN\n" +
		"  EXECUTE IMMEDIATE " + literal(ddl) + ";\n" +
		"EXCEPTION\n" +
		"  WHEN OTHERS THEN\n" +
		"    IF " + sqlcodeNot(codes) + " THEN\n" +
		"      RAISE;\n" +
		"    END IF;\n" +
		"END;"
}

// createTable creates a changelog unless it exists; one that exists must
// have the changelog's columns, so that nothing is written into someone
// else's table of that name.
func createTable(ddl, schema, name string, columns []string, owner string) string {
	msg := fmt.Sprintf("%s exists and is not %s (choose another changelog_table)", quote(name), owner)
	return "DECLARE\n" +
		"  v_columns NUMBER;\n" +
		"BEGIN\n" +
		"  EXECUTE IMMEDIATE " + literal(ddl) + ";\n" +
		"EXCEPTION\n" +
		"  WHEN OTHERS THEN\n" +
		"    IF " + sqlcodeNot([]int{oraNameUsed}) + " THEN\n" +
		"      RAISE;\n" +
		"    END IF;\n" +
		"    SELECT COUNT(*) INTO v_columns FROM ALL_TAB_COLUMNS\n" +
		"      WHERE OWNER = " + ownerSQL(schema) + " AND TABLE_NAME = " + literal(name) + "\n" +
		"      AND COLUMN_NAME IN (" + strings.Join(literalAll(columns), ", ") + ");\n" +
		"    IF v_columns != " + strconv.Itoa(len(columns)) + " THEN\n" +
		"      RAISE_APPLICATION_ERROR(-20001, " + literal(msg) + ");\n" +
		"    END IF;\n" +
		"END;"
}

// compileErrors is PL/SQL appending an object's compilation errors to
// v_error.
func compileErrors(schema, name, typ string) string {
	return "    FOR e IN (SELECT LINE, TEXT FROM ALL_ERRORS WHERE OWNER = " + ownerSQL(schema) +
		" AND NAME = " + literal(name) + " AND TYPE = " + literal(typ) + " ORDER BY SEQUENCE) LOOP\n" +
		"      v_error := SUBSTR(v_error || ' [line ' || e.LINE || '] ' || e.TEXT, 1, 1500);\n" +
		"    END LOOP;\n"
}

// ---- objects -----------------------------------------------------------

func sequenceDDL(o objects) string {
	return "CREATE SEQUENCE " + o.ref(o.Sequence()) + " CACHE 1000"
}

// triggerChangelogDDL copies the key columns' types from the table.
func triggerChangelogDDL(o objects, t *capture.Table, keys []string) string {
	cols := append(quoteAll(triggerChangelogColumns), quoteAll(keys)...)
	sel := []string{"CAST(0 AS NUMBER(19))", "CAST('I' AS CHAR(1))", "SYSTIMESTAMP"}
	for _, k := range keys {
		sel = append(sel, "t."+quote(k))
	}
	return "CREATE TABLE " + o.ref(o.TableChangelog(t)) + " (" + strings.Join(cols, ", ") + ") AS\n" +
		"SELECT " + strings.Join(sel, ", ") + " FROM " + tableRef(t) + " t WHERE 1 = 0"
}

func primaryKeyName(o objects, t *capture.Table) string { return o.TableChangelog(t) + "$PK" }

// primaryKeyBlock adds the changelog's primary key unless it has one.
func primaryKeyBlock(o objects, t *capture.Table) string {
	cl := o.TableChangelog(t)
	ddl := "ALTER TABLE " + o.ref(cl) + " ADD CONSTRAINT " + quote(primaryKeyName(o, t)) + " PRIMARY KEY (\"RF_SEQ\")"
	return "DECLARE\n" +
		"  v_keys NUMBER;\n" +
		"BEGIN\n" +
		"  SELECT COUNT(*) INTO v_keys FROM ALL_CONSTRAINTS\n" +
		"    WHERE OWNER = " + ownerSQL(o.Schema) + " AND TABLE_NAME = " + literal(cl) + " AND CONSTRAINT_TYPE = 'P';\n" +
		"  IF v_keys = 0 THEN\n" +
		"    EXECUTE IMMEDIATE " + literal(ddl) + ";\n" +
		"  END IF;\n" +
		"END;"
}

// triggerDDL is the row trigger writing t's changes into its changelog.
// It writes only the changelog and never reads t (ORA-04091).
func triggerDDL(o objects, t *capture.Table, keys []string) string {
	cl, seq := o.ref(o.TableChangelog(t)), o.ref(o.Sequence())
	cols := strings.Join(append(quoteAll(triggerChangelogColumns), quoteAll(keys)...), ", ")
	insert := func(op, row string) string {
		vals := []string{seq + ".NEXTVAL", "'" + op + "'", "SYSTIMESTAMP"}
		for _, k := range keys {
			vals = append(vals, row+"."+quote(k))
		}
		return "    INSERT INTO " + cl + " (" + cols + ")\n      VALUES (" + strings.Join(vals, ", ") + ");\n"
	}
	var changed []string
	for _, k := range keys {
		before, after := ":OLD."+quote(k), ":NEW."+quote(k)
		changed = append(changed, fmt.Sprintf("%s != %s OR (%s IS NULL AND %s IS NOT NULL) OR (%s IS NOT NULL AND %s IS NULL)",
			before, after, before, after, before, after))
	}
	return "CREATE OR REPLACE TRIGGER " + o.ref(o.Trigger(t)) + "\n" +
		"AFTER INSERT OR UPDATE OR DELETE ON " + tableRef(t) + "\n" +
		"FOR EACH ROW\n" +
		"BEGIN\n" +
		"  IF DELETING THEN\n" +
		insert("D", ":OLD") +
		"  ELSIF INSERTING THEN\n" +
		insert("I", ":NEW") +
		"  ELSIF " + strings.Join(changed, "\n     OR ") + " THEN\n" +
		"    -- the key changed: the old key is deleted, the new one inserted\n" +
		insert("D", ":OLD") +
		insert("I", ":NEW") +
		"  ELSE\n" +
		insert("U", ":NEW") +
		"  END IF;\n" +
		"END;"
}

// triggerBlock creates or replaces the trigger and checks it compiled: an
// invalid trigger would make every write to the user's table fail
// (ORA-04098), so one that does not compile is dropped and setup fails.
func triggerBlock(o objects, t *capture.Table, keys []string) string {
	name := o.Trigger(t)
	msg := fmt.Sprintf("trigger %s did not compile and was dropped, so that writes to %s keep working:", o.ref(name), tableRef(t))
	return "DECLARE\n" +
		"  v_status VARCHAR2(30);\n" +
		"  v_failed BOOLEAN := FALSE;\n" +
		"  v_error VARCHAR2(2000);\n" +
		"BEGIN\n" +
		"  BEGIN\n" +
		"    EXECUTE IMMEDIATE " + literal(triggerDDL(o, t, keys)) + ";\n" +
		"  EXCEPTION\n" +
		"    WHEN OTHERS THEN\n" +
		"      IF " + sqlcodeNot([]int{oraCompiledErrored}) + " THEN\n" +
		"        RAISE;\n" +
		"      END IF;\n" +
		"      v_failed := TRUE;\n" +
		"  END;\n" +
		"  SELECT MAX(STATUS) INTO v_status FROM ALL_OBJECTS\n" +
		"    WHERE OWNER = " + ownerSQL(o.Schema) + " AND OBJECT_NAME = " + literal(name) + " AND OBJECT_TYPE = 'TRIGGER';\n" +
		"  IF v_failed OR v_status = 'INVALID' THEN\n" +
		compileErrors(o.Schema, name, "TRIGGER") +
		"    EXECUTE IMMEDIATE " + literal("DROP TRIGGER "+o.ref(name)) + ";\n" +
		"    RAISE_APPLICATION_ERROR(-20002, " + literal(msg) + " || v_error);\n" +
		"  END IF;\n" +
		"END;"
}

func cqnChangelogDDL(o objects) string {
	return "CREATE TABLE " + o.ref(o.Changelog) + " (\n" +
		"  \"RF_SEQ\" NUMBER(19) PRIMARY KEY,\n" +
		"  \"RF_TABLE\" VARCHAR2(261),\n" +
		"  \"RF_OP\" CHAR(1) NOT NULL,\n" +
		"  \"RF_ROWID\" VARCHAR2(4000),\n" +
		"  \"RF_TXID\" RAW(8),\n" +
		"  \"RF_AT\" TIMESTAMP WITH TIME ZONE DEFAULT SYSTIMESTAMP NOT NULL\n" +
		")"
}

// unquotedName is what a CQN callback may name without quotes.
var unquotedName = regexp.MustCompile(`^[A-Z][A-Z0-9_$#]*$`)

// checkCallback: the registration names the handler in a string, unquoted,
// so the handler's schema and name must be plain upper-case identifiers.
func checkCallback(o objects) error {
	if o.Schema != "" && !unquotedName.MatchString(o.Schema) {
		return fmt.Errorf("cqn: schema %q of the notification handler is not a plain upper-case identifier; the CQN callback names it unquoted", o.Schema)
	}
	if !unquotedName.MatchString(o.Handler()) {
		return fmt.Errorf("cqn: notification handler name %s is not a plain upper-case identifier (changelog_table must start with a letter); the CQN callback names it unquoted", o.Handler())
	}
	return checkName(nil, "notification handler", o.Handler())
}

// callbackSQL is the CQN callback naming the handler, as SQL.
func callbackSQL(o objects) string {
	if o.Schema == "" {
		return currentSchema + " || " + literal("."+o.Handler())
	}
	return literal(o.Schema + "." + o.Handler())
}

// regexQuote escapes POSIX ERE metacharacters.
func regexQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.[]()*+?{}|^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// callbackPattern matches USER_CHANGE_NOTIFICATION_REGS.CALLBACK of the
// handler's registrations (case-insensitively, with REGEXP_LIKE's 'i'). The
// column's exact format is not documented (seen as
// plsql://SCHEMA.PROC?PR=0), so the prefix, the schema, quotes and the
// parameters are all optional.
func callbackPattern(o objects) string {
	schema := `([^?]*\.)?`
	if o.Schema != "" {
		schema = `("?` + regexQuote(o.Schema) + `"?\.)?`
	}
	return `^(plsql://)?` + schema + `"?` + regexQuote(o.Handler()) + `"?(\?.*)?$`
}

// handlerRegs is the condition selecting the handler's registrations.
func handlerRegs(o objects, column string) string {
	return "REGEXP_LIKE(" + column + ", " + literal(callbackPattern(o)) + ", 'i')"
}

// handlerDDL is the cqn notification handler. It runs (definer's rights)
// in a job queue process for every notification: it records each changed
// row's ROWID, or a rescan marker for a table without ROWIDs, or a
// deregistration marker, then signals the agent's alert and commits (the
// signal is delivered at commit). Each collection is NULL unless its
// event fills it.
func handlerDDL(o objects) string {
	cl, seq := o.ref(o.Changelog), o.ref(o.Sequence())
	return "CREATE OR REPLACE PROCEDURE " + o.ref(o.Handler()) + " (ntfnds IN CQ_NOTIFICATION$_DESCRIPTOR) AS\n" +
		"  v_regid NUMBER := ntfnds.registration_id;\n" +
		"  v_txid RAW(8) := ntfnds.transaction_id;\n" +
		"  v_recorded PLS_INTEGER := 0;\n" +
		"  PROCEDURE rf_record(p_table IN VARCHAR2, p_op IN VARCHAR2, p_rowid IN VARCHAR2) IS\n" +
		"  BEGIN\n" +
		"    INSERT INTO " + cl + " (\"RF_SEQ\", \"RF_TABLE\", \"RF_OP\", \"RF_ROWID\", \"RF_TXID\")\n" +
		"      VALUES (" + seq + ".NEXTVAL, p_table, p_op, p_rowid, v_txid);\n" +
		"    v_recorded := v_recorded + 1;\n" +
		"  END rf_record;\n" +
		"  PROCEDURE rf_tables(p_tables IN CQ_NOTIFICATION$_TABLE_ARRAY) IS\n" +
		"    v_rows CQ_NOTIFICATION$_ROW_ARRAY;\n" +
		"    v_op VARCHAR2(1);\n" +
		"  BEGIN\n" +
		"    IF p_tables IS NULL THEN\n" +
		"      RETURN;\n" +
		"    END IF;\n" +
		"    FOR i IN 1 .. p_tables.COUNT LOOP\n" +
		"      v_rows := p_tables(i).row_desc_array;\n" +
		"      IF BITAND(NVL(p_tables(i).opflags, 0), DBMS_CQ_NOTIFICATION.ALL_ROWS) != 0\n" +
		"         OR BITAND(NVL(p_tables(i).opflags, 0), DBMS_CQ_NOTIFICATION.ALTEROP + DBMS_CQ_NOTIFICATION.DROPOP + DBMS_CQ_NOTIFICATION.UNKNOWNOP) != 0\n" +
		"         OR v_rows IS NULL THEN\n" +
		"        -- no ROWIDs (too many rows changed, or DDL): rescan the table\n" +
		"        rf_record(p_tables(i).table_name, 'R', NULL);\n" +
		"      ELSE\n" +
		"        FOR j IN 1 .. v_rows.COUNT LOOP\n" +
		"          IF BITAND(NVL(v_rows(j).opflags, 0), DBMS_CQ_NOTIFICATION.DELETEOP) != 0 THEN\n" +
		"            v_op := 'D';\n" +
		"          ELSIF BITAND(NVL(v_rows(j).opflags, 0), DBMS_CQ_NOTIFICATION.UPDATEOP) != 0 THEN\n" +
		"            v_op := 'U';\n" +
		"          ELSIF BITAND(NVL(v_rows(j).opflags, 0), DBMS_CQ_NOTIFICATION.INSERTOP) != 0 THEN\n" +
		"            v_op := 'I';\n" +
		"          ELSE\n" +
		"            v_op := 'R';\n" +
		"          END IF;\n" +
		"          IF v_op = 'R' THEN\n" +
		"            rf_record(p_tables(i).table_name, 'R', NULL);\n" +
		"          ELSE\n" +
		"            rf_record(p_tables(i).table_name, v_op, v_rows(j).row_id);\n" +
		"          END IF;\n" +
		"        END LOOP;\n" +
		"      END IF;\n" +
		"    END LOOP;\n" +
		"  END rf_tables;\n" +
		"  PROCEDURE rf_deregistered IS\n" +
		"    v_live NUMBER;\n" +
		"  BEGIN\n" +
		"    -- A registration replaced by agent setup is not a lost one: the\n" +
		"    -- marker is recorded only when no other registration of this\n" +
		"    -- handler remains.\n" +
		"    SELECT COUNT(*) INTO v_live FROM USER_CHANGE_NOTIFICATION_REGS\n" +
		"      WHERE REGID != v_regid AND " + handlerRegs(o, "CALLBACK") + ";\n" +
		"    IF v_live = 0 THEN\n" +
		"      rf_record(NULL, 'X', NULL);\n" +
		"    END IF;\n" +
		"  END rf_deregistered;\n" +
		"BEGIN\n" +
		"  IF ntfnds.event_type = DBMS_CQ_NOTIFICATION.EVENT_OBJCHANGE THEN\n" +
		"    rf_tables(ntfnds.table_desc_array);\n" +
		"  ELSIF ntfnds.event_type = DBMS_CQ_NOTIFICATION.EVENT_QUERYCHANGE THEN\n" +
		"    IF ntfnds.query_desc_array IS NOT NULL THEN\n" +
		"      FOR i IN 1 .. ntfnds.query_desc_array.COUNT LOOP\n" +
		"        IF ntfnds.query_desc_array(i).queryop = DBMS_CQ_NOTIFICATION.EVENT_DEREG THEN\n" +
		"          rf_deregistered;\n" +
		"        ELSE\n" +
		"          rf_tables(ntfnds.query_desc_array(i).table_desc_array);\n" +
		"        END IF;\n" +
		"      END LOOP;\n" +
		"    END IF;\n" +
		"  ELSIF ntfnds.event_type = DBMS_CQ_NOTIFICATION.EVENT_DEREG THEN\n" +
		"    rf_deregistered;\n" +
		"  END IF;\n" +
		"  -- other events (startup, shutdown) record nothing\n" +
		"  IF v_recorded > 0 THEN\n" +
		"    DBMS_ALERT.SIGNAL(" + literal(o.Alert()) + ", 'change');\n" +
		"  END IF;\n" +
		"  COMMIT;\n" +
		"END;"
}

// handlerCheckBlock fails setup when the handler did not compile (the
// driver may not report ORA-24344, a warning).
func handlerCheckBlock(o objects) string {
	name := o.Handler()
	msg := fmt.Sprintf("notification handler %s did not compile:", o.ref(name))
	return "DECLARE\n" +
		"  v_status VARCHAR2(30);\n" +
		"  v_error VARCHAR2(2000);\n" +
		"BEGIN\n" +
		"  SELECT MAX(STATUS) INTO v_status FROM ALL_OBJECTS\n" +
		"    WHERE OWNER = " + ownerSQL(o.Schema) + " AND OBJECT_NAME = " + literal(name) + " AND OBJECT_TYPE = 'PROCEDURE';\n" +
		"  IF v_status = 'INVALID' THEN\n" +
		compileErrors(o.Schema, name, "PROCEDURE") +
		"    RAISE_APPLICATION_ERROR(-20003, " + literal(msg) + " || v_error);\n" +
		"  END IF;\n" +
		"END;"
}

// validWhere checks a cqn query-mode where text. It is SQL run verbatim at
// registration (the one piece of configuration that is not an identifier),
// so only what could end or hide the statement is rejected: ';', comments,
// and unbalanced quotes.
func validWhere(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("empty")
	}
	for _, bad := range []string{";", "--", "/*"} {
		if strings.Contains(s, bad) {
			return fmt.Errorf("must not contain %q (it is SQL run verbatim at registration)", bad)
		}
	}
	if strings.Count(s, "'")%2 != 0 {
		return errors.New("unbalanced single quotes")
	}
	if strings.Count(s, `"`)%2 != 0 {
		return errors.New("unbalanced double quotes")
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.TrimSpace(line) == "/" {
			return errors.New(`must not contain a line holding only "/"`)
		}
	}
	return nil
}

// registrationScript (re)makes the cqn registration. In object mode an
// existing registration is reused when it is the handler's only one, on
// exactly our tables, with our flags and without registered queries;
// otherwise (and always in query mode) every registration of the handler
// is removed and a new one made, and an 'R' rescan marker is recorded per
// table: changes committed while no registration existed were never
// notified, the rescan is the truth.
func registrationScript(o objects, tables []*capture.Table, opt scriptOptions) ([]sdk.Statement, error) {
	if err := checkCallback(o); err != nil {
		return nil, err
	}
	if len(tables) == 0 {
		return nil, errors.New("cqn: no table to register")
	}
	var b strings.Builder
	w := func(indent int, s string) {
		b.WriteString(strings.Repeat("  ", indent) + s + "\n")
	}
	qos := "DBMS_CQ_NOTIFICATION.QOS_RELIABLE + DBMS_CQ_NOTIFICATION.QOS_ROWIDS"
	if opt.queryMode() {
		qos += " + DBMS_CQ_NOTIFICATION.QOS_QUERY"
	}
	var queries []string
	for _, t := range tables {
		where := opt.where(t)
		if opt.queryMode() {
			// The whole row: a query on the key alone would not change
			// when only other columns do.
			q := "SELECT * FROM " + tableRef(t)
			if where != "" {
				if err := validWhere(where); err != nil {
					return nil, fmt.Errorf("table %s: where: %w", tableLabel(t), err)
				}
				q += " WHERE " + where
			}
			queries = append(queries, q)
			continue
		}
		if where != "" {
			return nil, fmt.Errorf("table %s: where is only used by cqn_mode = \"query\"", tableLabel(t))
		}
		keys, err := keyNames(t)
		if err != nil {
			return nil, err
		}
		queries = append(queries, "SELECT "+strings.Join(quoteAll(keys), ", ")+" FROM "+tableRef(t)+" WHERE ROWNUM <= 1")
	}
	regs := handlerRegs(o, "CALLBACK")
	w(0, "DECLARE")
	w(1, "TYPE t_ids IS TABLE OF NUMBER;")
	w(1, "v_ids t_ids;")
	w(1, "v_schema VARCHAR2(128) := "+currentSchema+";")
	w(1, "v_qos NUMBER := "+qos+";")
	w(1, "v_regid NUMBER;")
	w(1, "v_reuse BOOLEAN := FALSE;")
	if !opt.queryMode() {
		w(1, "v_have NUMBER;")
		w(1, "v_match NUMBER;")
		w(1, "v_min_flags NUMBER;")
		w(1, "v_max_flags NUMBER;")
		w(1, "v_queries NUMBER;")
	}
	var names []string
	for i, t := range tables {
		v := fmt.Sprintf("v_table%d", i+1)
		names = append(names, "UPPER("+v+")")
		expr := cqnName(t)
		if t.Schema == "" {
			expr = "v_schema || " + literal("."+t.Name)
		}
		w(1, v+" VARCHAR2(261) := "+expr+";")
	}
	w(0, "BEGIN")
	w(1, "SELECT DISTINCT REGID BULK COLLECT INTO v_ids FROM USER_CHANGE_NOTIFICATION_REGS")
	w(2, "WHERE "+regs+";")
	if opt.queryMode() {
		w(1, "-- query mode: the registered queries cannot be compared, the registration is always made anew")
	} else {
		name := `UPPER(REPLACE(TABLE_NAME, '"'))`
		w(1, "IF v_ids.COUNT = 1 THEN")
		w(2, "SELECT COUNT(DISTINCT "+name+"),")
		w(4, "COUNT(DISTINCT CASE WHEN "+name+" IN ("+strings.Join(names, ", ")+") THEN "+name+" END),")
		w(4, "MIN(REGFLAGS), MAX(REGFLAGS)")
		w(3, "INTO v_have, v_match, v_min_flags, v_max_flags")
		w(3, "FROM USER_CHANGE_NOTIFICATION_REGS WHERE REGID = v_ids(1);")
		w(2, "SELECT COUNT(*) INTO v_queries FROM USER_CQ_NOTIFICATION_QUERIES WHERE REGID = v_ids(1);")
		n := strconv.Itoa(len(tables))
		w(2, "v_reuse := v_have = "+n+" AND v_match = "+n+" AND v_min_flags = v_qos AND v_max_flags = v_qos AND v_queries = 0;")
		w(1, "END IF;")
	}
	w(1, "IF NOT v_reuse THEN")
	w(2, "FOR i IN 1 .. v_ids.COUNT LOOP")
	w(3, "DBMS_CQ_NOTIFICATION.DEREGISTER(v_ids(i));")
	w(2, "END LOOP;")
	w(2, "v_regid := DBMS_CQ_NOTIFICATION.NEW_REG_START(")
	callback := callbackSQL(o)
	if o.Schema == "" {
		callback = "v_schema || " + literal("."+o.Handler())
	}
	w(3, "CQ_NOTIFICATION$_REG_INFO("+callback+", v_qos, 0, 0, 0));")
	w(2, "BEGIN")
	w(3, "-- running a query inside the registration block registers it")
	for _, q := range queries {
		w(3, "FOR r IN ("+q+") LOOP")
		w(4, "EXIT;")
		w(3, "END LOOP;")
	}
	w(3, "DBMS_CQ_NOTIFICATION.REG_END;")
	w(2, "EXCEPTION")
	w(3, "WHEN OTHERS THEN")
	w(4, "BEGIN")
	w(5, "DBMS_CQ_NOTIFICATION.REG_END;")
	w(5, "DBMS_CQ_NOTIFICATION.DEREGISTER(v_regid);")
	w(4, "EXCEPTION")
	w(5, "WHEN OTHERS THEN")
	w(6, "NULL; -- the registration's own error is the one to report")
	w(4, "END;")
	w(4, "RAISE;")
	w(2, "END;")
	w(2, "-- changes committed while no registration existed were never notified")
	for i := range tables {
		w(2, "INSERT INTO "+o.ref(o.Changelog)+" (\"RF_SEQ\", \"RF_TABLE\", \"RF_OP\")")
		w(3, fmt.Sprintf("VALUES (%s.NEXTVAL, v_table%d, 'R');", o.ref(o.Sequence()), i+1))
	}
	w(2, "DBMS_ALERT.SIGNAL("+literal(o.Alert())+", 'change');")
	w(2, "COMMIT;")
	w(1, "END IF;")
	b.WriteString("END;")
	purpose := "register the tables for change notification (object mode), reusing an identical registration"
	if opt.queryMode() {
		purpose = "register the tables' queries for query result change notification, replacing an earlier registration"
	}
	return []sdk.Statement{{Purpose: purpose, SQL: b.String()}}, nil
}

// deregisterBlock removes every registration of the handler.
func deregisterBlock(o objects) string {
	return "DECLARE\n" +
		"  TYPE t_ids IS TABLE OF NUMBER;\n" +
		"  v_ids t_ids;\n" +
		"BEGIN\n" +
		"  SELECT DISTINCT REGID BULK COLLECT INTO v_ids FROM USER_CHANGE_NOTIFICATION_REGS\n" +
		"    WHERE " + handlerRegs(o, "CALLBACK") + ";\n" +
		"  FOR i IN 1 .. v_ids.COUNT LOOP\n" +
		"    DBMS_CQ_NOTIFICATION.DEREGISTER(v_ids(i));\n" +
		"  END LOOP;\n" +
		"END;"
}

// dropSequenceBlock drops the sequence unless another trigger or handler
// still uses it (two inputs sharing a changelog_table share it).
func dropSequenceBlock(o objects) string {
	return "DECLARE\n" +
		"  v_users NUMBER;\n" +
		"BEGIN\n" +
		"  SELECT COUNT(*) INTO v_users FROM ALL_DEPENDENCIES\n" +
		"    WHERE REFERENCED_OWNER = " + ownerSQL(o.Schema) + " AND REFERENCED_NAME = " + literal(o.Sequence()) +
		" AND REFERENCED_TYPE = 'SEQUENCE';\n" +
		"  IF v_users = 0 THEN\n" +
		"    EXECUTE IMMEDIATE " + literal("DROP SEQUENCE "+o.ref(o.Sequence())) + ";\n" +
		"  END IF;\n" +
		"EXCEPTION\n" +
		"  WHEN OTHERS THEN\n" +
		"    IF " + sqlcodeNot([]int{oraNoSequence}) + " THEN\n" +
		"      RAISE;\n" +
		"    END IF;\n" +
		"END;"
}

// ---- scripts -------------------------------------------------------------

// triggerKeys validates a table for the trigger strategy and returns its
// keys.
func triggerKeys(o objects, t *capture.Table) ([]string, error) {
	keys, err := keyNames(t)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		for _, r := range triggerChangelogColumns {
			if fold(k) == r {
				return nil, fmt.Errorf("table %s: key column %s has the name of a changelog column (%s)", tableLabel(t), k, strings.Join(triggerChangelogColumns, ", "))
			}
		}
	}
	for _, n := range []struct{ kind, name string }{
		{"changelog table", o.TableChangelog(t)},
		{"changelog primary key", primaryKeyName(o, t)},
		{"trigger", o.Trigger(t)},
	} {
		if err := checkName(t, n.kind, n.name); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

func checkShared(o objects, cqn bool) error {
	if err := checkName(nil, "sequence", o.Sequence()); err != nil {
		return err
	}
	if cqn {
		if err := checkName(nil, "changelog table", o.Changelog); err != nil {
			return err
		}
		return checkCallback(o)
	}
	return nil
}

// setupScript lists what `agent setup` runs, in order. polling and rowscn
// install nothing.
func setupScript(st capture.Strategy, o objects, tables []*capture.Table, opt scriptOptions) ([]sdk.Statement, error) {
	return onePurposeLine(setupStatements(st, o, tables, opt))
}

// onePurposeLine keeps each purpose on one line: it is shown as a "--"
// comment, and a table's name may hold a line break.
func onePurposeLine(stmts []sdk.Statement, err error) ([]sdk.Statement, error) {
	for i := range stmts {
		stmts[i].Purpose = oneLine(stmts[i].Purpose)
	}
	return stmts, err
}

func setupStatements(st capture.Strategy, o objects, tables []*capture.Table, opt scriptOptions) ([]sdk.Statement, error) {
	switch st {
	case capture.Trigger:
		if err := checkShared(o, false); err != nil {
			return nil, err
		}
		out := []sdk.Statement{{Purpose: "sequence numbering the changelog rows", SQL: tolerant(sequenceDDL(o), oraNameUsed)}}
		for _, t := range tables {
			keys, err := triggerKeys(o, t)
			if err != nil {
				return nil, err
			}
			label := tableRef(t)
			out = append(out,
				sdk.Statement{Purpose: "changelog of " + label + " (its key columns copied from the table)",
					SQL: createTable(triggerChangelogDDL(o, t, keys), o.Schema, o.TableChangelog(t),
						append(append([]string{}, triggerChangelogColumns...), keys...), "rowflux's changelog of "+label)},
				sdk.Statement{Purpose: "primary key of the changelog of " + label, SQL: primaryKeyBlock(o, t)},
				sdk.Statement{Purpose: "row trigger recording the changes of " + label + " (dropped again if it does not compile)", SQL: triggerBlock(o, t, keys)},
			)
		}
		return out, nil
	case capture.Notify:
		if err := checkShared(o, true); err != nil {
			return nil, err
		}
		reg, err := registrationScript(o, tables, opt)
		if err != nil {
			return nil, err
		}
		out := []sdk.Statement{
			{Purpose: "sequence numbering the changelog rows", SQL: tolerant(sequenceDDL(o), oraNameUsed)},
			{Purpose: "changelog the notification handler writes", SQL: createTable(cqnChangelogDDL(o), o.Schema, o.Changelog, cqnChangelogColumns, "rowflux's cqn changelog")},
			{Purpose: "notification handler: records the notified ROWIDs, then wakes the agent", SQL: handlerDDL(o)},
			{Purpose: "check that the notification handler compiled", SQL: handlerCheckBlock(o)},
		}
		return append(out, reg...), nil
	case capture.Polling, capture.CommitOrder:
		return nil, nil
	}
	return nil, fmt.Errorf("unknown strategy %q", st)
}

// teardownScript lists what `agent teardown` runs: setup's objects in
// reverse order. Each statement tolerates the object's absence.
func teardownScript(st capture.Strategy, o objects, tables []*capture.Table, opt scriptOptions) ([]sdk.Statement, error) {
	return onePurposeLine(teardownStatements(st, o, tables, opt))
}

func teardownStatements(st capture.Strategy, o objects, tables []*capture.Table, opt scriptOptions) ([]sdk.Statement, error) {
	switch st {
	case capture.Trigger:
		if err := checkShared(o, false); err != nil {
			return nil, err
		}
		var out []sdk.Statement
		for _, t := range tables {
			if _, err := triggerKeys(o, t); err != nil {
				return nil, err
			}
			out = append(out, sdk.Statement{Purpose: "drop the trigger on " + tableRef(t),
				SQL: tolerant("DROP TRIGGER "+o.ref(o.Trigger(t)), oraNoTrigger)})
		}
		for _, t := range tables {
			out = append(out, sdk.Statement{Purpose: "drop the changelog of " + tableRef(t),
				SQL: tolerant("DROP TABLE "+o.ref(o.TableChangelog(t))+" PURGE", oraNoTable)})
		}
		return append(out, sdk.Statement{Purpose: "drop the sequence unless another input's trigger still uses it", SQL: dropSequenceBlock(o)}), nil
	case capture.Notify:
		if err := checkShared(o, true); err != nil {
			return nil, err
		}
		return []sdk.Statement{
			{Purpose: "remove every change notification registration of the handler", SQL: deregisterBlock(o)},
			{Purpose: "drop the notification handler", SQL: tolerant("DROP PROCEDURE "+o.ref(o.Handler()), oraNoObject)},
			{Purpose: "drop the changelog", SQL: tolerant("DROP TABLE "+o.ref(o.Changelog)+" PURGE", oraNoTable)},
			{Purpose: "drop the sequence unless another input's trigger still uses it", SQL: dropSequenceBlock(o)},
		}, nil
	case capture.Polling, capture.CommitOrder:
		return nil, nil
	}
	return nil, fmt.Errorf("unknown strategy %q", st)
}

// renderScript renders statements as a script SQL*Plus runs: a comment
// with the purpose, the statement, and "/" on a line of its own (which
// runs both PL/SQL blocks and plain SQL without a trailing ";").
func renderScript(stmts []sdk.Statement) string {
	var b strings.Builder
	for _, s := range stmts {
		if strings.Contains(s.SQL, "&") {
			// "&" would prompt for a substitution variable
			b.WriteString("SET DEFINE OFF\n\n")
			break
		}
	}
	for i, s := range stmts {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString("-- " + oneLine(s.Purpose) + "\n" + s.SQL + "\n/\n")
	}
	return b.String()
}

// renderChecks renders doctor checks for review: each query and the fix a
// DBA would run, commented out.
func renderChecks(checks []check) string {
	var b strings.Builder
	for i, c := range checks {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString("-- check: " + oneLine(c.Name) + "\n" + c.SQL + ";\n-- fix:\n")
		for _, line := range strings.Split(strings.TrimRight(c.Fix, "\n"), "\n") {
			b.WriteString(strings.TrimRight("-- "+line, " ") + "\n")
		}
	}
	return b.String()
}

// checkStatements lists the checks' queries, as `agent doctor --dry-run`
// shows them.
func checkStatements(checks []check) []sdk.Statement {
	out := make([]sdk.Statement, len(checks))
	for i, c := range checks {
		out[i] = sdk.Statement{Purpose: "check: " + oneLine(c.Name), SQL: c.SQL}
	}
	return out
}

// ---- doctor ----------------------------------------------------------------

// count reads a COUNT(*) value.
func count(v string) (int, bool) {
	v = strings.TrimSuffix(strings.TrimSpace(v), ".")
	n, err := strconv.Atoi(v)
	if err != nil {
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil {
			return 0, false
		}
		n = int(f)
	}
	return n, true
}

// counts reads comma-separated COUNT(*) values.
func counts(v string, n int) ([]int, bool) {
	parts := strings.Split(v, ",")
	if len(parts) != n {
		return nil, false
	}
	out := make([]int, n)
	for i, p := range parts {
		c, ok := count(p)
		if !ok {
			return nil, false
		}
		out[i] = c
	}
	return out, true
}

func unexpected(v string) string { return fmt.Sprintf("unexpected answer %q", v) }

// readable passes whenever the query runs.
func readable(string) (bool, string) { return true, "readable" }

// setupFix is the fix for a missing capture object: run setup, or the
// statements themselves.
func setupFix(opt scriptOptions, stmts ...sdk.Statement) string {
	return "-- agent setup --config " + opt.configFile() + " creates it; or run:\n" + strings.TrimRight(renderScript(stmts), "\n")
}

// selectCheck: the user can read the table.
func selectCheck(t *capture.Table, opt scriptOptions) check {
	return check{
		Name: "SELECT on " + tableRef(t),
		SQL:  "SELECT COUNT(*) FROM (SELECT 1 FROM " + tableRef(t) + " WHERE 1 = 0)",
		OK:   readable,
		Fix:  "GRANT SELECT ON " + tableRef(t) + " TO " + opt.grantee() + ";",
	}
}

// privilegeCheck: the system privilege priv ("CREATE TABLE") to create
// objects in schemas ("" is the current schema), or its ANY form, which
// objects in another schema than the user's need.
func privilegeCheck(priv string, schemas []string, opt scriptOptions, what string) check {
	anyPriv := strings.Replace(priv, "CREATE ", "CREATE ANY ", 1)
	var conds []string
	seen := map[string]bool{}
	need := ownSchema
	for _, s := range schemas {
		if seen[s] {
			continue
		}
		seen[s] = true
		if s == "" {
			conds = append(conds, currentSchema+" = SYS_CONTEXT('USERENV', 'SESSION_USER')")
		} else {
			conds = append(conds, "SYS_CONTEXT('USERENV', 'SESSION_USER') = "+literal(s))
		}
		if o := opt.ownership(s); o > need {
			need = o
		}
	}
	c := check{
		SQL: "SELECT COUNT(*) FROM SESSION_PRIVS WHERE PRIVILEGE = " + literal(anyPriv) +
			" OR (PRIVILEGE = " + literal(priv) + " AND " + strings.Join(conds, " AND ") + ")",
	}
	u := opt.grantee()
	switch need {
	case ownSchema:
		c.Name = priv + " privilege"
		c.Fix = "GRANT " + priv + " TO " + u + ";"
	case otherSchema:
		c.Name = anyPriv + " privilege (objects in another schema than " + u + "'s)"
		c.Fix = "GRANT " + anyPriv + " TO " + u + ";\n-- or run agent setup as the owner of the schema"
	default:
		c.Name = priv + " privilege (" + anyPriv + " for another schema than the user's)"
		c.Fix = "GRANT " + priv + " TO " + u + ";\n-- or, when the objects are in another schema than " + u + "'s:\nGRANT " + anyPriv + " TO " + u + ";"
	}
	c.OK = func(v string) (bool, string) {
		n, ok := count(v)
		switch {
		case !ok:
			return false, unexpected(v)
		case n > 0:
			return true, "granted"
		}
		return false, "not granted: agent setup cannot create the " + what
	}
	return c
}

// executeCheck: EXECUTE on a SYS package, granted directly to owner (the
// handler runs with definer's rights, where privileges from roles do not
// count). The value is "<visible>,<direct>".
func executeCheck(pkg string, o objects, opt scriptOptions) check {
	owner := opt.ownerName(o.Schema)
	fix := "GRANT EXECUTE ON SYS." + pkg + " TO " + owner + ";"
	if o.Schema != "" && opt.ownership(o.Schema) != ownSchema {
		fix += "\nGRANT EXECUTE ON SYS." + pkg + " TO " + opt.grantee() + ";"
	}
	return check{
		Name: "EXECUTE on SYS." + pkg + " granted directly to " + owner,
		SQL: "SELECT (SELECT COUNT(*) FROM ALL_OBJECTS WHERE OWNER = 'SYS' AND OBJECT_NAME = " + literal(pkg) + " AND OBJECT_TYPE = 'PACKAGE')\n" +
			"  || ',' || (SELECT COUNT(*) FROM ALL_TAB_PRIVS WHERE TABLE_SCHEMA = 'SYS' AND TABLE_NAME = " + literal(pkg) +
			" AND PRIVILEGE = 'EXECUTE' AND GRANTEE IN (" + ownerSQL(o.Schema) + ", 'PUBLIC'))\n" +
			"FROM DUAL",
		OK: func(v string) (bool, string) {
			n, ok := counts(v, 2)
			switch {
			case !ok:
				return false, unexpected(v)
			case n[1] > 0:
				return true, "granted"
			case n[0] > 0:
				return false, "granted only through a role: the notification handler runs with definer's rights, where roles do not count; grant it directly"
			}
			return false, "not granted"
		},
		Fix: fix + "\n-- directly to the user, not to a role: the notification handler runs with definer's rights",
	}
}

// existsCheck: a capture object exists (value: a COUNT(*) that must be 1).
func existsCheck(name, sql, missing string, opt scriptOptions, stmts ...sdk.Statement) check {
	return check{
		Name: name,
		SQL:  sql,
		OK: func(v string) (bool, string) {
			n, ok := count(v)
			switch {
			case !ok:
				return false, unexpected(v)
			case n > 0:
				return true, "present"
			}
			return false, missing
		},
		Fix: setupFix(opt, stmts...),
	}
}

func sequenceCheck(o objects, opt scriptOptions) check {
	return existsCheck("sequence "+o.ref(o.Sequence()),
		"SELECT COUNT(*) FROM ALL_SEQUENCES WHERE SEQUENCE_OWNER = "+ownerSQL(o.Schema)+" AND SEQUENCE_NAME = "+literal(o.Sequence()),
		"missing: agent setup creates it", opt,
		sdk.Statement{Purpose: "sequence numbering the changelog rows", SQL: tolerant(sequenceDDL(o), oraNameUsed)})
}

// changelogCheck: the changelog exists with its columns (and, for the
// trigger strategy's, its primary key). The value is "<columns>,<keys>".
func changelogCheck(o objects, name string, columns []string, opt scriptOptions, stmts ...sdk.Statement) check {
	want := len(columns)
	return check{
		Name: "changelog table " + o.ref(name),
		SQL: "SELECT (SELECT COUNT(*) FROM ALL_TAB_COLUMNS WHERE OWNER = " + ownerSQL(o.Schema) + " AND TABLE_NAME = " + literal(name) +
			"\n    AND COLUMN_NAME IN (" + strings.Join(literalAll(columns), ", ") + "))\n" +
			"  || ',' || (SELECT COUNT(*) FROM ALL_CONSTRAINTS WHERE OWNER = " + ownerSQL(o.Schema) + " AND TABLE_NAME = " + literal(name) +
			" AND CONSTRAINT_TYPE = 'P')\n" +
			"FROM DUAL",
		OK: func(v string) (bool, string) {
			n, ok := counts(v, 2)
			switch {
			case !ok:
				return false, unexpected(v)
			case n[0] == 0:
				return false, "missing: agent setup creates it"
			case n[0] != want:
				return false, fmt.Sprintf("a table of that name exists with %d of the changelog's %d columns: it is not rowflux's changelog (choose another changelog_table)", n[0], want)
			case n[1] == 0:
				return false, "present without its primary key"
			}
			return true, "present"
		},
		Fix: setupFix(opt, stmts...),
	}
}

// doctorChecks lists what `agent doctor` checks for the strategy.
func doctorChecks(st capture.Strategy, o objects, tables []*capture.Table, opt scriptOptions) ([]check, error) {
	var out []check
	for _, t := range tables {
		out = append(out, selectCheck(t, opt))
	}
	u := opt.grantee()
	switch st {
	case capture.Polling:
		if opt.Bounded {
			out = append(out, check{
				Name: "SELECT on GV$TRANSACTION (bound_by_open_transactions)",
				SQL:  "SELECT COUNT(*) FROM GV$TRANSACTION",
				OK:   readable,
				Fix: "GRANT SELECT ON SYS.GV_$TRANSACTION TO " + u + ";\n" +
					"-- or set bound_by_open_transactions = false (polling may then pass rows of long transactions)",
			})
		}
		for _, t := range tables {
			c, err := pollIndexCheck(t)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	case capture.CommitOrder:
		out = append(out, check{
			Name: "SELECT on V$DATABASE (the commit horizon CURRENT_SCN)",
			SQL:  "SELECT CURRENT_SCN FROM V$DATABASE",
			OK: func(v string) (bool, string) {
				if strings.TrimSpace(v) == "" {
					return false, "no CURRENT_SCN"
				}
				return true, "readable"
			},
			Fix: "GRANT SELECT ON SYS.V_$DATABASE TO " + u + ";",
		})
		for _, t := range tables {
			out = append(out, rowDependenciesCheck(t))
		}
	case capture.Trigger:
		setup, err := setupScript(st, o, tables, opt)
		if err != nil {
			return nil, err
		}
		triggerSchemas := []string{o.Schema}
		for _, t := range tables {
			triggerSchemas = append(triggerSchemas, t.Schema)
		}
		out = append(out,
			privilegeCheck("CREATE TABLE", []string{o.Schema}, opt, "changelog tables"),
			privilegeCheck("CREATE SEQUENCE", []string{o.Schema}, opt, "sequence"),
			privilegeCheck("CREATE TRIGGER", triggerSchemas, opt, "triggers"),
			sequenceCheck(o, opt),
		)
		for i, t := range tables {
			keys, err := keyNames(t)
			if err != nil {
				return nil, err
			}
			mine := setup[1+3*i : 4+3*i]
			cols := append(append([]string{}, triggerChangelogColumns...), keys...)
			out = append(out, changelogCheck(o, o.TableChangelog(t), cols, opt, mine[0], mine[1]), triggerCheck(o, t, opt, mine[2]))
		}
	case capture.Notify:
		setup, err := setupScript(st, o, tables, opt)
		if err != nil {
			return nil, err
		}
		out = append(out,
			check{
				Name: "the user is not SYS (SYS cannot register change notifications)",
				SQL:  "SELECT SYS_CONTEXT('USERENV', 'SESSION_USER') FROM DUAL",
				OK: func(v string) (bool, string) {
					if strings.EqualFold(strings.TrimSpace(v), "SYS") {
						return false, "connected as SYS"
					}
					return true, "connected as " + v
				},
				Fix: "-- connect as a dedicated capture user: change the dsn's user",
			},
			check{
				Name: "CHANGE NOTIFICATION privilege",
				SQL:  "SELECT COUNT(*) FROM SESSION_PRIVS WHERE PRIVILEGE = 'CHANGE NOTIFICATION'",
				OK: func(v string) (bool, string) {
					n, ok := count(v)
					switch {
					case !ok:
						return false, unexpected(v)
					case n > 0:
						return true, "granted"
					}
					return false, "not granted: the tables cannot be registered"
				},
				Fix: "GRANT CHANGE NOTIFICATION TO " + u + ";",
			},
			executeCheck("DBMS_CQ_NOTIFICATION", o, opt),
			executeCheck("DBMS_ALERT", o, opt),
			privilegeCheck("CREATE PROCEDURE", []string{o.Schema}, opt, "notification handler"),
			privilegeCheck("CREATE TABLE", []string{o.Schema}, opt, "changelog table"),
			privilegeCheck("CREATE SEQUENCE", []string{o.Schema}, opt, "sequence"),
			check{
				Name: "job_queue_processes > 0 (notifications are delivered by job queue processes; read from V$PARAMETER)",
				SQL:  "SELECT VALUE FROM V$PARAMETER WHERE NAME = 'job_queue_processes'",
				OK: func(v string) (bool, string) {
					if strings.TrimSpace(v) == "" {
						return false, "job_queue_processes not found in V$PARAMETER"
					}
					n, ok := count(v)
					switch {
					case !ok:
						return false, unexpected(v)
					case n > 0:
						return true, "job_queue_processes = " + strings.TrimSpace(v)
					}
					return false, "job_queue_processes = 0: notifications pile up and the handler never runs"
				},
				Fix: "-- when V$PARAMETER cannot be read, let doctor read it:\n" +
					"GRANT SELECT ON SYS.V_$PARAMETER TO " + u + ";\n" +
					"-- when it is 0:\n" +
					"ALTER SYSTEM SET JOB_QUEUE_PROCESSES = 20;",
			},
			sequenceCheck(o, opt),
			changelogCheck(o, o.Changelog, cqnChangelogColumns, opt, setup[1]),
			check{
				Name: "notification handler " + o.ref(o.Handler()) + " is VALID",
				SQL: "SELECT MAX(STATUS) FROM ALL_OBJECTS WHERE OWNER = " + ownerSQL(o.Schema) +
					" AND OBJECT_NAME = " + literal(o.Handler()) + " AND OBJECT_TYPE = 'PROCEDURE'",
				OK: func(v string) (bool, string) {
					switch strings.TrimSpace(v) {
					case "VALID":
						return true, "valid"
					case "":
						return false, "missing: agent setup creates it"
					}
					return false, strings.TrimSpace(v) + ": notifications are not recorded (ALL_ERRORS tells why)"
				},
				Fix: setupFix(opt, setup[2], setup[3]),
			},
			registrationCountCheck(o, opt),
			registeredTablesCheck(o, tables, opt),
		)
		if opt.queryMode() {
			for _, t := range tables {
				out = append(out, columnLimitCheck(t))
			}
		}
	default:
		return nil, fmt.Errorf("unknown strategy %q", st)
	}
	return out, nil
}

// tsColumn is a polled table's timestamp column.
func tsColumn(t *capture.Table) (string, error) {
	if t.TSIdx >= 0 && t.TSIdx < len(t.Columns) {
		return t.Columns[t.TSIdx].Name, nil
	}
	if t.Config.TimestampColumn != "" {
		return fold(t.Config.TimestampColumn), nil
	}
	return "", fmt.Errorf("table %s: polling needs a timestamp_column", tableLabel(t))
}

// pollIndexCheck: an index leads with the timestamp column, or every poll
// scans the table.
func pollIndexCheck(t *capture.Table) (check, error) {
	ts, err := tsColumn(t)
	if err != nil {
		return check{}, err
	}
	cols := []string{quote(ts)}
	for _, k := range t.KeyIdx {
		if n := t.Columns[k].Name; n != ts {
			cols = append(cols, quote(n))
		}
	}
	index := quote(truncateName(t.Name + "$" + ts + "$IX"))
	if t.Schema != "" {
		index = quote(t.Schema) + "." + index
	}
	return check{
		Name: "index on " + tableRef(t) + " leading with " + quote(ts) + " (polling)",
		SQL: "SELECT COUNT(*) FROM ALL_IND_COLUMNS WHERE TABLE_OWNER = " + ownerSQL(t.Schema) + " AND TABLE_NAME = " + literal(t.Name) +
			" AND COLUMN_NAME = " + literal(ts) + " AND COLUMN_POSITION = 1",
		OK: func(v string) (bool, string) {
			n, ok := count(v)
			switch {
			case !ok:
				return false, unexpected(v)
			case n > 0:
				return true, "present"
			}
			return false, "no index starts with " + ts + ": every poll scans the table"
		},
		Fix: "CREATE INDEX " + index + " ON " + tableRef(t) + " (" + strings.Join(cols, ", ") + ");",
	}, nil
}

// rowDependenciesCheck: without ROWDEPENDENCIES, ORA_ROWSCN is the
// block's SCN.
func rowDependenciesCheck(t *capture.Table) check {
	schema := ""
	if t.Schema != "" {
		schema = quote(t.Schema) + "."
	}
	rebuilt, old := truncateName(t.Name+"$RD"), truncateName(t.Name+"$OLD")
	return check{
		Name: "ROWDEPENDENCIES on " + tableRef(t) + " (ORA_ROWSCN per row)",
		SQL:  "SELECT DEPENDENCIES FROM ALL_TABLES WHERE OWNER = " + ownerSQL(t.Schema) + " AND TABLE_NAME = " + literal(t.Name),
		OK: func(v string) (bool, string) {
			switch strings.TrimSpace(v) {
			case "ENABLED":
				return true, "enabled"
			case "":
				return false, "table not found in ALL_TABLES"
			}
			return false, "disabled: ORA_ROWSCN is tracked per block, so rows sharing a block with a changed row are read again (extra duplicate events, never missed ones)"
		},
		Fix: "-- ROWDEPENDENCIES cannot be added by ALTER TABLE: the table must be rebuilt, e.g. in a maintenance window without writes:\n" +
			"CREATE TABLE " + schema + quote(rebuilt) + " ROWDEPENDENCIES AS SELECT * FROM " + tableRef(t) + ";\n" +
			"-- recreate on " + oneLine(schema+quote(rebuilt)) + " the indexes, constraints, defaults, grants, triggers and comments of " + oneLine(tableRef(t)) + "\n" +
			"-- (DBMS_METADATA.GET_DDL and GET_DEPENDENT_DDL print them), then swap the names:\n" +
			"ALTER TABLE " + tableRef(t) + " RENAME TO " + quote(old) + ";\n" +
			"ALTER TABLE " + schema + quote(rebuilt) + " RENAME TO " + quote(t.Name) + ";\n" +
			"-- and once verified: DROP TABLE " + oneLine(schema+quote(old)) + ";\n" +
			"-- or online, with DBMS_REDEFINITION (START_REDEF_TABLE, COPY_TABLE_DEPENDENTS, FINISH_REDEF_TABLE)\n" +
			"-- into an interim table created with ROWDEPENDENCIES",
	}
}

// triggerCheck: the trigger exists on its table, compiled and enabled.
func triggerCheck(o objects, t *capture.Table, opt scriptOptions, create sdk.Statement) check {
	name := o.Trigger(t)
	return check{
		Name: "trigger " + o.ref(name) + " on " + tableRef(t) + " is ENABLED and VALID",
		SQL: "SELECT MAX(t.STATUS || ' ' || o.STATUS) FROM ALL_TRIGGERS t\n" +
			"  JOIN ALL_OBJECTS o ON o.OWNER = t.OWNER AND o.OBJECT_NAME = t.TRIGGER_NAME AND o.OBJECT_TYPE = 'TRIGGER'\n" +
			"  WHERE t.OWNER = " + ownerSQL(o.Schema) + " AND t.TRIGGER_NAME = " + literal(name) +
			" AND t.TABLE_OWNER = " + ownerSQL(t.Schema) + " AND t.TABLE_NAME = " + literal(t.Name),
		OK: func(v string) (bool, string) {
			v = strings.TrimSpace(v)
			switch {
			case v == "ENABLED VALID":
				return true, "enabled and valid"
			case v == "":
				return false, "missing: changes to " + t.Name + " are not captured"
			case strings.HasSuffix(v, " INVALID"):
				return false, v + ": writes to " + t.Name + " fail (ORA-04098) until it is fixed or dropped"
			case strings.HasPrefix(v, "DISABLED"):
				return false, v + ": changes to " + t.Name + " are not captured"
			}
			return false, unexpected(v)
		},
		Fix: "-- when DISABLED:\nALTER TRIGGER " + o.ref(name) + " ENABLE;\n" + setupFix(opt, create),
	}
}

func registrationCountCheck(o objects, opt scriptOptions) check {
	return check{
		Name: "exactly one change notification registration of " + o.ref(o.Handler()),
		SQL:  "SELECT COUNT(DISTINCT REGID) FROM USER_CHANGE_NOTIFICATION_REGS WHERE " + handlerRegs(o, "CALLBACK"),
		OK: func(v string) (bool, string) {
			n, ok := count(v)
			switch {
			case !ok:
				return false, unexpected(v)
			case n == 1:
				return true, "registered"
			case n == 0:
				return false, "not registered: nothing is notified (agent setup registers the tables)"
			}
			return false, fmt.Sprintf("%d registrations: every change is notified %d times (agent teardown, then agent setup)", n, n)
		},
		Fix: "-- none: agent setup --config " + opt.configFile() + "\n" +
			"-- more than one: agent teardown --config " + opt.configFile() + ", then agent setup --config " + opt.configFile(),
	}
}

func registeredTablesCheck(o objects, tables []*capture.Table, opt scriptOptions) check {
	var want []string
	for _, t := range tables {
		want = append(want, "SELECT "+cqnName(t)+" AS T FROM DUAL")
	}
	return check{
		Name: "the registration covers every table",
		SQL: "SELECT NVL(LISTAGG(w.T, ', ') WITHIN GROUP (ORDER BY w.T), 'none') FROM (\n  " +
			strings.Join(want, "\n  UNION ALL ") + "\n) w\n" +
			"WHERE UPPER(w.T) NOT IN (SELECT UPPER(REPLACE(r.TABLE_NAME, '\"')) FROM USER_CHANGE_NOTIFICATION_REGS r\n" +
			"  WHERE " + handlerRegs(o, "r.CALLBACK") + " AND r.TABLE_NAME IS NOT NULL)",
		OK: func(v string) (bool, string) {
			if strings.TrimSpace(v) == "none" {
				return true, "every table is registered"
			}
			return false, "not registered: " + v + " (their changes are not notified)"
		},
		Fix: "-- agent setup --config " + opt.configFile() + " registers them",
	}
}

// columnLimitCheck: query result change notification cannot register a
// table of more than 255 columns.
func columnLimitCheck(t *capture.Table) check {
	return check{
		Name: "at most 255 columns in " + tableRef(t) + " (cqn_mode = \"query\")",
		SQL:  "SELECT COUNT(*) FROM ALL_TAB_COLUMNS WHERE OWNER = " + ownerSQL(t.Schema) + " AND TABLE_NAME = " + literal(t.Name),
		OK: func(v string) (bool, string) {
			n, ok := count(v)
			switch {
			case !ok:
				return false, unexpected(v)
			case n == 0:
				return false, "table not found in ALL_TAB_COLUMNS"
			case n > 255:
				return false, fmt.Sprintf("%d columns: query result change notification cannot register it", n)
			}
			return true, fmt.Sprintf("%d columns", n)
		},
		Fix: "-- use cqn_mode = \"object\" for this input, or capture this table with another input",
	}
}
