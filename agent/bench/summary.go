package bench

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
)

// Spread is one metric over a report's repeats: the median is the figure
// the report states, min and max the noise around it (issue 9: repeated
// runs must agree within the spread the report states). With one run all
// three are that run's value.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// spreadOf is the median, min and max of vs; the median of an even count
// is the mean of the middle two, so two runs give their mean. vs must not
// be empty.
func spreadOf(vs []float64) Spread {
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Spread{Median: med, Min: s[0], Max: s[n-1]}
}

// StrategySummary is one phase (the baseline or a strategy) summed up over
// the report's runs. Latencies are in nanoseconds, as in Phase. The
// pointer fields are nil for the baseline, which has no cost ratio, no
// capture and no agent.
type StrategySummary struct {
	Strategy string `json:"strategy"`
	Runs     int    `json:"runs"` // runs that had this phase

	Throughput      Spread  `json:"throughput"` // commits/s
	CommitP50NS     Spread  `json:"commit_p50_ns"`
	CommitP95NS     Spread  `json:"commit_p95_ns"`
	CommitP99NS     Spread  `json:"commit_p99_ns"`
	ThroughputRatio *Spread `json:"throughput_ratio,omitempty"`
	CommitP95Ratio  *Spread `json:"commit_p95_ratio,omitempty"`

	Capture *CaptureSummary `json:"capture,omitempty"`
	Agent   *UsageSummary   `json:"agent,omitempty"`
}

// CaptureSummary is Capture over the runs.
type CaptureSummary struct {
	P50NS      Spread `json:"p50_ns"`
	P95NS      Spread `json:"p95_ns"`
	P99NS      Spread `json:"p99_ns"`
	Throughput Spread `json:"throughput"` // events/s
	Missed     Spread `json:"missed"`
	Duplicates Spread `json:"duplicates"`
	// Undrained counts the runs whose agent output was still growing when
	// the bench stopped waiting: their misses may be late events, so the
	// table marks missed with "?" as it does for a single run.
	Undrained int `json:"undrained"`
}

// UsageSummary is Usage over the runs.
type UsageSummary struct {
	CPUSeconds   Spread `json:"cpu_seconds"`
	PeakRSSBytes Spread `json:"peak_rss_bytes"`
}

// Summary sums each phase up over the runs: the baseline first, then the
// strategies in the report's order. Phases are matched by name rather than
// position so that a run missing a strategy cannot shift the others.
func (r *Report) Summary() []StrategySummary {
	names := []string{"baseline"}
	seen := map[string]bool{"baseline": true}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			names = append(names, s)
		}
	}
	for _, s := range r.Strategies {
		add(s)
	}
	// A hand-built or partial report may name fewer strategies than its
	// runs hold: summarise those too rather than drop them silently.
	for _, run := range r.Runs {
		for _, p := range run.Strategies {
			add(p.Strategy)
		}
	}

	var out []StrategySummary
	for _, name := range names {
		var phases []Phase
		for _, run := range r.Runs {
			if name == "baseline" {
				phases = append(phases, run.Baseline)
				continue
			}
			for _, p := range run.Strategies {
				if p.Strategy == name {
					phases = append(phases, p)
					break
				}
			}
		}
		if len(phases) == 0 {
			continue
		}
		out = append(out, summarise(name, phases))
	}
	return out
}

// summarise is one phase's StrategySummary over phases (not empty). The
// optional parts are summed over the phases that have them, so a run that
// lacks, say, agent figures does not count as zero.
func summarise(name string, phases []Phase) StrategySummary {
	over := func(pick func(Phase) (float64, bool)) *Spread {
		var vs []float64
		for _, p := range phases {
			if v, ok := pick(p); ok {
				vs = append(vs, v)
			}
		}
		if len(vs) == 0 {
			return nil
		}
		s := spreadOf(vs)
		return &s
	}
	always := func(f func(Phase) float64) Spread {
		return *over(func(p Phase) (float64, bool) { return f(p), true })
	}
	capture := func(f func(*Capture) float64) Spread {
		return *over(func(p Phase) (float64, bool) {
			if p.Capture == nil {
				return 0, false
			}
			return f(p.Capture), true
		})
	}
	agent := func(f func(*Usage) float64) Spread {
		return *over(func(p Phase) (float64, bool) {
			if p.Agent == nil {
				return 0, false
			}
			return f(p.Agent), true
		})
	}

	s := StrategySummary{
		Strategy:    name,
		Runs:        len(phases),
		Throughput:  always(func(p Phase) float64 { return p.Throughput }),
		CommitP50NS: always(func(p Phase) float64 { return float64(p.CommitLatency.P50NS) }),
		CommitP95NS: always(func(p Phase) float64 { return float64(p.CommitLatency.P95NS) }),
		CommitP99NS: always(func(p Phase) float64 { return float64(p.CommitLatency.P99NS) }),
		// Ratios exist for strategies only; a zero ThroughputRatio means
		// the baseline had no throughput to compare with (see
		// compareToBaseline), not "no commits", so it is left out.
		ThroughputRatio: over(func(p Phase) (float64, bool) { return p.ThroughputRatio, p.ThroughputRatio != 0 }),
		CommitP95Ratio: over(func(p Phase) (float64, bool) {
			if p.CommitLatencyRatio == nil {
				return 0, false
			}
			return p.CommitLatencyRatio.P95, true
		}),
	}
	if slices.ContainsFunc(phases, func(p Phase) bool { return p.Capture != nil }) {
		c := &CaptureSummary{
			P50NS:      capture(func(c *Capture) float64 { return float64(c.Latency.P50NS) }),
			P95NS:      capture(func(c *Capture) float64 { return float64(c.Latency.P95NS) }),
			P99NS:      capture(func(c *Capture) float64 { return float64(c.Latency.P99NS) }),
			Throughput: capture(func(c *Capture) float64 { return c.Throughput }),
			Missed:     capture(func(c *Capture) float64 { return float64(c.Missed) }),
			Duplicates: capture(func(c *Capture) float64 { return float64(c.Duplicates) }),
		}
		for _, p := range phases {
			if p.Capture != nil && !p.Capture.Drained {
				c.Undrained++
			}
		}
		s.Capture = c
	}
	if slices.ContainsFunc(phases, func(p Phase) bool { return p.Agent != nil }) {
		s.Agent = &UsageSummary{
			CPUSeconds:   agent(func(a *Usage) float64 { return a.CPUSeconds }),
			PeakRSSBytes: agent(func(a *Usage) float64 { return float64(a.PeakRSSBytes) }),
		}
	}
	return s
}

// summaryTable is Table for several runs: one row per phase with each
// figure as "median (min–max)", so that the noise is read next to the
// difference it might explain.
func (r *Report) summaryTable(w io.Writer) {
	fmt.Fprintf(w, "median (min–max) over %d runs\n", len(r.Runs))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "strategy\tcommits/s\tx base\tcommit p50\tp95\tp99\tp95 x base\tcapture p50\tp95\tp99\tevents/s\tmissed\tdup\tcpu s\trss MiB\t")
	for _, s := range r.Summary() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t", s.Strategy,
			s.Throughput.format("%.1f", 1), s.ThroughputRatio.formatOr("%.2f", 1),
			s.CommitP50NS.ms(), s.CommitP95NS.ms(), s.CommitP99NS.ms(), s.CommitP95Ratio.formatOr("%.2f", 1))
		if c := s.Capture; c != nil {
			missed := c.Missed.format("%.0f", 1)
			if c.Undrained > 0 {
				missed += "?"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t", c.P50NS.ms(), c.P95NS.ms(), c.P99NS.ms(),
				c.Throughput.format("%.1f", 1), missed, c.Duplicates.format("%.0f", 1))
		} else {
			fmt.Fprint(tw, "-\t-\t-\t-\t-\t-\t")
		}
		if a := s.Agent; a != nil {
			fmt.Fprintf(tw, "%s\t%s\t\n", a.CPUSeconds.format("%.2f", 1), a.PeakRSSBytes.format("%.1f", 1<<20))
		} else {
			fmt.Fprint(tw, "-\t-\t\n")
		}
	}
	tw.Flush()
}

// format prints s divided by unit as "median (min–max)", or the median
// alone when the runs agree exactly (one run, or a count like missed = 0
// every time): a range of one value is noise in the table.
func (s Spread) format(verb string, unit float64) string {
	med, lo, hi := fmt.Sprintf(verb, s.Median/unit), fmt.Sprintf(verb, s.Min/unit), fmt.Sprintf(verb, s.Max/unit)
	if lo == hi {
		return med
	}
	return fmt.Sprintf("%s (%s–%s)", med, lo, hi)
}

func (s *Spread) formatOr(verb string, unit float64) string {
	if s == nil {
		return "-"
	}
	return s.format(verb, unit)
}

// ms is format for nanoseconds shown in milliseconds, the unit as in Table.
func (s Spread) ms() string {
	med, lo, hi := fmt.Sprintf("%.1f", s.Median/1e6), fmt.Sprintf("%.1f", s.Min/1e6), fmt.Sprintf("%.1f", s.Max/1e6)
	if lo == hi {
		return med + "ms"
	}
	return fmt.Sprintf("%sms (%s–%s)", med, lo, hi)
}
