package oracle

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/rowflux/rowflux/plugins/common/capture"
)

// The SQL the capture strategies send, as pure functions of the resolved
// tables so that golden files (testdata/sql) show every statement to a
// reviewer. Placeholders are :1, :2, ... in order of appearance, one number
// per occurrence (a value used twice is bound twice), and the arguments go
// to go-ora by position in that order.

// sessionSetupSQL runs first on every session the agent opens. A '.'
// decimal separator makes a NUMBER bound or read as text exact whatever
// the client's territory; binary sorting and comparison make ORDER BY agree
// with the > of the cursor predicates (a linguistic NLS_SORT with a binary
// NLS_COMP would page through text keys in one order and compare them in
// another, skipping rows).
const sessionSetupSQL = `ALTER SESSION SET NLS_NUMERIC_CHARACTERS = '.,' NLS_SORT = BINARY NLS_COMP = BINARY`

// currentSchemaSQL names the schema unqualified names resolve in.
const currentSchemaSQL = `SELECT SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') FROM DUAL`

// describeSQL lists a table's columns in table order: name, then type as
// kindOf and numberShape read it. Binds: :1 owner, :2 table (as stored).
//
// ALL_TAB_COLS with HIDDEN_COLUMN = 'NO' states the filter instead of
// relying on the view: system-generated hidden columns and (12c) invisible
// columns are both left out, so the default column list is what SELECT *
// shows. A configured invisible column is therefore "not found".
//
// Type spelling: NUMBER(p,s) when the precision is declared; NUMBER(*,s)
// when only the scale is (INTEGER is NUMBER(*,0), Oracle's own DDL
// spelling, read as precision 38); NUMBER when neither; FLOAT(binary
// precision); character types with their length in characters;
// RAW(bytes); every other type as DATA_TYPE spells it (TIMESTAMP(6) WITH
// TIME ZONE already carries its precision).
const describeSQL = `SELECT COLUMN_NAME,
  CASE
    WHEN DATA_TYPE = 'NUMBER' AND DATA_PRECISION IS NOT NULL
      THEN 'NUMBER(' || TO_CHAR(DATA_PRECISION) || ',' || TO_CHAR(NVL(DATA_SCALE, 0)) || ')'
    WHEN DATA_TYPE = 'NUMBER' AND DATA_SCALE IS NOT NULL THEN 'NUMBER(*,' || TO_CHAR(DATA_SCALE) || ')'
    WHEN DATA_TYPE = 'FLOAT' THEN 'FLOAT(' || TO_CHAR(DATA_PRECISION) || ')'
    WHEN DATA_TYPE IN ('VARCHAR2', 'NVARCHAR2', 'CHAR', 'NCHAR') THEN DATA_TYPE || '(' || TO_CHAR(CHAR_LENGTH) || ')'
    WHEN DATA_TYPE = 'RAW' THEN 'RAW(' || TO_CHAR(DATA_LENGTH) || ')'
    ELSE DATA_TYPE
  END
FROM ALL_TAB_COLS
WHERE OWNER = :1 AND TABLE_NAME = :2 AND HIDDEN_COLUMN = 'NO'
ORDER BY COLUMN_ID`

// horizonSQL is rowscn's commit horizon, read before every delta query.
const horizonSQL = `SELECT CURRENT_SCN FROM V$DATABASE`

// alertRegisterSQL subscribes the wait session to the handler's alert.
// Binds: :1 alert name.
const alertRegisterSQL = `BEGIN DBMS_ALERT.REGISTER(:1); END;`

// alertWaitSQL blocks on the server for at most the timeout. Binds: :1
// alert name, :2 OUT message (VARCHAR2(1800)), :3 OUT status (0 alert, 1
// timeout), :4 timeout in seconds.
const alertWaitSQL = `BEGIN DBMS_ALERT.WAITONE(:1, :2, :3, :4); END;`

// maxInList is the most expressions an IN list may hold (ORA-01795).
const maxInList = 1000

// Cursor and bound formats. FF9 keeps every fractional digit a
// TIMESTAMP(9) can hold; TZH:TZM is an offset, which any region zone
// converts to without ambiguity.
const (
	fmtDate  = `'YYYY-MM-DD HH24:MI:SS'`
	fmtTS    = `'YYYY-MM-DD HH24:MI:SS.FF9'`
	fmtTSTZ  = `'YYYY-MM-DD HH24:MI:SS.FF9 TZH:TZM'`
	fmtTZOff = `'TZH:TZM'`
)

// placeholders numbers binds in order of appearance.
type placeholders struct{ n int }

func (p *placeholders) next() string {
	p.n++
	return ":" + strconv.Itoa(p.n)
}

// colRef is a column of alias ("" for the unqualified name).
func colRef(name, alias string) string {
	if alias == "" {
		return quote(name)
	}
	return alias + "." + quote(name)
}

// isRowidPseudo reports whether c is the ROWID pseudo column cqn adds.
func isRowidPseudo(c capture.Column) bool {
	return c.Name == "ROWID" && kindOf(c.Type) == rowid
}

// selectExpr is the select-list expression of a captured column. ROWIDs
// are read as their external text: go-ora has no event value for the
// internal form, and CHARTOROWID takes the text back.
func selectExpr(c capture.Column, alias string) string {
	switch {
	case isRowidPseudo(c):
		if alias == "" {
			return "ROWIDTOCHAR(ROWID)"
		}
		return "ROWIDTOCHAR(" + alias + ".ROWID)"
	case kindOf(c.Type) == rowid:
		return "ROWIDTOCHAR(" + colRef(c.Name, alias) + ")"
	}
	return colRef(c.Name, alias)
}

// selectList is t's captured columns, in t.Columns order.
func selectList(t *capture.Table, alias string) string {
	exprs := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		exprs[i] = selectExpr(c, alias)
	}
	return strings.Join(exprs, ", ")
}

// errNoCursor explains why a column cannot carry a paging cursor.
func errNoCursor(c capture.Column) error {
	return fmt.Errorf("column %s (%s) cannot be a key or timestamp column: %s values cannot be compared through a bound value", c.Name, c.Type, kindOf(c.Type))
}

// cursorSelect reads a cursor column (timestamp or key) in the form that
// cursorBind takes back, so that a checkpointed cursor compares exactly as
// stored: numbers as decimal text (exact under sessionSetupSQL), times as
// text with every digit and the offset, RAW as hex.
func cursorSelect(c capture.Column, alias string) (string, error) {
	col := colRef(c.Name, alias)
	switch kindOf(c.Type) {
	case numeric, binaryFloat, text:
		return col, nil
	case date:
		return "TO_CHAR(" + col + ", " + fmtDate + ")", nil
	case timestamp:
		return "TO_CHAR(" + col + ", " + fmtTS + ")", nil
	case timestampTZ:
		return "TO_CHAR(" + col + ", " + fmtTSTZ + ")", nil
	case timestampLTZ:
		return "TO_CHAR(CAST(" + col + " AS TIMESTAMP WITH TIME ZONE), " + fmtTSTZ + ")", nil
	case raw:
		return "RAWTOHEX(" + col + ")", nil
	}
	return "", errNoCursor(c)
}

// cursorBind is the expression a cursor value read by cursorSelect is
// bound through at placeholder ph. The bind has the column's own type: a
// DATE compared with a TIMESTAMP would be converted and lose its index.
func cursorBind(c capture.Column, ph string) (string, error) {
	switch kindOf(c.Type) {
	case numeric:
		return "TO_NUMBER(" + ph + ")", nil
	case binaryFloat, text:
		return ph, nil
	case date:
		return "TO_DATE(" + ph + ", " + fmtDate + ")", nil
	case timestamp:
		return "TO_TIMESTAMP(" + ph + ", " + fmtTS + ")", nil
	case timestampTZ:
		return "TO_TIMESTAMP_TZ(" + ph + ", " + fmtTSTZ + ")", nil
	case timestampLTZ:
		return "CAST(TO_TIMESTAMP_TZ(" + ph + ", " + fmtTSTZ + ") AS TIMESTAMP WITH LOCAL TIME ZONE)", nil
	case raw:
		return "HEXTORAW(" + ph + ")", nil
	}
	return "", errNoCursor(c)
}

// pollUpperSQL computes polling's exclusive upper bound on the server's
// clock. Binds: :1 lag in seconds (a number). Result: the wall clock
// 'YYYY-MM-DD HH24:MI:SS.FF9' and the server's offset 'TZH:TZM'; upperArg
// makes the bind of pollPageSQL from them.
//
// GV$TRANSACTION sees every instance of a RAC database (V$ only the
// local one). SYSTIMESTAMP and START_DATE are both on the server's OS
// clock, so the wall clock is compared without a zone. START_DATE has
// whole seconds, which only lowers the bound (conservative).
func pollUpperSQL(bounded bool) string {
	now := "CAST(SYSTIMESTAMP AS TIMESTAMP(9))"
	bound := now
	if bounded {
		bound = "LEAST(" + now + ",\n    NVL((SELECT CAST(MIN(START_DATE) AS TIMESTAMP(9)) FROM GV$TRANSACTION), " + now + "))"
	}
	// lag is subtracted from the transaction bound too: an Oracle
	// transaction starts at its first change, after the application took
	// the timestamp it writes, and START_DATE has whole seconds.
	wall := bound + " - NUMTODSINTERVAL(:1, 'SECOND')"
	return "SELECT TO_CHAR(" + wall + ", " + fmtTS + "),\n  TO_CHAR(SYSTIMESTAMP, " + fmtTZOff + ")\nFROM DUAL"
}

// upperBind is the bound ts < upper against a timestamp column of ts's
// type, bound at ph. A DATE bound is cut to whole seconds: rows in the
// current second wait for the next poll rather than be passed over.
func upperBind(ts capture.Column, ph string) (string, error) {
	switch kindOf(ts.Type) {
	case date:
		return "TO_DATE(SUBSTR(" + ph + ", 1, 19), " + fmtDate + ")", nil
	case timestamp:
		return "TO_TIMESTAMP(" + ph + ", " + fmtTS + ")", nil
	case timestampTZ:
		return "TO_TIMESTAMP_TZ(" + ph + ", " + fmtTSTZ + ")", nil
	case timestampLTZ:
		return "CAST(TO_TIMESTAMP_TZ(" + ph + ", " + fmtTSTZ + ") AS TIMESTAMP WITH LOCAL TIME ZONE)", nil
	}
	return "", fmt.Errorf("timestamp_column %s (%s) is not a DATE or TIMESTAMP column", ts.Name, ts.Type)
}

// upperArg is the argument upperBind takes: the wall clock pollUpperSQL
// returned, with its offset for the zoned types (those compare instants;
// DATE and TIMESTAMP compare wall clocks).
func upperArg(ts capture.Column, wall, tz string) string {
	switch kindOf(ts.Type) {
	case timestampTZ, timestampLTZ:
		return wall + " " + tz
	}
	return wall
}

// tupleAfter writes (cols...) > (cursor...) out as
// (c1 > v1 OR (c1 = v1 AND (c2 > v2 OR ...))), which every version
// accepts and which an index on the columns can serve. Each occurrence
// of a cursor value gets its own placeholder, in the order
// cursorBinds(len(cols)) gives.
func tupleAfter(cols []capture.Column, p *placeholders) (string, error) {
	var b strings.Builder
	for i, c := range cols {
		gt, err := cursorBind(c, p.next())
		if err != nil {
			return "", err
		}
		if i == len(cols)-1 {
			b.WriteString(quote(c.Name) + " > " + gt)
			break
		}
		eq, _ := cursorBind(c, p.next())
		b.WriteString("(" + quote(c.Name) + " > " + gt + " OR (" + quote(c.Name) + " = " + eq + " AND ")
	}
	b.WriteString(strings.Repeat("))", len(cols)-1))
	return b.String(), nil
}

// limitRows caps an ordered query at limit rows: FETCH FIRST (12c), or
// for legacy (11g) ROWNUM over the ordered query as an inline view, where
// ROWNUM counts rows after the ORDER BY.
func limitRows(q string, limit int, legacy bool) string {
	if legacy {
		return "SELECT * FROM (\n" + q + "\n) WHERE ROWNUM <= " + strconv.Itoa(limit)
	}
	return q + "\nFETCH FIRST " + strconv.Itoa(limit) + " ROWS ONLY"
}

func keyColumns(t *capture.Table) []capture.Column {
	keys := make([]capture.Column, len(t.KeyIdx))
	for i, k := range t.KeyIdx {
		keys[i] = t.Columns[k]
	}
	return keys
}

func quotedNames(cols []capture.Column) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = quote(c.Name)
	}
	return strings.Join(names, ", ")
}

// cursorColumns selects cols through cursorSelect as "RF$C<first>",
// "RF$C<first+1>", ...: aliased, so that a column selected both as itself
// and as a cursor keeps distinct names in an inline view.
func cursorColumns(cols []capture.Column, first int) (string, error) {
	exprs := make([]string, len(cols))
	for i, c := range cols {
		e, err := cursorSelect(c, "")
		if err != nil {
			return "", err
		}
		exprs[i] = e + " AS " + quote("RF$C"+strconv.Itoa(first+i))
	}
	return strings.Join(exprs, ", "), nil
}

// pollPageSQL reads a page of t in (timestamp, key...) order.
//
// Result columns: t.Columns (selectExpr), then the cursor "RF$C0" (the
// timestamp) and "RF$C1".."RF$Cn" (the keys) through cursorSelect.
// Binds: :1 upperArg(...) for the ts < upper bound; with a cursor, :2 on
// take the cursor values after[cursorArgs[0]], after[cursorArgs[1]], ...
// = after[0], after[0], after[1], after[1], ..., after[n] (the timestamp
// and every key but the last appear twice); bindArgs builds the list.
// Without a cursor, cursorArgs is nil.
func pollPageSQL(t *capture.Table, withCursor bool, limit int, legacy bool) (sql string, cursorArgs []int, err error) {
	defer wrapTable(t, &err)
	if t.TSIdx < 0 {
		return "", nil, errors.New("polling needs a timestamp_column")
	}
	if len(t.KeyIdx) == 0 {
		return "", nil, errors.New("polling needs a key")
	}
	order := append([]capture.Column{t.Columns[t.TSIdx]}, keyColumns(t)...)
	cursor, err := cursorColumns(order, 0)
	if err != nil {
		return "", nil, err
	}
	var p placeholders
	upper, err := upperBind(order[0], p.next())
	if err != nil {
		return "", nil, err
	}
	where := quote(order[0].Name) + " < " + upper
	if withCursor {
		after, err := tupleAfter(order, &p)
		if err != nil {
			return "", nil, err
		}
		where += "\n  AND " + after
		cursorArgs = cursorBinds(len(order))
	}
	q := "SELECT " + selectList(t, "") + ", " + cursor +
		"\nFROM " + tableRef(t) +
		"\nWHERE " + where +
		"\nORDER BY " + quotedNames(order)
	return limitRows(q, limit, legacy), cursorArgs, nil
}

// changedSQL is rowscn's delta query: rows whose ORA_ROWSCN is at or above the
// last horizon, paged by key. There is no upper bound: ORA_ROWSCN only
// bounds the commit SCN from above, so a row committed below the horizon
// may still report a higher value; bounding would lose it. Paging is by key
// because a row's reported version can drop between two pages, its key
// cannot change.
//
// Result columns: t.Columns, "RF$V" (ORA_ROWSCN, the row's version, not
// part of the cursor), then the keys as "RF$C0".."RF$Cn-1" through
// cursorSelect: the cursor is the key tuple. Binds: :1 the last horizon
// (SCN); with a cursor, then the key cursor written out by tupleAfter:
// after[0], after[0], after[1], after[1], ..., after[n-1] (every key but
// the last twice; bindArgs(after, cursorBinds(len(after)), low) builds
// it).
func changedSQL(t *capture.Table, withCursor bool, limit int, legacy bool) (sql string, err error) {
	defer wrapTable(t, &err)
	if len(t.KeyIdx) == 0 {
		return "", errors.New("rowscn needs a key")
	}
	keys := keyColumns(t)
	cursor, err := cursorColumns(keys, 0)
	if err != nil {
		return "", err
	}
	var p placeholders
	where := "ORA_ROWSCN >= " + p.next()
	if withCursor {
		after, err := tupleAfter(keys, &p)
		if err != nil {
			return "", err
		}
		where += "\n  AND " + after
	}
	q := "SELECT " + selectList(t, "") + ", ORA_ROWSCN AS \"RF$V\", " + cursor +
		"\nFROM " + tableRef(t) +
		"\nWHERE " + where +
		"\nORDER BY " + quotedNames(keys)
	return limitRows(q, limit, legacy), nil
}

// cursorBinds is which cursor value each placeholder of tupleAfter over n
// columns takes: 0, 0, 1, 1, ..., n-1 (each value but the last is used
// by a > and an =).
func cursorBinds(n int) []int {
	out := make([]int, 0, 2*n)
	for i := 0; i < n; i++ {
		out = append(out, i)
		if i < n-1 {
			out = append(out, i)
		}
	}
	return out
}

// bindArgs is the argument list of a query built with a cursor map: lead
// (the binds before the cursor's) then after[idx[0]], after[idx[1]], ...
func bindArgs(after []any, idx []int, lead ...any) ([]any, error) {
	args := append(make([]any, 0, len(lead)+len(idx)), lead...)
	for _, i := range idx {
		if i < 0 || i >= len(after) {
			return nil, fmt.Errorf("cursor has %d values, the query binds value %d", len(after), i)
		}
		args = append(args, after[i])
	}
	return args, nil
}

// triggerReadSQL reads t's changelog with the current row of each change.
//
// Result columns: "RF_SEQ", "RF_OP", "RF_AT", the changelog's key columns
// as "RF$K0".."RF$Kn-1" (in t.KeyIdx order), then t.Columns (NULL when
// the row is gone). Binds: :1 the last sequence read.
func triggerReadSQL(o objects, t *capture.Table, limit int, legacy bool) (sql string, err error) {
	defer wrapTable(t, &err)
	if len(t.KeyIdx) == 0 {
		return "", errors.New("trigger needs a key")
	}
	keys := keyColumns(t)
	ckeys := make([]string, len(keys))
	join := make([]string, len(keys))
	for i, k := range keys {
		ckeys[i] = colRef(k.Name, "c") + " AS " + quote("RF$K"+strconv.Itoa(i))
		join[i] = colRef(k.Name, "t") + " = " + colRef(k.Name, "c")
	}
	q := `SELECT c."RF_SEQ", c."RF_OP", c."RF_AT", ` + strings.Join(ckeys, ", ") + ", " + selectList(t, "t") +
		"\nFROM " + o.ref(o.TableChangelog(t)) + " c" +
		"\nLEFT JOIN " + tableRef(t) + " t ON " + strings.Join(join, " AND ") +
		"\nWHERE c.\"RF_SEQ\" > :1" +
		"\nORDER BY c.\"RF_SEQ\""
	return limitRows(q, limit, legacy), nil
}

// triggerDeleteSQL deletes n consumed rows of t's changelog. Binds: :1..:n
// the sequence numbers (1 ≤ n ≤ maxInList: callers chunk).
func triggerDeleteSQL(o objects, t *capture.Table, n int) string {
	return deleteSeqSQL(o.ref(o.TableChangelog(t)), n)
}

// cqnDeleteSQL deletes n consumed rows of the cqn changelog. Binds: :1..:n
// the sequence numbers (1 ≤ n ≤ maxInList: callers chunk).
func cqnDeleteSQL(o objects, n int) string {
	return deleteSeqSQL(o.ref(o.Changelog), n)
}

func deleteSeqSQL(changelog string, n int) string {
	return `DELETE FROM ` + changelog + ` WHERE "RF_SEQ" IN (` + inList(n, "%s") + ")"
}

// inList is n placeholders :1..:n, each through format. An n outside
// 1..maxInList is a caller that forgot to chunk: it panics rather than
// send a statement Oracle rejects (empty list, ORA-01795).
func inList(n int, format string) string {
	if n < 1 || n > maxInList {
		panic(fmt.Sprintf("oracle: IN list of %d values (want 1 to %d)", n, maxInList))
	}
	var p placeholders
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf(format, p.next())
	}
	return strings.Join(items, ", ")
}

// cqnTableName is t as the cqn changelog's RF_TABLE names it: OWNER.TABLE
// in upper case, as CQN reports it. currentSchema is the owner of
// unqualified tables (currentSchemaSQL).
func cqnTableName(t *capture.Table, currentSchema string) string {
	owner := t.Schema
	if owner == "" {
		owner = currentSchema
	}
	return fold(owner) + "." + fold(t.Name)
}

// cqnReadSQL reads the cqn changelog for tables, plus the deregistration
// markers ('X', RF_TABLE NULL) that concern every table.
//
// Result columns: "RF_SEQ", "RF_TABLE" (upper-cased: compare it with
// cqnTableName), "RF_OP", "RF_ROWID", "RF_AT". Binds: :1 the last sequence
// read. The filter upper-cases RF_TABLE too, so a handler that stores the
// name with the case CQN reported still matches.
func cqnReadSQL(o objects, tables []*capture.Table, currentSchema string, limit int, legacy bool) string {
	filter := `"RF_OP" = 'X'`
	if len(tables) > 0 {
		names := make([]string, len(tables))
		for i, t := range tables {
			names[i] = literal(cqnTableName(t, currentSchema))
		}
		filter = `(UPPER("RF_TABLE") IN (` + strings.Join(names, ", ") + `) OR ` + filter + `)`
	}
	q := `SELECT "RF_SEQ", UPPER("RF_TABLE") AS "RF_TABLE", "RF_OP", "RF_ROWID", "RF_AT"` +
		"\nFROM " + o.ref(o.Changelog) +
		"\nWHERE \"RF_SEQ\" > :1" +
		"\n  AND " + filter +
		"\nORDER BY \"RF_SEQ\""
	return limitRows(q, limit, legacy)
}

// rowidFetchSQL reads the current rows of n ROWIDs a notification named.
// Result columns: "RF$ROWID" (the ROWID's text), then t.Columns. Binds:
// :1..:n the ROWIDs' text (1 ≤ n ≤ maxInList: callers chunk). A ROWID
// whose row is gone (or moved) returns nothing.
func rowidFetchSQL(t *capture.Table, n int) string {
	return rescanSQL(t) + "\nWHERE ROWID IN (" + inList(n, "CHARTOROWID(%s)") + ")"
}

// rescanSQL reads every row of t (cqn's ALL_ROWS marker and
// re-registration). Result columns: "RF$ROWID", then t.Columns. No binds.
func rescanSQL(t *capture.Table) string {
	return `SELECT ROWIDTOCHAR(ROWID) AS "RF$ROWID", ` + selectList(t, "") + "\nFROM " + tableRef(t)
}

// wrapTable names t in an error a builder returns.
func wrapTable(t *capture.Table, err *error) {
	if *err != nil {
		*err = fmt.Errorf("table %s: %w", tableRef(t), *err)
	}
}
