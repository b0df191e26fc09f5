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
