package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// A path or DSN with quotes, backslashes or control characters must come
// back from the TOML decoder unchanged.
func TestTOMLStringRoundTrips(t *testing.T) {
	for _, s := range []string{`/tmp/a b/shop.db`, `C:\data\"x".db`, "tab\there\x00\x7f", "postgres://u:p%40ss@h/db?x=ü"} {
		var v struct{ S string }
		if _, err := toml.Decode("S = "+tomlString(s), &v); err != nil || v.S != s {
			t.Errorf("%q: got %q, %v", s, v.S, err)
		}
	}
}

// oracleInput is the part of an [[inputs.oracle]] section the bench writes.
type oracleInput struct {
	DSN          string `toml:"dsn"`
	Strategy     string `toml:"strategy"`
	AutoSetup    *bool  `toml:"auto_setup"`
	PollInterval string `toml:"poll_interval"`
	Tables       []struct {
		Name            string   `toml:"name"`
		Key             []string `toml:"key"`
		TimestampColumn string   `toml:"timestamp_column"`
	} `toml:"tables"`
}

func TestWritePipelineOracle(t *testing.T) {
	const dsn = `oracle://rowflux:p%22w@db:1521/FREEPDB1`
	for _, strategy := range []string{"polling", "trigger", "rowscn", "cqn", "commit_order", "notify"} {
		t.Run(strategy, func(t *testing.T) {
			dir := t.TempDir()
			path, err := writePipeline(dir, "oracle", phaseDB{dsn: dsn}, strategy, 250*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("pipeline file %v: the DSN has a password, want mode 0600", err)
			}
			var conf struct {
				Agent struct {
					StateDir string `toml:"state_dir"`
				} `toml:"agent"`
				Inputs struct {
					Oracle   []oracleInput    `toml:"oracle"`
					SQLite   []map[string]any `toml:"sqlite"`
					Postgres []map[string]any `toml:"postgres"`
				} `toml:"inputs"`
				Outputs struct {
					Stdout []struct {
						Format string `toml:"format"`
					} `toml:"stdout"`
				} `toml:"outputs"`
			}
			if _, err := toml.DecodeFile(path, &conf); err != nil {
				t.Fatal(err)
			}
			if len(conf.Inputs.Oracle) != 1 || len(conf.Inputs.SQLite)+len(conf.Inputs.Postgres) != 0 {
				t.Fatalf("want exactly one [[inputs.oracle]]: %+v", conf.Inputs)
			}
			in := conf.Inputs.Oracle[0]
			if in.DSN != dsn || in.Strategy != strategy || in.AutoSetup == nil || *in.AutoSetup || in.PollInterval != "250ms" {
				t.Errorf("input %+v", in)
			}
			ts := ""
			if strategy == "polling" {
				ts = "updated_at"
			}
			if len(in.Tables) != 1 || in.Tables[0].Name != "transactions" || !reflect.DeepEqual(in.Tables[0].Key, []string{"transaction_id"}) || in.Tables[0].TimestampColumn != ts {
				t.Errorf("tables %+v", in.Tables)
			}
			if conf.Agent.StateDir != filepath.Join(dir, "state") || len(conf.Outputs.Stdout) != 1 || conf.Outputs.Stdout[0].Format != "json" {
				t.Errorf("agent/outputs: %+v %+v", conf.Agent, conf.Outputs)
			}
			// The real agent accepts it: setup --dry-run parses and
			// validates the whole pipeline, and connects to nothing (no
			// Oracle server runs here).
			out, err := exec.Command(agentBin, "setup", "--dry-run", "--config", path).CombinedOutput()
			if err != nil {
				t.Fatalf("agent setup --dry-run: %v\n%s", err, out)
			}
		})
	}
}
