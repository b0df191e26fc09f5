// Command agent runs a rowflux pipeline. See `agent help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rowflux/rowflux/agent"
	"github.com/rowflux/rowflux/agent/workload"
	_ "github.com/rowflux/rowflux/plugins/all"
)

const usage = `Usage:
  agent --config FILE [--test] [--test-duration D] [--test-format json|influx] [--log-level LEVEL] [--reset-state]
                                        run the pipeline
  agent config [PLUGIN...]              print sample configuration (all, or the named plugins)
  agent plugins                         list built-in plugins
  agent setup|teardown|doctor --config FILE [--dry-run]
                                        install, remove or check capture objects on the sources;
                                        --dry-run prints the statements without connecting
  agent workload --dsn DSN [--rate N] [--duration D] [--writers N] [--long-tx-every N] [--long-tx-hold D]
                 [--ledger FILE] [--preload N] [--seed N] [--mix 60,30,10] [--schema-only]
                                        drive the transactions table and record a ledger of every commit
  agent bench --config FILE [--report DIR] [--repeat N]
                                        compare capture strategies on a source: a baseline, then each
                                        strategy under the same workload; a progress line per phase on
                                        stderr, the comparison table on stdout, report.json and report.html in DIR
  agent version                         print the version

Exit status: 0 clean stop, 1 runtime failure, 2 bad configuration or usage.
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "version":
			fmt.Fprintln(stdout, agent.VersionString())
			return 0
		case "plugins":
			agent.ListPlugins(stdout)
			return 0
		case "config":
			return exit(stderr, agent.PrintConfig(stdout, args[1:]))
		case "setup", "teardown", "doctor":
			return manage(args[0], args[1:], stdout, stderr)
		case "workload":
			return runWorkload(args[1:], stderr)
		case "bench":
			return runBench(args[1:], stdout, stderr)
		case "help", "-h", "--help", "-help":
			io.WriteString(stdout, usage)
			return 0
		}
	}
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { io.WriteString(stderr, usage) }
	opts := agent.Options{Stdout: stdout, Stderr: stderr}
	fs.StringVar(&opts.ConfigPath, "config", "", "pipeline configuration `file`")
	fs.BoolVar(&opts.Test, "test", false, "run inputs and processors, print what would reach the outputs, then exit")
	fs.DurationVar(&opts.TestDuration, "test-duration", 5*time.Second, "how long a --test run lasts")
	fs.StringVar(&opts.TestFormat, "test-format", "json", "json or influx (line protocol) for --test")
	fs.StringVar(&opts.LogLevel, "log-level", "", "debug, info, warn or error (overrides [agent] log_level)")
	fs.BoolVar(&opts.ResetState, "reset-state", false, "discard the checkpoint in state_dir and start every input from its beginning")
	if code, ok := parseArgs(fs, args, stderr, usage); !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal now kills the process with the default action
	}()
	return exit(stderr, agent.Run(ctx, opts))
}

func manage(action string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("agent "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := agent.Options{Stdout: stdout, Stderr: stderr}
	fs.StringVar(&opts.ConfigPath, "config", "", "pipeline configuration `file`")
	fs.StringVar(&opts.LogLevel, "log-level", "", "debug, info, warn or error")
	fs.BoolVar(&opts.DryRun, "dry-run", false, "print the statements "+action+" would send, without connecting")
	if code, ok := parseArgs(fs, args, stderr, ""); !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return exit(stderr, agent.Manage(ctx, action, opts))
}

func runWorkload(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("agent workload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := workload.Options{Progress: stderr}
	fs.StringVar(&opts.DSN, "dsn", "", "database to drive: sqlite://PATH, postgres://USER@HOST:PORT/DB or oracle://USER:PASSWORD@HOST:PORT/SERVICE")
	fs.Float64Var(&opts.Rate, "rate", workload.DefaultRate, "committed transactions per second over all writers; 0 = as fast as possible")
	fs.DurationVar(&opts.Duration, "duration", 0, "how long to run after the preload; 0 = until SIGINT/SIGTERM")
	fs.IntVar(&opts.Writers, "writers", 1, "concurrent writers")
	fs.IntVar(&opts.LongTxEvery, "long-tx-every", 0, "hold every Nth transaction open for --long-tx-hold before COMMIT; 0 = never")
	fs.DurationVar(&opts.LongTxHold, "long-tx-hold", time.Second, "how long a long transaction stays open")
	fs.StringVar(&opts.Ledger, "ledger", "", "append every committed change to this `file` (JSON lines)")
	fs.IntVar(&opts.Preload, "preload", 0, "insert this many rows first, in big transactions")
	fs.Int64Var(&opts.Seed, "seed", 0, "seed for the random choices")
	fs.BoolVar(&opts.SchemaOnly, "schema-only", false, "create the transactions table and its index, then exit")
	fs.Func("mix", "relative weights of `insert,update,delete` (default 60,30,10)", func(s string) (err error) {
		opts.Mix, err = workload.ParseMix(s)
		return err
	})
	if code, ok := parseArgs(fs, args, stderr, ""); !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal kills at once, without waiting for open transactions
	}()
	_, err := workload.Run(ctx, opts)
	if ce := (*workload.ConfigError)(nil); errors.As(err, &ce) {
		err = &agent.ConfigError{Err: err}
	}
	return exit(stderr, err)
}

// exit prints err and maps it to the exit status.
func exit(stderr io.Writer, err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "agent: %v\n", err)
	var ce *agent.ConfigError
	if errors.As(err, &ce) {
		return 2
	}
	return 1
}

// parseArgs parses a (sub)command's flags. It reports false, with the exit
// status, for a wrong command line (2) or a request for help (0); a stray
// argument is named, followed by help when given.
func parseArgs(fs *flag.FlagSet, args []string, stderr io.Writer, help string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n%s", fs.Name(), fs.Arg(0), help)
		return 2, false
	}
	return 0, true
}
