// Package influxtest runs a private InfluxDB 1.x server (influxd) for tests:
// on free loopback ports, with its meta, data and WAL in a temporary
// directory, and without usage reporting, monitoring or retention.
//
// A server can be stopped (SIGTERM) or killed (SIGKILL) and started again on
// the same ports and directory, so that tests can take the sink away and
// bring it back with the data it had acknowledged. When influxd is not on
// PATH, Start skips the test, or fails it under ROWFLUX_REQUIRE_SERVICES=1
// (servicetest.Missing).
package influxtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rowflux/rowflux/plugins/common/servicetest"
)

// startTimeout bounds the wait for a started influxd to answer /ping; a
// restart replays the WAL first, which takes longer on a loaded machine.
const startTimeout = 60 * time.Second

// Server is one influxd process (or the memory of one, while stopped).
type Server struct {
	// URL is the HTTP API's base URL, http://127.0.0.1:PORT; it stays the
	// same across Stop/Kill and Start.
	URL string
	// Dir holds the configuration, meta, data and WAL directories.
	Dir string

	bin, conf string
	client    *http.Client

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has been waited for
	log    servicetest.Output
}

// Start starts a server for t, stopped and removed when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := servicetest.Binary(t, "influxd")
	s, err := New(bin)
	if s != nil {
		t.Cleanup(s.Close)
	}
	if err != nil {
		log := ""
		if s != nil {
			log = s.Log()
		}
		t.Fatalf("influxtest: %v\n%s", err, log)
	}
	return s
}

// New starts a server with the influxd binary bin. It is not tied to a
// test, so that a package's tests can share one; the caller must Close it.
// On error the returned Server, when not nil, has the log and must be
// closed too.
func New(bin string) (*Server, error) {
	dir, err := os.MkdirTemp("", "rowflux-influxd-")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, bin: bin, client: &http.Client{Timeout: 30 * time.Second}}
	httpPort, err := servicetest.RestartablePort()
	if err != nil {
		return s, err
	}
	rpcPort, err := servicetest.RestartablePort(httpPort)
	if err != nil {
		return s, err
	}
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:%d"
  auth-enabled = false
  log-enabled = false
[continuous_queries]
  enabled = false
[retention]
  enabled = false
[subscriber]
  enabled = false
`, rpcPort, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), httpPort)
	s.conf = filepath.Join(dir, "influxdb.conf")
	if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
		return s, err
	}
	s.URL = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	return s, s.Start()
}

// Start starts influxd on the server's ports and directory, and waits until
// it answers /ping. It is an error to start a running server.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("influxd is already running")
	}
	fmt.Fprintf(&s.log, "--- influxtest: starting influxd at %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(s.bin, "-config", s.conf)
	cmd.Stdout, cmd.Stderr = &s.log, &s.log
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited

	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("influxd exited during start-up (%v); is %s taken?", cmd.ProcessState, s.URL)
		default:
		}
		if s.ping() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stopLocked(syscall.SIGKILL)
	return fmt.Errorf("influxd did not answer GET %s/ping with 204 within %s", s.URL, startTimeout)
}

func (s *Server) ping() bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(s.URL + "/ping")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusNoContent
}

// Kill ends influxd with SIGKILL, as a crash would, and waits for it.
// Points it acknowledged are in its WAL and survive a Start.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked(syscall.SIGKILL)
}

// Stop ends influxd with SIGTERM and waits for it (SIGKILL after 20 s).
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked(syscall.SIGTERM)
}

func (s *Server) stopLocked(sig syscall.Signal) {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	fmt.Fprintf(&s.log, "--- influxtest: influxd ended by %v at %s\n", sig, time.Now().Format(time.RFC3339Nano))
	s.cmd = nil
}

// Running reports whether influxd has been started and not stopped.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Pid is the process id of the running influxd, or 0.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Close kills influxd and removes its directory.
func (s *Server) Close() {
	s.Kill()
	if s.Dir != "" {
		os.RemoveAll(s.Dir)
	}
}

// Log is what influxd printed, across all its starts.
func (s *Server) Log() string { return s.log.String() }

// Row is one row of a query answer, column → value; numbers are
// json.Number, so that integers keep every digit.
type Row map[string]any

// Query runs an InfluxQL query (or statement) against db ("" for none) and
// returns the rows of the first statement's first series: nil when it has
// none. A statement error is returned as an error.
func (s *Server) Query(db, q string) ([]Row, error) {
	v := url.Values{"q": {q}, "epoch": {"ns"}}
	if db != "" {
		v.Set("db", db)
	}
	resp, err := s.client.PostForm(s.URL+"/query", v)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	var ans struct {
		Error   string `json:"error"`
		Results []struct {
			Error  string `json:"error"`
			Series []struct {
				Columns []string `json:"columns"`
				Values  [][]any  `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	if err := dec.Decode(&ans); err != nil {
		return nil, fmt.Errorf("%s: %s: %v", q, resp.Status, err)
	}
	switch {
	case ans.Error != "":
		return nil, fmt.Errorf("%s: %s", q, ans.Error)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s: %s", q, resp.Status)
	case len(ans.Results) == 0:
		return nil, fmt.Errorf("%s: no result", q)
	case ans.Results[0].Error != "":
		return nil, fmt.Errorf("%s: %s", q, ans.Results[0].Error)
	case len(ans.Results[0].Series) == 0:
		return nil, nil
	}
	sr := ans.Results[0].Series[0]
	rows := make([]Row, 0, len(sr.Values))
	for _, vals := range sr.Values {
		r := make(Row, len(sr.Columns))
		for i, c := range sr.Columns {
			if i < len(vals) {
				r[c] = vals[i]
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// Rows is Query that fails t on error.
func (s *Server) Rows(t testing.TB, db, q string) []Row {
	t.Helper()
	rows, err := s.Query(db, q)
	if err != nil {
		t.Fatalf("influxtest: %v", err)
	}
	return rows
}

// Exec runs statements (CREATE DATABASE …), failing t on the first error.
func (s *Server) Exec(t testing.TB, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := s.Query("", q); err != nil {
			t.Fatalf("influxtest: %v", err)
		}
	}
}

// Int runs a query whose answer is one row (SELECT count(f) FROM m, …) and
// returns column col of it as an integer; a query without a series (an
// empty measurement) gives 0.
func (s *Server) Int(db, q, col string) (int64, error) {
	rows, err := s.Query(db, q)
	if err != nil {
		return 0, err
	}
	switch len(rows) {
	case 0:
		return 0, nil
	case 1:
	default:
		return 0, fmt.Errorf("%s: %d rows, want one", q, len(rows))
	}
	n, ok := rows[0][col].(json.Number)
	if !ok {
		return 0, fmt.Errorf("%s: column %q is %v, want a number", q, col, rows[0][col])
	}
	return n.Int64()
}
