package bench

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig(`
[source]
  dsn = "sqlite://shop.db"
`)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		DSN: "sqlite://shop.db",
		Workload: WorkloadConfig{
			Rate: 100, Duration: 10 * time.Second, Warmup: 2 * time.Second, Writers: 1,
			Mix: [3]int{60, 30, 10}, Seed: 1,
		},
		// SQLite refuses commit_order, so the default leaves it out.
		Strategies:   []string{"polling", "trigger", "notify"},
		Repeat:       1,
		PollInterval: time.Second,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestParseConfigFull(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bench.toml")
	os.WriteFile(path, []byte(`
strategies = ["notify", "commit_order"]
repeat = 3
poll_interval = "250ms"
[source]
  dsn = "postgres://app@db/shop"
[workload]
  rate = 500
  duration = "30s"
  warmup = "1s"
  writers = 4
  mix = [80, 15, 5]
  long_tx_every = 50
  long_tx_hold = "2s"
  seed = 42
  preload = 10000
`), 0o600)
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		DSN: "postgres://app@db/shop",
		Workload: WorkloadConfig{
			Rate: 500, Duration: 30 * time.Second, Warmup: time.Second, Writers: 4, Mix: [3]int{80, 15, 5},
			LongTxEvery: 50, LongTxHold: 2 * time.Second, Seed: 42, Preload: 10000,
		},
		Strategies:   []string{"notify", "commit_order"},
		Repeat:       3,
		PollInterval: 250 * time.Millisecond,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestParseConfigErrors(t *testing.T) {
	const src = "[source]\n  dsn = \"sqlite://shop.db\"\n"
	for _, tc := range []struct{ name, text, want string }{
		{"unknown key", src + "[workload]\n  rat = 5\n  writer = 2\n",
			`bench config: unknown key "workload.rat", "workload.writer"`},
		{"unknown top-level key", "strategy = \"trigger\"\n" + src,
			`bench config: unknown key "strategy"`},
		{"bad strategy", "strategies = [\"trigger\", \"cdc\"]\n" + src,
			`bench config: strategies: unknown strategy "cdc" (want polling, trigger, commit_order, notify)`},
		{"strategy the source lacks", "strategies = [\"commit_order\"]\n" + src,
			`bench config: strategies: commit_order is not available on sqlite (it supports polling, trigger, notify)`},
		{"strategy twice", "strategies = [\"trigger\", \"trigger\"]\n" + src,
			`bench config: strategies: trigger is listed twice`},
		{"no strategies", "strategies = []\n" + src,
			`bench config: strategies: empty: name at least one of polling, trigger, notify`},
		{"bad duration", src + "[workload]\n  duration = \"ten seconds\"\n",
			`bench config: workload.duration: invalid duration "ten seconds" (examples: "500ms", "10s", "1m")`},
		{"zero duration", src + "[workload]\n  duration = \"0s\"\n",
			`bench config: workload.duration: must be greater than 0, got 0s`},
		{"bad poll interval", "poll_interval = \"-1s\"\n" + src,
			`bench config: poll_interval: must be greater than 0, got -1s`},
		{"bad warmup", src + "[workload]\n  warmup = \"soon\"\n",
			`bench config: workload.warmup: invalid duration "soon" (examples: "500ms", "10s", "1m")`},
		{"bad mix", src + "[workload]\n  mix = [1, 2]\n",
			`bench config: workload.mix: want three non-negative weights [insert, update, delete], not all 0, e.g. [60, 30, 10]; got [1 2]`},
		{"zero rate", src + "[workload]\n  rate = 0\n",
			`bench config: workload.rate: must be greater than 0, got 0`},
		{"no writers", src + "[workload]\n  writers = 0\n",
			`bench config: workload.writers: must be at least 1, got 0`},
		{"long tx without hold", src + "[workload]\n  long_tx_every = 10\n",
			`bench config: workload.long_tx_hold: must be set when long_tx_every is (how long a long transaction stays open)`},
		{"preload without warm-up", src + "[workload]\n  warmup = \"0s\"\n  preload = 100\n",
			`bench config: workload.preload: needs workload.warmup: the preloaded rows are written and captured during the warm-up`},
		{"repeat", "repeat = 0\n" + src,
			`bench config: repeat: must be at least 1, got 0`},
		{"no dsn", "repeat = 1\n",
			`bench config: source.dsn: missing: want sqlite://PATH, postgres://USER@HOST/DATABASE or oracle://USER:PASSWORD@HOST:PORT/SERVICE`},
		{"unknown scheme", "[source]\n  dsn = \"mysql://u:secret@h/s\"\n",
			`bench config: source.dsn: unsupported scheme "mysql" (the bench supports sqlite, postgres and oracle)`},
		{"oracle without service", "[source]\n  dsn = \"oracle://u:secret@h:1521\"\n",
			`bench config: source.dsn: oracle DSN: want oracle://USER:PASSWORD@HOST:PORT/SERVICE, with special characters in the password %-escaped`},
		{"oracle unknown strategy", "strategies = [\"xmin\"]\n[source]\n  dsn = \"oracle://u:secret@h:1521/s\"\n",
			`bench config: strategies: unknown strategy "xmin" (want polling, trigger, rowscn or its alias commit_order, cqn or its alias notify)`},
		{"oracle alias and name", "strategies = [\"cqn\", \"trigger\", \"notify\"]\n[source]\n  dsn = \"oracle://u:secret@h:1521/s\"\n",
			`bench config: strategies: cqn and notify are the same strategy on oracle`},
		{"oracle name twice", "strategies = [\"rowscn\", \"rowscn\"]\n[source]\n  dsn = \"oracle://u:secret@h:1521/s\"\n",
			`bench config: strategies: rowscn is listed twice`},
		{"oracle strategy elsewhere", "strategies = [\"rowscn\"]\n[source]\n  dsn = \"postgres://u:secret@h/s\"\n",
			`bench config: strategies: rowscn is Oracle's; postgres supports polling, trigger, commit_order, notify`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig(tc.text)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

func TestLoadConfigNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bench.toml")
	os.WriteFile(path, []byte("[source]\n  dsn = \"sqlite://x.db\"\n  user = \"me\"\n"), 0o600)
	_, err := LoadConfig(path)
	if want := path + `: bench config: unknown key "source.user"`; err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}

func TestParseConfigOracle(t *testing.T) {
	const src = "[source]\n  dsn = \"oracle://rowflux:s%40cret@db:1521/FREEPDB1\"\n"
	cfg, err := ParseConfig(src)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"polling", "trigger", "rowscn", "cqn"}; !reflect.DeepEqual(cfg.Strategies, want) {
		t.Errorf("default Oracle strategies %v, want %v", cfg.Strategies, want)
	}
	// inputs.oracle accepts the generic names too; they are kept as
	// written, for the table and the report.
	cfg, err = ParseConfig("strategies = [\"notify\", \"commit_order\", \"polling\"]\n" + src)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"notify", "commit_order", "polling"}; !reflect.DeepEqual(cfg.Strategies, want) {
		t.Errorf("strategies %v, want %v", cfg.Strategies, want)
	}
	// Every Oracle strategy delivers the latest state per key
	// (plugins/inputs/oracle/README.md): all are judged query-based.
	for _, s := range []string{"polling", "trigger", "rowscn", "cqn", "commit_order", "notify"} {
		if k := kindOn("oracle", s); k.String() != "query-based" {
			t.Errorf("oracle %s judged %s", s, k)
		}
	}
	if kindOn("postgres", "trigger").String() != "changelog" || kindOn("sqlite", "notify").String() != "changelog" {
		t.Error("PostgreSQL and SQLite trigger/notify must stay changelog")
	}
}

// The shipped examples are configs users copy: each must load as it is.
func TestExampleConfigsLoad(t *testing.T) {
	paths, err := filepath.Glob("../../examples/bench/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, p := range paths {
		cfg, err := LoadConfig(p)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		k, _ := sourceKind(cfg.DSN)
		kinds[k] = true
		if cfg.Workload.LongTxEvery == 0 {
			t.Errorf("%s: no long transactions (they are what tells polling apart)", p)
		}
	}
	for _, k := range []string{"sqlite", "postgres", "oracle"} {
		if !kinds[k] {
			t.Errorf("no examples/bench config for %s (found %v)", k, paths)
		}
	}
}
