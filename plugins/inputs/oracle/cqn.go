package oracle

import (
	"fmt"
	"strings"
	"time"
)

// cqnOp is what the cqn handler recorded in RF_OP.
type cqnOp byte

const (
	cqnInsert cqnOp = 'I'
	cqnUpdate cqnOp = 'U'
	cqnDelete cqnOp = 'D'
	cqnRescan cqnOp = 'R' // ALL_ROWS, or a (re)registration: read the table whole
	cqnDereg  cqnOp = 'X' // EVENT_DEREG: the registration is gone
)

// cqnRecord is one row of the cqn changelog, as the handler wrote it.
type cqnRecord struct {
	seq   int64
	table string // OWNER.TABLE, as CQN names it; "" for a deregistration
	op    cqnOp
	rowid string // inserts, updates and deletes
	at    time.Time
}

// parseCQNRecord decodes RF_SEQ, RF_TABLE, RF_OP, RF_ROWID, RF_AT as
// go-ora returns them (NUMBER as a decimal string, CHAR(1) possibly
// blank-padded, the time with its zone).
func parseCQNRecord(row []any) (cqnRecord, error) {
	if len(row) != 5 {
		return cqnRecord{}, fmt.Errorf("record has %d columns, want 5", len(row))
	}
	var r cqnRecord
	seq, err := parseSeq(row[0])
	if err != nil {
		return r, fmt.Errorf("RF_SEQ: %w", err)
	}
	r.seq = seq
	table, _ := row[1].(string)
	code, _ := row[2].(string)
	code = strings.TrimSpace(code)
	if len(code) != 1 {
		return r, fmt.Errorf("record %d: RF_OP %q is not one of I, U, D, R, X", seq, code)
	}
	r.op = cqnOp(code[0])
	r.table = strings.TrimSpace(table)
	if rid, ok := row[3].(string); ok {
		r.rowid = strings.TrimSpace(rid)
	}
	if at, ok := row[4].(time.Time); ok {
		r.at = at
	} else {
		r.at = time.Now()
	}
	switch r.op {
	case cqnInsert, cqnUpdate, cqnDelete:
		if r.table == "" || r.rowid == "" {
			return r, fmt.Errorf("record %d: %c without a table and ROWID", seq, r.op)
		}
	case cqnRescan:
		if r.table == "" {
			return r, fmt.Errorf("record %d: rescan marker without a table", seq)
		}
	case cqnDereg:
	default:
		return r, fmt.Errorf("record %d: RF_OP %q is not one of I, U, D, R, X", seq, code)
	}
	return r, nil
}
