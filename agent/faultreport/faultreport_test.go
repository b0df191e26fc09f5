package faultreport

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRecordAppendsAndMarkdownRenders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "faults.jsonl")
	t.Setenv(EnvReport, path)
	Record(t, Row{Scenario: "b", Injected: "kill -9 x10", Ledger: 10, Delivered: 12, Duplicates: 2})
	Record(t, Row{Scenario: "a", Injected: "x|y", Ledger: 3, Delivered: 3, Notes: "ok"})
	rows, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Scenario != "b" || rows[1].Delivered != 3 {
		t.Fatalf("rows = %+v", rows)
	}
	got := Markdown(rows)
	want := "| scenario | injected | ledger | delivered | missed | duplicates | notes |\n" +
		"| --- | --- | ---: | ---: | ---: | ---: | --- |\n" +
		"| a | x\\|y | 3 | 3 | 0 | 0 | ok |\n" +
		"| b | kill -9 x10 | 10 | 12 | 0 | 2 |  |\n"
	if got != want {
		t.Fatalf("markdown:\n%s\nwant:\n%s", got, want)
	}
}

func TestReadNamesTheBadLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "faults.jsonl")
	if err := os.WriteFile(path, []byte("{\"scenario\":\"a\"}\nnot json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(path); err == nil || err.Error()[:len(path)+2] != path+":2" {
		t.Fatalf("err = %v, want it to name line 2", err)
	}
}
