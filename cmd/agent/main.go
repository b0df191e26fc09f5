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
	_ "github.com/rowflux/rowflux/plugins/all"
)

const usage = `Usage:
  agent --config FILE [--test] [--test-duration D] [--test-format json|influx] [--log-level LEVEL] [--reset-state]
                                        run the pipeline
  agent config [PLUGIN...]              print sample configuration (all, or the named plugins)
  agent plugins                         list built-in plugins
  agent setup|teardown|doctor --config FILE
                                        install, remove or check capture objects on the sources
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
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "agent: unexpected argument %q\n%s", fs.Arg(0), usage)
		return 2
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
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return exit(stderr, agent.Manage(ctx, action, opts))
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
