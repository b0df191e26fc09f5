package oracle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rowflux/rowflux/plugins/common/capture"
	"github.com/rowflux/rowflux/sdk"
)

// Strategy logic of the dialect, driven through the capture engine's
// dialect interfaces against the scripted "oracle-fake" driver
// (fakedb_test.go). The fake is NOT Oracle: it answers by substring and
// records what was sent, so these tests assert what the dialect sends and
// how it interprets the answers, never that the SQL runs.

// ---- fixtures --------------------------------------------------------

// newSrc is a source as Init would build it for strategy st.
func newSrc(st capture.Strategy) *source {
	return &source{strategy: st, changelog: "rowflux_changelog", bounded: true, cqnMode: "object", echo: func(sdk.Statement) {}}
}

// describeAnswer answers describeSQL (:1 owner, :2 table) from stored
// tables keyed "OWNER.TABLE" (exact spelling), each a list of {name, type}.
func describeAnswer(stored map[string][][2]string) func([]any) ([]string, [][]any, error) {
	return func(args []any) ([]string, [][]any, error) {
		owner, _ := args[0].(string)
		name, _ := args[1].(string)
		var rows [][]any
		for _, c := range stored[owner+"."+name] {
			rows = append(rows, []any{c[0], c[1]})
		}
		return []string{"COLUMN_NAME", "TYPE"}, rows, nil
	}
}

// payments is a polled table: NUMBER key, scaled NUMBER, timestamp of tsType.
func payments(tsType string) *capture.Table {
	return &capture.Table{
		Config: capture.TableConfig{Name: "shop.payments", Key: []string{"id"}, TimestampColumn: "ts"},
		Schema: "SHOP", Name: "PAYMENTS", EventName: "payments",
		Columns: []capture.Column{col("ID", "NUMBER(19,0)"), col("AMOUNT", "NUMBER(12,2)"), col("TS", tsType)},
		KeyIdx:  []int{0}, TSIdx: 2,
	}
}

// orders is unqualified with a NUMBER key (trigger and cqn).
func orders() *capture.Table {
	return &capture.Table{
		Config: capture.TableConfig{Name: "orders", Key: []string{"id"}},
		Name:   "ORDERS", EventName: "orders",
		Columns: []capture.Column{col("ID", "NUMBER(19,0)"), col("AMOUNT", "NUMBER(12,2)"), col("NOTE", "VARCHAR2(20)")},
		KeyIdx:  []int{0}, TSIdx: -1,
	}
}

// items is schema-qualified with a text key.
func items() *capture.Table {
	return &capture.Table{
		Config: capture.TableConfig{Name: "shop.items", Key: []string{"sku"}},
		Schema: "SHOP", Name: "ITEMS", EventName: "items",
		Columns: []capture.Column{col("SKU", "VARCHAR2(10)"), col("QTY", "NUMBER(10,0)")},
		KeyIdx:  []int{0}, TSIdx: -1,
	}
}

// statementsFrom is what was sent from index mark on.
func statementsFrom(f *fakeDB, mark int) []fakeCall { return f.sent()[mark:] }

// recorder is an sdk.Emitter keeping what it is given.
type recorder struct {
	mu        sync.Mutex
	batches   []sdk.Batch
	positions []sdk.Position
}

func (r *recorder) Emit(_ context.Context, b sdk.Batch, pos sdk.Position) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, append(sdk.Batch(nil), b...))
	r.positions = append(r.positions, pos)
	return nil
}

func (r *recorder) events() []sdk.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sdk.Event
	for _, b := range r.batches {
		out = append(out, b...)
	}
	return out
}

// run runs e until done holds (polled), then cancels it.
func run(t *testing.T, e *capture.Engine, done func(*recorder) bool) *recorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rec := &recorder{}
	errc := make(chan error, 1)
	go func() { errc <- e.Run(ctx, nil, rec) }()
	deadline := time.Now().Add(5 * time.Second)
	for !done(rec) {
		select {
		case err := <-errc:
			cancel()
			t.Fatalf("Run returned early: %v (emitted %v)", err, rec.events())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			<-errc
			t.Fatalf("timed out; emitted %v", rec.events())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rec
}

func field(t *testing.T, ev sdk.Event, key string) any {
	t.Helper()
	v, ok := ev.Field(key)
	if !ok {
		t.Fatalf("event %+v has no field %q", ev, key)
	}
	return v
}

// ---- 1. Describe -----------------------------------------------------

func TestDescribe(t *testing.T) {
	stored := map[string][][2]string{
		"APP.ORDERS":   {{"ID", "NUMBER(19,0)"}, {"AMOUNT", "NUMBER(12,2)"}},
		"APP.lower":    {{"k", "NUMBER"}},
		"SHOP.ITEMS":   {{"SKU", "VARCHAR2(10)"}},
		"Mixed.Quoted": {{"Id", "RAW(16)"}},
	}
	cases := []struct {
		name          string
		schema, table string
		wantCols      []capture.ColumnInfo
		wantStored    [2]string
		wantQueries   [][2]string // (owner, table) describe queries, in order
		notFound      bool
	}{
		{
			name: "lower-case config finds the folded name", table: "orders",
			wantCols:    []capture.ColumnInfo{{Name: "ID", Type: "NUMBER(19,0)"}, {Name: "AMOUNT", Type: "NUMBER(12,2)"}},
			wantStored:  [2]string{"", "ORDERS"},
			wantQueries: [][2]string{{"APP", "orders"}, {"APP", "ORDERS"}},
		},
		{
			name: "exact stored lower-case name wins", table: "lower",
			wantCols:    []capture.ColumnInfo{{Name: "k", Type: "NUMBER"}},
			wantStored:  [2]string{"", "lower"},
			wantQueries: [][2]string{{"APP", "lower"}},
		},
		{
			name: "lower-case schema and table fold", schema: "shop", table: "items",
			wantCols:    []capture.ColumnInfo{{Name: "SKU", Type: "VARCHAR2(10)"}},
			wantStored:  [2]string{"SHOP", "ITEMS"},
			wantQueries: [][2]string{{"shop", "items"}, {"shop", "ITEMS"}, {"SHOP", "items"}, {"SHOP", "ITEMS"}},
		},
		{
			name: "quoted mixed case found as written", schema: "Mixed", table: "Quoted",
			wantCols:    []capture.ColumnInfo{{Name: "Id", Type: "RAW(16)"}},
			wantStored:  [2]string{"Mixed", "Quoted"},
			wantQueries: [][2]string{{"Mixed", "Quoted"}},
		},
		{
			name: "missing table", table: "nope", notFound: true,
			wantStored:  [2]string{"", "nope"},
			wantQueries: [][2]string{{"APP", "nope"}, {"APP", "NOPE"}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := newSrc(capture.Trigger)
			f := newFakeDB(t, src)
			f.on("ALL_TAB_COLS", describeAnswer(stored))
			cols, err := src.Describe(context.Background(), c.schema, c.table)
			if c.notFound {
				if !errors.Is(err, capture.ErrNotFound) {
					t.Fatalf("err = %v, want one wrapping capture.ErrNotFound", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cols, c.wantCols) {
				t.Errorf("columns = %v, want %v", cols, c.wantCols)
			}
			var got [][2]string
			for _, q := range f.sentContaining("ALL_TAB_COLS") {
				got = append(got, [2]string{q.args[0].(string), q.args[1].(string)})
			}
			if !reflect.DeepEqual(got, c.wantQueries) {
				t.Errorf("describe queries (owner, table) = %v, want %v", got, c.wantQueries)
			}
			s, n := src.StoredName(c.schema, c.table)
			if [2]string{s, n} != c.wantStored {
				t.Errorf("StoredName(%q, %q) = (%q, %q), want %q", c.schema, c.table, s, n, c.wantStored)
			}
		})
	}
}

// The engine resolves a lower-case configured table to the stored name
// and quotes that in what it sends.
func TestDescribeThroughEngine(t *testing.T) {
	src := newSrc(capture.CommitOrder)
	f := newFakeDB(t, src)
	f.on("ALL_TAB_COLS", describeAnswer(map[string][][2]string{"APP.ITEMS": {{"ID", "NUMBER(19,0)"}, {"NAME", "VARCHAR2(20)"}}}))
	cfg := capture.DefaultConfig()
	cfg.Strategy = "rowscn"
	cfg.Tables = []capture.TableConfig{{Name: "items", Key: []string{"id"}}}
	e, err := capture.NewEngine(&cfg, src, sdk.Env{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	checks, err := e.Doctor(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) < 2 || !checks[1].OK {
		t.Fatalf("table check: %+v", checks)
	}
	tb := e.Tables()[0]
	if tb.Schema != "" || tb.Name != "ITEMS" || tb.EventName != "items" {
		t.Errorf("resolved (%q, %q, event %q), want (\"\", ITEMS, items)", tb.Schema, tb.Name, tb.EventName)
	}
	if len(f.sentContaining(`FROM "ITEMS"`)) == 0 {
		t.Errorf("no statement quotes the stored name \"ITEMS\"")
	}
	if n := len(f.sentContaining(`"items"`)); n != 0 {
		t.Errorf("%d statements quote the configured spelling \"items\"", n)
	}
}

// ---- 2. PollPage -----------------------------------------------------

func TestPollPage(t *testing.T) {
	const wall, tz = "2024-05-06 07:08:09.123456789", "+02:00"
	ts1 := time.Date(2024, 5, 6, 7, 0, 0, 0, time.FixedZone("", 7200))
	ts2 := ts1.Add(time.Second)
	cases := []struct {
		name      string
		tsType    string
		after     []any
		wantUpper string
	}{
		{"timestamp first page", "TIMESTAMP(6)", nil, wall},
		{"timestamp after cursor", "TIMESTAMP(6)", []any{"2024-05-06 06:00:00.000000000", "6"}, wall},
		{"date after cursor", "DATE", []any{"2024-05-06 06:00:00", "6"}, wall},
		{"timestamp with time zone after cursor", "TIMESTAMP(6) WITH TIME ZONE", []any{"2024-05-06 06:00:00.000000000 +02:00", "6"}, wall + " " + tz},
		{"timestamp with local time zone first page", "TIMESTAMP(6) WITH LOCAL TIME ZONE", nil, wall + " " + tz},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := newSrc(capture.Polling)
			f := newFakeDB(t, src)
			f.on("NUMTODSINTERVAL", rowsOf([]string{"W", "Z"}, []any{wall, tz}))
			f.on(`FROM "SHOP"."PAYMENTS"`, rowsOf([]string{"ID", "AMOUNT", "TS", "RF$C0", "RF$C1"},
				[]any{"7", "12.50", ts1, "2024-05-06 07:00:00.000000000", "7"},
				[]any{"8", "3", ts2, "2024-05-06 07:00:01.000000000", "8"},
			))
			up, err := src.PollUpper(context.Background(), 1500*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if q := f.sentContaining("NUMTODSINTERVAL"); len(q) != 1 || !reflect.DeepEqual(q[0].args, []any{1.5}) {
				t.Errorf("PollUpper sent %v, want one query with args [1.5] (lag seconds)", q)
			}
			tb := payments(c.tsType)
			page, err := src.PollPage(context.Background(), tb, c.after, up, 10)
			if err != nil {
				t.Fatal(err)
			}
			q := f.sentContaining(`FROM "SHOP"."PAYMENTS"`)
			if len(q) != 1 {
				t.Fatalf("%d page queries, want 1", len(q))
			}
			want := []any{c.wantUpper}
			if c.after != nil {
				want = append(want, c.after[0], c.after[0], c.after[1]) // ts, ts, key
			}
			if !reflect.DeepEqual(q[0].args, want) {
				t.Errorf("args = %#v, want %#v", q[0].args, want)
			}
			wantRows := [][]any{{int64(7), 12.5, ts1}, {int64(8), 3.0, ts2}}
			if !reflect.DeepEqual(page.Rows, wantRows) {
				t.Errorf("rows = %#v, want %#v", page.Rows, wantRows)
			}
			if wantCur := []any{"2024-05-06 07:00:01.000000000", "8"}; !reflect.DeepEqual(page.Cursor, wantCur) {
				t.Errorf("cursor = %#v, want the last row's raw RF$C values %#v", page.Cursor, wantCur)
			}
		})
	}
	t.Run("composite key binds ts, ts, k1, k1, k2", func(t *testing.T) {
		src := newSrc(capture.Polling)
		f := newFakeDB(t, src)
		f.on("NUMTODSINTERVAL", rowsOf([]string{"W", "Z"}, []any{wall, tz}))
		tb := ordersTable() // (REGION CHAR(2), ORDER_NO NUMBER(19,0)), CHANGED_AT TSTZ
		up, err := src.PollUpper(context.Background(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.PollPage(context.Background(), tb, []any{"T", "EU", "42"}, up, 10); err != nil {
			t.Fatal(err)
		}
		q := f.sentContaining(`FROM "ORDERS"`)
		if want := []any{wall + " " + tz, "T", "T", "EU", "EU", "42"}; len(q) != 1 || !reflect.DeepEqual(q[0].args, want) {
			t.Errorf("sent %v, want one query with args %v", q, want)
		}
	})
	t.Run("bad NUMBER is bad data", func(t *testing.T) {
		src := newSrc(capture.Polling)
		f := newFakeDB(t, src)
		f.on(`FROM "SHOP"."PAYMENTS"`, rowsOf([]string{"ID", "AMOUNT", "TS", "RF$C0", "RF$C1"},
			[]any{"7", "12,50", ts1, "x", "7"}))
		_, err := src.PollPage(context.Background(), payments("TIMESTAMP(6)"), nil, upper{wall, tz}, 10)
		if !errors.Is(err, capture.ErrBadData) {
			t.Errorf("err = %v, want one wrapping capture.ErrBadData", err)
		}
	})
}

// The engine passes a page's cursor back as the next page's binds
// unchanged: the raw text the server formatted, not the event values.
func TestPollingEngineCursorRoundTrip(t *testing.T) {
	const wall = "2024-05-06 07:08:09.123456789"
	ts := time.Date(2024, 5, 6, 7, 0, 0, 0, time.FixedZone("", 7200))
	src := newSrc(capture.Polling)
	f := newFakeDB(t, src)
	f.on("ALL_TAB_COLS", describeAnswer(map[string][][2]string{"APP.PAYMENTS": {{"ID", "NUMBER(19,0)"}, {"AMOUNT", "NUMBER(12,2)"}, {"TS", "TIMESTAMP(6)"}}}))
	f.on("NUMTODSINTERVAL", rowsOf([]string{"W", "Z"}, []any{wall, "+02:00"}))
	cols := []string{"ID", "AMOUNT", "TS", "RF$C0", "RF$C1"}
	f.on(`FROM "PAYMENTS"`, func(args []any) ([]string, [][]any, error) {
		switch {
		case len(args) == 1:
			return cols, [][]any{
				{"1", "1.10", ts, "2024-05-06 07:00:00.000000000", "1"},
				{"2", "2.20", ts, "2024-05-06 07:00:00.000000000", "2"},
			}, nil
		case args[1] == "2024-05-06 07:00:00.000000000" && args[3] == "2":
			return cols, [][]any{{"3", "3.30", ts.Add(time.Second), "2024-05-06 07:00:01.000000000", "3"}}, nil
		}
		return cols, nil, nil
	})
	cfg := capture.DefaultConfig()
	cfg.Strategy = "polling"
	cfg.BatchSize = 2
	cfg.PollInterval = sdk.Duration(10 * time.Millisecond)
	cfg.Tables = []capture.TableConfig{{Name: "payments", Key: []string{"id"}, TimestampColumn: "ts"}}
	e, err := capture.NewEngine(&cfg, src, sdk.Env{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	rec := run(t, e, func(r *recorder) bool { return len(r.events()) >= 3 })
	var ids []any
	for _, ev := range rec.events() {
		ids = append(ids, field(t, ev, "id"))
	}
	if want := []any{int64(1), int64(2), int64(3)}; !reflect.DeepEqual(ids, want) {
		t.Errorf("ids = %v, want %v", ids, want)
	}
	pages := f.sentContaining(`FROM "PAYMENTS"`)
	if len(pages) < 2 {
		t.Fatalf("%d page queries", len(pages))
	}
	if want := []any{wall, "2024-05-06 07:00:00.000000000", "2024-05-06 07:00:00.000000000", "2"}; !reflect.DeepEqual(pages[1].args, want) {
		t.Errorf("second page args = %#v, want %#v", pages[1].args, want)
	}
}

// ---- 3. rowscn: Horizon, Changed, engine -----------------------------

func TestHorizon(t *testing.T) {
	cases := []struct {
		answer any
		want   uint64
		bad    bool
	}{
		{"12345678901234", 12345678901234, false},
		{" 42 ", 42, false},
		{"18446744073709551615", 18446744073709551615, false},
		{int64(7), 7, false},
		{"1.5", 0, true},
		{"-3", 0, true},
		{nil, 0, true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%#v", c.answer), func(t *testing.T) {
			src := newSrc(capture.CommitOrder)
			f := newFakeDB(t, src)
			f.on("CURRENT_SCN", rowsOf([]string{"CURRENT_SCN"}, []any{c.answer}))
			h, err := src.Horizon(context.Background())
			if c.bad {
				if err == nil {
					t.Errorf("Horizon = %d, want an error", h)
				}
				return
			}
			if err != nil || h != c.want {
				t.Errorf("Horizon = %d, %v; want %d", h, err, c.want)
			}
		})
	}
}

func TestChanged(t *testing.T) {
	// REGION CHAR(2) + ORDER_NO NUMBER(19,0) key, TOTAL unconstrained NUMBER.
	tb := &capture.Table{
		Config: capture.TableConfig{Name: "orders", Key: []string{"region", "order_no"}},
		Name:   "ORDERS", EventName: "orders",
		Columns: []capture.Column{col("REGION", "CHAR(2)"), col("ORDER_NO", "NUMBER(19,0)"), col("TOTAL", "NUMBER")},
		KeyIdx:  []int{0, 1}, TSIdx: -1,
	}
	rows := rowsOf([]string{"REGION", "ORDER_NO", "TOTAL", "RF$V", "RF$C0", "RF$C1"},
		[]any{"EU", "7", "1.5", "150", "EU", "7"},
		[]any{"EU", "8", "20", "250", "EU", "8"}, // above high: still returned
	)
	cases := []struct {
		name     string
		after    []any
		wantArgs []any
	}{
		{"first page", nil, []any{int64(100)}},
		{"after a key cursor", []any{"EU", "6"}, []any{int64(100), "EU", "EU", "6"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := newSrc(capture.CommitOrder)
			f := newFakeDB(t, src)
			f.on(`FROM "ORDERS"`, rows)
			vp, err := src.Changed(context.Background(), tb, 100, 200, c.after, 10)
			if err != nil {
				t.Fatal(err)
			}
			q := f.sentContaining(`FROM "ORDERS"`)
			if len(q) != 1 || !reflect.DeepEqual(q[0].args, c.wantArgs) {
				t.Errorf("sent %v, want one query with args %#v (low first, high not bound)", q, c.wantArgs)
			}
			if want := [][]any{{"EU", int64(7), 1.5}, {"EU", int64(8), int64(20)}}; !reflect.DeepEqual(vp.Rows, want) {
				t.Errorf("rows = %#v, want %#v", vp.Rows, want)
			}
			if want := []uint64{150, 250}; !reflect.DeepEqual(vp.Versions, want) {
				t.Errorf("versions = %v, want %v", vp.Versions, want)
			}
			if want := []any{"EU", "8"}; !reflect.DeepEqual(vp.Cursor, want) {
				t.Errorf("cursor = %#v, want the last row's key only %#v", vp.Cursor, want)
			}
		})
	}
	t.Run("bad ORA_ROWSCN is bad data", func(t *testing.T) {
		src := newSrc(capture.CommitOrder)
		f := newFakeDB(t, src)
		f.on(`FROM "ORDERS"`, rowsOf([]string{"REGION", "ORDER_NO", "TOTAL", "RF$V", "RF$C0", "RF$C1"},
			[]any{"EU", "7", "1.5", "abc", "EU", "7"}))
		_, err := src.Changed(context.Background(), tb, 100, 200, nil, 10)
		if !errors.Is(err, capture.ErrBadData) {
			t.Errorf("err = %v, want one wrapping capture.ErrBadData", err)
		}
	})
}

// A row committed in round 1 whose ORA_ROWSCN (105) is above round 1's
// horizon (100) is read in round 1 and again in round 2 (low 100): it is
// emitted once.
func TestRowscnEngineEmitsReadAheadRowOnce(t *testing.T) {
	src := newSrc(capture.CommitOrder)
	f := newFakeDB(t, src)
	f.on("ALL_TAB_COLS", describeAnswer(map[string][][2]string{"APP.ITEMS": {{"ID", "NUMBER(19,0)"}, {"NAME", "VARCHAR2(20)"}}}))
	var mu sync.Mutex
	horizons := 0
	f.on("CURRENT_SCN", func([]any) ([]string, [][]any, error) {
		mu.Lock()
		defer mu.Unlock()
		horizons++
		h := "100"
		if horizons > 1 {
			h = "200"
		}
		return []string{"CURRENT_SCN"}, [][]any{{h}}, nil
	})
	cols := []string{"ID", "NAME", "RF$V", "RF$C0"}
	f.on(`FROM "ITEMS"`, func(args []any) ([]string, [][]any, error) {
		switch args[0] {
		case int64(0):
			return cols, [][]any{{"1", "a", "50", "1"}, {"2", "b", "105", "2"}}, nil
		case int64(100):
			return cols, [][]any{{"2", "b", "105", "2"}, {"3", "c", "150", "3"}}, nil
		}
		return cols, nil, nil
	})
	cfg := capture.DefaultConfig()
	cfg.Strategy = "rowscn"
	cfg.PollInterval = sdk.Duration(10 * time.Millisecond)
	cfg.Tables = []capture.TableConfig{{Name: "items", Key: []string{"id"}}}
	e, err := capture.NewEngine(&cfg, src, sdk.Env{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	// Round 2 is over once the horizon is read a third time.
	rec := run(t, e, func(*recorder) bool {
		mu.Lock()
		defer mu.Unlock()
		return horizons >= 3
	})
	var lows []any
	for _, q := range f.sentContaining(`FROM "ITEMS"`) {
		lows = append(lows, q.args[0])
	}
	if len(lows) < 2 || lows[0] != int64(0) || lows[1] != int64(100) {
		t.Errorf("delta queries' low = %v, want 0 then 100", lows)
	}
	var got []string
	for _, ev := range rec.events() {
		if ev.Op != sdk.OpUpsert {
			t.Errorf("op %v, want upsert", ev.Op)
		}
		got = append(got, fmt.Sprint(field(t, ev, "id"), "=", field(t, ev, "name")))
	}
	if want := []string{"1=a", "2=b", "3=c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("emitted %v, want %v (row 2 once)", got, want)
	}
}

// ---- 4. trigger ------------------------------------------------------

func TestTriggerReadChangelog(t *testing.T) {
	at := func(s int) time.Time { return time.Date(2024, 1, 1, 0, 0, s, 0, time.FixedZone("", 3600)) }
	ordersRows := [][]any{
		// RF_SEQ, RF_OP, RF_AT, RF$K0, ID, AMOUNT, NOTE
		{"1", "I", at(1), "10", "10", "12.50", "hello"},
		{"4", "D", at(4), "11", "11", "5", "re-inserted"}, // a delete keeps only the key even if the key lives again
		{"5", "I", at(5), "12", nil, nil, nil},            // gone since: a delete
		{"7", "U", at(7), "10", "10", "13", "later"},
	}
	itemsRows := [][]any{
		// RF_SEQ, RF_OP, RF_AT, RF$K0, SKU, QTY
		{"2", "U", at(2), "A", "A", "3"},
		{"3", "I", at(3), "B", "B", "0"},
		{"6", "D", at(6), "C", nil, nil},
	}
	type want struct {
		seq    int64
		table  string
		op     sdk.Op
		values []any
	}
	all := []want{
		{1, "ORDERS", sdk.OpInsert, []any{int64(10), 12.5, "hello"}},
		{2, "ITEMS", sdk.OpUpdate, []any{"A", int64(3)}},
		{3, "ITEMS", sdk.OpInsert, []any{"B", int64(0)}},
		{4, "ORDERS", sdk.OpDelete, []any{int64(11), nil, nil}},
		{5, "ORDERS", sdk.OpDelete, []any{int64(12), nil, nil}},
		{6, "ITEMS", sdk.OpDelete, []any{"C", nil}},
		{7, "ORDERS", sdk.OpUpdate, []any{int64(10), 13.0, "later"}},
	}
	for _, limit := range []int{3, 6, 100} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			src := newSrc(capture.Trigger)
			f := newFakeDB(t, src)
			f.on(`FROM "ROWFLUX_CHANGELOG$ORDERS" c`, rowsOf([]string{"RF_SEQ", "RF_OP", "RF_AT", "RF$K0", "ID", "AMOUNT", "NOTE"}, ordersRows...))
			f.on(`FROM "ROWFLUX_CHANGELOG$ITEMS" c`, rowsOf([]string{"RF_SEQ", "RF_OP", "RF_AT", "RF$K0", "SKU", "QTY"}, itemsRows...))
			tables := []*capture.Table{orders(), items()}
			changes, err := src.ReadChangelog(context.Background(), tables, 0, limit)
			if err != nil {
				t.Fatal(err)
			}
			w := all[:min(limit, len(all))]
			if len(changes) != len(w) {
				t.Fatalf("%d changes, want %d: %+v", len(changes), len(w), changes)
			}
			for i, c := range changes {
				if c.Seq != w[i].seq || c.Table.Name != w[i].table || c.Op != w[i].op || !reflect.DeepEqual(c.Values, w[i].values) {
					t.Errorf("change %d = seq %d %s %v %#v, want seq %d %s %v %#v", i, c.Seq, c.Table.Name, c.Op, c.Values, w[i].seq, w[i].table, w[i].op, w[i].values)
				}
				if !c.Time.Equal(at(int(c.Seq))) {
					t.Errorf("change %d time = %v, want RF_AT %v", i, c.Time, at(int(c.Seq)))
				}
			}
			for _, p := range []string{`FROM "ROWFLUX_CHANGELOG$ORDERS" c`, `FROM "ROWFLUX_CHANGELOG$ITEMS" c`} {
				q := f.sentContaining(p)
				if len(q) != 1 || !reflect.DeepEqual(q[0].args, []any{int64(0)}) {
					t.Errorf("%s: sent %v, want one read with args [0]", p, q)
				}
			}
		})
	}
	for _, bad := range []struct {
		name string
		row  []any
	}{
		{"unknown RF_OP", []any{"1", "Z", at(1), "10", "10", "1", "x"}},
		{"bad RF_SEQ", []any{"one", "I", at(1), "10", "10", "1", "x"}},
		{"bad NUMBER key", []any{"1", "D", at(1), "ten", nil, nil, nil}},
	} {
		t.Run(bad.name, func(t *testing.T) {
			src := newSrc(capture.Trigger)
			f := newFakeDB(t, src)
			f.on(`FROM "ROWFLUX_CHANGELOG$ORDERS" c`, rowsOf([]string{"RF_SEQ", "RF_OP", "RF_AT", "RF$K0", "ID", "AMOUNT", "NOTE"}, bad.row))
			_, err := src.ReadChangelog(context.Background(), []*capture.Table{orders()}, 0, 10)
			if !errors.Is(err, capture.ErrBadData) {
				t.Errorf("err = %v, want one wrapping capture.ErrBadData", err)
			}
		})
	}
}

func TestDeleteChangelog(t *testing.T) {
	seqs := make([]int64, 2500)
	for i := range seqs {
		seqs[i] = int64(i + 1)
	}
	cases := []struct {
		name       string
		st         capture.Strategy
		changelogs []string // each gets every sequence number
	}{
		{"trigger deletes from every table's changelog", capture.Trigger, []string{`"ROWFLUX_CHANGELOG$ORDERS"`, `"ROWFLUX_CHANGELOG$ITEMS"`}},
		{"cqn deletes from the shared changelog", capture.Notify, []string{`"ROWFLUX_CHANGELOG" `}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := newSrc(c.st)
			f := newFakeDB(t, src)
			tables := []*capture.Table{orders(), items()}
			if c.st == capture.Notify {
				tables = []*capture.Table{withRowid(orders()), withRowid(items())}
			}
			// The engine reads before it deletes; the read names the tables.
			if _, err := src.ReadChangelog(context.Background(), tables, 0, 10); err != nil {
				t.Fatal(err)
			}
			if err := src.DeleteChangelog(context.Background(), seqs); err != nil {
				t.Fatal(err)
			}
			deletes := f.sentContaining("DELETE FROM")
			if len(deletes) != 3*len(c.changelogs) {
				t.Errorf("%d DELETE statements, want %d (3 chunks × %d changelogs)", len(deletes), 3*len(c.changelogs), len(c.changelogs))
			}
			got := map[string][]any{}
			for _, d := range deletes {
				if len(d.args) > 1000 {
					t.Errorf("DELETE with %d values (ORA-01795 above 1000)", len(d.args))
				}
				if n := len(placeholderRE.FindAllString(d.sql, -1)); n != len(d.args) {
					t.Errorf("DELETE with %d placeholders and %d args", n, len(d.args))
				}
				if !strings.Contains(d.sql, `"RF_SEQ" IN (`) {
					t.Errorf("DELETE not by RF_SEQ: %s", d.sql)
				}
				for _, cl := range c.changelogs {
					if strings.Contains(d.sql, "DELETE FROM "+cl) {
						got[cl] = append(got[cl], d.args...)
					}
				}
			}
			want := make([]any, len(seqs))
			for i, s := range seqs {
				want[i] = s
			}
			for _, cl := range c.changelogs {
				if !reflect.DeepEqual(got[cl], want) {
					t.Errorf("%s: deleted %d values, want 1..2500 in order", cl, len(got[cl]))
				}
			}
		})
	}
}

// ---- 5. cqn ----------------------------------------------------------

// cqnItems and cqnOrders are the cqn fixtures: every table carries the
// ROWID pseudo column.
func cqnOrders() *capture.Table {
	t := orders()
	t.Columns = t.Columns[:2] // ID, AMOUNT
	return withRowid(t)
}

func cqnItems() *capture.Table { return withRowid(items()) }

type cqnWant struct {
	seq    int64
	table  string
	op     sdk.Op
	values []any
}

func TestCQNReadChangelog(t *testing.T) {
	at := func(seq int64) time.Time { return time.Date(2024, 1, 1, 0, 0, int(seq), 0, time.FixedZone("", 3600)) }
	rec := func(seq any, table, op, rowid any) []any {
		var a any
		if s, ok := seq.(int); ok {
			a = at(int64(s))
			seq = fmt.Sprint(s)
		}
		return []any{seq, table, op, rowid, a}
	}
	defaultOrders := map[string][]any{"AAA1": {"1", "12.50"}, "AAA2": {"2", "3"}}
	ord := func(id int64, amount float64, rid string) []any { return []any{id, amount, rid} }
	gone := func(rid string) []any { return []any{nil, nil, rid} }
	rescanned := func(seq int64) []cqnWant {
		return []cqnWant{
			{seq, "ORDERS", sdk.OpUpsert, ord(1, 12.5, "AAA1")},
			{seq, "ORDERS", sdk.OpUpsert, ord(2, 3, "AAA2")},
		}
	}
	cat := func(parts ...[]cqnWant) []cqnWant {
		var out []cqnWant
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		name      string
		test      bool
		recs      [][]any
		orders    map[string][]any // ROWID → ID, AMOUNT (nil: defaultOrders)
		want      []cqnWant
		fetches   map[string][][]any // table → args of each ROWID IN query
		rescans   int
		deleted   [][]any // args of each DELETE sent while reading
		registers int
		err       error
	}{
		{
			name: "inserts and updates fetched by ROWID, one query per table",
			recs: [][]any{rec(1, "APP.ORDERS", "I", "AAA1"), rec(2, "SHOP.ITEMS", "I", "BBB1"), rec(3, "APP.ORDERS", "U", "AAA2"), rec(4, "APP.ORDERS", "U", "AAA1")},
			want: []cqnWant{
				{1, "ORDERS", sdk.OpInsert, ord(1, 12.5, "AAA1")},
				{2, "ITEMS", sdk.OpInsert, []any{"X1", int64(4), "BBB1"}},
				{3, "ORDERS", sdk.OpUpdate, ord(2, 3, "AAA2")},
				{4, "ORDERS", sdk.OpUpdate, ord(1, 12.5, "AAA1")},
			},
			fetches: map[string][][]any{"ORDERS": {{"AAA1", "AAA2"}}, "ITEMS": {{"BBB1"}}},
		},
		{
			name:    "delete carries only the ROWID",
			recs:    [][]any{rec(1, "APP.ORDERS", "D", "AAA5")},
			want:    []cqnWant{{1, "ORDERS", sdk.OpDelete, gone("AAA5")}},
			fetches: map[string][][]any{"ORDERS": {{"AAA5"}}},
		},
		{
			name: "delete whose ROWID was reused: the delete, then the row there now",
			recs: [][]any{rec(1, "APP.ORDERS", "D", "AAA1")},
			want: []cqnWant{
				{1, "ORDERS", sdk.OpDelete, gone("AAA1")},
				{1, "ORDERS", sdk.OpUpsert, ord(1, 12.5, "AAA1")},
			},
			fetches: map[string][][]any{"ORDERS": {{"AAA1"}}},
		},
		{
			name:    "rescan marker reads the whole table",
			recs:    [][]any{rec(5, "APP.ORDERS", "R", nil)},
			want:    rescanned(5),
			rescans: 1,
		},
		{
			// One rescan answers both markers. It carries the last marker's
			// sequence number: an earlier marker may have been emitted by an
			// earlier drain (records stay until their checkpoint deletes
			// them) and the engine skips numbers it emitted before, see
			// TestCQNEngineRescanAfterUncheckpointedRescan. The other marker
			// is deleted at once.
			name:    "two rescans of one table: one query with the last marker's seq, the earlier marker deleted at once",
			recs:    [][]any{rec(1, "APP.ORDERS", "R", nil), rec(2, "APP.ORDERS", "R", nil)},
			want:    rescanned(2),
			rescans: 1,
			deleted: [][]any{{int64(1)}},
		},
		{
			name: "a rescan is emitted at the place of its last marker",
			recs: [][]any{rec(1, "APP.ORDERS", "R", nil), rec(2, "APP.ORDERS", "I", "AAA1"), rec(3, "APP.ORDERS", "R", nil), rec(4, "SHOP.ITEMS", "R", nil)},
			want: cat(
				[]cqnWant{{2, "ORDERS", sdk.OpInsert, ord(1, 12.5, "AAA1")}},
				rescanned(3),
				[]cqnWant{{4, "ITEMS", sdk.OpUpsert, []any{"X1", int64(4), "BBB1"}}},
			),
			fetches: map[string][][]any{"ORDERS": {{"AAA1"}}},
			rescans: 2, // one per table
			deleted: [][]any{{int64(1)}},
		},
		{
			name:    "insert whose row is gone, after a rescan marker of its table: one rescan covers both",
			recs:    [][]any{rec(1, "APP.ORDERS", "R", nil), rec(2, "APP.ORDERS", "I", "AAA7")},
			want:    rescanned(2),
			fetches: map[string][][]any{"ORDERS": {{"AAA7"}}},
			rescans: 1,
			deleted: [][]any{{int64(1)}},
		},
		{
			name: "insert whose row is gone with a later delete: a delete, no rescan",
			recs: [][]any{rec(1, "APP.ORDERS", "I", "AAA7"), rec(2, "APP.ORDERS", "D", "AAA7")},
			want: []cqnWant{
				{1, "ORDERS", sdk.OpDelete, gone("AAA7")},
				{2, "ORDERS", sdk.OpDelete, gone("AAA7")},
			},
			fetches: map[string][][]any{"ORDERS": {{"AAA7"}}},
		},
		{
			name:    "insert whose row is gone without a delete: the row moved, rescan",
			recs:    [][]any{rec(3, "APP.ORDERS", "I", "AAA7")},
			want:    rescanned(3),
			fetches: map[string][][]any{"ORDERS": {{"AAA7"}}},
			rescans: 1,
		},
		{
			// The ROWID was freed by the delete (seq 1), reused by the insert
			// (seq 2), and that row has moved since: only a rescan finds it.
			// A delete recorded before the insert does not report the
			// inserted row's disappearance.
			name:    "insert whose row is gone with only an earlier delete: rescan",
			recs:    [][]any{rec(1, "APP.ORDERS", "D", "AAA7"), rec(2, "APP.ORDERS", "I", "AAA7")},
			want:    cat([]cqnWant{{1, "ORDERS", sdk.OpDelete, gone("AAA7")}}, rescanned(2)),
			fetches: map[string][][]any{"ORDERS": {{"AAA7"}}},
			rescans: 1,
		},
		{
			name:    "rescan of an empty table consumes its marker",
			recs:    [][]any{rec(1, "APP.ORDERS", "R", nil)},
			orders:  map[string][]any{},
			rescans: 1,
			deleted: [][]any{{int64(1)}},
		},
		{
			name:      "deregistration registers again and deletes its record",
			recs:      [][]any{rec(1, nil, "X", nil), rec(2, "APP.ORDERS", "I", "AAA1")},
			want:      []cqnWant{{2, "ORDERS", sdk.OpInsert, ord(1, 12.5, "AAA1")}},
			fetches:   map[string][][]any{"ORDERS": {{"AAA1"}}},
			deleted:   [][]any{{int64(1)}},
			registers: 1,
		},
		{
			name:    "--test deletes nothing and registers nothing",
			test:    true,
			recs:    [][]any{rec(1, nil, "X", nil), rec(2, "APP.ORDERS", "R", nil), rec(3, "APP.ORDERS", "R", nil)},
			want:    rescanned(3),
			rescans: 1,
		},
		{name: "unknown RF_OP", recs: [][]any{rec(1, "APP.ORDERS", "Q", "AAA1")}, err: capture.ErrBadData},
		{name: "insert without ROWID", recs: [][]any{rec(1, "APP.ORDERS", "I", nil)}, err: capture.ErrBadData},
		{name: "delete without table", recs: [][]any{rec(1, nil, "D", "AAA1")}, err: capture.ErrBadData},
		{name: "rescan marker without table", recs: [][]any{rec(1, nil, "R", nil)}, err: capture.ErrBadData},
		{name: "RF_OP of two letters", recs: [][]any{rec(1, "APP.ORDERS", "IU", "AAA1")}, err: capture.ErrBadData},
		{name: "bad RF_SEQ", recs: [][]any{rec("x", "APP.ORDERS", "I", "AAA1")}, err: capture.ErrBadData},
		{name: "table not captured", recs: [][]any{rec(1, "APP.OTHER", "I", "AAA1")}, err: capture.ErrBadData},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := newSrc(capture.Notify)
			src.test = c.test
			f := newFakeDB(t, src)
			content := c.orders
			if content == nil {
				content = defaultOrders
			}
			f.on(`"RF_ROWID", "RF_AT"`, rowsOf([]string{"RF_SEQ", "RF_TABLE", "RF_OP", "RF_ROWID", "RF_AT"}, c.recs...))
			serve(f, "ORDERS", []string{"ID", "AMOUNT"}, content)
			serve(f, `"SHOP"."ITEMS"`, []string{"SKU", "QTY"}, map[string][]any{"BBB1": {"X1", "4"}})
			tables := []*capture.Table{cqnOrders(), cqnItems()}
			changes, err := src.ReadChangelog(context.Background(), tables, 0, 100)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err = %v, want one wrapping %v", err, c.err)
				}
				if n := len(f.sentContaining("DELETE FROM")) + len(f.sentContaining("NEW_REG_START")); n != 0 {
					t.Errorf("%d deletes or registrations sent before failing", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if reads := f.sentContaining(`"RF_ROWID", "RF_AT"`); len(reads) != 1 || !reflect.DeepEqual(reads[0].args, []any{int64(0)}) {
				t.Errorf("changelog reads %v, want one with args [0]", reads)
			}
			var got []cqnWant
			for _, ch := range changes {
				got = append(got, cqnWant{ch.Seq, ch.Table.Name, ch.Op, ch.Values})
				if !ch.Time.Equal(at(ch.Seq)) {
					t.Errorf("seq %d: time %v, want its RF_AT %v", ch.Seq, ch.Time, at(ch.Seq))
				}
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("changes:\n%s\nwant:\n%s", fmtChanges(got), fmtChanges(c.want))
			}
			fetches := map[string][][]any{}
			rescans, deleted := 0, [][]any(nil)
			for _, call := range f.sent() {
				switch {
				case strings.Contains(call.sql, "WHERE ROWID IN ("):
					name := "ORDERS"
					if strings.Contains(call.sql, `"ITEMS"`) {
						name = "ITEMS"
					}
					fetches[name] = append(fetches[name], call.args)
				case strings.HasPrefix(call.sql, `SELECT ROWIDTOCHAR(ROWID) AS "RF$ROWID"`):
					rescans++
				case strings.HasPrefix(call.sql, "DELETE FROM"):
					if !strings.HasPrefix(call.sql, `DELETE FROM "ROWFLUX_CHANGELOG" WHERE "RF_SEQ" IN (`) {
						t.Errorf("unexpected delete: %s", call.sql)
					}
					deleted = append(deleted, call.args)
				}
			}
			if len(fetches) == 0 {
				fetches = nil
			}
			if !reflect.DeepEqual(fetches, c.fetches) {
				t.Errorf("ROWID IN queries (args per table) = %v, want %v", fetches, c.fetches)
			}
			if rescans != c.rescans {
				t.Errorf("%d rescans, want %d", rescans, c.rescans)
			}
			if !reflect.DeepEqual(deleted, c.deleted) {
				t.Errorf("deleted while reading %v, want %v", deleted, c.deleted)
			}
			if n := len(f.sentContaining("NEW_REG_START")); n != c.registers {
				t.Errorf("registration sent %d times, want %d", n, c.registers)
			}
		})
	}
}

// serve answers table's ROWID IN fetches and its rescans from content
// (ROWID → values of cols, the table's columns before ROWID).
func serve(f *fakeDB, table string, cols []string, content map[string][]any) {
	names := append(append([]string{"RF$ROWID"}, cols...), "ROWID")
	row := func(rid string) []any { return append(append([]any{rid}, content[rid]...), rid) }
	f.on("FROM "+quoteIfBare(table), func([]any) ([]string, [][]any, error) {
		rids := make([]string, 0, len(content))
		for rid := range content {
			rids = append(rids, rid)
		}
		sort.Strings(rids)
		var rows [][]any
		for _, rid := range rids {
			rows = append(rows, row(rid))
		}
		return names, rows, nil
	})
	f.on("FROM "+quoteIfBare(table)+"\nWHERE ROWID IN (", func(args []any) ([]string, [][]any, error) {
		var rows [][]any
		for _, a := range args {
			if rid, _ := a.(string); content[rid] != nil {
				rows = append(rows, row(rid))
			}
		}
		return names, rows, nil
	})
}

func quoteIfBare(name string) string {
	if strings.HasPrefix(name, `"`) {
		return name
	}
	return quote(name)
}

func fmtChanges(cs []cqnWant) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "  seq %d %s %v %#v\n", c.seq, c.table, c.op, c.values)
	}
	return b.String()
}

// Through the engine, cqn events carry the ROWID as field "rowid"; a
// delete carries nothing else, and a durable checkpoint deletes what was
// emitted.
func TestCQNEngineEvents(t *testing.T) {
	src := newSrc(capture.Notify)
	f := newFakeDB(t, src)
	f.on("ALL_TAB_COLS", describeAnswer(map[string][][2]string{"APP.ORDERS": {{"ID", "NUMBER(19,0)"}, {"AMOUNT", "NUMBER(12,2)"}}}))
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	recs := [][]any{
		{"1", "APP.ORDERS", "I", "AAA1", at},
		{"2", "APP.ORDERS", "D", "AAA5", at},
	}
	f.on(`"RF_ROWID", "RF_AT"`, func(args []any) ([]string, [][]any, error) {
		var rows [][]any
		for _, r := range recs {
			if s, _ := parseSeq(r[0]); s > args[0].(int64) {
				rows = append(rows, r)
			}
		}
		return []string{"RF_SEQ", "RF_TABLE", "RF_OP", "RF_ROWID", "RF_AT"}, rows, nil
	})
	serve(f, "ORDERS", []string{"ID", "AMOUNT"}, map[string][]any{"AAA1": {"1", "12.50"}})
	f.on("DBMS_ALERT.WAITONE", func([]any) ([]string, [][]any, error) {
		time.Sleep(5 * time.Millisecond) // the server-side wait, shortened
		return nil, [][]any{{"", int64(1)}}, nil
	})
	cfg := capture.DefaultConfig()
	cfg.Strategy = "cqn"
	cfg.PollInterval = sdk.Duration(10 * time.Millisecond)
	cfg.Tables = []capture.TableConfig{{Name: "orders", Key: []string{"id"}}}
	e, err := capture.NewEngine(&cfg, src, sdk.Env{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	rec := run(t, e, func(r *recorder) bool { return len(r.events()) >= 2 && len(f.sentContaining("WAITONE")) >= 2 })
	evs := rec.events()
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2: %+v", len(evs), evs)
	}
	ins, del := evs[0], evs[1]
	if ins.Op != sdk.OpInsert || field(t, ins, "id") != int64(1) || field(t, ins, "amount") != 12.5 || field(t, ins, "rowid") != "AAA1" {
		t.Errorf("insert event %+v", ins)
	}
	if del.Op != sdk.OpDelete || field(t, del, "rowid") != "AAA5" {
		t.Errorf("delete event %+v", del)
	}
	for _, fl := range del.Fields {
		if fl.Key != "rowid" && fl.Value != nil {
			t.Errorf("delete event carries %s = %v", fl.Key, fl.Value)
		}
	}
	rec.mu.Lock()
	last := rec.positions[len(rec.positions)-1]
	rec.mu.Unlock()
	if err := e.CheckpointDurable(context.Background(), last); err != nil {
		t.Fatal(err)
	}
	deletes := f.sentContaining("DELETE FROM")
	if len(deletes) != 1 || !reflect.DeepEqual(deletes[0].args, []any{int64(1), int64(2)}) {
		t.Errorf("checkpoint deletes %v, want one DELETE of seqs 1 and 2", deletes)
	}
}

// ---- 6. Wait ---------------------------------------------------------

func TestWait(t *testing.T) {
	src := newSrc(capture.Notify)
	f := newFakeDB(t, src)
	var mu sync.Mutex
	var answers []any // int64 status or error, one per WAITONE
	f.on("DBMS_ALERT.WAITONE", func([]any) ([]string, [][]any, error) {
		mu.Lock()
		defer mu.Unlock()
		a := answers[0]
		answers = answers[1:]
		if err, ok := a.(error); ok {
			return nil, nil, err
		}
		return nil, [][]any{{"change", a}}, nil
	})
	steps := []struct {
		name      string
		timeout   time.Duration
		answer    any
		want      bool
		wantErr   bool
		secs      int64
		registers int // REGISTER statements sent so far
	}{
		{"alert", 1500 * time.Millisecond, int64(0), true, false, 2, 1},
		{"timeout, same session", 10 * time.Millisecond, int64(1), false, false, 1, 1},
		{"zero timeout waits a second", 0, int64(1), false, false, 1, 1},
		{"whole seconds", 30 * time.Second, int64(0), true, false, 30, 1},
		{"error drops the session", time.Second, errors.New("ORA-03113: end-of-file on communication channel"), false, true, 1, 1},
		{"next wait registers again", time.Second, int64(0), true, false, 1, 2},
		{"and keeps it", time.Second, int64(1), false, false, 1, 2},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			mu.Lock()
			answers = append(answers, s.answer)
			mu.Unlock()
			before := len(f.sentContaining("WAITONE"))
			got, err := src.Wait(context.Background(), s.timeout)
			if (err != nil) != s.wantErr || got != s.want {
				t.Errorf("Wait = %v, %v; want %v, error %v", got, err, s.want, s.wantErr)
			}
			waits := f.sentContaining("WAITONE")
			if len(waits) != before+1 {
				t.Fatalf("%d WAITONE calls, want %d", len(waits), before+1)
			}
			a := waits[len(waits)-1].args
			if len(a) != 4 || a[0] != "ROWFLUX_CHANGELOG" || a[3] != s.secs {
				t.Errorf("WAITONE args = %v, want [ROWFLUX_CHANGELOG, out, out, %d]", a, s.secs)
			}
			regs := f.sentContaining("DBMS_ALERT.REGISTER")
			if len(regs) != s.registers {
				t.Errorf("REGISTER sent %d times, want %d", len(regs), s.registers)
			}
			for _, r := range regs {
				if !reflect.DeepEqual(r.args, []any{"ROWFLUX_CHANGELOG"}) {
					t.Errorf("REGISTER args %v", r.args)
				}
			}
		})
	}
	t.Run("failed REGISTER is retried by the next wait", func(t *testing.T) {
		src := newSrc(capture.Notify)
		f := newFakeDB(t, src)
		fail := true
		f.on("DBMS_ALERT.REGISTER", func([]any) ([]string, [][]any, error) {
			if fail {
				fail = false
				return nil, nil, errors.New("ORA-06550")
			}
			return nil, nil, nil
		})
		f.on("DBMS_ALERT.WAITONE", rowsOf(nil, []any{"", int64(1)}))
		if _, err := src.Wait(context.Background(), time.Second); err == nil {
			t.Fatal("Wait succeeded with a failing REGISTER")
		}
		if n := len(f.sentContaining("WAITONE")); n != 0 {
			t.Errorf("waited %d times without a registration", n)
		}
		if _, err := src.Wait(context.Background(), time.Second); err != nil {
			t.Fatal(err)
		}
		if n := len(f.sentContaining("DBMS_ALERT.REGISTER")); n != 2 {
			t.Errorf("REGISTER sent %d times, want 2", n)
		}
	})
	t.Run("reconnect registers again", func(t *testing.T) {
		src := newSrc(capture.Notify)
		f := newFakeDB(t, src)
		f.on("DBMS_ALERT.WAITONE", rowsOf(nil, []any{"", int64(1)}))
		if _, err := src.Wait(context.Background(), time.Second); err != nil {
			t.Fatal(err)
		}
		if err := src.Connect(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := src.Wait(context.Background(), time.Second); err != nil {
			t.Fatal(err)
		}
		if n := len(f.sentContaining("DBMS_ALERT.REGISTER")); n != 2 {
			t.Errorf("REGISTER sent %d times across a reconnect, want 2", n)
		}
	})
	t.Run("not connected", func(t *testing.T) {
		if _, err := newSrc(capture.Notify).Wait(context.Background(), time.Second); err == nil {
			t.Error("Wait without Connect succeeded")
		}
	})
}

// ---- 7. Setup, Teardown, Doctor, redaction ---------------------------

func TestSetupTeardownSendTheScript(t *testing.T) {
	for _, st := range []capture.Strategy{capture.Trigger, capture.Notify, capture.Polling, capture.CommitOrder} {
		for _, action := range []string{"setup", "teardown"} {
			t.Run(string(st)+" "+action, func(t *testing.T) {
				src := newSrc(st)
				var echoed []sdk.Statement
				src.echo = func(s sdk.Statement) { echoed = append(echoed, s) }
				f := newFakeDB(t, src)
				tables := []*capture.Table{orders(), items()}
				script := setupScript
				do := src.Setup
				if action == "teardown" {
					script, do = teardownScript, src.Teardown
				}
				want, err := script(st, src.objects(), tables, src.scriptOptions())
				if err != nil {
					t.Fatal(err)
				}
				if (st == capture.Trigger || st == capture.Notify) && len(want) == 0 {
					t.Fatalf("empty %s script for %s", action, st)
				}
				mark := len(f.sent())
				if err := do(context.Background(), st, tables); err != nil {
					t.Fatal(err)
				}
				sent := statementsFrom(f, mark)
				if len(sent) != len(want) {
					t.Fatalf("sent %d statements, want %d", len(sent), len(want))
				}
				for i := range want {
					if sent[i].sql != want[i].SQL {
						t.Errorf("statement %d (%s) differs from the script", i, want[i].Purpose)
					}
					if len(sent[i].args) != 0 {
						t.Errorf("statement %d sent with args %v", i, sent[i].args)
					}
				}
				if !reflect.DeepEqual(echoed, want) {
					t.Errorf("echoed %d statements, want the %d of the script in order", len(echoed), len(want))
				}
			})
		}
	}
	t.Run("the first failure stops setup", func(t *testing.T) {
		src := newSrc(capture.Trigger)
		var echoed []sdk.Statement
		src.echo = func(s sdk.Statement) { echoed = append(echoed, s) }
		f := newFakeDB(t, src)
		tables := []*capture.Table{orders()}
		want, _ := setupScript(capture.Trigger, src.objects(), tables, src.scriptOptions())
		f.on("CREATE TABLE", func([]any) ([]string, [][]any, error) {
			return nil, nil, errors.New("ORA-01031: insufficient privileges")
		})
		mark := len(f.sent())
		err := src.Setup(context.Background(), capture.Trigger, tables)
		if err == nil || !strings.Contains(err.Error(), "ORA-01031") || !strings.Contains(err.Error(), want[1].Purpose) {
			t.Fatalf("err = %v, want ORA-01031 with the statement's purpose %q", err, want[1].Purpose)
		}
		if n := len(statementsFrom(f, mark)); n != 2 {
			t.Errorf("sent %d statements, want 2 (up to the failing one)", n)
		}
		if len(echoed) != 2 {
			t.Errorf("echoed %d statements, want 2", len(echoed))
		}
	})
}

func TestDoctorFailingQuery(t *testing.T) {
	src := newSrc(capture.CommitOrder)
	f := newFakeDB(t, src)
	tables := []*capture.Table{orders()}
	checks, err := doctorChecks(capture.CommitOrder, src.objects(), tables, src.scriptOptions())
	if err != nil {
		t.Fatal(err)
	}
	f.on("FROM V$DATABASE", func([]any) ([]string, [][]any, error) {
		return nil, nil, errors.New("ORA-00942: table or view does not exist")
	})
	got, err := src.Doctor(context.Background(), capture.CommitOrder, tables)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(checks) {
		t.Fatalf("%d checks, want %d", len(got), len(checks))
	}
	failed := 0
	for i, c := range checks {
		if got[i].Name != c.Name || got[i].Fix != c.Fix {
			t.Errorf("check %d = %q (fix %q), want %q (fix %q)", i, got[i].Name, got[i].Fix, c.Name, c.Fix)
		}
		if strings.Contains(c.SQL, "FROM V$DATABASE") {
			failed++
			if got[i].OK || !strings.Contains(got[i].Detail, "ORA-00942") {
				t.Errorf("check %q = %+v, want failed with the error as detail", c.Name, got[i])
			}
		}
	}
	if failed != 1 {
		t.Errorf("%d checks query V$DATABASE, want 1", failed)
	}
	if !got[0].OK {
		t.Errorf("%q failed: %+v", got[0].Name, got[0])
	}
}

func TestPasswordRedacted(t *testing.T) {
	const pw = "s3cr:t/p@ss word"
	leak := fmt.Sprintf("ORA-01017: invalid username/password %s; dsn oracle://u:%s@h:1521/svc?q=%s user %s",
		pw, url.PathEscape(pw), url.QueryEscape(pw), url.UserPassword("u", pw).String())
	forms := []string{pw, url.PathEscape(pw), url.QueryEscape(pw), url.UserPassword("x", pw).String()[2:]}
	ctx := context.Background()
	tables := []*capture.Table{orders()}
	cases := []struct {
		name    string
		st      capture.Strategy
		pattern string
		call    func(s *source) (string, error)
	}{
		{"connect", capture.Trigger, "NLS_NUMERIC_CHARACTERS", func(s *source) (string, error) { return "", s.Connect(ctx) }},
		{"describe", capture.Trigger, "ALL_TAB_COLS", func(s *source) (string, error) { _, err := s.Describe(ctx, "", "orders"); return "", err }},
		{"poll upper", capture.Polling, "NUMTODSINTERVAL", func(s *source) (string, error) { _, err := s.PollUpper(ctx, 0); return "", err }},
		{"horizon", capture.CommitOrder, "CURRENT_SCN", func(s *source) (string, error) { _, err := s.Horizon(ctx); return "", err }},
		{"read changelog", capture.Trigger, "ROWFLUX_CHANGELOG$ORDERS", func(s *source) (string, error) {
			_, err := s.ReadChangelog(ctx, tables, 0, 10)
			return "", err
		}},
		{"delete changelog", capture.Notify, "DELETE FROM", func(s *source) (string, error) { return "", s.DeleteChangelog(ctx, []int64{1}) }},
		{"setup", capture.Trigger, "SEQUENCE", func(s *source) (string, error) { return "", s.Setup(ctx, capture.Trigger, tables) }},
		{"wait", capture.Notify, "DBMS_ALERT", func(s *source) (string, error) { _, err := s.Wait(ctx, time.Second); return "", err }},
		{"doctor detail", capture.CommitOrder, "V$DATABASE", func(s *source) (string, error) {
			checks, err := s.Doctor(ctx, capture.CommitOrder, tables)
			var details []string
			for _, c := range checks {
				details = append(details, c.Detail)
			}
			return strings.Join(details, "\n"), err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := newSrc(c.st)
			src.password = pw
			f := newFakeDB(t, src)
			f.on(c.pattern, func([]any) ([]string, [][]any, error) { return nil, nil, errors.New(leak) })
			text, err := c.call(src)
			if err != nil {
				text += "\n" + err.Error()
			}
			if !strings.Contains(text, "xxxxx") {
				t.Fatalf("no redacted error: %q", text)
			}
			for _, p := range forms {
				if strings.Contains(text, p) {
					t.Errorf("%q leaks the password as %q", text, p)
				}
			}
		})
	}
}

// ---- 8. Init ---------------------------------------------------------

func TestInitValidation(t *testing.T) {
	const dsn = "oracle://capture:pw@db.example:1521/FREEPDB1"
	cases := []struct {
		name     string
		dsn      string
		strategy string
		cqnMode  string
		where    string
		key      string // the error names it; "" = valid
	}{
		{name: "valid trigger", dsn: dsn, strategy: "trigger"},
		{name: "valid cqn query mode with where", dsn: dsn, strategy: "cqn", cqnMode: "query", where: "STATUS = 'OPEN'"},
		{name: "missing dsn", strategy: "trigger", key: "dsn"},
		{name: "non-oracle scheme", dsn: "postgres://capture:pw@db.example:5432/app", strategy: "trigger", key: "dsn"},
		{name: "SYS user", dsn: "oracle://sys:pw@db.example:1521/FREEPDB1", strategy: "trigger", key: "dsn"},
		{name: "Sys user", dsn: "oracle://Sys:pw@db.example:1521/FREEPDB1", strategy: "trigger", key: "dsn"},
		{name: "no service", dsn: "oracle://capture:pw@db.example:1521", strategy: "trigger", key: "dsn"},
		{name: "no user", dsn: "oracle://db.example:1521/FREEPDB1", strategy: "trigger", key: "dsn"},
		{name: "bad cqn_mode", dsn: dsn, strategy: "cqn", cqnMode: "rows", key: "cqn_mode"},
		{name: "where under trigger", dsn: dsn, strategy: "trigger", where: "STATUS = 'OPEN'", key: "tables[0] (orders).where"},
		{name: "where under cqn object mode", dsn: dsn, strategy: "cqn", cqnMode: "object", where: "STATUS = 'OPEN'", key: "tables[0] (orders).where"},
		{name: "where with ;", dsn: dsn, strategy: "cqn", cqnMode: "query", where: "1 = 1; DROP TABLE T", key: "tables[0] (orders).where"},
		{name: "bad strategy", dsn: dsn, strategy: "logminer", key: "strategy"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := &Oracle{Config: capture.DefaultConfig(), CQNMode: "object", DSN: c.dsn}
			if c.cqnMode != "" {
				o.CQNMode = c.cqnMode
			}
			o.Strategy = c.strategy
			o.Tables = []capture.TableConfig{{Name: "orders", Key: []string{"id"}, Where: c.where}}
			err := o.Init(sdk.Env{})
			defer o.Close()
			if c.key == "" {
				if err != nil {
					t.Fatalf("Init: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Init accepted it; want an error naming %s", c.key)
			}
			if !strings.HasPrefix(err.Error(), c.key) {
				t.Errorf("err = %q, want it to start with the key %q", err, c.key)
			}
			if strings.Contains(err.Error(), ":pw@") {
				t.Errorf("err = %q shows the password", err)
			}
		})
	}
}

func TestWithPrefetch(t *testing.T) {
	cases := []struct {
		dsn  string
		want map[string]string // query parameters after
	}{
		{"oracle://u:p@h:1521/svc", map[string]string{"PREFETCH_ROWS": "1000"}},
		{"oracle://u:p@h:1521/svc?TIMEOUT=5", map[string]string{"PREFETCH_ROWS": "1000", "TIMEOUT": "5"}},
		{"oracle://u:p@h:1521/svc?PREFETCH_ROWS=50", map[string]string{"PREFETCH_ROWS": "50"}},
		{"oracle://u:p@h:1521/svc?prefetch_rows=50", map[string]string{"prefetch_rows": "50"}},
		{"oracle://u:p@h:1521/svc?Prefetch_Rows=7&SSL=true", map[string]string{"Prefetch_Rows": "7", "SSL": "true"}},
		{"oracle://u:p%40ss@h:1521/svc", map[string]string{"PREFETCH_ROWS": "1000"}},
	}
	for _, c := range cases {
		t.Run(c.dsn, func(t *testing.T) {
			got := withPrefetch(c.dsn)
			u, err := url.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			q := map[string]string{}
			for k, v := range u.Query() {
				q[k] = strings.Join(v, ",")
			}
			if !reflect.DeepEqual(q, c.want) {
				t.Errorf("withPrefetch(%q) = %q: parameters %v, want %v", c.dsn, got, q, c.want)
			}
			orig, _ := url.Parse(c.dsn)
			if u.Host != orig.Host || u.Path != orig.Path || u.User.String() != orig.User.String() {
				t.Errorf("withPrefetch(%q) = %q changed more than the query", c.dsn, got)
			}
		})
	}
}

// A rescan marker emitted by one drain stays in the changelog until the
// checkpoint covering it is durable, so the next drain reads it again
// (the engine re-reads from its floor, 0 for this source). When that
// drain also holds a newer marker for the same table (a bulk change
// notified as ALL_ROWS), the newer rows must still reach the pipeline.
func TestCQNEngineRescanAfterUncheckpointedRescan(t *testing.T) {
	src := newSrc(capture.Notify)
	f := newFakeDB(t, src)
	f.on("ALL_TAB_COLS", describeAnswer(map[string][][2]string{"APP.ORDERS": {{"ID", "NUMBER(19,0)"}, {"AMOUNT", "NUMBER(12,2)"}}}))
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	recs := [][]any{{"1", "APP.ORDERS", "R", nil, at}}
	content := map[string][]any{"AAA1": {"1", "1"}}
	f.on(`"RF_ROWID", "RF_AT"`, func(args []any) ([]string, [][]any, error) {
		mu.Lock()
		defer mu.Unlock()
		var rows [][]any
		for _, r := range recs {
			if s, _ := parseSeq(r[0]); s > args[0].(int64) {
				rows = append(rows, r)
			}
		}
		return []string{"RF_SEQ", "RF_TABLE", "RF_OP", "RF_ROWID", "RF_AT"}, rows, nil
	})
	f.on(`DELETE FROM "ROWFLUX_CHANGELOG"`, func(args []any) ([]string, [][]any, error) {
		mu.Lock()
		defer mu.Unlock()
		kept := recs[:0:0]
		for _, r := range recs {
			s, _ := parseSeq(r[0])
			if !slices.Contains(args, any(s)) {
				kept = append(kept, r)
			}
		}
		recs = kept
		return nil, nil, nil
	})
	f.on(`FROM "ORDERS"`, func([]any) ([]string, [][]any, error) {
		mu.Lock()
		defer mu.Unlock()
		var rows [][]any
		for _, rid := range []string{"AAA1", "AAA2"} {
			if v, ok := content[rid]; ok {
				rows = append(rows, append(append([]any{rid}, v...), rid))
			}
		}
		return []string{"RF$ROWID", "ID", "AMOUNT", "ROWID"}, rows, nil
	})
	f.on("DBMS_ALERT.WAITONE", func([]any) ([]string, [][]any, error) {
		time.Sleep(2 * time.Millisecond) // the server-side wait, shortened
		return nil, [][]any{{"", int64(1)}}, nil
	})
	cfg := capture.DefaultConfig()
	cfg.Strategy = "cqn"
	cfg.PollInterval = sdk.Duration(10 * time.Millisecond)
	cfg.Tables = []capture.TableConfig{{Name: "orders", Key: []string{"id"}}}
	e, err := capture.NewEngine(&cfg, src, sdk.Env{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(r *recorder) map[any]bool {
		out := map[any]bool{}
		for _, ev := range r.events() {
			v, _ := ev.Field("id")
			out[v] = true
		}
		return out
	}
	phase2 := false
	var waitsAfterDelete int
	rec := run(t, e, func(r *recorder) bool {
		got := ids(r)
		if !phase2 {
			if !got[int64(1)] {
				return false
			}
			// Drain 1 emitted the rescan (seq 1); no checkpoint yet. A bulk
			// insert is notified as ALL_ROWS: a second marker.
			mu.Lock()
			recs = append(recs, []any{"2", "APP.ORDERS", "R", nil, at})
			content["AAA2"] = []any{"2", "2"}
			mu.Unlock()
			phase2 = true
			return false
		}
		if got[int64(2)] {
			return true
		}
		// Gave up on it: marker 2 was deleted and drains went on since.
		mu.Lock()
		gone := len(recs) == 1
		mu.Unlock()
		if gone {
			if waitsAfterDelete == 0 {
				waitsAfterDelete = len(f.sentContaining("WAITONE"))
			}
			return len(f.sentContaining("WAITONE")) > waitsAfterDelete+3
		}
		return false
	})
	if !ids(rec)[int64(2)] {
		mu.Lock()
		left := len(recs)
		mu.Unlock()
		t.Errorf("row 2 (notified by rescan marker 2) was never emitted; %d changelog records left (marker 2 deleted while reading: %v); events %+v",
			left, len(f.sentContaining(`DELETE FROM "ROWFLUX_CHANGELOG"`)) > 0, rec.events())
	}
}

// testLogger logs through t.Log: shown only when the test fails.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
