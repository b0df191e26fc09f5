package agent

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rowflux/rowflux/sdk"
)

// managedInput pretends to own capture objects on a source.
type managedInput struct {
	countInput
	Missing bool `toml:"missing"`
}

var managedCalls []string

func (m *managedInput) Setup(context.Context) error {
	managedCalls = append(managedCalls, "setup")
	return nil
}
func (m *managedInput) Teardown(context.Context) error {
	managedCalls = append(managedCalls, "teardown")
	return nil
}
func (m *managedInput) Doctor(context.Context) ([]sdk.Check, error) {
	return []sdk.Check{
		{Name: "SELECT on shop.transactions", OK: true, Detail: "granted"},
		{Name: "changelog table", OK: !m.Missing, Detail: "rowflux_changelog not found", Fix: "agent setup --config pipeline.toml"},
	}, nil
}

func init() {
	sdk.RegisterInput(sdk.Registration[sdk.Input]{Name: "agenttest_managed", New: func() sdk.Input { return &managedInput{} }})
}

func TestManage(t *testing.T) {
	managedCalls = nil
	dir := t.TempDir()
	managed := writeConf(t, dir, "[[inputs.agenttest_managed]]\n  missing = true\n[[outputs.agenttest_mem]]\n  sink = \"manage\"\n")
	cases := []struct {
		action, want string
		err          error
	}{
		{"setup", "inputs.agenttest_managed: capture objects installed\n", nil},
		{"teardown", "inputs.agenttest_managed: capture objects removed\n", nil},
		{"doctor", "inputs.agenttest_managed:\n  [ok] SELECT on shop.transactions: granted\n  [MISSING] changelog table: rowflux_changelog not found\n      fix: agent setup --config pipeline.toml\n", ErrChecksFailed},
	}
	for _, tc := range cases {
		var out bytes.Buffer
		err := Manage(context.Background(), tc.action, Options{ConfigPath: managed, Stdout: &out, Stderr: &bytes.Buffer{}})
		if !errors.Is(err, tc.err) || out.String() != tc.want {
			t.Errorf("%s: err %v, output:\n%s\nwant:\n%s", tc.action, err, out.String(), tc.want)
		}
	}
	if strings.Join(managedCalls, ",") != "setup,teardown" {
		t.Errorf("calls %v", managedCalls)
	}

	plain := writeConf(t, t.TempDir(), "[[inputs.agenttest_count]]\n[[outputs.agenttest_mem]]\n")
	var out bytes.Buffer
	if err := Manage(context.Background(), "setup", Options{ConfigPath: plain, Stdout: &out, Stderr: &bytes.Buffer{}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "no input in "+plain+" manages objects on its source; nothing to setup") {
		t.Errorf("got %q", out.String())
	}
}

// plannedInput lists its statements without connecting and reports each
// one it sends through Env.Echo, as the Oracle input does.
type plannedInput struct {
	countInput
	echo func(sdk.Statement)
}

var plannedStatements = []sdk.Statement{{Purpose: "changelog", SQL: "CREATE TABLE cl (seq INT)"}, {Purpose: "trigger", SQL: "CREATE TRIGGER t\nAFTER INSERT ON x"}}

func (p *plannedInput) Init(env sdk.Env) error { p.echo = env.Echo; return nil }
func (p *plannedInput) Setup(context.Context) error {
	for _, st := range plannedStatements {
		p.echo(st)
	}
	return nil
}
func (p *plannedInput) Teardown(context.Context) error              { return nil }
func (p *plannedInput) Doctor(context.Context) ([]sdk.Check, error) { return nil, nil }
func (p *plannedInput) Plan(action string) (string, error) {
	if action != "setup" {
		return "", nil
	}
	return "CREATE TABLE cl (seq INT);\n", nil
}

func init() {
	sdk.RegisterInput(sdk.Registration[sdk.Input]{Name: "agenttest_planned", New: func() sdk.Input { return &plannedInput{} }})
}

func TestManagePrintsStatementsAndDryRuns(t *testing.T) {
	dir := t.TempDir()
	conf := writeConf(t, dir, "[[inputs.agenttest_planned]]\n[[inputs.agenttest_managed]]\n[[outputs.agenttest_mem]]\n  sink = \"planned\"\n")
	for _, tc := range []struct {
		action string
		dry    bool
		want   string
	}{
		{"setup", false, "inputs.agenttest_planned: sending:\n  -- changelog\n  CREATE TABLE cl (seq INT)\n  -- trigger\n  CREATE TRIGGER t\n  AFTER INSERT ON x\ninputs.agenttest_planned: capture objects installed\ninputs.agenttest_managed: capture objects installed\n"},
		{"setup", true, "-- inputs.agenttest_planned: setup (dry run: nothing was sent to the source)\nCREATE TABLE cl (seq INT);\n" +
			"-- inputs.agenttest_managed: cannot list its setup statements without connecting (no dry run for this input)\n"},
		{"teardown", true, "-- inputs.agenttest_planned: teardown (dry run: nothing was sent to the source)\n-- nothing to teardown for this strategy\n" +
			"-- inputs.agenttest_managed: cannot list its teardown statements without connecting (no dry run for this input)\n"},
	} {
		managedCalls = nil
		var out bytes.Buffer
		err := Manage(context.Background(), tc.action, Options{ConfigPath: conf, DryRun: tc.dry, Stdout: &out, Stderr: &bytes.Buffer{}})
		if err != nil || out.String() != tc.want {
			t.Errorf("%s dry=%v: err %v, output:\n%s\nwant:\n%s", tc.action, tc.dry, err, out.String(), tc.want)
		}
		if tc.dry && len(managedCalls) > 0 {
			t.Errorf("%s --dry-run called %v on the source", tc.action, managedCalls)
		}
	}
}
