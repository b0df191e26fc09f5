package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/rowflux/rowflux/agent/bench/verdict"
)

// Report is the result of a bench Run, shaped for report.json.
type Report struct {
	Source     string      `json:"source"` // sqlite | postgres | oracle (the DSN is left out: it can carry a password)
	Started    time.Time   `json:"started"`
	Strategies []string    `json:"strategies"`
	Workload   Workload    `json:"workload"`
	Runs       []RunResult `json:"runs"` // one per repeat
}

// Workload is what every phase ran, as recorded in the report.
type Workload struct {
	Rate           float64 `json:"rate"`
	DurationNS     int64   `json:"duration_ns"`
	WarmupNS       int64   `json:"warmup_ns"`
	Writers        int     `json:"writers"`
	Mix            [3]int  `json:"mix"`
	LongTxEvery    int     `json:"long_tx_every"`
	LongTxHoldNS   int64   `json:"long_tx_hold_ns"`
	Seed           int64   `json:"seed"`
	Preload        int     `json:"preload"`
	PollIntervalNS int64   `json:"poll_interval_ns"`
}

// RunResult is one repeat: the baseline, then each strategy in order.
type RunResult struct {
	Baseline   Phase   `json:"baseline"`
	Strategies []Phase `json:"strategies"`
}

// Phase is one workload run, with or without capture.
type Phase struct {
	Strategy   string  `json:"strategy"` // "baseline" when no capture was installed
	Commits    int64   `json:"commits"`  // timed run only
	ElapsedNS  int64   `json:"elapsed_ns"`
	Throughput float64 `json:"throughput"` // commits/s
	// From the start of a transaction's last attempt (before BEGIN) to
	// COMMIT returning; long transactions' hold included, as the
	// application would see it.
	CommitLatency Latency `json:"commit_latency"`
	// Cost on the source relative to the baseline of the same repeat
	// (strategies only): >1 means slower commits, <1 fewer commits/s.
	CommitLatencyRatio *Ratios  `json:"commit_latency_ratio,omitempty"`
	ThroughputRatio    float64  `json:"throughput_ratio,omitempty"`
	Capture            *Capture `json:"capture,omitempty"`
	Agent              *Usage   `json:"agent,omitempty"`
}

// Capture is what the agent delivered in one strategy phase.
type Capture struct {
	Kind       string  `json:"kind"`       // changelog | query-based: how events were judged
	Events     int     `json:"events"`     // JSON lines received
	Throughput float64 `json:"throughput"` // events/s from the timed run's start to the last event
	Latency    Latency `json:"latency"`    // commit → event, timed-run changes only
	// Against the ledger of the warm-up and the timed run together (both
	// were captured); see verdict.Result.
	Checked      int      `json:"checked"`
	Missed       int      `json:"missed"`
	MissedSample []string `json:"missed_sample,omitempty"`
	Duplicates   int      `json:"duplicates"`
	Unexpected   int      `json:"unexpected"`
	// Drained is false when the agent's output was still growing when the
	// bench gave up waiting for it: misses may then be late events.
	Drained bool `json:"drained"`
}

// Usage is the agent process's resource use over the whole phase.
type Usage struct {
	CPUSeconds   float64 `json:"cpu_seconds"` // user + system
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
}

// Latency is verdict.Latency in nanoseconds for JSON.
type Latency struct {
	N     int   `json:"n"`
	P50NS int64 `json:"p50_ns"`
	P95NS int64 `json:"p95_ns"`
	P99NS int64 `json:"p99_ns"`
	MaxNS int64 `json:"max_ns"`
}

func latencyOf(l verdict.Latency) Latency {
	return Latency{N: l.N, P50NS: int64(l.P50), P95NS: int64(l.P95), P99NS: int64(l.P99), MaxNS: int64(l.Max)}
}

// Ratios compare a strategy's commit latency percentiles with the baseline's.
type Ratios struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Table prints one row per phase: the comparison at a glance. With
// several runs it prints one row per phase over all of them, with the
// spread (see Summary); report.json keeps every run.
func (r *Report) Table(w io.Writer) {
	if len(r.Runs) > 1 {
		r.summaryTable(w)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tstrategy\tcommits/s\tx base\tcommit p50\tp95\tp99\tp95 x base\tcapture p50\tp95\tp99\tevents/s\tmissed\tdup\tcpu s\trss MiB\t")
	for i, run := range r.Runs {
		for _, p := range append([]Phase{run.Baseline}, run.Strategies...) {
			fmt.Fprintf(tw, "%d\t%s\t%.1f\t%s\t%s\t%s\t%s\t%s\t",
				i+1, p.Strategy, p.Throughput, orDash(p.ThroughputRatio, "%.2f"),
				ms(p.CommitLatency.P50NS), ms(p.CommitLatency.P95NS), ms(p.CommitLatency.P99NS),
				ratioCell(p.CommitLatencyRatio))
			if c := p.Capture; c != nil {
				missed := fmt.Sprint(c.Missed)
				if !c.Drained {
					missed += "?"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%s\t%d\t", ms(c.Latency.P50NS), ms(c.Latency.P95NS), ms(c.Latency.P99NS), c.Throughput, missed, c.Duplicates)
			} else {
				fmt.Fprint(tw, "-\t-\t-\t-\t-\t-\t")
			}
			if a := p.Agent; a != nil {
				fmt.Fprintf(tw, "%.2f\t%.1f\t\n", a.CPUSeconds, float64(a.PeakRSSBytes)/(1<<20))
			} else {
				fmt.Fprint(tw, "-\t-\t\n")
			}
		}
	}
	tw.Flush()
}

func ms(ns int64) string { return fmt.Sprintf("%.1fms", float64(ns)/1e6) }

func orDash(v float64, format string) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

func ratioCell(r *Ratios) string {
	if r == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", r.P95)
}
