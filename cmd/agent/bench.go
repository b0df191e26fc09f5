package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/rowflux/rowflux/agent"
	"github.com/rowflux/rowflux/agent/bench"
	"github.com/rowflux/rowflux/agent/workload"
)

// runBench is `agent bench`: the strategy comparison of agent/bench, with
// a progress line per phase on stderr and the comparison table on stdout.
func runBench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("agent bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var confPath, reportDir string
	var repeat int
	fs.StringVar(&confPath, "config", "", "bench configuration `file` (see examples/bench)")
	fs.StringVar(&reportDir, "report", "", "write report.json and report.html into this `directory`, creating it")
	fs.IntVar(&repeat, "repeat", 0, "full rounds (baseline + every strategy), overriding the config's repeat")
	if code, ok := parseArgs(fs, args, stderr, ""); !ok {
		return code
	}
	if confPath == "" {
		fmt.Fprintln(stderr, "agent bench: --config FILE is required")
		return 2
	}
	cfg, err := bench.LoadConfig(confPath)
	if err != nil {
		return exit(stderr, &agent.ConfigError{Err: err})
	}
	repeatSet := false
	fs.Visit(func(f *flag.Flag) { repeatSet = repeatSet || f.Name == "repeat" })
	if repeatSet {
		if repeat < 1 {
			fmt.Fprintf(stderr, "agent bench: --repeat must be at least 1, got %d\n", repeat)
			return 2
		}
		cfg.Repeat = repeat
	}
	bin, err := os.Executable()
	if err != nil {
		return exit(stderr, fmt.Errorf("bench: find the agent binary: %w", err))
	}
	if reportDir != "" {
		// Before the run, not after it: a directory that cannot be made
		// should not cost a whole bench.
		if err := os.MkdirAll(reportDir, 0o755); err != nil {
			return exit(stderr, fmt.Errorf("bench: --report: %w", err))
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal kills at once, skipping the teardown of the current phase
	}()
	w := cfg.Workload
	phases := 1 + len(cfg.Strategies)
	fmt.Fprintf(stderr, "bench: %s, %d round(s) of %d phases (baseline, %s), each %s warm-up + %s at %g commits/s\n",
		sourceName(cfg.DSN), cfg.Repeat, phases, strings.Join(cfg.Strategies, ", "), w.Warmup, w.Duration, w.Rate)
	rep, err := bench.Run(ctx, cfg, bin, stderr)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("bench interrupted: %w", err)
		}
		if ce := (*workload.ConfigError)(nil); errors.As(err, &ce) {
			// e.g. an Oracle DSN go-ora cannot parse: still the config.
			err = &agent.ConfigError{Err: err}
		}
		return exit(stderr, err)
	}
	rep.Table(stdout)
	if reportDir != "" {
		if err := rep.WriteFiles(reportDir); err != nil {
			return exit(stderr, err)
		}
		fmt.Fprintf(stderr, "bench: wrote %s and %s\n", filepath.Join(reportDir, "report.json"), filepath.Join(reportDir, "report.html"))
	}
	return 0
}

// sourceName is the DSN's scheme, for the first progress line: the DSN
// itself can carry a password.
func sourceName(dsn string) string {
	scheme, _, _ := strings.Cut(dsn, "://")
	return strings.ToLower(scheme)
}
