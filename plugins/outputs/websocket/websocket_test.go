package websocket

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	gws "github.com/gorilla/websocket"

	"github.com/rowflux/rowflux/sdk"
)

// counters is an Env.Counter that keeps what it hands out.
type counters struct {
	mu sync.Mutex
	m  map[string]*sdk.Counter
}

func (c *counters) counter(name, _ string) *sdk.Counter {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*sdk.Counter{}
	}
	if c.m[name] == nil {
		c.m[name] = &sdk.Counter{}
	}
	return c.m[name]
}

func (c *counters) get(name string) int64 { return c.counter(name, "").Load() }

// start builds the output as the agent does (registry, config, Init) on a
// free loopback port and closes it at the end of the test.
func start(t testing.TB, c *counters, configure func(*WebSocket)) *WebSocket {
	t.Helper()
	reg, ok := sdk.LookupOutput("websocket")
	if !ok {
		t.Fatal("outputs.websocket is not registered")
	}
	w := reg.New().(*WebSocket)
	w.Listen = "127.0.0.1:0"
	if configure != nil {
		configure(w)
	}
	if c == nil {
		c = &counters{}
	}
	if err := w.Init(sdk.Env{Counter: c.counter}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func wsURL(w *WebSocket, query string) string {
	u := "ws://" + w.Addr() + w.Path
	if query != "" {
		u += "?" + query
	}
	return u
}

// dial connects a client and returns the connection and the HTTP response
// (whose status tells why a refused connection was refused).
func dial(t testing.TB, url string, hdr http.Header) (*gws.Conn, *http.Response, error) {
	t.Helper()
	d := gws.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.Dial(url, hdr)
	if conn != nil {
		t.Cleanup(func() { conn.Close() })
	}
	return conn, resp, err
}

func mustDial(t testing.TB, url string, hdr http.Header) *gws.Conn {
	t.Helper()
	conn, resp, err := dial(t, url, hdr)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	return conn
}

// event is the JSON shape of one event in a message.
type event struct {
	Name   string            `json:"name"`
	Op     string            `json:"op,omitempty"`
	Tags   map[string]string `json:"tags"`
	Fields map[string]any    `json:"fields"`
	Time   string            `json:"time,omitempty"`
}

func read(t testing.TB, conn *gws.Conn) []event {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	typ, data, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != gws.TextMessage {
		t.Fatalf("message type %d, want text", typ)
	}
	var evs []event
	if err := json.Unmarshal(data, &evs); err != nil {
		t.Fatalf("message is not a JSON array of events: %v\n%s", err, data)
	}
	return evs
}

var t0 = time.Date(2026, 11, 21, 5, 47, 3, 123456789, time.UTC)

// batch i holds one "sales" event per region and one "latency" event, with
// values derived from i.
func batch(i int) sdk.Batch {
	var b sdk.Batch
	for r, region := range []string{"eu", "us"} {
		b = append(b, sdk.Event{
			Name: "sales", Op: sdk.OpInsert,
			Tags:   []sdk.Tag{{Key: "currency", Value: "EUR"}, {Key: "region", Value: region}},
			Fields: []sdk.Field{{Key: "amount", Value: float64(i) + 0.5}, {Key: "n", Value: int64(i*10 + r)}},
			Time:   t0.Add(time.Duration(i) * time.Second),
		})
	}
	b = append(b, sdk.Event{
		Name:   "latency",
		Tags:   []sdk.Tag{{Key: "service", Value: "api"}},
		Fields: []sdk.Field{{Key: "p95", Value: int64(100 + i)}, {Key: "label", Value: `say "hi"`}},
		Time:   t0.Add(time.Duration(i) * time.Second),
	})
	return b
}

func write(t testing.TB, w *WebSocket, b sdk.Batch) {
	t.Helper()
	if err := w.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

func TestMessageShape(t *testing.T) {
	w := start(t, nil, nil)
	conn := mustDial(t, wsURL(w, ""), nil)
	if got := read(t, conn); len(got) != 0 {
		t.Fatalf("first message on an empty server: %v, want []", got)
	}
	write(t, w, batch(1))
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := conn.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	// The same objects as the stdout output's JSON lines, in one array.
	want := `[{"name":"sales","op":"insert","tags":{"currency":"EUR","region":"eu"},"fields":{"amount":1.5,"n":10},"time":"2026-11-21T05:47:04.123456789Z"},` +
		`{"name":"sales","op":"insert","tags":{"currency":"EUR","region":"us"},"fields":{"amount":1.5,"n":11},"time":"2026-11-21T05:47:04.123456789Z"},` +
		`{"name":"latency","tags":{"service":"api"},"fields":{"p95":101,"label":"say \"hi\""},"time":"2026-11-21T05:47:04.123456789Z"}]`
	if string(data) != want {
		t.Fatalf("message\n%s\nwant\n%s", data, want)
	}
	// An empty batch sends nothing.
	write(t, w, nil)
	write(t, w, batch(2))
	if got := read(t, conn); got[0].Fields["amount"] != 2.5 {
		t.Fatalf("after an empty batch: %v", got)
	}
}

func TestBroadcastOrderToSeveralClients(t *testing.T) {
	w := start(t, nil, nil)
	const clients, batches = 5, 30
	conns := make([]*gws.Conn, clients)
	for i := range conns {
		conns[i] = mustDial(t, wsURL(w, ""), nil)
		read(t, conns[i]) // the (empty) state
	}
	waitFor(t, "clients registered", func() bool { return w.hub.clientCount() == clients })
	for i := 0; i < batches; i++ {
		write(t, w, batch(i))
	}
	for c, conn := range conns {
		for i := 0; i < batches; i++ {
			got := read(t, conn)
			if len(got) != 3 || got[0].Name != "sales" || got[0].Tags["region"] != "eu" ||
				got[0].Fields["n"] != float64(i*10) || got[1].Fields["n"] != float64(i*10+1) ||
				got[2].Fields["p95"] != float64(100+i) || got[2].Fields["label"] != `say "hi"` {
				t.Fatalf("client %d, message %d: %+v", c, i, got)
			}
		}
	}
}

func TestLatestStateOnConnect(t *testing.T) {
	c := &counters{}
	w := start(t, c, func(w *WebSocket) { w.MaxSeries = 4 })
	for i := 0; i < 3; i++ {
		write(t, w, batch(i))
	}
	// A series whose tags arrive unsorted is the same series.
	write(t, w, sdk.Batch{{
		Name: "sales", Tags: []sdk.Tag{{Key: "region", Value: "us"}, {Key: "currency", Value: "EUR"}},
		Fields: []sdk.Field{{Key: "amount", Value: 99.0}}, Time: t0,
	}})
	conn := mustDial(t, wsURL(w, ""), nil)
	got := read(t, conn)
	if len(got) != 3 {
		t.Fatalf("state has %d events, want the 3 series: %+v", len(got), got)
	}
	bySeries := map[string]event{}
	for _, e := range got {
		bySeries[e.Name+"/"+e.Tags["region"]] = e
	}
	if e := bySeries["sales/eu"]; e.Fields["n"] != float64(20) {
		t.Errorf("sales/eu latest = %+v, want the batch 2 value", e)
	}
	if e := bySeries["sales/us"]; e.Fields["amount"] != 99.0 || len(e.Fields) != 1 {
		t.Errorf("sales/us latest = %+v, want the unsorted-tag update", e)
	}
	if e := bySeries["latency/"]; e.Fields["p95"] != float64(102) {
		t.Errorf("latency latest = %+v", e)
	}
	// Least recently updated first: the us update came last.
	if got[2].Tags["region"] != "us" {
		t.Errorf("state order: %+v", got)
	}
	// Then the live batches follow, with nothing missed or repeated.
	write(t, w, batch(7))
	if live := read(t, conn); live[0].Fields["n"] != float64(70) {
		t.Fatalf("first live message %+v", live)
	}

	// max_series = 4: two new series evict the two least recently updated.
	write(t, w, sdk.Batch{
		{Name: "new", Tags: []sdk.Tag{{Key: "k", Value: "1"}}, Fields: []sdk.Field{{Key: "v", Value: int64(1)}}},
		{Name: "new", Tags: []sdk.Tag{{Key: "k", Value: "2"}}, Fields: []sdk.Field{{Key: "v", Value: int64(2)}}},
	})
	if n := w.hub.seriesCount(); n != 4 {
		t.Errorf("%d series kept, want max_series = 4", n)
	}
	if n := c.get("series_evicted"); n != 1 {
		t.Errorf("series_evicted = %d, want 1", n)
	}
	got = read(t, mustDial(t, wsURL(w, ""), nil))
	var names []string
	for _, e := range got {
		names = append(names, e.Name+"/"+e.Tags["region"]+e.Tags["k"])
	}
	// Batch 7 updated eu, us, latency in that order, then new/1 and new/2
	// arrived: the least recently updated, sales/eu, was evicted.
	if len(names) != 4 || names[0] != "sales/us" || names[1] != "latency/" || names[2] != "new/1" || names[3] != "new/2" {
		t.Errorf("state after eviction %v, want [sales/us latency/ new/1 new/2]", names)
	}
}

// TestSlowClientDropped: a client that never reads is disconnected once its
// queue is full, while 100 others receive every message.
func TestSlowClientDropped(t *testing.T) {
	c := &counters{}
	w := start(t, c, func(w *WebSocket) {
		w.ClientQueue = 4
		w.WriteTimeout = sdk.Duration(2 * time.Second)
		w.sendBuffer = 32 << 10
	})
	// The stalled client shrinks its receive buffer so that the server's
	// writes block soon; it never reads.
	d := gws.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			_ = conn.(*net.TCPConn).SetReadBuffer(4096)
		}
		return conn, err
	}}
	stalled, _, err := d.Dial(wsURL(w, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()

	const others = 100
	type result struct {
		n   int
		err error
	}
	results := make(chan result, others)
	var ready sync.WaitGroup
	ready.Add(others)
	stop := make(chan struct{})
	// got[i] is how many messages reader i has received in order.
	got := make([]atomic.Int64, others)
	for i := 0; i < others; i++ {
		conn := mustDial(t, wsURL(w, ""), nil)
		go func() {
			read(t, conn)
			ready.Done()
			next := 0
			for {
				_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
				_, data, err := conn.ReadMessage()
				if err != nil {
					select {
					case <-stop:
						results <- result{next, nil}
					default:
						results <- result{next, err}
					}
					return
				}
				var evs []event
				if err := json.Unmarshal(data, &evs); err != nil || len(evs) == 0 || evs[0].Fields["seq"] != float64(next) {
					results <- result{next, fmt.Errorf("message %d: %.80s", next, data)}
					return
				}
				next++
				got[i].Store(int64(next))
			}
		}()
	}
	ready.Wait()
	waitFor(t, "clients registered", func() bool { return w.hub.clientCount() == others+1 })
	allGot := func(n int) func() bool {
		return func() bool {
			for i := range got {
				if got[i].Load() < int64(n) {
					return false
				}
			}
			return true
		}
	}

	// 16 KB messages: with small socket buffers on both ends, a few fill
	// the stalled client's connection, then its queue.
	pad := strings.Repeat("x", 16<<10)
	sent := 0
	send := func() {
		write(t, w, sdk.Batch{{Name: "m", Fields: []sdk.Field{{Key: "seq", Value: int64(sent)}, {Key: "pad", Value: pad}}}})
		sent++
	}
	deadline := time.Now().Add(60 * time.Second)
	for c.get("clients_dropped") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("stalled client not dropped after %d messages", sent)
		}
		start := time.Now()
		send()
		if d := time.Since(start); d > time.Second {
			t.Errorf("Write took %v: it must not wait for clients", d)
		}
		// Let the readers keep up (each at most one message behind), so
		// only the stalled client falls behind.
		waitFor(t, "readers", allGot(sent-1))
	}
	for i := 0; i < 10; i++ {
		send()
		waitFor(t, "readers", allGot(sent-1))
	}
	waitFor(t, "every message delivered to the 100 readers", allGot(sent))
	close(stop)
	if n := c.get("clients_dropped"); n != 1 {
		t.Errorf("clients_dropped = %d, want 1", n)
	}
	if n := w.hub.clientCount(); n != others {
		t.Errorf("%d clients registered, want the %d readers", n, others)
	}

	// The server let go of the stalled connection: its handler returned,
	// which happens only after the writer closed the socket.
	waitFor(t, "stalled connection's handler to return", func() bool {
		w.hub.mu.Lock()
		defer w.hub.mu.Unlock()
		return w.hub.reserved == others
	})
	// The stalled client, reading at last, gets what was buffered and then
	// the end: the close frame 1008 "too slow" when the server could still
	// write it (its writer was blocked here, so usually not), else EOF.
	_ = stalled.SetReadDeadline(time.Now().Add(30 * time.Second))
	drained := 0
	for {
		if _, _, err = stalled.ReadMessage(); err != nil {
			break
		}
		drained++
	}
	var ce *gws.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce) && ce.Code == gws.CloseAbnormalClosure:
		t.Logf("stalled client: %d buffered messages, then the connection closed without a close frame (%v)", drained, err)
	case errors.As(err, &ce):
		if ce.Code != gws.ClosePolicyViolation || ce.Text != "too slow" {
			t.Errorf("stalled client closed with %d %q, want 1008 \"too slow\"", ce.Code, ce.Text)
		}
	case errors.As(err, &ne) && ne.Timeout():
		t.Errorf("stalled client still connected after reading %d messages: %v", drained, err)
	default:
		t.Logf("stalled client: %d buffered messages, then %v", drained, err)
	}
	t.Logf("stalled client dropped after %d messages of 16 KB", sent-10)
	w.Close()
	for i := 0; i < others; i++ {
		if r := <-results; r.err != nil {
			t.Errorf("reader: %v after %d messages", r.err, r.n)
		}
	}
}

// TestTooSlowCloseFrame: a client whose queue overflows while its socket is
// still writable receives the close frame 1008 "too slow".
func TestTooSlowCloseFrame(t *testing.T) {
	c := &counters{}
	w := start(t, c, func(w *WebSocket) { w.ClientQueue = 1 })
	conn := mustDial(t, wsURL(w, ""), nil)
	waitFor(t, "registered", func() bool { return w.hub.clientCount() == 1 })
	// The state message occupies the one-message queue until the writer takes
	// it; a burst of Writes overflows it before the writer can drain them.
	for i := 0; i < 2000 && c.get("clients_dropped") == 0; i++ {
		write(t, w, batch(i))
	}
	if c.get("clients_dropped") != 1 {
		t.Skip("the writer kept up with 2000 back-to-back writes; overflow not provoked")
	}
	var err error
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for err == nil {
		_, _, err = conn.ReadMessage()
	}
	if !gws.IsCloseError(err, gws.ClosePolicyViolation) || !strings.Contains(err.Error(), "too slow") {
		t.Fatalf("got %v, want close 1008 \"too slow\"", err)
	}
}

func TestAuthToken(t *testing.T) {
	w := start(t, nil, func(w *WebSocket) { w.AuthToken = "s3cr3t" })
	for _, tc := range []struct {
		name  string
		query string
		hdr   http.Header
		want  int
	}{
		{"missing", "", nil, http.StatusUnauthorized},
		{"bad query", "token=wrong", nil, http.StatusUnauthorized},
		{"bad header", "", http.Header{"Authorization": {"Bearer wrong"}}, http.StatusUnauthorized},
		{"prefix", "token=s3cr3", nil, http.StatusUnauthorized},
		{"header overrides query", "token=s3cr3t", http.Header{"Authorization": {"Bearer wrong"}}, http.StatusUnauthorized},
		{"query", "token=s3cr3t", nil, http.StatusSwitchingProtocols},
		{"header", "", http.Header{"Authorization": {"Bearer s3cr3t"}}, http.StatusSwitchingProtocols},
		{"header scheme case", "", http.Header{"Authorization": {"bearer s3cr3t"}}, http.StatusSwitchingProtocols},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, resp, err := dial(t, wsURL(w, tc.query), tc.hdr)
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("HTTP %d, want %d (%v)", resp.StatusCode, tc.want, err)
			}
			if conn != nil {
				read(t, conn)
			}
		})
	}
	// The dashboard needs the token too, and reads it from its own URL.
	for q, want := range map[string]int{"": 401, "?token=nope": 401, "?token=s3cr3t": 200} {
		resp, err := http.Get("http://" + w.Addr() + "/" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET /%s: HTTP %d, want %d", q, resp.StatusCode, want)
		}
	}
}

func TestOrigin(t *testing.T) {
	w := start(t, nil, func(w *WebSocket) { w.AllowedOrigins = []string{"https://wall.example.com"} })
	self := "http://" + w.Addr()
	for _, tc := range []struct {
		origin string
		want   int
	}{
		{"", http.StatusSwitchingProtocols}, // not a browser
		{self, http.StatusSwitchingProtocols},
		{"https://wall.example.com", http.StatusSwitchingProtocols},
		{"https://WALL.example.com", http.StatusSwitchingProtocols},
		{"https://evil.example.com", http.StatusForbidden},
		{"https://wall.example.com:8443", http.StatusForbidden},
		{"null", http.StatusForbidden},
	} {
		hdr := http.Header{}
		if tc.origin != "" {
			hdr.Set("Origin", tc.origin)
		}
		conn, resp, err := dial(t, wsURL(w, ""), hdr)
		if resp == nil || resp.StatusCode != tc.want {
			t.Errorf("origin %q: response %v, want %d (%v)", tc.origin, resp, tc.want, err)
			continue
		}
		if conn != nil {
			conn.Close()
		}
	}
	// Default: same origin only.
	w2 := start(t, nil, nil)
	for origin, want := range map[string]int{"http://" + w2.Addr(): 101, "https://wall.example.com": 403} {
		_, resp, err := dial(t, wsURL(w2, ""), http.Header{"Origin": {origin}})
		if resp == nil || resp.StatusCode != want {
			t.Errorf("default origins, %q: %v, want %d (%v)", origin, resp, want, err)
		}
	}
}

func TestOversizedClientFrame(t *testing.T) {
	w := start(t, nil, func(w *WebSocket) { w.MaxMessageSize = 64 })
	conn := mustDial(t, wsURL(w, ""), nil)
	read(t, conn)
	// A small frame is read and ignored.
	if err := conn.WriteMessage(gws.TextMessage, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	write(t, w, batch(1))
	read(t, conn)
	if err := conn.WriteMessage(gws.TextMessage, make([]byte, 65)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := conn.ReadMessage()
	if !gws.IsCloseError(err, gws.CloseMessageTooBig) {
		t.Fatalf("after an oversized frame: %v, want close 1009", err)
	}
	waitFor(t, "client unregistered", func() bool { return w.hub.clientCount() == 0 })
}

func TestMaxClients(t *testing.T) {
	c := &counters{}
	w := start(t, c, func(w *WebSocket) { w.MaxClients = 3 })
	var conns []*gws.Conn
	for i := 0; i < 3; i++ {
		conns = append(conns, mustDial(t, wsURL(w, ""), nil))
	}
	_, resp, err := dial(t, wsURL(w, ""), nil)
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("fourth client: %v, want HTTP 503 (%v)", resp, err)
	}
	if c.get("clients_rejected") != 1 {
		t.Errorf("clients_rejected = %d", c.get("clients_rejected"))
	}
	// A slot frees when a client leaves.
	conns[0].Close()
	waitFor(t, "slot freed", func() bool {
		conn, _, err := dial(t, wsURL(w, ""), nil)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
}

func TestCloseDisconnectsClients(t *testing.T) {
	w := start(t, nil, nil)
	addr := w.Addr()
	conn := mustDial(t, wsURL(w, ""), nil)
	read(t, conn)
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := conn.ReadMessage()
	if !gws.IsCloseError(err, gws.CloseGoingAway) {
		t.Errorf("client got %v, want close 1001", err)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("server still accepts connections after Close")
	}
	if err := w.Write(context.Background(), batch(1)); err == nil {
		t.Error("Write after Close succeeded")
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestGoroutinesReturnToBaseline(t *testing.T) {
	w := start(t, nil, func(w *WebSocket) { w.PingInterval = sdk.Duration(50 * time.Millisecond) })
	write(t, w, batch(0))
	time.Sleep(50 * time.Millisecond)
	base := runtime.NumGoroutine()
	var conns []*gws.Conn
	for i := 0; i < 50; i++ {
		conn := mustDial(t, wsURL(w, ""), nil)
		read(t, conn)
		conns = append(conns, conn)
	}
	write(t, w, batch(1))
	for _, c := range conns {
		read(t, c)
	}
	if n := runtime.NumGoroutine(); n < base+50 {
		t.Errorf("%d goroutines with 50 clients, baseline %d: expected at least 2 per client", n, base)
	}
	time.Sleep(150 * time.Millisecond) // a few pings
	for _, c := range conns {
		c.Close()
	}
	// Unregistering can trail the goroutines' exit: wait for both.
	waitFor(t, "goroutines back to baseline and no client registered", func() bool {
		return runtime.NumGoroutine() <= base+3 && w.hub.clientCount() == 0
	})
}

func TestPingKeepsClientAlive(t *testing.T) {
	w := start(t, nil, func(w *WebSocket) {
		w.PingInterval = sdk.Duration(100 * time.Millisecond)
		w.WriteTimeout = sdk.Duration(200 * time.Millisecond)
	})
	conn := mustDial(t, wsURL(w, ""), nil)
	pings := make(chan struct{}, 100)
	conn.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return conn.WriteControl(gws.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	go func() {
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	// Well past ping_interval + write_timeout: pongs keep the client in.
	time.Sleep(time.Second)
	if len(pings) < 3 {
		t.Errorf("%d pings in 1s at a 100ms interval", len(pings))
	}
	if w.hub.clientCount() != 1 {
		t.Error("a client answering pings was disconnected")
	}

	// A client that never reads never answers pings: it is disconnected.
	silent := mustDial(t, wsURL(w, ""), nil)
	_ = silent
	waitFor(t, "silent client disconnected", func() bool { return w.hub.clientCount() == 1 })
}

func TestDashboardServed(t *testing.T) {
	w := start(t, nil, func(w *WebSocket) { w.Path = "/live/socket" })
	resp, err := http.Get("http://" + w.Addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	page := string(body)
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'sha256-", "style-src 'sha256-", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP allows unsafe sources: %q", csp)
	}
	if !strings.Contains(page, `content="/live/socket"`) {
		t.Error("the page does not carry the configured socket path")
	}
	for _, bad := range []string{`src="`, `href="http`, `href="//`, "url(", "@import", `rel="stylesheet"`} {
		if strings.Contains(page, bad) {
			t.Errorf("the page references an external asset (%q)", bad)
		}
	}
	if resp, err := http.Get("http://" + w.Addr() + "/other"); err != nil || resp.StatusCode != 404 {
		t.Errorf("GET /other: %v %v", resp, err)
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	w := start(t, nil, func(w *WebSocket) { w.TLSCert, w.TLSKey = certFile, keyFile })
	d := gws.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: 10 * time.Second}
	conn, _, err := d.Dial("wss://"+w.Addr()+w.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	read(t, conn)
	write(t, w, batch(3))
	if got := read(t, conn); len(got) != 3 {
		t.Fatalf("over TLS: %+v", got)
	}
	// Plain WebSocket is refused on a TLS listener.
	if _, _, err := dial(t, wsURL(w, ""), nil); err == nil {
		t.Error("plain ws:// accepted by a TLS server")
	}
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rowflux test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestInitErrors(t *testing.T) {
	for _, tc := range []struct {
		set  func(*WebSocket)
		want string
	}{
		{func(w *WebSocket) { w.Path = "ws" }, `path "ws": must start with "/" and differ from "/" (the dashboard)`},
		{func(w *WebSocket) { w.Path = "/" }, `path "/": must start with "/" and differ from "/" (the dashboard)`},
		{func(w *WebSocket) { w.ClientQueue = 0 }, "client_queue = 0: must be at least 1"},
		{func(w *WebSocket) { w.MaxClients = 0 }, "max_clients = 0: must be at least 1"},
		{func(w *WebSocket) { w.MaxSeries = -1 }, "max_series = -1: must not be negative (0 disables the latest-value state)"},
		{func(w *WebSocket) { w.MaxMessageSize = 0 }, "max_message_size = 0: must be at least 1"},
		{func(w *WebSocket) { w.PingInterval = 0 }, "ping_interval = 0s: must be positive"},
		{func(w *WebSocket) { w.WriteTimeout = 0 }, "write_timeout = 0s: must be positive"},
		{func(w *WebSocket) { w.TLSCert = "x.pem" }, "tls_cert and tls_key: set both or neither"},
		{func(w *WebSocket) { w.TLSCert, w.TLSKey = "/nonexistent/c.pem", "/nonexistent/k.pem" }, "tls_cert/tls_key: open /nonexistent/c.pem: no such file or directory"},
		{func(w *WebSocket) { w.AllowedOrigins = []string{"wall.example.com"} }, `allowed_origins: "wall.example.com" is not an origin (example: "https://wall.example.com")`},
		{func(w *WebSocket) { w.Listen = "" }, `listen: must not be empty (example: "127.0.0.1:8080")`},
	} {
		w := New()
		w.Listen = "127.0.0.1:0"
		tc.set(w)
		err := w.Init(sdk.Env{})
		if err == nil || err.Error() != tc.want {
			t.Errorf("Init: %v, want %q", err, tc.want)
		}
		if err := w.Close(); err != nil { // Close copes with a failed Init
			t.Errorf("Close after failed Init: %v", err)
		}
	}
	// Address in use.
	w := start(t, nil, nil)
	w2 := New()
	w2.Listen = w.Addr()
	if err := w2.Init(sdk.Env{}); err == nil || !strings.HasPrefix(err.Error(), "listen "+w.Addr()+": ") {
		t.Errorf("Init on a used port: %v", err)
	}
	// Write before Init.
	if err := New().Write(context.Background(), batch(0)); err == nil {
		t.Error("Write before Init succeeded")
	}
}

func TestSampleConfig(t *testing.T) {
	reg, ok := sdk.LookupOutput("websocket")
	if !ok {
		t.Fatal("outputs.websocket is not registered")
	}
	if !strings.HasPrefix(sampleConfig, "# "+reg.Description+"\n") {
		t.Errorf("sample.conf does not start with the description line")
	}
	var typed struct {
		Outputs struct{ Websocket []toml.Primitive }
	}
	md, err := toml.Decode(sampleConfig, &typed)
	if err != nil || len(typed.Outputs.Websocket) != 1 {
		t.Fatalf("sample.conf: %v, %d tables", err, len(typed.Outputs.Websocket))
	}
	w := reg.New().(*WebSocket)
	if err := md.PrimitiveDecode(typed.Outputs.Websocket[0], w); err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) != 0 {
		t.Errorf("sample keys the plugin does not know: %v", u)
	}
	if !sameConfig(w, New()) {
		t.Errorf("the sample's values differ from the defaults: %+v", w)
	}
	// Every commented-out key decodes too.
	var all strings.Builder
	for _, line := range strings.Split(sampleConfig, "\n") {
		all.WriteString(strings.Replace(line, "  # ", "  ", 1) + "\n")
	}
	md, err = toml.Decode(all.String(), &typed)
	if err != nil {
		t.Fatalf("uncommented sample: %v", err)
	}
	w = reg.New().(*WebSocket)
	if err := md.PrimitiveDecode(typed.Outputs.Websocket[0], w); err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) != 0 {
		t.Errorf("sample keys the plugin does not know: %v", u)
	}
	if w.TLSCert == "" || len(w.AllowedOrigins) != 1 {
		t.Errorf("uncommented keys not decoded: %+v", w)
	}
}

func sameConfig(a, b *WebSocket) bool {
	return a.Listen == b.Listen && a.Path == b.Path && a.AuthToken == b.AuthToken &&
		len(a.AllowedOrigins) == len(b.AllowedOrigins) && a.TLSCert == b.TLSCert && a.TLSKey == b.TLSKey &&
		a.ClientQueue == b.ClientQueue && a.MaxSeries == b.MaxSeries && a.MaxClients == b.MaxClients &&
		a.MaxMessageSize == b.MaxMessageSize && a.PingInterval == b.PingInterval && a.WriteTimeout == b.WriteTimeout
}

// waitFor polls cond for up to 30 s: generous, for loaded CI machines.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNoStateWhenMaxSeriesZero(t *testing.T) {
	w := start(t, nil, func(w *WebSocket) { w.MaxSeries = 0 })
	write(t, w, batch(1))
	conn := mustDial(t, wsURL(w, ""), nil)
	if got := read(t, conn); len(got) != 0 {
		t.Fatalf("state with max_series = 0: %+v", got)
	}
	write(t, w, batch(2))
	if got := read(t, conn); len(got) != 3 {
		t.Fatalf("live message %+v", got)
	}
}

func TestDashboardMethods(t *testing.T) {
	w := start(t, nil, nil)
	resp, err := http.Head("http://" + w.Addr() + "/")
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("HEAD /: %v %v", resp, err)
	}
	resp, err = http.Post("http://"+w.Addr()+"/", "text/plain", strings.NewReader("x"))
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /: %v %v", resp, err)
	}
	resp.Body.Close()
	// A plain GET on the socket path is not an upgrade.
	resp, err = http.Get("http://" + w.Addr() + w.Path)
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("GET %s: %v %v", w.Path, resp, err)
	}
	resp.Body.Close()
}

// TestEvictionsLoggedOncePerInterval: a burst of evictions is one warning,
// and what the rate limit held back is logged at Close.
func TestEvictionsLoggedOncePerInterval(t *testing.T) {
	var logs syncBuffer
	w := New()
	w.Listen = "127.0.0.1:0"
	w.MaxSeries = 2
	c := &counters{}
	if err := w.Init(sdk.Env{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Counter: c.counter}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		write(t, w, sdk.Batch{
			{Name: "m", Tags: []sdk.Tag{{Key: "k", Value: fmt.Sprint(i, "a")}}, Fields: []sdk.Field{{Key: "v", Value: int64(i)}}},
			{Name: "m", Tags: []sdk.Tag{{Key: "k", Value: fmt.Sprint(i, "b")}}, Fields: []sdk.Field{{Key: "v", Value: int64(i)}}},
		})
	}
	if n := c.get("series_evicted"); n != 8 {
		t.Errorf("series_evicted = %d, want 8", n)
	}
	lines := func() []string {
		var out []string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "max_series reached") {
				out = append(out, l)
			}
		}
		return out
	}
	if l := lines(); len(l) != 1 || !strings.Contains(l[0], "count=2") {
		t.Fatalf("eviction warnings %q, want one with count=2", l)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if l := lines(); len(l) != 2 || !strings.Contains(l[1], "count=6") {
		t.Fatalf("eviction warnings after Close %q, want a second with count=6", l)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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
