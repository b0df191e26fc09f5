package influxtest

import (
	"net/http"
	"strings"
	"testing"
)

func write(t *testing.T, s *Server, db, lines string) {
	t.Helper()
	resp, err := http.Post(s.URL+"/write?db="+db, "text/plain", strings.NewReader(lines))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %s", resp.Status)
	}
}

// TestRestartKeepsPortAndData: what a killed server acknowledged is there
// after Start, at the same URL.
func TestRestartKeepsPortAndData(t *testing.T) {
	s := Start(t)
	s.Exec(t, "CREATE DATABASE d")
	write(t, s, "d", "m,k=a v=1i 1000\nm,k=b v=2i 2000\n")
	url, pid := s.URL, s.Pid()

	s.Kill()
	if s.Running() || s.Pid() != 0 {
		t.Fatal("running after Kill")
	}
	if _, err := s.Query("d", "SELECT count(v) FROM m"); err == nil {
		t.Fatal("a killed server answered a query")
	}
	if err := s.Start(); err != nil {
		t.Fatalf("restart: %v\n%s", err, s.Log())
	}
	if s.URL != url || s.Pid() == pid || s.Pid() == 0 {
		t.Fatalf("after restart: URL %s (was %s), pid %d (was %d)", s.URL, url, s.Pid(), pid)
	}
	n, err := s.Int("d", "SELECT count(v) FROM m", "count")
	if err != nil || n != 2 {
		t.Fatalf("count after restart: %d, %v", n, err)
	}
	rows := s.Rows(t, "d", "SELECT v, k FROM m")
	if len(rows) != 2 || rows[1]["k"] != "b" || rows[1]["v"].(interface{ String() string }).String() != "2" {
		t.Fatalf("rows %v", rows)
	}
	if err := s.Start(); err == nil {
		t.Fatal("starting a running server succeeded")
	}

	s.Stop()
	if err := s.Start(); err != nil {
		t.Fatalf("start after SIGTERM: %v", err)
	}
	if n, err := s.Int("d", "SELECT count(v) FROM nothing", "count"); err != nil || n != 0 {
		t.Fatalf("count of an empty measurement: %d, %v", n, err)
	}
	if _, err := s.Query("nope", "SELECT * FROM m"); err == nil || !strings.Contains(err.Error(), "database not found") {
		t.Fatalf("query of a missing database: %v", err)
	}
}
