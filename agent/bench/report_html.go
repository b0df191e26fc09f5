package bench

import (
	"fmt"
	"html/template"
	"io"
	"strconv"
	"time"
)

// htmlView is what report.html shows, computed in Go so that the template
// only places text: html/template escapes all of it.
type htmlView struct {
	Source   string
	Date     string
	Machine  Machine
	Runs     int
	Workload []setting
	Columns  []string
	Rows     []tableRow
	Charts   []chart
}

type setting struct{ Label, Value string }

type tableRow struct {
	Strategy string
	Baseline bool
	Cells    []cell
}

// cell is a table figure: the median, and the min–max over runs when
// they differ (empty otherwise).
type cell struct{ Value, Range string }

func (r *Report) writeHTML(w io.Writer, m Machine) error {
	return reportTemplate.Execute(w, r.htmlView(m))
}

func (r *Report) htmlView(m Machine) htmlView {
	sum := r.Summary()
	v := htmlView{Source: r.Source, Machine: m, Runs: len(r.Runs), Date: "unknown"}
	if !r.Started.IsZero() {
		v.Date = r.Started.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	wl := r.Workload
	rate := "as fast as possible"
	if wl.Rate > 0 {
		rate = strconv.FormatFloat(wl.Rate, 'f', -1, 64) + " commits/s"
	}
	longTx := "none"
	if wl.LongTxEvery > 0 {
		longTx = fmt.Sprintf("every %d, held %s", wl.LongTxEvery, time.Duration(wl.LongTxHoldNS))
	}
	v.Workload = []setting{
		{"rate", rate},
		{"duration", time.Duration(wl.DurationNS).String()},
		{"warm-up", time.Duration(wl.WarmupNS).String()},
		{"writers", strconv.Itoa(wl.Writers)},
		{"mix insert/update/delete", fmt.Sprintf("%d/%d/%d", wl.Mix[0], wl.Mix[1], wl.Mix[2])},
		{"long transactions", longTx},
		{"seed", strconv.FormatInt(wl.Seed, 10)},
		{"preload", strconv.Itoa(wl.Preload)},
		{"poll interval", time.Duration(wl.PollIntervalNS).String()},
		{"runs", strconv.Itoa(len(r.Runs))},
	}

	v.Columns = []string{"commits/s", "× base", "commit p50", "commit p95", "commit p99", "p95 × base",
		"capture p50", "capture p95", "capture p99", "events/s", "missed", "duplicates", "agent CPU s", "agent RSS MiB"}
	dash := cell{Value: "–"}
	for _, s := range sum {
		row := tableRow{Strategy: s.Strategy, Baseline: s.Capture == nil}
		row.Cells = append(row.Cells,
			cellOf(&s.Throughput, "%.1f", 1), cellOf(s.ThroughputRatio, "%.2f", 1),
			durCell(s.CommitP50NS), durCell(s.CommitP95NS), durCell(s.CommitP99NS),
			cellOf(s.CommitP95Ratio, "%.2f", 1))
		if c := s.Capture; c != nil {
			missed := cellOf(&c.Missed, "%g", 1)
			if c.Undrained > 0 {
				missed.Value += "?"
			}
			row.Cells = append(row.Cells, durCell(c.P50NS), durCell(c.P95NS), durCell(c.P99NS),
				cellOf(&c.Throughput, "%.1f", 1), missed, cellOf(&c.Duplicates, "%g", 1))
		} else {
			row.Cells = append(row.Cells, dash, dash, dash, dash, dash, dash)
		}
		if a := s.Agent; a != nil {
			row.Cells = append(row.Cells, cellOf(&a.CPUSeconds, "%.2f", 1), cellOf(&a.PeakRSSBytes, "%.1f", 1<<20))
		} else {
			row.Cells = append(row.Cells, dash, dash)
		}
		v.Rows = append(v.Rows, row)
	}
	v.Charts = charts(sum)
	return v
}

func cellOf(s *Spread, verb string, unit float64) cell {
	if s == nil {
		return cell{Value: "–"}
	}
	c := cell{Value: fmt.Sprintf(verb, s.Median/unit)}
	if lo, hi := fmt.Sprintf(verb, s.Min/unit), fmt.Sprintf(verb, s.Max/unit); lo != hi {
		c.Range = lo + "–" + hi
	}
	return c
}

// durCell is a latency cell in the charts' short units (650ms, 1.5s):
// the table stays narrow enough to read without scrolling.
func durCell(s Spread) cell {
	c := cell{Value: durLabel(s.Median)}
	if lo, hi := durLabel(s.Min), durLabel(s.Max); lo != hi {
		c.Range = lo + "–" + hi
	}
	return c
}

// charts are the report's three charts over the strategies (the baseline
// is their reference, not a bar).
func charts(sum []StrategySummary) []chart {
	var strategies []StrategySummary
	for _, s := range sum {
		if s.Capture != nil || s.ThroughputRatio != nil {
			strategies = append(strategies, s)
		}
	}
	names := make([]string, len(strategies))
	latency := make([][]*Spread, len(strategies))
	cost := make([][]*Spread, len(strategies))
	loss := make([][]*Spread, len(strategies))
	lossSuffix := make([][]string, len(strategies))
	for i, s := range strategies {
		names[i] = s.Strategy
		cost[i] = []*Spread{s.ThroughputRatio, s.CommitP95Ratio}
		lossSuffix[i] = []string{"", ""}
		if c := s.Capture; c != nil {
			latency[i] = []*Spread{&c.P50NS, &c.P95NS, &c.P99NS}
			loss[i] = []*Spread{&c.Missed, &c.Duplicates}
			if c.Undrained > 0 {
				lossSuffix[i][0] = "?"
			}
		} else {
			latency[i] = []*Spread{nil, nil, nil}
			loss[i] = []*Spread{nil, nil}
		}
	}
	one := 1.0
	return []chart{
		layout(chartSpec{
			ID: "latency", Title: "Capture latency, commit → event",
			Desc:   "Grouped bars per strategy: capture latency p50, p95 and p99 on a log scale; lower is better.",
			XTitle: "strategy", YTitle: "capture latency (log scale)",
			Series: []series{{"p50", colSkyBlue}, {"p95", colOrange}, {"p99", colPurple}},
			Groups: names, Values: latency, Log: true, Label: durLabel,
		}),
		layout(chartSpec{
			ID: "cost", Title: "Cost on the source, relative to the baseline",
			Desc:   "Per strategy: throughput ratio (below 1 means fewer commits/s) and commit latency p95 ratio (above 1 means slower commits); the dashed line is the baseline, 1.0.",
			XTitle: "strategy", YTitle: "ratio to baseline",
			Series: []series{{"throughput × base", colSkyBlue}, {"commit p95 × base", colOrange}},
			Groups: names, Values: cost, Label: ratioLabel,
			Ref: &one, RefLabel: "baseline 1.0", MinTop: 1.2,
		}),
		layout(chartSpec{
			ID: "loss", Title: "Missed and duplicate events",
			Desc:   "Per strategy: changes committed but never captured (missed) and events delivered more than once (duplicates), against the workload's ledger.",
			XTitle: "strategy", YTitle: "events",
			Series: []series{{"missed", colVermillion}, {"duplicates", colYellow}},
			Groups: names, Values: loss, Suffix: lossSuffix, Label: countLabel,
			MinTop: 1, Integer: true,
		}),
	}
}

// reportTemplate is report.html. Its look follows the websocket output's
// dashboard (same palette and type), without its script: the report is
// static. SVGs carry no xmlns: inline SVG in HTML needs none, and the page
// is meant to hold no URL at all.
var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"n": func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
}).Parse(reportHTML))

const reportHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rowflux · bench · {{.Source}} · {{.Date}}</title>
<style>
:root{--bg:#0a0e14;--panel:#111722;--panel2:#182131;--line:#232e40;--text:#e8eef5;--muted:#8897ab;--accent:#4cc9f0;color-scheme:dark}
*{box-sizing:border-box}
html,body{margin:0;background:var(--bg);color:var(--text);font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header{padding:14px 26px;border-bottom:1px solid var(--line);background:linear-gradient(180deg,#101725,#0a0e14)}
.brand{font-weight:750;font-size:22px;letter-spacing:.01em}
.brand b{color:var(--accent);font-weight:750}
.brand small{color:var(--muted);font-weight:500;font-size:14px;margin-left:10px}
dl{display:flex;flex-wrap:wrap;gap:6px 26px;margin:10px 0 0}
dl div{display:flex;flex-direction:column}
dt{font-size:11px;text-transform:uppercase;letter-spacing:.09em;color:var(--muted)}
dd{margin:0;font-variant-numeric:tabular-nums}
main{padding:18px 26px 26px;display:grid;gap:18px}
.card{background:var(--panel);border:1px solid var(--line);border-radius:14px;padding:14px 18px;min-width:0;overflow-x:auto}
h2{margin:0 0 4px;font-size:19px;font-weight:680}
.note{color:var(--muted);font-size:13px;margin:0 0 8px}
table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums;width:100%}
th{color:var(--muted);font-weight:500;font-size:11px;text-transform:uppercase;letter-spacing:.05em;text-align:right;padding:7px 6px 5px;vertical-align:bottom}
td{text-align:right;padding:5px 6px;border-top:1px solid var(--line);white-space:nowrap}
th:first-child,td:first-child{text-align:left;padding-left:0}
tr.baseline td{color:var(--muted)}
td small{display:block;color:var(--muted);font-size:11px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:18px}
svg{width:100%;height:auto;display:block}
svg text{fill:var(--text);font-size:12px}
svg .muted{fill:var(--muted)}
/* a halo in the panel colour keeps value labels legible across lines */
svg text.v{paint-order:stroke;stroke:var(--panel);stroke-width:3px;stroke-linejoin:round}
svg .axis{stroke:var(--muted);stroke-width:1}
svg .grid{stroke:var(--line);stroke-width:1}
svg .ref{stroke:var(--text);stroke-width:1.5;stroke-dasharray:6 4}
svg .whisker{stroke:var(--text);stroke-width:1.5}
footer{color:var(--muted);font-size:12px;padding:0 26px 18px}
@media print{:root{--bg:#fff;--panel:#fff;--panel2:#fff;--line:#ccc;--text:#111;--muted:#555;color-scheme:light}header{background:none}}
</style>
</head>
<body>
<header>
  <div class="brand"><b>row</b>flux<small>agent bench · {{.Source}}</small></div>
  <dl>
    <div><dt>source</dt><dd>{{.Source}}</dd></div>
    <div><dt>date</dt><dd>{{.Date}}</dd></div>
    <div><dt>machine</dt><dd>{{.Machine.GOOS}}/{{.Machine.GOARCH}}, {{.Machine.NumCPU}} CPUs</dd></div>
{{- range .Workload}}
    <div><dt>{{.Label}}</dt><dd>{{.Value}}</dd></div>
{{- end}}
  </dl>
</header>
<main>
<section class="card">
  <h2>Comparison</h2>
  <p class="note">{{if gt .Runs 1}}Median over {{.Runs}} runs, with the range (min–max) below it where runs differed.{{else}}One run: repeat the bench to see the spread.{{end}} Ratios are to the baseline of the same run (no capture installed); missed with “?” means the agent’s output was still growing when the bench stopped waiting.</p>
  <table>
    <thead><tr><th>strategy</th>{{range .Columns}}<th>{{.}}</th>{{end}}</tr></thead>
    <tbody>
{{- range .Rows}}
      <tr{{if .Baseline}} class="baseline"{{end}}><td>{{.Strategy}}</td>{{range .Cells}}<td>{{.Value}}{{if .Range}}<small>{{.Range}}</small>{{end}}</td>{{end}}</tr>
{{- end}}
    </tbody>
  </table>
</section>
<div class="charts">
{{- range .Charts}}
<section class="card">
  <h2 id="{{.ID}}-title">{{.Title}}</h2>
  <p class="note" id="{{.ID}}-desc">{{.Desc}}</p>
  <svg viewBox="0 0 {{.W}} {{.H}}" role="img" aria-labelledby="{{.ID}}-title {{.ID}}-desc">
{{- $c := .}}
{{- range .Ticks}}
    <line class="grid" x1="{{n $c.PlotX0}}" x2="{{n $c.PlotX1}}" y1="{{n .Y}}" y2="{{n .Y}}"/>
    <text class="muted" x="{{n $c.PlotX0}}" dx="-6" y="{{n .Y}}" dy="4" text-anchor="end">{{.Label}}</text>
{{- end}}
    <line class="axis" x1="{{n .PlotX0}}" x2="{{n .PlotX0}}" y1="{{n .PlotY0}}" y2="{{n .PlotY1}}"/>
    <line class="axis" x1="{{n .PlotX0}}" x2="{{n .PlotX1}}" y1="{{n .PlotY1}}" y2="{{n .PlotY1}}"/>
    <text x="{{n .YTitleX}}" y="{{n .YTitleY}}" text-anchor="middle" transform="rotate(-90 {{n .YTitleX}} {{n .YTitleY}})">{{.YTitle}}</text>
    <text x="{{n .XTitleX}}" y="{{n .XTitleY}}" text-anchor="middle">{{.XTitle}}</text>
{{- range .Legend}}
    <rect x="{{n .X}}" y="12" width="14" height="14" rx="3" fill="{{.Color}}"/>
    <text x="{{n .X}}" dx="20" y="24">{{.Label}}</text>
{{- end}}
{{- with .Ref}}
    <line class="ref" x1="{{n $c.PlotX0}}" x2="{{n $c.PlotX1}}" y1="{{n .Y}}" y2="{{n .Y}}"/>
    <line class="ref" x1="{{n .LabelX}}" x2="{{n .LineX1}}" y1="19" y2="19"/>
    <text x="{{n .TextX}}" y="24">{{.Label}}</text>
{{- end}}
{{- range .Bars}}
    <g>
      <title>{{.Title}}</title>
      <rect x="{{n .X}}" y="{{n .Y}}" width="{{n .W}}" height="{{n .H}}" fill="{{.Color}}"/>
{{- with .Whisker}}
      <line class="whisker" x1="{{n .X}}" x2="{{n .X}}" y1="{{n .Y0}}" y2="{{n .Y1}}"/>
      <line class="whisker" x1="{{n .Cap0}}" x2="{{n .Cap1}}" y1="{{n .Y0}}" y2="{{n .Y0}}"/>
      <line class="whisker" x1="{{n .Cap0}}" x2="{{n .Cap1}}" y1="{{n .Y1}}" y2="{{n .Y1}}"/>
{{- end}}
      <text class="v" x="{{n .LabelX}}" y="{{n .LabelY}}" text-anchor="middle">{{.Label}}</text>
    </g>
{{- end}}
{{- range .Groups}}
    <text x="{{n .X}}" y="{{n $c.PlotY1}}" dy="18" text-anchor="middle">{{.Label}}</text>
{{- end}}
{{- with .Empty}}
    <text x="{{n $c.XTitleX}}" y="{{n $c.YTitleY}}" text-anchor="middle" class="muted">{{.}}</text>
{{- end}}
  </svg>
</section>
{{- end}}
</div>
</main>
<footer>Written by rowflux agent bench. Bars show the median over runs; a whisker spans the runs’ min–max where they differed. Capture latency is from COMMIT returning to the event reaching the bench; commit latency includes long transactions’ hold.</footer>
</body>
</html>
`
