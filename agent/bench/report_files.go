package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
)

// Machine is what the report says about the machine the bench ran on.
// The hostname is left out on purpose: reports get pasted into READMEs
// and issues, and the name says nothing about the figures.
type Machine struct {
	GOOS   string `json:"goos"`
	GOARCH string `json:"goarch"`
	NumCPU int    `json:"num_cpu"`
}

// thisMachine is the machine writing the report. agent bench writes it
// right after Run, so that is the machine that ran the bench.
func thisMachine() Machine {
	return Machine{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, NumCPU: runtime.NumCPU()}
}

// reportFile is report.json: the Report's own fields first, then what is
// derived when writing. Summary is not stored in Report so that it can
// never disagree with the runs it sums up; decoding report.json into a
// Report ignores both extra fields.
type reportFile struct {
	*Report
	Machine Machine           `json:"machine"`
	Summary []StrategySummary `json:"summary"`
}

// WriteFiles writes report.json and report.html into dir, creating it if
// needed. report.html is one self-contained page (inline CSS and SVG, no
// script, no external asset) that can be mailed or attached as it is.
func (r *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench report: %w", err)
	}
	m := thisMachine()
	var js, page bytes.Buffer
	if err := r.writeJSON(&js, m); err != nil {
		return fmt.Errorf("bench report: report.json: %w", err)
	}
	if err := r.writeHTML(&page, m); err != nil {
		return fmt.Errorf("bench report: report.html: %w", err)
	}
	// Both are rendered before either is written, so a template error does
	// not leave a new report.json beside an old report.html.
	for name, b := range map[string][]byte{"report.json": js.Bytes(), "report.html": page.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("bench report: %w", err)
		}
	}
	return nil
}

// writeJSON writes report.json: indented for diffs and reading, in struct
// field order (encoding/json keeps it), with a final newline.
func (r *Report) writeJSON(w io.Writer, m Machine) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(reportFile{Report: r, Machine: m, Summary: r.Summary()})
}
