//go:build faults

package main

import (
	"bufio"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/rowflux/rowflux/agent/faultreport"
	"github.com/rowflux/rowflux/plugins/common/influxtest"
	"github.com/rowflux/rowflux/plugins/common/pgtest"

	_ "modernc.org/sqlite"
)

// Fault scenario 5: hostile input against the real binary. Clients without
// the token, from foreign origins or sending oversized and malformed frames
// while a legitimate client streams; a full run with passwords and tokens
// in the configuration, whose every printed line is searched for them;
// SQL injection through the identifiers of a capture input.

const (
	// Characters that URL and basic-auth encodings change, so that each
	// encoded form is a different string to look for.
	pgPassword     = "Pg pa55/w0rd:s3cr@t+Zq"
	influxPassword = "Ifx pa55/w0rd#9!"
	influxToken    = "ifx-T0ken+/k3y=="
	wsToken        = "ws-T0ken-4Kx~7"
)

// secretForms are the ways a secret can show up in text: as written, URL
// escaped (query and path), and base64 (alone and as basic auth).
func secretForms(user, s string) []string {
	forms := []string{
		s, url.QueryEscape(s), url.PathEscape(s),
		strings.TrimPrefix(url.UserPassword(user, s).String(), user+":"),
		base64.StdEncoding.EncodeToString([]byte(s)), base64.URLEncoding.EncodeToString([]byte(s)),
		base64.RawStdEncoding.EncodeToString([]byte(s)),
		base64.StdEncoding.EncodeToString([]byte(user + ":" + s)),
	}
	slices.Sort(forms)
	return slices.Compact(forms)
}

// leaks lists where any form of any secret occurs in text.
func leaks(text string, secrets map[string][]string) []string {
	var out []string
	for name, forms := range secrets {
		for _, f := range forms {
			if n := strings.Count(text, f); n > 0 {
				out = append(out, fmt.Sprintf("%s as %q ×%d", name, f, n))
			}
		}
	}
	return out
}

// rawWSFrames upgrades a raw TCP connection with the token, writes data as
// client frames, ends its half of the stream and returns the close code
// the server sent (0: none) and whether the connection then ended.
func rawWSFrames(t *testing.T, addr, path, token string, data []byte) (code int, ended bool) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nAuthorization: Bearer %s\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path, addr, token)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	go func() {
		_, _ = conn.Write(data)
		_ = conn.(*net.TCPConn).CloseWrite()
	}()
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return code, errors.Is(err, io.EOF) || strings.Contains(err.Error(), "reset")
		}
		n := int(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			io.ReadFull(br, b[:])
			n = int(b[0])<<8 | int(b[1])
		case 127:
			var b [8]byte
			io.ReadFull(br, b[:])
			n = 0
			for _, c := range b {
				n = n<<8 | int(c)
			}
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			return code, false
		}
		if h[0]&0x0f == gws.CloseMessage && code == 0 && len(p) >= 2 {
			code = int(p[0])<<8 | int(p[1])
		}
	}
}

// observer is a legitimate WebSocket client that records every sequence
// number it is sent.
type observer struct {
	mu       sync.Mutex
	seqs     map[int64]int
	messages int
	closeErr error
	done     chan struct{}
}

func (o *observer) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.messages
}

func watch(conn *gws.Conn) *observer {
	o := &observer{seqs: map[int64]int{}, done: make(chan struct{})}
	go func() {
		defer close(o.done)
		first := true
		for {
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, data, err := conn.ReadMessage()
			if err != nil {
				o.mu.Lock()
				o.closeErr = err
				o.mu.Unlock()
				return
			}
			var evs []struct {
				Fields map[string]any `json:"fields"`
			}
			_ = json.Unmarshal(data, &evs)
			o.mu.Lock()
			if !first { // the first message is the latest-value state
				for _, e := range evs {
					if s, ok := e.Fields["seq"].(float64); ok {
						o.seqs[int64(s)]++
					}
				}
			}
			first = false
			o.messages++
			o.mu.Unlock()
		}
	}()
	return o
}

// gaps counts the sequence numbers missing between the first and last
// received, and those received more than once.
func (o *observer) gaps() (ledger, delivered, missed, dups int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var lo, hi int64 = -1, -1
	for s, n := range o.seqs {
		if lo < 0 || s < lo {
			lo = s
		}
		if s > hi {
			hi = s
		}
		dups += n - 1
	}
	if lo < 0 {
		return 0, 0, 0, 0
	}
	ledger = int(hi - lo + 1)
	delivered = len(o.seqs)
	return ledger, delivered, ledger - delivered, dups
}

// TestFaultHostileWebSocketAuth: while a legitimate client streams from the
// agent's WebSocket output, clients without the token, with a wrong one,
// from foreign origins, a flood of them, and clients sending oversized,
// unmasked and garbage frames are all refused or cut off; the legitimate
// client keeps receiving every event, and the token never reaches the log.
func TestFaultHostileWebSocketAuth(t *testing.T) {
	wsAddr, httpAddr := freeAddr(t), freeAddr(t)
	conf := writeConfig(t, fmt.Sprintf(`
[agent]
  http_listen = %q
  state_dir = %q
[[inputs.generate]]
  name = "ticks"
  rate = 300.0
  batch_size = 10
[[outputs.websocket]]
  listen = %q
  auth_token = %q
  allowed_origins = ["https://wall.example.com"]
  max_message_size = 256
  batch_size = 20
  flush_interval = "50ms"
`, httpAddr, filepath.Join(t.TempDir(), "state"), wsAddr, wsToken))
	a := startAgentWithLog(t, conf)
	wsURL := "ws://" + wsAddr + "/ws"
	var good *gws.Conn
	if !waitFor(20*time.Second, func() bool {
		c, _, err := gws.DefaultDialer.Dial(wsURL, http.Header{"Authorization": {"Bearer " + wsToken}})
		good = c
		return err == nil
	}) {
		t.Fatalf("the WebSocket output did not come up:\n%s", a.log.Bytes())
	}
	obs := watch(good)
	if !waitFor(10*time.Second, func() bool { return obs.count() >= 3 }) {
		t.Fatal("the legitimate client receives nothing")
	}

	type attempt struct {
		name string
		try  func() (refused bool, how string)
	}
	dial := func(target string, hdr http.Header) (bool, string) {
		c, resp, err := gws.DefaultDialer.Dial(target, hdr)
		if c != nil {
			c.Close()
			return false, "upgraded"
		}
		if resp == nil {
			return false, fmt.Sprintf("no answer: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		if strings.Contains(string(body), "ticks") || strings.Contains(string(body), wsToken) {
			return false, "the refusal carries data or the token"
		}
		return resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden, resp.Status
	}
	bearer := http.Header{"Authorization": {"Bearer " + wsToken}}
	withOrigin := func(o string) http.Header { return http.Header{"Authorization": {"Bearer " + wsToken}, "Origin": {o}} }
	attempts := []attempt{
		{"no token", func() (bool, string) { return dial(wsURL, nil) }},
		{"wrong token in the query", func() (bool, string) { return dial(wsURL+"?token=ws-T0ken-4Kx~8", nil) }},
		{"wrong bearer token", func() (bool, string) {
			return dial(wsURL, http.Header{"Authorization": {"Bearer " + wsToken[:len(wsToken)-1]}})
		}},
		{"foreign origin", func() (bool, string) { return dial(wsURL, withOrigin("https://evil.example.com")) }},
		{"origin null", func() (bool, string) { return dial(wsURL, withOrigin("null")) }},
		{"oversized frame", func() (bool, string) {
			c, _, err := gws.DefaultDialer.Dial(wsURL, bearer)
			if err != nil {
				return false, err.Error()
			}
			defer c.Close()
			if err := c.WriteMessage(gws.TextMessage, make([]byte, 257)); err != nil {
				return false, err.Error()
			}
			for {
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, _, err = c.ReadMessage(); err != nil {
					break
				}
			}
			_ = c.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
			_, rerr := c.NetConn().Read(make([]byte, 1))
			ended := errors.Is(rerr, io.EOF) || rerr != nil && strings.Contains(rerr.Error(), "reset")
			return gws.IsCloseError(err, gws.CloseMessageTooBig) && ended, fmt.Sprintf("%v, then %v", err, rerr)
		}},
		{"unmasked frame", func() (bool, string) {
			code, ended := rawWSFrames(t, wsAddr, "/ws", wsToken, []byte{0x81, 0x02, 'h', 'i'})
			return code == gws.CloseProtocolError && ended, fmt.Sprintf("close %d, ended %v", code, ended)
		}},
		{"64-bit length with the top bit set", func() (bool, string) {
			code, ended := rawWSFrames(t, wsAddr, "/ws", wsToken, []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4})
			return code == gws.CloseMessageTooBig && ended, fmt.Sprintf("close %d, ended %v", code, ended)
		}},
		{"garbage after the handshake", func() (bool, string) {
			code, ended := rawWSFrames(t, wsAddr, "/ws", wsToken, []byte("GET / HTTP/1.1\r\n\r\n\x00\xff"))
			return code == gws.CloseProtocolError && ended, fmt.Sprintf("close %d, ended %v", code, ended)
		}},
	}
	for i := 0; i < 40; i++ {
		attempts = append(attempts, attempt{fmt.Sprintf("flood %d", i), func() (bool, string) {
			return dial(wsURL+"?token=guess"+fmt.Sprint(i), nil)
		}})
	}
	refused := 0
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, at := range attempts {
		before := obs.count()
		run := func() {
			ok, how := at.try()
			mu.Lock()
			defer mu.Unlock()
			if ok {
				refused++
			} else {
				t.Errorf("%s: not refused: %s", at.name, how)
			}
		}
		if strings.HasPrefix(at.name, "flood") {
			// The flood runs concurrently, as an attacker's would.
			wg.Add(1)
			go func() { defer wg.Done(); run() }()
			continue
		}
		run()
		if !waitFor(5*time.Second, func() bool { return obs.count() > before }) {
			t.Fatalf("after attempt %d (%s) the legitimate client stopped receiving", i, at.name)
		}
	}
	wg.Wait()
	before := obs.count()
	if !waitFor(5*time.Second, func() bool { return obs.count() > before+3 }) {
		t.Fatal("after the flood the legitimate client stopped receiving")
	}
	if code := a.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	<-obs.done
	if !gws.IsCloseError(obs.closeErr, gws.CloseGoingAway) {
		t.Errorf("legitimate client ended with %v, want close 1001 at shutdown", obs.closeErr)
	}
	ledger, delivered, missed, dups := obs.gaps()
	if missed != 0 || dups != 0 || ledger < 100 {
		t.Errorf("legitimate client: %d sequence numbers from first to last, %d received, %d missing, %d twice", ledger, delivered, missed, dups)
	}
	all := string(a.log.Bytes()) + string(a.out.Bytes())
	if l := leaks(all, map[string][]string{"websocket token": secretForms("", wsToken)}); len(l) > 0 {
		t.Errorf("the token is in the agent's output: %v", l)
	}
	faultreport.Record(t, faultreport.Row{
		Scenario:   "hostile: websocket auth",
		Injected:   fmt.Sprintf("%d hostile clients (no/wrong token, foreign origin, 40-client flood, oversized, unmasked, 2^63-byte and garbage frames)", len(attempts)),
		Ledger:     ledger,
		Delivered:  delivered,
		Missed:     missed,
		Duplicates: dups,
		Notes: fmt.Sprintf("ledger/delivered: sequence numbers a legitimate client should get/got while under attack; %d of %d attempts refused (401/403 before upgrade, close 1009/1002 and the connection ended); token absent from the log",
			refused, len(attempts)),
	})
}

// TestFaultHostileSecretsStayOutOfLogs runs the agent at debug level with
// the secrets written into the file (where the generic redaction of ${ENV}
// values does not apply): a PostgreSQL DSN with a password, an InfluxDB v1
// output with basic auth, an unreachable InfluxDB v2 output and one that
// echoes the credentials it got in its error answers, both with a token, a
// WebSocket output with a token and failed and successful client
// handshakes. Nothing any command printed (setup, doctor, workload, a --test
// run, the run itself, /metrics) holds a password or a token in any form;
// neither do the errors of invalid configurations holding them.
func TestFaultHostileSecretsStayOutOfLogs(t *testing.T) {
	u, err := url.Parse(pgtest.DB(t))
	if err != nil {
		t.Fatal(err)
	}
	user := u.User.Username()
	u.User = url.UserPassword(user, pgPassword)
	pgDSN := u.String()
	secrets := map[string][]string{
		"postgres password": secretForms(user, pgPassword),
		"influx password":   secretForms("rowflux", influxPassword),
		"influx token":      secretForms("", influxToken),
		"websocket token":   secretForms("", wsToken),
	}
	var texts []struct{ what, text string } // everything the agent printed
	keep := func(what string, r result) {
		texts = append(texts, struct{ what, text string }{what, r.stdout + r.stderr})
	}
	if r := runAgent(t, nil, "workload", "--dsn", pgDSN, "--schema-only"); r.code != 0 {
		t.Fatalf("schema: %d %s", r.code, r.stderr)
	} else {
		keep("workload --schema-only", r)
	}

	influx := influxtest.Start(t)
	influx.Exec(t, "CREATE DATABASE rowflux")
	// A hostile InfluxDB: it refuses every write and quotes what it was
	// sent, credentials included, in its answer.
	var echoed sync.Map
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		echoed.Store(r.Header.Get("Authorization"), true)
		http.Error(w, fmt.Sprintf(`{"code":"unauthorized","message":"bad credentials %s for %s"}`, r.Header.Get("Authorization"), r.URL), http.StatusUnauthorized)
	}))
	defer echo.Close()
	closed := freeAddr(t) // nothing listens there
	wsAddr, httpAddr := freeAddr(t), freeAddr(t)
	influxURL, _ := url.Parse(influx.URL)
	influxURL.User = url.UserPassword("rowflux", influxPassword)

	conf := writeConfig(t, fmt.Sprintf(`
[agent]
  http_listen = %q
  state_dir = %q
  # Two outputs never succeed: the drain at shutdown gives up after this.
  shutdown_timeout = "2s"
[[inputs.postgres]]
  dsn = %q
  strategy = "trigger"
  poll_interval = "100ms"
  [[inputs.postgres.tables]]
    name = "transactions"
    key = ["transaction_id"]
    tags = ["currency"]
[[outputs.influxdb]]
  urls = [%q]
  database = "rowflux"
  username = "rowflux"
  password = %q
  flush_interval = "100ms"
[[outputs.influxdb]]
  alias = "userinfo"
  urls = [%q]
  database = "rowflux"
  flush_interval = "100ms"
[[outputs.influxdb]]
  alias = "unreachable"
  urls = ["http://%s"]
  bucket = "rowflux"
  organization = "o"
  token = %q
  timeout = "300ms"
  on_full = "drop_oldest"
  buffer_limit = 1000
  flush_interval = "100ms"
  retry_max_interval = "300ms"
[[outputs.influxdb]]
  alias = "echo"
  urls = [%q]
  bucket = "rowflux"
  organization = "o"
  token = %q
  on_full = "drop_oldest"
  buffer_limit = 1000
  flush_interval = "100ms"
  retry_max_interval = "300ms"
[[outputs.websocket]]
  listen = %q
  auth_token = %q
  flush_interval = "100ms"
`, httpAddr, filepath.Join(t.TempDir(), "state"), pgDSN, influx.URL, influxPassword, influxURL.String(),
		closed, influxToken, echo.URL, influxToken, wsAddr, wsToken))

	for _, args := range [][]string{{"setup"}, {"doctor"}, {"setup", "--dry-run"}} {
		r := runAgent(t, nil, append(args, "--config", conf, "--log-level", "debug")...)
		if r.code != 0 && args[0] == "setup" && len(args) == 1 {
			t.Fatalf("setup: %d %s", r.code, r.stderr)
		}
		keep(strings.Join(args, " "), r)
	}
	testRun := runAgent(t, nil, "--config", conf, "--test", "--test-duration", "2s", "--log-level", "debug")
	keep("--test", testRun)

	a := startAgentWithLog(t, conf)
	work := runAgent(t, nil, "workload", "--dsn", pgDSN, "--rate", "200", "--duration", "2s")
	if work.code != 0 {
		t.Fatalf("workload: %d %s", work.code, work.stderr)
	}
	keep("workload", work)
	points := func() int64 {
		n, _ := influx.Int("rowflux", "SELECT count(amount) FROM transactions", "count")
		return n
	}
	if !waitFor(20*time.Second, func() bool { return points() >= 100 }) {
		t.Fatalf("InfluxDB has %d points from the workload's changes, want at least 100", points())
	}
	// A failed and a successful client, the dashboard refused, a scrape.
	if _, resp, _ := gws.DefaultDialer.Dial("ws://"+wsAddr+"/ws?token=wrong", nil); resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: %v", resp)
	}
	if c, _, err := gws.DefaultDialer.Dial("ws://"+wsAddr+"/ws?token="+url.QueryEscape(wsToken), nil); err != nil {
		t.Errorf("right token: %v", err)
	} else {
		c.Close()
	}
	if resp, err := http.Get("http://" + wsAddr + "/?token=" + url.QueryEscape(wsToken+"x")); err == nil {
		resp.Body.Close()
	}
	metrics := getMetrics(t, httpAddr)
	texts = append(texts, struct{ what, text string }{"/metrics", metrics})
	// Errors of the failing outputs must have been logged, or the test
	// proves nothing about them.
	if !waitFor(10*time.Second, func() bool {
		return a.logLine("outputs.influxdb:unreachable") != "" && a.logLine("outputs.influxdb:echo", "401") != ""
	}) {
		t.Fatalf("no error logged for the unreachable or the echoing InfluxDB:\n%s", a.log.Bytes())
	}
	if a.logLine("outputs.influxdb:echo", "[redacted]") == "" {
		t.Fatalf("the echoed credentials did not reach the log redacted:\n%s", a.log.Bytes())
	}
	sawToken := false
	echoed.Range(func(k, _ any) bool { sawToken = sawToken || k == "Token "+influxToken; return true })
	if !sawToken {
		t.Fatal("the echoing InfluxDB never received the token")
	}
	// Exit 1: the outputs that never deliver make the drain give up, and
	// that error is printed too.
	if code := a.stop(t); code != 0 && a.logLine("shutdown did not finish") == "" {
		t.Fatalf("exit %d:\n%s", code, a.log.Bytes())
	}
	texts = append(texts, struct{ what, text string }{"run (stderr)", string(a.log.Bytes())}, struct{ what, text string }{"run (stdout)", string(a.out.Bytes())})
	runLines := strings.Count(string(a.log.Bytes()), "\n")

	// Invalid configurations holding the secrets: the error says what is
	// wrong without them.
	for _, bad := range []struct{ name, conf string }{
		{"postgres dsn with a bad port", fmt.Sprintf("[[inputs.postgres]]\n  dsn = %q\n  [[inputs.postgres.tables]]\n    name = \"t\"\n    key = [\"id\"]\n[[outputs.stdout]]\n",
			strings.Replace(pgDSN, "127.0.0.1:5432", "127.0.0.1:port", 1))},
		{"postgres key=value dsn with a bad port", fmt.Sprintf("[[inputs.postgres]]\n  dsn = %q\n  [[inputs.postgres.tables]]\n    name = \"t\"\n    key = [\"id\"]\n[[outputs.stdout]]\n",
			"host=127.0.0.1 port=x user=postgres password='"+pgPassword+"'")},
		{"postgres dsn, unterminated string", fmt.Sprintf("[[inputs.postgres]]\n  dsn = \"%s\n[[outputs.stdout]]\n", pgDSN)},
		{"postgres dsn, hostile table", fmt.Sprintf("[[inputs.postgres]]\n  dsn = %q\n  [[inputs.postgres.tables]]\n    name = \"t; DROP TABLE canary\"\n    key = [\"id\"]\n[[outputs.stdout]]\n", pgDSN)},
		{"influxdb url with userinfo and a bad port", fmt.Sprintf("[[inputs.generate]]\n[[outputs.influxdb]]\n  urls = [%q]\n  database = \"x\"\n",
			strings.Replace(influxURL.String(), influxURL.Host, "127.0.0.1:port", 1))},
		{"influxdb url with userinfo and a bad scheme", fmt.Sprintf("[[inputs.generate]]\n[[outputs.influxdb]]\n  urls = [%q]\n  database = \"x\"\n",
			strings.Replace(influxURL.String(), "http://", "ftp://", 1))},
		{"influxdb token with the v1 API", fmt.Sprintf("[[inputs.generate]]\n[[outputs.influxdb]]\n  urls = [\"http://127.0.0.1:1\"]\n  database = \"x\"\n  token = %q\n", influxToken)},
		{"influxdb password with a bad timeout", fmt.Sprintf("[[inputs.generate]]\n[[outputs.influxdb]]\n  urls = [\"http://127.0.0.1:1\"]\n  database = \"x\"\n  username = \"rowflux\"\n  password = %q\n  timeout = \"5 parsecs\"\n", influxPassword)},
		{"websocket token with a bad listen", fmt.Sprintf("[[inputs.generate]]\n[[outputs.websocket]]\n  listen = \"nowhere\"\n  auth_token = %q\n", wsToken)},
		{"websocket token in an unknown key", fmt.Sprintf("[[inputs.generate]]\n[[outputs.websocket]]\n  auth_tokn = %q\n", wsToken)},
		{"oracle dsn without a service", fmt.Sprintf("[[inputs.oracle]]\n  dsn = %q\n  [[inputs.oracle.tables]]\n    name = \"t\"\n    key = [\"id\"]\n[[outputs.stdout]]\n",
			"oracle://rowflux:"+url.PathEscape(pgPassword)+"@127.0.0.1:1521")},
	} {
		p := writeConfig(t, bad.conf)
		runs := [][]string{{"--config", p}}
		if !strings.HasPrefix(bad.name, "influxdb") && !strings.HasPrefix(bad.name, "websocket") {
			// setup initialises the inputs only: an output's mistake is
			// not its business.
			runs = append(runs, []string{"setup", "--config", p})
		}
		for _, args := range runs {
			r := runAgent(t, nil, append(args, "--log-level", "debug")...)
			if r.code == 0 || strings.TrimSpace(r.stderr) == "" {
				t.Errorf("%s (%s): exit %d, stderr %q", bad.name, args[0], r.code, r.stderr)
			}
			keep(bad.name+" ("+args[0]+")", r)
		}
	}

	found := 0
	for _, x := range texts {
		if l := leaks(x.text, secrets); len(l) > 0 {
			found += len(l)
			t.Errorf("%s prints secrets: %v\n%s", x.what, l, x.text)
		}
	}
	faultreport.Record(t, faultreport.Row{
		Scenario: "hostile: secrets in logs",
		Injected: "passwords and tokens written into the file (postgres dsn, influxdb basic auth, URL userinfo and tokens, websocket token); unreachable and credential-echoing InfluxDB; failed handshakes; 11 invalid configurations",
		Ledger:   len(texts),
		Delivered: func() int {
			n := 0
			for _, x := range texts {
				if len(leaks(x.text, secrets)) == 0 {
					n++
				}
			}
			return n
		}(),
		Missed: found,
		Notes: fmt.Sprintf("ledger/delivered: texts searched (every command's stdout+stderr, the run's %d log lines at debug, /metrics) / texts without any secret; missed: occurrences found; %d forms searched (raw, URL-escaped, base64, basic auth)",
			runLines, len(secrets["postgres password"])+len(secrets["influx password"])+len(secrets["influx token"])+len(secrets["websocket token"])),
	})
}

// TestFaultHostileIdentifiers: `agent setup` refuses, with an error naming
// the instance and the key, configurations whose identifiers try SQL
// injection, against a real SQLite file and a real PostgreSQL database
// holding a canary table that must keep its rows.
func TestFaultHostileIdentifiers(t *testing.T) {
	hostile := []string{`x"; DROP TABLE canary; --`, "x'; DROP TABLE canary; --", "canary;", "表", "a\u202eb"}
	dir := t.TempDir()
	sqlitePath := filepath.Join(dir, "shop.db")
	db, err := sql.Open("sqlite", sqlitePath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE canary (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO canary VALUES (1, 'a'), (2, 'b'); CREATE TABLE transactions (transaction_id INTEGER PRIMARY KEY, updated_at TEXT)"); err != nil {
		t.Fatal(err)
	}
	pgDSN := pgtest.DB(t)
	pgtest.Exec(t, pgDSN, "CREATE TABLE canary (id int PRIMARY KEY, v text)", "INSERT INTO canary VALUES (1, 'a'), (2, 'b')",
		"CREATE TABLE transactions (transaction_id int PRIMARY KEY, updated_at timestamp)")
	inputs := []struct{ kind, source string }{{"sqlite", fmt.Sprintf("path = %q", sqlitePath)}, {"postgres", fmt.Sprintf("dsn = %q", pgDSN)}}
	keys := []struct{ key, line string }{
		{"changelog_table", "changelog_table = %[1]q"},
		{"tables[0].name", "[[inputs.%[2]s.tables]]\n    name = %[1]q\n    key = [\"transaction_id\"]"},
		{"tables[0] (transactions).key", "[[inputs.%[2]s.tables]]\n    name = \"transactions\"\n    key = [%[1]q]"},
		{"tables[0] (transactions).timestamp_column", "[[inputs.%[2]s.tables]]\n    name = \"transactions\"\n    key = [\"transaction_id\"]\n    timestamp_column = %[1]q"},
	}
	tried, refused := 0, 0
	for _, in := range inputs {
		for _, k := range keys {
			for _, v := range hostile {
				table := fmt.Sprintf("[[inputs.%s.tables]]\n    name = \"transactions\"\n    key = [\"transaction_id\"]", in.kind)
				line := fmt.Sprintf(k.line, v, in.kind)
				if k.key != "changelog_table" {
					table, line = line, ""
				}
				conf := writeConfig(t, fmt.Sprintf("[[inputs.%s]]\n  %s\n  strategy = \"trigger\"\n  %s\n  %s\n[[outputs.stdout]]\n", in.kind, in.source, line, table))
				tried++
				r := runAgent(t, nil, "setup", "--config", conf)
				want := fmt.Sprintf("inputs.%s: %s: invalid identifier %q (letters, digits, _ and $ only", in.kind, k.key, v)
				if r.code != 2 || !strings.Contains(r.stderr, want) {
					t.Errorf("%s %s=%q: exit %d, stderr %q; want exit 2 and %q", in.kind, k.key, v, r.code, r.stderr, want)
					continue
				}
				refused++
			}
		}
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM canary").Scan(&n); err != nil || n != 2 {
		t.Errorf("SQLite canary: %d rows, %v", n, err)
	}
	var objs int
	db.QueryRow("SELECT count(*) FROM sqlite_master").Scan(&objs)
	if objs != 2 {
		t.Errorf("SQLite file has %d objects, want the 2 it was given", objs)
	}
	c := pgtest.Conn(t, pgDSN)
	if err := c.QueryRow(t.Context(), "SELECT count(*) FROM canary").Scan(&n); err != nil || n != 2 {
		t.Errorf("PostgreSQL canary: %d rows, %v", n, err)
	}
	if err := c.QueryRow(t.Context(), "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal").Scan(&n); err != nil || n != 0 {
		t.Errorf("PostgreSQL has %d triggers, %v", n, err)
	}
	faultreport.Record(t, faultreport.Row{
		Scenario:  "hostile: SQL identifiers",
		Injected:  "quotes, semicolons, unicode and RTL override in changelog_table, table name, key and timestamp_column; agent setup on real SQLite and PostgreSQL",
		Ledger:    tried,
		Delivered: refused,
		Missed:    tried - refused,
		Notes:     "ledger/delivered: hostile configurations / refused at load with an error naming the instance, the key and what is allowed; canary tables kept their rows, no capture object created",
	})
}
