package influxdb

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/rowflux/rowflux/sdk"
)

const (
	testPassword = "pa55-w0rd-secret"
	testToken    = "tok-3f9a7c-secret"
	testURLPass  = "url-pass-secret"
)

var commitTime = time.Date(2026, 11, 21, 5, 47, 3, 123456789, time.UTC)

// counters is an Env.Counter that keeps what it hands out.
type counters map[string]*sdk.Counter

func (c counters) counter(name, _ string) *sdk.Counter {
	if c[name] == nil {
		c[name] = &sdk.Counter{}
	}
	return c[name]
}

func (c counters) get(name string) int64 {
	if c[name] == nil {
		return 0
	}
	return c[name].Load()
}

// syncBuffer is a log destination safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harness struct {
	p      *InfluxDB
	c      counters
	logs   *syncBuffer
	sleeps []time.Duration
}

// newPlugin builds the plugin the way the agent does (registry, config,
// Init), with sleeps recorded instead of slept unless realSleep.
func newPlugin(t *testing.T, realSleep bool, configure func(p *InfluxDB)) *harness {
	t.Helper()
	reg, ok := sdk.LookupOutput("influxdb")
	if !ok {
		t.Fatal("outputs.influxdb is not registered")
	}
	p := reg.New().(*InfluxDB)
	configure(p)
	h := &harness{p: p, c: counters{}, logs: &syncBuffer{}}
	if !realSleep {
		p.sleep = func(ctx context.Context, d time.Duration) bool {
			h.sleeps = append(h.sleeps, d)
			return ctx.Err() == nil
		}
	}
	err := p.Init(sdk.Env{
		Logger:  slog.New(slog.NewTextHandler(h.logs, nil)),
		Counter: h.c.counter,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return h
}

func testBatch() sdk.Batch {
	return sdk.Batch{
		{
			Name: "transactions", Op: sdk.OpInsert,
			Tags:   []sdk.Tag{{Key: "currency", Value: "EUR"}, {Key: "shop", Value: "a b,c=d"}},
			Fields: []sdk.Field{{Key: "amount", Value: 12.5}, {Key: "id", Value: int64(7)}, {Key: "note", Value: `say "hi" \ ok`}, {Key: "paid", Value: true}},
			Time:   commitTime,
		},
		{
			Name:   "volume",
			Tags:   []sdk.Tag{{Key: "category", Value: "books"}},
			Fields: []sdk.Field{{Key: "total", Value: 1250.75}, {Key: "n", Value: int64(-42)}},
			Time:   commitTime.Add(time.Second),
		},
	}
}

// point is a decoded line.
type point struct {
	name   string
	tags   map[string]string
	fields map[string]any
	time   time.Time
}

func (p point) String() string {
	return fmt.Sprintf("%s %v %v %d", p.name, p.tags, p.fields, p.time.UnixNano())
}

// decodeLines parses a line-protocol body with the reference decoder.
func decodeLines(t testing.TB, body []byte) []point {
	t.Helper()
	var out []point
	dec := lineprotocol.NewDecoderWithBytes(body)
	for dec.Next() {
		m, err := dec.Measurement()
		if err != nil {
			t.Fatalf("measurement: %v", err)
		}
		pt := point{name: string(m), tags: map[string]string{}, fields: map[string]any{}}
		for {
			k, v, err := dec.NextTag()
			if err != nil {
				t.Fatalf("tag: %v", err)
			}
			if k == nil {
				break
			}
			pt.tags[string(k)] = string(v)
		}
		for {
			k, v, err := dec.NextField()
			if err != nil {
				t.Fatalf("field: %v", err)
			}
			if k == nil {
				break
			}
			pt.fields[string(k)] = v.Interface()
		}
		ts, err := dec.Time(lineprotocol.Nanosecond, time.Time{})
		if err != nil {
			t.Fatalf("time: %v", err)
		}
		pt.time = ts.UTC()
		out = append(out, pt)
	}
	return out
}

// readBody returns the request body, gunzipped when so encoded.
func readBody(t testing.TB, r *http.Request) []byte {
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			t.Errorf("gzip: %v", err)
			return nil
		}
		rd = zr
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Errorf("read body: %v", err)
	}
	return b
}

func TestWriteV2(t *testing.T) {
	var (
		mu     sync.Mutex
		bodies [][]byte
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v2/write" {
			t.Errorf("%s %s, want POST /api/v2/write", r.Method, r.URL.Path)
		}
		q := r.URL.Query()
		if q.Get("org") != "my org" || q.Get("bucket") != "db/rp" || q.Get("precision") != "ns" || len(q) != 3 {
			t.Errorf("query %v", q)
		}
		if got := r.Header.Get("Authorization"); got != "Token "+testToken {
			t.Errorf("Authorization %q", got)
		}
		if got := r.Header.Get("Content-Encoding"); got != "gzip" {
			t.Errorf("Content-Encoding %q, want gzip", got)
		}
		if got := r.Header.Get("User-Agent"); got != "rowflux" {
			t.Errorf("User-Agent %q", got)
		}
		if got := r.Header.Get("Content-Type"); got != "text/plain; charset=utf-8" {
			t.Errorf("Content-Type %q", got)
		}
		b := readBody(t, r)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	h := newPlugin(t, false, func(p *InfluxDB) {
		p.URLs = []string{srv.URL + "/"}
		p.Organization, p.Bucket, p.Token = "my org", "db/rp", testToken
	})
	if h.p.API != "v2" {
		t.Fatalf("api = %q, want v2 (bucket is set)", h.p.API)
	}
	for i := 0; i < 2; i++ { // the second write reuses the buffers
		if err := h.p.Write(context.Background(), testBatch()); err != nil {
			t.Fatal(err)
		}
	}
	if len(bodies) != 2 {
		t.Fatalf("%d requests, want 2", len(bodies))
	}
	want := []string{
		`transactions map[currency:EUR op:insert shop:a b,c=d] map[amount:12.5 id:7 note:say "hi" \ ok paid:true] ` + strconv.FormatInt(commitTime.UnixNano(), 10),
		`volume map[category:books] map[n:-42 total:1250.75] ` + strconv.FormatInt(commitTime.Add(time.Second).UnixNano(), 10),
	}
	for i, b := range bodies {
		pts := decodeLines(t, b)
		if len(pts) != len(want) {
			t.Fatalf("request %d: %d lines, want %d:\n%s", i, len(pts), len(want), b)
		}
		for j, pt := range pts {
			if pt.String() != want[j] {
				t.Errorf("request %d line %d:\n got %s\nwant %s", i, j, pt, want[j])
			}
		}
		if _, ok := pts[0].fields["id"].(int64); !ok {
			t.Errorf("id decoded as %T, want int64", pts[0].fields["id"])
		}
		if _, ok := pts[0].fields["paid"].(bool); !ok {
			t.Errorf("paid decoded as %T, want bool", pts[0].fields["paid"])
		}
	}
}

func TestWriteV1IdentityBasicAuth(t *testing.T) {
	type req struct {
		path, query, auth, encoding, body string
	}
	var got []req
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, req{r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Content-Encoding"), string(readBody(t, r))})
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }

	// username/password
	h := newPlugin(t, false, func(p *InfluxDB) {
		p.URLs = []string{srv.URL + "/prefix"}
		p.Database, p.RetentionPolicy, p.Username, p.Password = "my db", "rp1", "writer", testPassword
		p.ContentEncoding, p.UserAgent = "identity", "custom/1"
	})
	if err := h.p.Write(context.Background(), testBatch()[1:]); err != nil {
		t.Fatal(err)
	}
	// credentials from the URL's userinfo, stripped from the request URL
	u := strings.Replace(srv.URL, "http://", "http://urluser:"+testURLPass+"@", 1)
	h2 := newPlugin(t, false, func(p *InfluxDB) {
		p.URLs = []string{u}
		p.Database = "x"
	})
	if err := h2.p.Write(context.Background(), testBatch()[1:]); err != nil {
		t.Fatal(err)
	}
	line := "volume,category=books total=1250.75,n=-42i " + strconv.FormatInt(commitTime.Add(time.Second).UnixNano(), 10) + "\n"
	want := []req{
		{"/prefix/write", "db=my+db&precision=ns&rp=rp1", basic("writer", testPassword), "", line},
		{"/write", "db=x&precision=ns", basic("urluser", testURLPass), "gzip", line},
	}
	if len(got) != len(want) {
		t.Fatalf("requests %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if h2.p.endpoints[0].display != srv.URL || strings.Contains(h2.p.endpoints[0].write, testURLPass) {
		t.Errorf("endpoint keeps userinfo: %+v", h2.p.endpoints[0].display)
	}
}

func TestInitErrors(t *testing.T) {
	cases := []struct {
		name      string
		configure func(p *InfluxDB)
		want      string
	}{
		{"nothing", func(p *InfluxDB) {}, `database: required for the v1 write API (or set bucket, and organization and token as needed, to use the v2 API)`},
		{"v2 without bucket", func(p *InfluxDB) { p.API = "v2"; p.Token = "t" }, `bucket: required for the v2 write API (for InfluxDB 1.8 use "database/retention_policy")`},
		{"bad api", func(p *InfluxDB) { p.API = "v3"; p.Database = "x" }, `api: must be "v1" or "v2", got "v3"`},
		{"v1 with v2 keys", func(p *InfluxDB) { p.API = "v1"; p.Database = "x"; p.Bucket = "b"; p.Token = testToken }, `bucket, token: only used with the v2 API, but api = "v1"`},
		{"v2 with v1 keys", func(p *InfluxDB) { p.Bucket = "b"; p.Database = "x"; p.Password = testPassword }, `database, password: only used with the v1 API, but the v2 API is selected (api = "v2" or bucket is set)`},
		{"timeout", func(p *InfluxDB) { p.Database = "x"; p.Timeout = 0 }, `timeout: must be positive, got 0s`},
		{"encoding", func(p *InfluxDB) { p.Database = "x"; p.ContentEncoding = "br" }, `content_encoding: must be "gzip" or "identity", got "br"`},
		{"no urls", func(p *InfluxDB) { p.Database = "x"; p.URLs = nil }, `urls: at least one URL is required (for example ["http://127.0.0.1:8086"])`},
		{"bad url", func(p *InfluxDB) {
			p.Database = "x"
			p.URLs = []string{"http://u:" + testURLPass + "@h:8086", "http://u:" + testURLPass + "@%zz"}
		}, `urls[1]: not a valid URL (want for example "http://127.0.0.1:8086")`},
		{"bad scheme", func(p *InfluxDB) { p.Database = "x"; p.URLs = []string{"ftp://u:" + testURLPass + "@h:8086"} }, `urls[0]: "ftp://h:8086": scheme must be http or https`},
		{"no scheme", func(p *InfluxDB) { p.Database = "x"; p.URLs = []string{"127.0.0.1:8086"} }, `urls[0]: not a valid URL (want for example "http://127.0.0.1:8086")`},
		{"no scheme, host name", func(p *InfluxDB) { p.Database = "x"; p.URLs = []string{"influx"} }, `urls[0]: "influx": scheme must be http or https`},
		{"empty host", func(p *InfluxDB) { p.Database = "x"; p.URLs = []string{"http:///write"} }, `urls[0]: "http:///write": no host (want for example "http://127.0.0.1:8086")`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := New()
			tc.configure(p)
			err := p.Init(sdk.Env{})
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v\n want %s", err, tc.want)
			}
			p.Close() // must cope with a failed Init
		})
	}
}

func TestDefaults(t *testing.T) {
	p := New()
	p.Database = "x"
	if err := p.Init(sdk.Env{}); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.API != "v1" || p.endpoints[0].write != "http://127.0.0.1:8086/write?db=x&precision=ns" ||
		time.Duration(p.Timeout) != 5*time.Second || !p.gzip || p.client.Timeout != 5*time.Second {
		t.Errorf("defaults: api %q, url %q, timeout %v, gzip %v", p.API, p.endpoints[0].write, p.Timeout, p.gzip)
	}
	p2 := New()
	p2.Bucket, p2.API = "b", "v2"
	if err := p2.Init(sdk.Env{}); err != nil {
		t.Fatal(err)
	}
	if p2.endpoints[0].write != "http://127.0.0.1:8086/api/v2/write?bucket=b&precision=ns" {
		t.Errorf("v2 url without org: %q", p2.endpoints[0].write)
	}
}

func TestWriteBeforeInit(t *testing.T) {
	if err := New().Write(context.Background(), testBatch()); err == nil {
		t.Fatal("Write before Init succeeded")
	}
}

// statusServer answers every request with the given status, headers and body.
func statusServer(t *testing.T, status int, header map[string]string, body string) (*httptest.Server, *int) {
	t.Helper()
	var mu sync.Mutex
	n := new(int)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		*n++
		mu.Unlock()
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, n
}

func v1(urls ...string) func(p *InfluxDB) {
	return func(p *InfluxDB) { p.URLs = urls; p.Database = "x" }
}

func TestRetryAfter429(t *testing.T) {
	date := time.Now().Add(20 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		header string
		min    time.Duration
		max    time.Duration
	}{
		{"3", 3 * time.Second, 3 * time.Second},
		{"3600", 60 * time.Second, 60 * time.Second}, // bounded
		{date, 18 * time.Second, 21 * time.Second},
		{"", 0, 0},
		{"soon", 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.header, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.header != "" {
				hdr["Retry-After"] = tc.header
			}
			srv, _ := statusServer(t, http.StatusTooManyRequests, hdr, `{"code":"too many requests","message":"org exceeded write limit"}`)
			h := newPlugin(t, false, v1(srv.URL))
			err := h.p.Write(context.Background(), testBatch())
			want := "influxdb: " + srv.URL + ": 429 Too Many Requests (rate limited): org exceeded write limit"
			if err == nil || err.Error() != want {
				t.Fatalf("error %v, want %s", err, want)
			}
			if tc.max == 0 {
				if len(h.sleeps) != 0 {
					t.Errorf("slept %v without a Retry-After", h.sleeps)
				}
				return
			}
			if len(h.sleeps) != 1 || h.sleeps[0] < tc.min || h.sleeps[0] > tc.max {
				t.Errorf("slept %v, want one sleep in [%v, %v]", h.sleeps, tc.min, tc.max)
			}
		})
	}
}

// TestRetryAfterRealSleep checks the wait really happens, and that it ends
// early when the context does.
func TestRetryAfterRealSleep(t *testing.T) {
	srv, _ := statusServer(t, http.StatusTooManyRequests, map[string]string{"Retry-After": "1"}, "")
	h := newPlugin(t, true, v1(srv.URL))
	start := time.Now()
	err := h.p.Write(context.Background(), testBatch())
	if el := time.Since(start); err == nil || el < 950*time.Millisecond || el > 3*time.Second {
		t.Errorf("error %v after %v, want an error after about 1s", err, el)
	}

	srv2, _ := statusServer(t, http.StatusServiceUnavailable, map[string]string{"Retry-After": "30"}, "")
	h2 := newPlugin(t, true, v1(srv2.URL))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	err = h2.p.Write(ctx, testBatch())
	if el := time.Since(start); err == nil || el > 2*time.Second {
		t.Errorf("error %v after %v, want an error as soon as the context ends", err, el)
	}
}

func Test503(t *testing.T) {
	srv, _ := statusServer(t, http.StatusServiceUnavailable, map[string]string{"Retry-After": "2"}, "engine is overloaded")
	h := newPlugin(t, false, v1(srv.URL))
	err := h.p.Write(context.Background(), testBatch())
	if want := "influxdb: " + srv.URL + ": 503 Service Unavailable: engine is overloaded"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
	if len(h.sleeps) != 1 || h.sleeps[0] != 2*time.Second {
		t.Errorf("sleeps %v, want [2s]", h.sleeps)
	}
}

func TestFailover(t *testing.T) {
	// A port that refuses connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()

	unavailable, nUnavailable := statusServer(t, http.StatusServiceUnavailable, nil, "")
	good, nGood := statusServer(t, http.StatusNoContent, nil, "")
	h := newPlugin(t, false, v1(refused, unavailable.URL, good.URL))
	for i := 0; i < 3; i++ {
		if err := h.p.Write(context.Background(), testBatch()); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	// The first write tries all three; the next ones go straight to the
	// URL that answered.
	if *nUnavailable != 1 || *nGood != 3 || h.p.preferred != 2 {
		t.Errorf("503 server saw %d requests, good one %d, preferred %d; want 1, 3, 2", *nUnavailable, *nGood, h.p.preferred)
	}

	// All failing: one error naming every URL.
	h2 := newPlugin(t, false, v1(refused, unavailable.URL))
	err = h2.p.Write(context.Background(), testBatch())
	if err == nil || !strings.HasPrefix(err.Error(), "influxdb: write failed on all 2 URLs: "+refused+": ") ||
		!strings.Contains(err.Error(), "connection refused") ||
		!strings.HasSuffix(err.Error(), "; "+unavailable.URL+": 503 Service Unavailable") {
		t.Errorf("error %v", err)
	}
}

func TestAuthFailed(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		srv, _ := statusServer(t, status, nil, `{"code":"unauthorized","message":"unauthorized access"}`)
		h := newPlugin(t, false, func(p *InfluxDB) { p.URLs = []string{srv.URL}; p.Bucket = "b"; p.Token = testToken })
		err := h.p.Write(context.Background(), testBatch())
		want := fmt.Sprintf("influxdb: %s: authentication failed (check token/password): %d %s: unauthorized access", srv.URL, status, http.StatusText(status))
		if err == nil || err.Error() != want {
			t.Errorf("error %v\n want %s", err, want)
		}
	}
}

func TestOther4xx(t *testing.T) {
	long := `{"error":"database not found: \"x\" ` + strings.Repeat("é", 400) + `"}`
	srv, _ := statusServer(t, http.StatusNotFound, nil, long)
	h := newPlugin(t, false, v1(srv.URL))
	err := h.p.Write(context.Background(), testBatch())
	prefix := "influxdb: " + srv.URL + `: 404 Not Found: database not found: "x" é`
	if err == nil || !strings.HasPrefix(err.Error(), prefix) || !strings.HasSuffix(err.Error(), "…") || len(err.Error()) > len(prefix)+maxExcerpt+10 {
		t.Errorf("error %v", err)
	}
}

// Test413Split: the server takes at most maxLines lines per request and
// never a line containing "huge".
func Test413Split(t *testing.T) {
	const maxLines = 4
	var received []string
	requests := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		body := string(readBody(t, r))
		lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
		if len(lines) > maxLines || strings.Contains(body, "huge") {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			io.WriteString(w, `{"error":"Request Entity Too Large"}`)
			return
		}
		received = append(received, lines...)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	h := newPlugin(t, false, v1(srv.URL))

	var batch sdk.Batch
	var want []string
	for i := 0; i < 37; i++ {
		ev := sdk.Event{Name: "m", Fields: []sdk.Field{{Key: "i", Value: int64(i)}}, Time: commitTime}
		switch {
		case i == 5: // unencodable: skipped, not a line
			ev.Name = ""
		case i == 20:
			ev.Fields = append(ev.Fields, sdk.Field{Key: "s", Value: "huge\nmulti-line string"})
		default:
			want = append(want, fmt.Sprintf("m i=%di %d", i, commitTime.UnixNano()))
		}
		batch = append(batch, ev)
	}
	if err := h.p.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if strings.Join(received, "\n") != strings.Join(want, "\n") {
		t.Errorf("received %d lines:\n%s\nwant %d:\n%s", len(received), strings.Join(received, "\n"), len(want), strings.Join(want, "\n"))
	}
	if got := h.c.get("lines_dropped"); got != 1 {
		t.Errorf("lines_dropped = %d, want 1", got)
	}
	if got := h.c.get("events_skipped"); got != 1 {
		t.Errorf("events_skipped = %d, want 1 (counted once, not again when splitting)", got)
	}
	if !strings.Contains(h.logs.String(), "line dropped") || !strings.Contains(h.logs.String(), "m i=20i") {
		t.Errorf("drop not logged:\n%s", h.logs)
	}
	// A later write still works with the reused buffers.
	received = nil
	if err := h.p.Write(context.Background(), batch[:3]); err != nil || len(received) != 3 {
		t.Errorf("write after split: %v, %d lines", err, len(received))
	}
}

func TestParseRejection(t *testing.T) {
	cases := []struct {
		name  string
		body  string
		n     int
		count int
		msg   string
		lines []string
	}{
		{"1.x type conflict", `{"error":"partial write: field type conflict: input field \"f\" on measurement \"m\" is type float, already exists as type integer dropped=1"}`, 5, 1,
			`partial write: field type conflict: input field "f" on measurement "m" is type float, already exists as type integer dropped=1`, nil},
		{"1.x parse errors", `{"error":"unable to parse 'm f=': missing field value\nunable to parse 'x y z': invalid field format"}`, 5, 2,
			"unable to parse 'm f=': missing field value\nunable to parse 'x y z': invalid field format", []string{"m f=", "x y z"}},
		{"2.x partial", `{"code":"invalid","message":"partial write error (3 written): unable to parse 'bad': missing fields"}`, 5, 2,
			"partial write error (3 written): unable to parse 'bad': missing fields", []string{"bad"}},
		{"2.x 422", `{"code":"unprocessable entity","message":"failure writing points to database: partial write: points beyond retention policy dropped=4"}`, 5, 4,
			"failure writing points to database: partial write: points beyond retention policy dropped=4", nil},
		{"3.x", `{"error":"partial write of line protocol occurred","data":[{"original_line":"m f=","line_number":2,"error_message":"missing value"},{"original_line":"n","line_number":3,"error_message":"no fields"}]}`, 5, 2,
			"partial write of line protocol occurred", []string{"m f= (missing value)", "n (no fields)"}},
		{"unknown", `something else`, 5, 5, "something else", nil},
		{"capped", `{"error":"dropped=9"}`, 5, 5, "dropped=9", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := parseRejection([]byte(tc.body), tc.n)
			if r.count != tc.count || r.message != tc.msg || fmt.Sprint(r.lines) != fmt.Sprint(tc.lines) {
				t.Errorf("got %d %q %q\nwant %d %q %q", r.count, r.message, r.lines, tc.count, tc.msg, tc.lines)
			}
		})
	}
}

func TestRejectedCountedAndRateLimited(t *testing.T) {
	srv, _ := statusServer(t, http.StatusBadRequest, nil, `{"error":"unable to parse 'm f=': missing field value"}`)
	h := newPlugin(t, false, v1(srv.URL))
	now := commitTime
	h.p.now = func() time.Time { return now }
	messages := func() int { return strings.Count(h.logs.String(), "InfluxDB rejected lines") }

	for i, step := range []struct {
		advance  time.Duration
		messages int
	}{{0, 1}, {time.Second, 1}, {9 * time.Second, 2}, {time.Second, 2}} {
		now = now.Add(step.advance)
		if err := h.p.Write(context.Background(), testBatch()); err != nil {
			t.Fatalf("write %d: a 400 must not be an error (retrying cannot help): %v", i, err)
		}
		if got := messages(); got != step.messages {
			t.Errorf("after write %d: %d log messages, want %d\n%s", i, got, step.messages, h.logs)
		}
	}
	if got := h.c.get("lines_rejected"); got != 4 {
		t.Errorf("lines_rejected = %d, want 4", got)
	}
	if !strings.Contains(h.logs.String(), "count=2 ") || !strings.Contains(h.logs.String(), `line1="m f="`) {
		t.Errorf("log lacks the accumulated count or the line:\n%s", h.logs)
	}
	h.p.Close()
	if got := messages(); got != 3 || !strings.HasSuffix(strings.TrimSpace(h.logs.String()), "count=1") {
		t.Errorf("Close did not log the held-back count:\n%s", h.logs)
	}

	// 422 is handled alike.
	srv422, _ := statusServer(t, http.StatusUnprocessableEntity, nil, `{"code":"unprocessable entity","message":"partial write: dropped=1"}`)
	h2 := newPlugin(t, false, v1(srv422.URL))
	if err := h2.p.Write(context.Background(), testBatch()); err != nil || h2.c.get("lines_rejected") != 1 {
		t.Errorf("422: %v, lines_rejected %d", err, h2.c.get("lines_rejected"))
	}
}

func TestSkippedCounted(t *testing.T) {
	srv, n := statusServer(t, http.StatusNoContent, nil, "")
	h := newPlugin(t, false, v1(srv.URL))
	bad := sdk.Batch{{Name: "m"}, {Name: "", Fields: []sdk.Field{{Key: "f", Value: int64(1)}}}}
	if err := h.p.Write(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	if *n != 0 || h.c.get("events_skipped") != 2 || !strings.Contains(h.logs.String(), "events skipped") {
		t.Errorf("requests %d, events_skipped %d, logs %s", *n, h.c.get("events_skipped"), h.logs)
	}
	if err := h.p.Write(context.Background(), nil); err != nil || *n != 0 {
		t.Errorf("empty batch: %v, %d requests", err, *n)
	}
}

func TestNetworkErrorAndTimeout(t *testing.T) {
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-block
	}))
	defer slow.Close()
	defer close(block)
	h := newPlugin(t, false, func(p *InfluxDB) {
		p.URLs, p.Database, p.Timeout = []string{slow.URL}, "x", sdk.Duration(100*time.Millisecond)
	})
	err := h.p.Write(context.Background(), testBatch())
	if err == nil || !strings.HasPrefix(err.Error(), "influxdb: "+slow.URL+": ") || !strings.Contains(err.Error(), "Timeout") {
		t.Errorf("error %v", err)
	}
}

// TestSecretsNeverShown drives every error path with a password, a token
// and URL userinfo configured, with servers that even echo them back.
func TestSecretsNeverShown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedHost := ln.Addr().String()
	ln.Close()
	echo := func(status int) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			// Echo the credentials the request carried, decoded too.
			user, pass, _ := r.BasicAuth()
			fmt.Fprintf(w, `{"error":"bad credentials %s %s %s"}`, r.Header.Get("Authorization"), user, pass)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	withUser := func(u string) string { return strings.Replace(u, "http://", "http://admin:"+testURLPass+"@", 1) }

	type shown struct {
		text    string
		secrets []string
	}
	var texts []shown
	for _, status := range []int{401, 403, 404, 429, 500, 503, 400, 413} {
		srv := echo(status)
		for _, api := range []string{"v1", "v2"} {
			h := newPlugin(t, false, func(p *InfluxDB) {
				p.URLs = []string{withUser("http://" + refusedHost), withUser(srv.URL)}
				if api == "v1" {
					p.Database, p.Username, p.Password = "x", "admin", testPassword
				} else {
					p.Bucket, p.Token = "b", testToken
				}
			})
			secrets := []string{testURLPass, base64.StdEncoding.EncodeToString([]byte("admin:" + testURLPass))}
			if api == "v1" {
				secrets = append(secrets, testPassword, base64.StdEncoding.EncodeToString([]byte("admin:"+testPassword)))
			} else {
				secrets = append(secrets, testToken)
			}
			if err := h.p.Write(context.Background(), testBatch()); err != nil {
				texts = append(texts, shown{err.Error(), secrets})
			}
			h.p.Close()
			texts = append(texts, shown{h.logs.String(), secrets})
		}
	}
	// Init errors quoting a URL.
	p := New()
	p.Database, p.URLs = "x", []string{"ftp://admin:" + testURLPass + "@h"}
	if err := p.Init(sdk.Env{}); err != nil {
		texts = append(texts, shown{err.Error(), []string{testURLPass}})
	}
	errs := 0
	for _, s := range texts {
		if strings.HasPrefix(s.text, "influxdb: ") || strings.HasPrefix(s.text, "urls") {
			errs++
		}
		for _, secret := range s.secrets {
			if strings.Contains(s.text, secret) {
				t.Errorf("secret %q shown in:\n%s", secret, s.text)
			}
		}
	}
	if errs < 13 {
		t.Fatalf("only %d errors collected: %+v", errs, texts)
	}
	t.Logf("sample error: %s", texts[0].text)
}

func TestSampleConfig(t *testing.T) {
	reg, ok := sdk.LookupOutput("influxdb")
	if !ok {
		t.Fatal("outputs.influxdb is not registered")
	}
	if reg.Description != "Write events to InfluxDB (v1 or v2 write API) as line protocol" ||
		reg.SampleConfig != sampleConfig || !strings.HasPrefix(sampleConfig, "# "+reg.Description+"\n[[outputs.influxdb]]\n") {
		t.Errorf("registration: %q\n%s", reg.Description, sampleConfig)
	}
	var typed struct {
		Outputs struct{ Influxdb []toml.Primitive }
	}
	md, err := toml.Decode(sampleConfig, &typed)
	if err != nil || len(typed.Outputs.Influxdb) != 1 {
		t.Fatalf("sample.conf: %v, %d tables", err, len(typed.Outputs.Influxdb))
	}
	var common struct {
		BatchSize int `toml:"batch_size"`
	}
	if err := md.PrimitiveDecode(typed.Outputs.Influxdb[0], &common); err != nil || common.BatchSize != 5000 {
		t.Errorf("batch_size = %d (%v), want 5000", common.BatchSize, err)
	}
	p := reg.New().(*InfluxDB)
	if err := md.PrimitiveDecode(typed.Outputs.Influxdb[0], p); err != nil {
		t.Fatal(err)
	}
	if err := p.Init(sdk.Env{}); err != nil {
		t.Fatalf("sample does not initialise: %v", err)
	}
	p.Close()
	// Every key of the plugin appears in the sample.
	for _, k := range []string{"urls", "api", "organization", "bucket", "token", "database", "retention_policy", "username", "password", "timeout", "content_encoding", "user_agent", "flush_interval", "buffer_limit", "on_full", "retry_max_interval"} {
		if !strings.Contains(sampleConfig, k+" = ") {
			t.Errorf("sample.conf does not mention %s", k)
		}
	}
}
