// Package selfmetrics holds the agent's own metrics and writes them in the
// Prometheus text exposition format (version 0.0.4).
//
// Counters are sdk.Counter values updated once per batch by the pipeline, so
// instrumentation costs an atomic add per batch, not per event.
package selfmetrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/rowflux/rowflux/sdk"
)

// Label is one name="value" pair of a series.
type Label struct{ Name, Value string }

type series struct {
	labels  []Label
	counter *sdk.Counter
	gauge   func() float64
}

type family struct {
	name, help, typ string
	series          []*series
}

// Registry is a set of metric families.
type Registry struct {
	mu       sync.Mutex
	families map[string]*family
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{families: map[string]*family{}} }

func (r *Registry) family(name, help, typ string) *family {
	f, ok := r.families[name]
	if !ok {
		f = &family{name: name, help: help, typ: typ}
		r.families[name] = f
	}
	if f.typ != typ {
		panic(fmt.Sprintf("selfmetrics: %s registered as %s and %s", name, f.typ, typ))
	}
	return f
}

// Counter returns the counter of the given name and labels, creating it on
// first use; the same name and labels always give the same counter.
func (r *Registry) Counter(name, help string, labels ...Label) *sdk.Counter {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.family(name, help, "counter")
	for _, s := range f.series {
		if sameLabels(s.labels, labels) {
			return s.counter
		}
	}
	c := &sdk.Counter{}
	f.series = append(f.series, &series{labels: labels, counter: c})
	return c
}

// Gauge registers a gauge whose value is read from fn at scrape time.
// Registering the same name and labels again replaces fn.
func (r *Registry) Gauge(name, help string, fn func() float64, labels ...Label) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.family(name, help, "gauge")
	for _, s := range f.series {
		if sameLabels(s.labels, labels) {
			s.gauge = fn
			return
		}
	}
	f.series = append(f.series, &series{labels: labels, gauge: fn})
}

func sameLabels(a, b []Label) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// WriteText writes every family, sorted by name, in the text format.
func (r *Registry) WriteText(w io.Writer) error {
	r.mu.Lock()
	names := make([]string, 0, len(r.families))
	for n := range r.families {
		names = append(names, n)
	}
	sort.Strings(names)
	bw := bufio.NewWriter(w)
	for _, n := range names {
		f := r.families[n]
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, f.typ)
		for _, s := range f.series {
			bw.WriteString(f.name)
			writeLabels(bw, s.labels)
			bw.WriteByte(' ')
			if s.counter != nil {
				bw.WriteString(strconv.FormatInt(s.counter.Load(), 10))
			} else {
				bw.WriteString(formatFloat(s.gauge()))
			}
			bw.WriteByte('\n')
		}
	}
	r.mu.Unlock()
	return bw.Flush()
}

// Handler serves WriteText over HTTP.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_ = r.WriteText(w)
	})
}

func writeLabels(w *bufio.Writer, labels []Label) {
	if len(labels) == 0 {
		return
	}
	w.WriteByte('{')
	for i, l := range labels {
		if i > 0 {
			w.WriteByte(',')
		}
		w.WriteString(l.Name)
		w.WriteString(`="`)
		w.WriteString(escapeLabel(l.Value))
		w.WriteByte('"')
	}
	w.WriteByte('}')
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

func formatFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
