package oracle

import (
	"strings"

	"github.com/rowflux/rowflux/plugins/common/capture"
)

// quote makes a quoted identifier. Identifiers from configuration are
// validated by capture.ValidIdent before they get here; doubling quotes
// keeps a name read back from the dictionary safe as well.
func quote(ident string) string { return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"` }

// literal makes a SQL string literal.
func literal(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

// fold is the name Oracle stores for an unquoted identifier.
func fold(ident string) string { return strings.ToUpper(ident) }

// objects names what setup installs for one input. Oracle folds unquoted
// names to upper case, so every object is created with an upper-case
// quoted name: a DBA can type it unquoted.
type objects struct {
	// Schema holds the changelogs, the sequence and the handler: "", the
	// connecting user's own schema. Captured tables may live elsewhere;
	// keeping the capture objects with the capture user means it needs no
	// CREATE ANY privilege but CREATE ANY TRIGGER (for triggers on others'
	// tables), and the CQN handler and its grants stay with the user that
	// registers it.
	Schema    string
	Changelog string // the changelog_table setting, folded
}

func newObjects(changelog string) objects {
	return objects{Changelog: fold(changelog)}
}

// ref qualifies name with the objects' schema when there is one.
func (o objects) ref(name string) string {
	if o.Schema == "" {
		return quote(name)
	}
	return quote(o.Schema) + "." + quote(name)
}

// Sequence numbers every changelog row (trigger and cqn).
func (o objects) Sequence() string { return o.Changelog + "_SEQ" }

// TableChangelog is the trigger strategy's changelog of one table: its key
// columns are copied from the table (CREATE TABLE ... AS SELECT), so keys
// keep their exact type and no conversion depends on session NLS settings.
func (o objects) TableChangelog(t *capture.Table) string { return o.Changelog + "$" + fold(t.Name) }

// Trigger is the trigger strategy's row trigger on t.
func (o objects) Trigger(t *capture.Table) string { return o.Changelog + "$" + fold(t.Name) + "$T" }

// Handler is the cqn strategy's PL/SQL notification handler.
func (o objects) Handler() string { return o.Changelog + "$CQN" }

// Alert is the DBMS_ALERT name the handler signals (at most 30 bytes).
func (o objects) Alert() string {
	if len(o.Changelog) > 30 {
		return o.Changelog[:30]
	}
	return o.Changelog
}

// tableRef is a captured table's name in SQL.
func tableRef(t *capture.Table) string {
	if t.Schema == "" {
		return quote(t.Name)
	}
	return quote(t.Schema) + "." + quote(t.Name)
}
