package capture

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrNotFound marks a missing table or column: a setup problem that
// retrying will not fix.
var ErrNotFound = errors.New("not found")

// ErrBadData marks source data the dialect cannot decode (a corrupt
// changelog row). Capture stops with the error rather than skipping the
// change or retrying forever.
var ErrBadData = errors.New("undecodable source data")

// Column is a captured column.
type Column struct {
	Name string // as stored in the database (quote this)
	Out  string // name in emitted events
	Type string
	Tag  bool
}

// Table is a configured table resolved against the source.
type Table struct {
	Config    TableConfig
	Schema    string
	Name      string // as stored in the database
	EventName string
	Columns   []Column
	// KeyIdx and TSIdx index Columns; TSIdx is -1 without a timestamp column.
	KeyIdx []int
	TSIdx  int
	// tagOrder lists tag column indexes sorted by output name, so events
	// get sorted tags without sorting per event.
	tagOrder   []int
	fieldOrder []int
}

// resolve matches a table's configuration with the source's columns.
// Names match case-insensitively, as the databases fold unquoted names.
func resolve(ctx context.Context, src Source, tc TableConfig, columnCase string) (*Table, error) {
	if tc.ColumnCase != "" {
		columnCase = tc.ColumnCase
	}
	schema, name, err := SplitTable(tc.Name)
	if err != nil {
		return nil, err
	}
	out := func(s string) string {
		if columnCase == "preserve" {
			return s
		}
		return strings.ToLower(s)
	}
	cols, err := src.Describe(ctx, schema, name)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", tc.Name, err)
	}
	eventName := out(name)
	if n, ok := src.(TableNamer); ok {
		schema, name = n.StoredName(schema, name)
	}
	byName := map[string]ColumnInfo{}
	for _, c := range cols {
		byName[strings.ToLower(c.Name)] = c
	}
	find := func(key, col string) (ColumnInfo, error) {
		c, ok := byName[strings.ToLower(col)]
		if !ok {
			return ColumnInfo{}, fmt.Errorf("table %s: %s column %q: %w", tc.Name, key, col, ErrNotFound)
		}
		return c, nil
	}
	t := &Table{Config: tc, Schema: schema, Name: name, EventName: eventName, TSIdx: -1}
	index := map[string]int{}
	add := func(c ColumnInfo) int {
		k := strings.ToLower(c.Name)
		if i, ok := index[k]; ok {
			return i
		}
		index[k] = len(t.Columns)
		t.Columns = append(t.Columns, Column{Name: c.Name, Out: out(c.Name), Type: c.Type})
		return index[k]
	}
	if len(tc.Columns) == 0 {
		for _, c := range cols {
			add(c)
		}
	} else {
		for _, col := range tc.Columns {
			c, err := find("columns", col)
			if err != nil {
				return nil, err
			}
			add(c)
		}
	}
	// Key, timestamp and tag columns are always captured, listed or not.
	for _, col := range tc.Key {
		c, err := find("key", col)
		if err != nil {
			return nil, err
		}
		t.KeyIdx = append(t.KeyIdx, add(c))
	}
	if pc, ok := src.(PseudoColumner); ok {
		for _, c := range pc.PseudoColumns() {
			add(c)
		}
	}
	if tc.TimestampColumn != "" {
		c, err := find("timestamp_column", tc.TimestampColumn)
		if err != nil {
			return nil, err
		}
		t.TSIdx = add(c)
	}
	for _, col := range tc.Tags {
		c, err := find("tags", col)
		if err != nil {
			return nil, err
		}
		t.Columns[add(c)].Tag = true
	}
	for i, c := range t.Columns {
		if c.Tag {
			t.tagOrder = append(t.tagOrder, i)
		} else {
			t.fieldOrder = append(t.fieldOrder, i)
		}
	}
	sort.SliceStable(t.tagOrder, func(a, b int) bool { return t.Columns[t.tagOrder[a]].Out < t.Columns[t.tagOrder[b]].Out })
	return t, nil
}
