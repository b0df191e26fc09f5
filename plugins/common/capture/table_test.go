package capture

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// ordersFake has a table stored with mixed-case column names, as a
// database that preserves quoted names would report it.
func ordersFake() *fakeSource {
	f := newFake()
	f.addTable("Orders", "ID INTEGER", "TS TIMESTAMP", "Amount NUMERIC(12,2)", "Region VARCHAR(8)", "Category VARCHAR(16)", "Note TEXT")
	f.connected = true
	return f
}

func colNames(t *Table) (names, outs []string) {
	for _, c := range t.Columns {
		names = append(names, c.Name)
		outs = append(outs, c.Out)
	}
	return
}

func TestResolveColumns(t *testing.T) {
	for _, tc := range []struct {
		name       string
		tc         TableConfig
		inputCase  string
		wantNames  []string
		wantOuts   []string
		wantKey    []int
		wantTS     int
		wantTags   []string // Out names of tag columns, in tag order
		wantEvName string
	}{
		{
			name:      "columns default to all, in table order, lower-cased",
			tc:        TableConfig{Name: "orders", Key: []string{"id"}},
			inputCase: "lower",
			wantNames: []string{"ID", "TS", "Amount", "Region", "Category", "Note"},
			wantOuts:  []string{"id", "ts", "amount", "region", "category", "note"},
			wantKey:   []int{0}, wantTS: -1, wantEvName: "orders",
		},
		{
			name:      "configured subset; key, timestamp and tags added although not listed",
			tc:        TableConfig{Name: "orders", Key: []string{"id"}, Columns: []string{"amount"}, TimestampColumn: "ts", Tags: []string{"region"}},
			inputCase: "lower",
			wantNames: []string{"Amount", "ID", "TS", "Region"},
			wantOuts:  []string{"amount", "id", "ts", "region"},
			wantKey:   []int{1}, wantTS: 2, wantTags: []string{"region"}, wantEvName: "orders",
		},
		{
			name:      "columns listed and also key/tag are not duplicated; names match case-insensitively",
			tc:        TableConfig{Name: "ORDERS", Key: []string{"Id", "REGION"}, Columns: []string{"region", "id", "AMOUNT"}, TimestampColumn: "Ts", Tags: []string{"Region", "category"}},
			inputCase: "lower",
			wantNames: []string{"Region", "ID", "Amount", "TS", "Category"},
			wantOuts:  []string{"region", "id", "amount", "ts", "category"},
			wantKey:   []int{1, 0}, wantTS: 3, wantTags: []string{"category", "region"}, wantEvName: "orders",
		},
		{
			name:      "column_case preserve at input level",
			tc:        TableConfig{Name: "Orders", Key: []string{"id"}, Columns: []string{"amount"}, Tags: []string{"region"}},
			inputCase: "preserve",
			wantNames: []string{"Amount", "ID", "Region"},
			wantOuts:  []string{"Amount", "ID", "Region"},
			wantKey:   []int{1}, wantTS: -1, wantTags: []string{"Region"}, wantEvName: "Orders",
		},
		{
			name:      "table column_case preserve overrides input lower",
			tc:        TableConfig{Name: "Orders", Key: []string{"id"}, Columns: []string{"amount"}, ColumnCase: "preserve"},
			inputCase: "lower",
			wantNames: []string{"Amount", "ID"},
			wantOuts:  []string{"Amount", "ID"},
			wantKey:   []int{1}, wantTS: -1, wantEvName: "Orders",
		},
		{
			name:      "table column_case lower overrides input preserve",
			tc:        TableConfig{Name: "Orders", Key: []string{"id"}, Columns: []string{"amount"}, ColumnCase: "lower"},
			inputCase: "preserve",
			wantNames: []string{"Amount", "ID"},
			wantOuts:  []string{"amount", "id"},
			wantKey:   []int{1}, wantTS: -1, wantEvName: "orders",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb, err := resolve(context.Background(), ordersFake(), tc.tc, tc.inputCase)
			if err != nil {
				t.Fatal(err)
			}
			names, outs := colNames(tb)
			if !slices.Equal(names, tc.wantNames) || !slices.Equal(outs, tc.wantOuts) {
				t.Errorf("columns = %v / %v, want %v / %v", names, outs, tc.wantNames, tc.wantOuts)
			}
			if !slices.Equal(tb.KeyIdx, tc.wantKey) || tb.TSIdx != tc.wantTS {
				t.Errorf("KeyIdx %v TSIdx %d, want %v %d", tb.KeyIdx, tb.TSIdx, tc.wantKey, tc.wantTS)
			}
			var tags []string
			for _, i := range tb.tagOrder {
				tags = append(tags, tb.Columns[i].Out)
			}
			if !slices.Equal(tags, tc.wantTags) {
				t.Errorf("tags = %v, want %v", tags, tc.wantTags)
			}
			for _, c := range tb.Columns {
				if c.Tag != slices.Contains(tc.wantTags, c.Out) {
					t.Errorf("column %s Tag=%v", c.Name, c.Tag)
				}
			}
			if len(tb.tagOrder)+len(tb.fieldOrder) != len(tb.Columns) {
				t.Errorf("tag order %v + field order %v do not cover %d columns", tb.tagOrder, tb.fieldOrder, len(tb.Columns))
			}
			if tb.EventName != tc.wantEvName {
				t.Errorf("EventName = %q, want %q", tb.EventName, tc.wantEvName)
			}
			if tb.Name != "Orders" && tb.Name != "orders" && tb.Name != "ORDERS" {
				t.Errorf("Name = %q", tb.Name)
			}
		})
	}
}

func TestResolveColumnTypes(t *testing.T) {
	tb, err := resolve(context.Background(), ordersFake(), TableConfig{Name: "orders", Key: []string{"id"}, Columns: []string{"amount"}}, "lower")
	if err != nil {
		t.Fatal(err)
	}
	if tb.Columns[0].Type != "NUMERIC(12,2)" || tb.Columns[1].Type != "INTEGER" {
		t.Fatalf("types not carried: %+v", tb.Columns)
	}
}

func TestResolveSchemaQualified(t *testing.T) {
	f := newFake()
	f.addTable("shop.orders", "id", "amount")
	f.connected = true
	tb, err := resolve(context.Background(), f, TableConfig{Name: "shop.orders", Key: []string{"id"}}, "lower")
	if err != nil {
		t.Fatal(err)
	}
	if tb.Schema != "shop" || tb.Name != "orders" || tb.EventName != "orders" {
		t.Fatalf("schema %q name %q event %q", tb.Schema, tb.Name, tb.EventName)
	}
}

func TestResolveMissing(t *testing.T) {
	for _, tc := range []struct {
		name string
		tc   TableConfig
		want []string // substrings of the message
	}{
		{"missing table", TableConfig{Name: "nosuch", Key: []string{"id"}}, []string{"nosuch"}},
		{"missing column", TableConfig{Name: "orders", Key: []string{"id"}, Columns: []string{"amount", "colour"}}, []string{"orders", "columns", `"colour"`}},
		{"missing key", TableConfig{Name: "orders", Key: []string{"order_id"}}, []string{"orders", "key", `"order_id"`}},
		{"missing timestamp", TableConfig{Name: "orders", Key: []string{"id"}, TimestampColumn: "updated_at"}, []string{"orders", "timestamp_column", `"updated_at"`}},
		{"missing tag", TableConfig{Name: "orders", Key: []string{"id"}, Tags: []string{"currency"}}, []string{"orders", "tags", `"currency"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := resolve(context.Background(), ordersFake(), tc.tc, "lower")
			if err == nil {
				t.Fatal("resolved")
			}
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("error %q does not wrap ErrNotFound", err)
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %s", err, s)
				}
			}
		})
	}
}

func TestEventTagsSortedAndNullTagsDropped(t *testing.T) {
	// Tags listed out of order, stored in yet another order.
	tb, err := resolve(context.Background(), ordersFake(),
		TableConfig{Name: "orders", Key: []string{"id"}, Tags: []string{"region", "note", "category"}}, "lower")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	row := func(id int64, region, category, note any) []any {
		return project(&fakeTable{columns: ordersFake().tables["orders"].columns}, tb, []any{id, at, 1.5, region, category, note})
	}
	var b builder
	b.reset(tb, 3)
	evs := []sdk.Event{
		b.event(tb, sdk.OpInsert, row(1, "eu", "books", "x"), at),
		b.event(tb, sdk.OpUpdate, row(2, nil, "games", nil), at),
		b.event(tb, sdk.OpDelete, row(3, "us", nil, "y"), at),
	}
	want := [][]sdk.Tag{
		{{Key: "category", Value: "books"}, {Key: "note", Value: "x"}, {Key: "region", Value: "eu"}},
		{{Key: "category", Value: "games"}},
		{{Key: "note", Value: "y"}, {Key: "region", Value: "us"}},
	}
	for i, ev := range evs {
		if !slices.Equal(ev.Tags, want[i]) {
			t.Errorf("event %d tags = %v, want %v", i, ev.Tags, want[i])
		}
		if !slices.IsSortedFunc(ev.Tags, func(a, b sdk.Tag) int { return strings.Compare(a.Key, b.Key) }) {
			t.Errorf("event %d tags not sorted: %v", i, ev.Tags)
		}
		var keys []string
		for _, f := range ev.Fields {
			keys = append(keys, f.Key)
		}
		if !slices.Equal(keys, []string{"id", "ts", "amount"}) {
			t.Errorf("event %d fields = %v", i, keys)
		}
		if ev.Name != "orders" || ev.Time != at {
			t.Errorf("event %d name %q time %v", i, ev.Name, ev.Time)
		}
	}
	if evs[0].Op != sdk.OpInsert || evs[1].Op != sdk.OpUpdate || evs[2].Op != sdk.OpDelete {
		t.Errorf("ops %v %v %v", evs[0].Op, evs[1].Op, evs[2].Op)
	}
	// Events of one batch do not share tag or field storage.
	evs[0].Tags[0].Value = "changed"
	evs[0].Fields[0].Value = int64(99)
	if evs[1].Tags[0].Value != "games" || evs[1].Fields[0].Value != int64(2) {
		t.Error("events share tag/field storage")
	}
}

func TestTagText(t *testing.T) {
	at := time.Date(2024, 5, 1, 14, 0, 0, 5, time.FixedZone("", 2*3600))
	for _, tc := range []struct {
		in   any
		want string
		ok   bool
	}{
		{nil, "", false},
		{"eu", "eu", true},
		{int64(-42), "-42", true},
		{1.25, "1.25", true},
		{true, "true", true},
		{[]byte{0xca, 0xfe}, "cafe", true},
		{at, "2024-05-01T12:00:00.000000005Z", true},
	} {
		got, ok := tagText(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("tagText(%#v) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestEngineEventsCarryResolvedShape(t *testing.T) {
	// End to end through the polling strategy: preserve case on the table,
	// tags sorted, NULL tag omitted.
	f := ordersFake()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	f.insert("Orders",
		[]any{int64(1), base, 10.0, "eu", "books", nil},
		[]any{int64(2), base.Add(time.Second), 11.0, nil, "games", nil},
	)
	cfg := testConfig("polling", TableConfig{Name: "Orders", Key: []string{"id"}, TimestampColumn: "ts",
		Columns: []string{"amount"}, Tags: []string{"region", "category"}, ColumnCase: "preserve"})
	rec := newRec()
	start(t, newEngine(t, cfg, f, sdk.Env{}), nil, rec)
	evs := rec.waitEvents(t, 2)
	if evs[0].Name != "Orders" {
		t.Errorf("name %q", evs[0].Name)
	}
	if want := []sdk.Tag{{Key: "Category", Value: "books"}, {Key: "Region", Value: "eu"}}; !slices.Equal(evs[0].Tags, want) {
		t.Errorf("tags %v, want %v", evs[0].Tags, want)
	}
	if want := []sdk.Tag{{Key: "Category", Value: "games"}}; !slices.Equal(evs[1].Tags, want) {
		t.Errorf("tags %v, want %v", evs[1].Tags, want)
	}
	if v, _ := evs[1].Field("Amount"); v != 11.0 {
		t.Errorf("Amount = %v", v)
	}
	if _, ok := evs[1].Field("Note"); ok {
		t.Error("unlisted column captured")
	}
}

// pseudoFake adds a pseudo column, as Oracle's cqn adds ROWID.
type pseudoFake struct{ *fakeSource }

func (p pseudoFake) PseudoColumns() []ColumnInfo { return []ColumnInfo{{Name: "ROWID", Type: "ROWID"}} }

func TestResolveAddsPseudoColumnsWhateverColumnsSays(t *testing.T) {
	for _, cols := range [][]string{nil, {"amount"}} {
		tbl, err := resolve(context.Background(), pseudoFake{ordersFake()}, TableConfig{Name: "orders", Key: []string{"id"}, Columns: cols}, "lower")
		if err != nil {
			t.Fatal(err)
		}
		names, outs := colNames(tbl)
		if !slices.Contains(names, "ROWID") || !slices.Contains(outs, "rowid") {
			t.Errorf("columns %v: got %v / %v, want the ROWID pseudo column captured as rowid", cols, names, outs)
		}
	}
}

// tableOptsFake honours the optional per-table keys.
type tableOptsFake struct{ *fakeSource }

func (tableOptsFake) TableOptions() []string { return []string{"decimal", "where"} }

func TestOptionalTableKeysNeedADialectThatHonoursThem(t *testing.T) {
	for _, tc := range []struct {
		name    string
		table   TableConfig
		honours bool
		wantErr string
	}{
		{"decimal on a dialect without it", TableConfig{Name: "orders", Key: []string{"id"}, Decimal: "string"}, false, "tables[0] (orders).decimal: not supported by fake"},
		{"where on a dialect without it", TableConfig{Name: "orders", Key: []string{"id"}, Where: "id > 1"}, false, "tables[0] (orders).where: not supported by fake"},
		{"both where honoured", TableConfig{Name: "orders", Key: []string{"id"}, Decimal: "string", Where: "id > 1"}, true, ""},
		{"bad decimal value", TableConfig{Name: "orders", Key: []string{"id"}, Decimal: "exact"}, true, `tables[0] (orders).decimal: must be "number" or "string", got "exact"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Tables = []TableConfig{tc.table}
			var src Source = ordersFake()
			if tc.honours {
				src = tableOptsFake{ordersFake()}
			}
			_, err := NewEngine(&cfg, src, sdk.Env{})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}
