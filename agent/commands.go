package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/rowflux/rowflux/sdk"
)

// Version is set at build time with -ldflags "-X github.com/rowflux/rowflux/agent.Version=…".
var Version = ""

// VersionString describes this build.
func VersionString() string {
	v := Version
	if v == "" {
		v = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	return fmt.Sprintf("rowflux agent %s (%s %s/%s)", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

var kinds = []sdk.Kind{sdk.KindInput, sdk.KindProcessor, sdk.KindOutput}

// ListPlugins writes every built-in plugin with its description.
func ListPlugins(w io.Writer) {
	for _, k := range kinds {
		fmt.Fprintf(w, "%s:\n", k)
		for _, p := range sdk.Plugins(k) {
			fmt.Fprintf(w, "  %-12s %s\n", p.Name, p.Description)
		}
	}
}

// PrintConfig writes sample configuration: the [agent] section and every
// plugin when names is empty, else the named plugins ("generate" or
// "inputs.generate").
func PrintConfig(w io.Writer, names []string) error {
	if len(names) == 0 {
		io.WriteString(w, agentSampleConfig)
		for _, k := range kinds {
			for _, p := range sdk.Plugins(k) {
				fmt.Fprintf(w, "\n%s", p.SampleConfig)
			}
		}
		return nil
	}
	for i, name := range names {
		found := false
		for _, k := range kinds {
			for _, p := range sdk.Plugins(k) {
				if name == p.Name || name == string(k)+"."+p.Name {
					if i > 0 || found {
						io.WriteString(w, "\n")
					}
					io.WriteString(w, p.SampleConfig)
					found = true
				}
			}
		}
		if name == "agent" {
			io.WriteString(w, agentSampleConfig)
			found = true
		}
		if !found {
			var all []string
			for _, k := range kinds {
				for _, p := range sdk.Plugins(k) {
					all = append(all, string(k)+"."+p.Name)
				}
			}
			return &ConfigError{fmt.Errorf("unknown plugin %q (known: agent, %s)", name, strings.Join(all, ", "))}
		}
	}
	return nil
}

// ErrChecksFailed is returned by Doctor when a prerequisite is missing.
var ErrChecksFailed = errors.New("some prerequisites are missing")

// Manage runs setup, teardown or doctor on every input of the configuration
// that manages objects on its source.
func Manage(ctx context.Context, action string, opts Options) error {
	red := newRedactor()
	return red.Error(manage(ctx, action, opts, red))
}

func manage(ctx context.Context, action string, opts Options, red *redactor) error {
	s, err := newSession(&opts, red)
	if err != nil {
		return err
	}
	defer s.close()
	// header introduces an input's statements, once, before the first.
	var header string
	s.echo = func(st sdk.Statement) {
		if header != "" {
			io.WriteString(opts.Stdout, header)
			header = ""
		}
		fmt.Fprintf(opts.Stdout, "  -- %s\n", st.Purpose)
		for _, line := range strings.Split(st.SQL, "\n") {
			fmt.Fprintf(opts.Stdout, "  %s\n", line)
		}
	}
	managed, failed := 0, 0
	for _, in := range s.cfg.Inputs {
		if err := s.init(in.Plugin, in.Instance); err != nil {
			return err
		}
		m, ok := in.Plugin.(sdk.SourceManager)
		if !ok {
			continue
		}
		managed++
		if opts.DryRun {
			if err := printPlan(opts.Stdout, in.ID, action, in.Plugin); err != nil {
				return err
			}
			continue
		}
		switch action {
		case "setup":
			header = in.ID + ": sending:\n"
			if err := m.Setup(ctx); err != nil {
				return fmt.Errorf("%s: setup: %w", in.ID, err)
			}
			fmt.Fprintf(opts.Stdout, "%s: capture objects installed\n", in.ID)
		case "teardown":
			header = in.ID + ": sending:\n"
			if err := m.Teardown(ctx); err != nil {
				return fmt.Errorf("%s: teardown: %w", in.ID, err)
			}
			fmt.Fprintf(opts.Stdout, "%s: capture objects removed\n", in.ID)
		case "doctor":
			checks, err := m.Doctor(ctx)
			if err != nil {
				return fmt.Errorf("%s: doctor: %w", in.ID, err)
			}
			fmt.Fprintf(opts.Stdout, "%s:\n", in.ID)
			for _, c := range checks {
				state := "ok"
				if !c.OK {
					state = "MISSING"
					failed++
				}
				fmt.Fprintf(opts.Stdout, "  [%s] %s", state, c.Name)
				if c.Detail != "" {
					fmt.Fprintf(opts.Stdout, ": %s", c.Detail)
				}
				io.WriteString(opts.Stdout, "\n")
				if !c.OK && c.Fix != "" {
					for _, line := range strings.Split(strings.TrimRight(c.Fix, "\n"), "\n") {
						fmt.Fprintf(opts.Stdout, "      fix: %s\n", line)
					}
				}
			}
		default:
			return &ConfigError{fmt.Errorf("unknown action %q", action)}
		}
	}
	if managed == 0 {
		fmt.Fprintf(opts.Stdout, "no input in %s manages objects on its source; nothing to %s\n", s.cfg.Path, action)
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d check(s) failed", ErrChecksFailed, failed)
	}
	return nil
}

// printPlan prints what action would send for one input, without
// connecting (--dry-run).
func printPlan(w io.Writer, id, action string, p any) error {
	pl, ok := p.(sdk.SourcePlanner)
	if !ok {
		fmt.Fprintf(w, "-- %s: cannot list its %s statements without connecting (no dry run for this input)\n", id, action)
		return nil
	}
	script, err := pl.Plan(action)
	if err != nil {
		return fmt.Errorf("%s: %s --dry-run: %w", id, action, err)
	}
	fmt.Fprintf(w, "-- %s: %s (dry run: nothing was sent to the source)\n", id, action)
	if script == "" {
		fmt.Fprintf(w, "-- nothing to %s for this strategy\n", action)
		return nil
	}
	io.WriteString(w, strings.TrimRight(script, "\n")+"\n")
	return nil
}
