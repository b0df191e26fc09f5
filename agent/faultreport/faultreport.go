// Package faultreport records the outcome of a fault-injection scenario: what
// was injected, how many events the workload ledger holds, how many reached
// the outputs, and how many of those were missed or duplicated.
//
// The fault suite (make test-faults) sets ROWFLUX_FAULTS_REPORT to a file;
// every scenario appends one JSON line to it, and docs/reliability.md is
// written from those lines. Without the variable a row is only logged.
package faultreport

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
)

// EnvReport names the JSON-lines file rows are appended to.
const EnvReport = "ROWFLUX_FAULTS_REPORT"

// Row is one scenario's outcome. Ledger counts what the ground truth says
// must arrive (ledger changes, or points/messages a scenario produced);
// Delivered counts what reached the outputs, duplicates included.
type Row struct {
	Scenario   string `json:"scenario"`
	Injected   string `json:"injected"`
	Ledger     int    `json:"ledger"`
	Delivered  int    `json:"delivered"`
	Missed     int    `json:"missed"`
	Duplicates int    `json:"duplicates"`
	Notes      string `json:"notes,omitempty"`
}

// Record logs r on t and appends it to $ROWFLUX_FAULTS_REPORT when set.
func Record(t testing.TB, r Row) {
	t.Helper()
	line, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("faultreport: %v", err)
	}
	t.Logf("fault result: %s", line)
	path := os.Getenv(EnvReport)
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatalf("faultreport: %v", err)
	}
	defer f.Close()
	// One write per row: O_APPEND keeps concurrent writers' lines whole.
	if _, err := f.Write(append(line, '\n')); err != nil {
		t.Fatalf("faultreport: %s: %v", path, err)
	}
}

// Read parses a report file written by Record.
func Read(path string) ([]Row, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rows []Row
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var r Row
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// Markdown renders rows as the table in docs/reliability.md, sorted by
// scenario so that reruns compare line by line.
func Markdown(rows []Row) string {
	rows = append([]Row(nil), rows...)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Scenario < rows[j].Scenario })
	var b strings.Builder
	b.WriteString("| scenario | injected | ledger | delivered | missed | duplicates | notes |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | --- |\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %s |\n", cell(r.Scenario), cell(r.Injected),
			r.Ledger, r.Delivered, r.Missed, r.Duplicates, cell(r.Notes))
	}
	return b.String()
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
