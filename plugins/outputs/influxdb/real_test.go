package influxdb

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rowflux/rowflux/plugins/common/influxtest"
	"github.com/rowflux/rowflux/plugins/common/servicetest"
	"github.com/rowflux/rowflux/sdk"
)

// A real influxd (1.x) shared by the tests of this package: started on
// first use, killed by TestMain.
var server struct {
	once sync.Once
	s    *influxtest.Server
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if server.s != nil {
		server.s.Close()
	}
	os.Exit(code)
}

// influxd returns the shared server, starting it if needed.
func influxd(t *testing.T) *influxtest.Server {
	t.Helper()
	bin := servicetest.Binary(t, "influxd")
	server.once.Do(func() { server.s, server.err = influxtest.New(bin) })
	if server.err != nil {
		log := ""
		if server.s != nil {
			log = server.s.Log()
		}
		t.Fatalf("influxd: %v\n%s", server.err, log)
	}
	return server.s
}

func TestRealInfluxDBv1(t *testing.T) {
	srv := influxd(t)
	base := srv.URL
	srv.Exec(t, "CREATE DATABASE rt1")
	h := newPlugin(t, false, func(p *InfluxDB) { p.URLs, p.Database = []string{base}, "rt1" })
	if !h.p.gzip {
		t.Fatal("gzip is not on by default")
	}
	t0 := time.Date(2026, 11, 21, 5, 47, 3, 123456789, time.UTC)
	batch := sdk.Batch{
		{
			Name: "m", Op: sdk.OpInsert,
			Tags: []sdk.Tag{{Key: "shop", Value: `a b,c=d\e`}},
			Fields: []sdk.Field{
				{Key: "i", Value: int64(-9007199254740993)}, {Key: "f", Value: 12.5},
				{Key: "s", Value: `say "hi" \ back\slash`}, {Key: "b", Value: true},
				{Key: "nl", Value: "two\nlines"},
			},
			Time: t0,
		},
		{
			Name: "m", Op: sdk.OpUpdate,
			Tags:   []sdk.Tag{{Key: "shop", Value: "plain"}},
			Fields: []sdk.Field{{Key: "i", Value: int64(7)}, {Key: "f", Value: 1e-7}, {Key: "s", Value: "ü"}, {Key: "b", Value: false}},
			Time:   t0.Add(time.Nanosecond),
		},
	}
	if err := h.p.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	got := srv.Rows(t, "rt1", "SELECT * FROM m")
	want := []map[string]any{
		{"time": json.Number(fmt.Sprint(t0.UnixNano())), "op": "insert", "shop": `a b,c=d\e`, "i": json.Number("-9007199254740993"), "f": json.Number("12.5"), "s": `say "hi" \ back\slash`, "b": true,
			// KNOWN LIMITATION of sdk/encoding (line-protocol/v2): a newline in
			// a string is written as the escape \n, which InfluxDB 1.x/2.x do
			// not unescape (they unescape only \" and \\), so it is stored as
			// a backslash and an n. Asserted so that a fix shows up here.
			"nl": `two\nlines`},
		{"time": json.Number(fmt.Sprint(t0.UnixNano() + 1)), "op": "update", "shop": "plain", "i": json.Number("7"), "f": json.Number("1e-7"), "s": "ü", "b": false, "nl": nil},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("read back\n%v\nwant\n%v", got, want)
	}
	types := map[string]string{}
	for _, r := range srv.Rows(t, "rt1", "SHOW FIELD KEYS FROM m") {
		types[r["fieldKey"].(string)] = r["fieldType"].(string)
	}
	if fmt.Sprint(types) != "map[b:boolean f:float i:integer nl:string s:string]" {
		t.Errorf("field types %v", types)
	}
	if h.c.get("lines_rejected") != 0 || h.c.get("events_skipped") != 0 {
		t.Errorf("counters %v", h.c)
	}
}

// TestRealPartialWrite: a field type conflict is a 400 partial write; the
// valid lines of the batch are written, nothing is retried.
func TestRealPartialWrite(t *testing.T) {
	srv := influxd(t)
	base := srv.URL
	srv.Exec(t, "CREATE DATABASE rt2")
	h := newPlugin(t, false, func(p *InfluxDB) { p.URLs, p.Database = []string{base}, "rt2" })
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := func(v any, tag string, ts time.Time) sdk.Event {
		return sdk.Event{Name: "m", Tags: []sdk.Tag{{Key: "t", Value: tag}}, Fields: []sdk.Field{{Key: "f", Value: v}}, Time: ts}
	}
	if err := h.p.Write(context.Background(), sdk.Batch{ev(int64(1), "a", t0)}); err != nil {
		t.Fatal(err)
	}
	err := h.p.Write(context.Background(), sdk.Batch{ev(1.5, "a", t0.Add(time.Second)), ev(int64(2), "b", t0.Add(2*time.Second))})
	if err != nil {
		t.Fatalf("partial write returned an error (the agent would retry it forever): %v", err)
	}
	if got := h.c.get("lines_rejected"); got != 1 {
		t.Errorf("lines_rejected = %d, want 1", got)
	}
	if !strings.Contains(h.logs.String(), "field type conflict") {
		t.Errorf("conflict not logged:\n%s", h.logs)
	}
	got := srv.Rows(t, "rt2", "SELECT f, t FROM m")
	want := fmt.Sprint([]map[string]any{
		{"time": json.Number(fmt.Sprint(t0.UnixNano())), "f": json.Number("1"), "t": "a"},
		{"time": json.Number(fmt.Sprint(t0.Add(2 * time.Second).UnixNano())), "f": json.Number("2"), "t": "b"},
	})
	if fmt.Sprint(got) != want {
		t.Errorf("read back %v\nwant %v", got, want)
	}
}

// TestRealMissingDatabase: a 404 is an error (the database may be created
// later, so the agent retries).
func TestRealMissingDatabase(t *testing.T) {
	srv := influxd(t)
	base := srv.URL
	h := newPlugin(t, false, func(p *InfluxDB) { p.URLs, p.Database = []string{base}, "nope" })
	err := h.p.Write(context.Background(), testBatch())
	if want := "influxdb: " + base + `: 404 Not Found: database not found: "nope"`; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}
