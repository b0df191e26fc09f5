package config

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

func parse(t *testing.T, text string, env map[string]string) *Config {
	t.Helper()
	cfg, err := Parse("pipeline.toml", []byte(text), fakeEnv(env))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

const minimal = "[[inputs.cfgtest_in]]\n[[outputs.cfgtest_out]]\n"

func ids(cfg *Config) []string {
	var out []string
	for _, in := range cfg.Inputs {
		out = append(out, in.ID)
	}
	for _, p := range cfg.Processors {
		out = append(out, p.ID)
	}
	for _, o := range cfg.Outputs {
		out = append(out, o.ID)
	}
	return out
}

func TestFullFile(t *testing.T) {
	const text = `
[agent]
  checkpoint_interval = "5s"
  state_dir = "${STATE_DIR:-./state}"
  http_listen = "127.0.0.1:9273"
  log_level = "debug"
  log_format = "json"
  channel_size = 16
  shutdown_timeout = "1m"

[[inputs.cfgtest_in]]
  alias = "orders"
  rate = 100.5
  count = 7
  dsn = "postgres://app:${PGPASSWORD}@db:5432/shop?sslmode=disable"
  interval = "250ms"
  timeout = "2s"
  tags = ["currency", "product_category"]
  start = 2024-01-02T03:04:05Z
  enabled = true
  matrix = [[1, 2], [3]]
  [inputs.cfgtest_in.sub]
    k = 9007199254740993
  [[inputs.cfgtest_in.tables]]
    name = "transactions"
    key = ["transaction_id"]
  [[inputs.cfgtest_in.tables]]
    name = "customers"

[[processors.cfgtest_proc_a]]
  where = "amount > 0 && currency == \"EUR\""

[[processors.cfgtest_proc_b]]
  [processors.cfgtest_proc_b.fields]
    total = "sum(amount)"

[[outputs.cfgtest_out]]
  format = "json"
  batch_size = 500
  flush_interval = "2s"
  buffer_limit = 5000
  on_full = "drop_oldest"
  retry_max_interval = "10s"
  token = "${API_TOKEN}"
`
	cfg := parse(t, text, map[string]string{"PGPASSWORD": `p"a$s`, "API_TOKEN": "tok"})

	wantAgent := Agent{
		CheckpointInterval: sdk.Duration(5 * time.Second),
		StateDir:           "./state",
		HTTPListen:         "127.0.0.1:9273",
		LogLevel:           "debug",
		LogFormat:          "json",
		ChannelSize:        16,
		ShutdownTimeout:    sdk.Duration(time.Minute),
	}
	if cfg.Agent != wantAgent {
		t.Errorf("agent = %+v, want %+v", cfg.Agent, wantAgent)
	}
	if cfg.Path != "pipeline.toml" {
		t.Errorf("Path = %q", cfg.Path)
	}
	if got, want := ids(cfg), []string{"inputs.cfgtest_in:orders", "processors.cfgtest_proc_a", "processors.cfgtest_proc_b", "outputs.cfgtest_out"}; !reflect.DeepEqual(got, want) {
		t.Errorf("IDs = %q, want %q", got, want)
	}

	in := cfg.Inputs[0]
	if in.Kind != sdk.KindInput || in.Name != "cfgtest_in" || in.Alias != "orders" {
		t.Errorf("input instance = %+v", in.Instance)
	}
	gotIn := in.Plugin.(*testInput)
	wantIn := &testInput{
		Rate:     100.5,
		Count:    7,
		DSN:      `postgres://app:p"a$s@db:5432/shop?sslmode=disable`,
		Interval: sdk.Duration(250 * time.Millisecond),
		Timeout:  2 * time.Second,
		Tags:     []string{"currency", "product_category"},
		Start:    time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		Enabled:  true,
		Matrix:   [][]int64{{1, 2}, {3}},
		Sub:      testSub{K: 9007199254740993}, // beyond float64 precision: stays an integer
		Tables:   []testTable{{Name: "transactions", Key: []string{"transaction_id"}}, {Name: "customers"}},
	}
	if !gotIn.Start.Equal(wantIn.Start) {
		t.Errorf("start = %v, want %v", gotIn.Start, wantIn.Start)
	}
	gotIn.Start = wantIn.Start
	if !reflect.DeepEqual(gotIn, wantIn) {
		t.Errorf("input plugin =\n%+v\nwant\n%+v", gotIn, wantIn)
	}

	if got := cfg.Processors[0].Plugin.(*testProcA).Where; got != `amount > 0 && currency == "EUR"` {
		t.Errorf("where = %q", got)
	}
	if got := cfg.Processors[1].Plugin.(*testProcB).Fields; !reflect.DeepEqual(got, map[string]string{"total": "sum(amount)"}) {
		t.Errorf("fields = %v", got)
	}

	out := cfg.Outputs[0]
	if out.BatchSize != 500 || out.FlushInterval != sdk.Duration(2*time.Second) || out.BufferLimit != 5000 ||
		out.OnFull != "drop_oldest" || out.RetryMaxInterval != sdk.Duration(10*time.Second) {
		t.Errorf("output settings = %+v", out)
	}
	if got := out.Plugin.(*testOutput); got.Format != "json" || got.Token != "tok" {
		t.Errorf("output plugin = %+v", got)
	}
}

func TestDefaults(t *testing.T) {
	cfg := parse(t, minimal, nil)
	want := Agent{
		CheckpointInterval: sdk.Duration(10 * time.Second),
		LogLevel:           "info",
		LogFormat:          "text",
		ChannelSize:        8,
		ShutdownTimeout:    sdk.Duration(30 * time.Second),
	}
	if cfg.Agent != want {
		t.Errorf("agent = %+v, want %+v", cfg.Agent, want)
	}
	out := cfg.Outputs[0]
	if out.BatchSize != 1000 || out.FlushInterval != sdk.Duration(time.Second) || out.BufferLimit != 100000 ||
		out.OnFull != "block" || out.RetryMaxInterval != sdk.Duration(30*time.Second) {
		t.Errorf("output defaults = %+v", out)
	}
	// Plugin defaults from New survive when the file sets nothing.
	if in := cfg.Inputs[0].Plugin.(*testInput); in.Rate != 1 || in.Count != 10 {
		t.Errorf("plugin defaults lost: %+v", in)
	}
	if got := cfg.Outputs[0].Plugin.(*testOutput).Format; got != "influx" {
		t.Errorf("output plugin default format = %q", got)
	}
	if len(cfg.Processors) != 0 {
		t.Errorf("processors = %v", cfg.Processors)
	}
}

func TestPartialOutputSettingsKeepDefaults(t *testing.T) {
	cfg := parse(t, "[[inputs.cfgtest_in]]\n[[outputs.cfgtest_out]]\n  batch_size = 10\n  format = \"json\"\n", nil)
	out := cfg.Outputs[0]
	if out.BatchSize != 10 || out.BufferLimit != 100000 || out.OnFull != "block" || out.FlushInterval != sdk.Duration(time.Second) {
		t.Errorf("output settings = %+v", out)
	}
	if got := out.Plugin.(*testOutput).Format; got != "json" {
		t.Errorf("format = %q", got)
	}
}

func TestDeclarationOrder(t *testing.T) {
	const text = `
[[outputs.cfgtest_out]]
  format = "o1"
[[processors.cfgtest_proc_b]]
[[inputs.cfgtest_in2]]
[[processors.cfgtest_proc_a]]
  where = "first a"
[[inputs.cfgtest_in]]
[[processors.cfgtest_proc_b]]
  fields = {n = "count()"}
[[processors.cfgtest_proc_a]]
  where = "second a"
[[processors.cfgtest_proc_a]]
  alias = "third"
  where = "third a"
[[outputs.cfgtest_out]]
  format = "o2"
`
	cfg := parse(t, text, nil)
	want := []string{
		"inputs.cfgtest_in2", "inputs.cfgtest_in",
		"processors.cfgtest_proc_b", "processors.cfgtest_proc_a", "processors.cfgtest_proc_b#2",
		"processors.cfgtest_proc_a#2", "processors.cfgtest_proc_a:third",
		"outputs.cfgtest_out", "outputs.cfgtest_out#2",
	}
	if got := ids(cfg); !reflect.DeepEqual(got, want) {
		t.Errorf("IDs =\n%q\nwant\n%q", got, want)
	}
	var wheres []string
	for _, p := range cfg.Processors {
		if a, ok := p.Plugin.(*testProcA); ok {
			wheres = append(wheres, a.Where)
		}
	}
	if want := []string{"first a", "second a", "third a"}; !reflect.DeepEqual(wheres, want) {
		t.Errorf("processor a configs = %q, want %q", wheres, want)
	}
	if got := cfg.Processors[2].Plugin.(*testProcB).Fields["n"]; got != "count()" {
		t.Errorf("second proc_b fields = %q", got)
	}
	if cfg.Outputs[0].Plugin.(*testOutput).Format != "o1" || cfg.Outputs[1].Plugin.(*testOutput).Format != "o2" {
		t.Errorf("outputs out of order")
	}
}

func TestIDs(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"single", "[[inputs.cfgtest_in]]\n", []string{"inputs.cfgtest_in"}},
		{"numbered", "[[inputs.cfgtest_in]]\n[[inputs.cfgtest_in]]\n[[inputs.cfgtest_in]]\n",
			[]string{"inputs.cfgtest_in", "inputs.cfgtest_in#2", "inputs.cfgtest_in#3"}},
		{"aliased do not count", "[[inputs.cfgtest_in]]\nalias = \"a\"\n[[inputs.cfgtest_in]]\n[[inputs.cfgtest_in]]\nalias = \"b\"\n[[inputs.cfgtest_in]]\n",
			[]string{"inputs.cfgtest_in:a", "inputs.cfgtest_in", "inputs.cfgtest_in:b", "inputs.cfgtest_in#2"}},
		{"count per plugin", "[[inputs.cfgtest_in]]\n[[inputs.cfgtest_in2]]\n[[inputs.cfgtest_in]]\n",
			[]string{"inputs.cfgtest_in", "inputs.cfgtest_in2", "inputs.cfgtest_in#2"}},
		{"same alias on different plugins", "[[inputs.cfgtest_in]]\nalias = \"x\"\n[[inputs.cfgtest_in2]]\nalias = \"x\"\n",
			[]string{"inputs.cfgtest_in:x", "inputs.cfgtest_in2:x"}},
		{"alias from environment", "[[inputs.cfgtest_in]]\nalias = \"${REGION:-eu}\"\n", []string{"inputs.cfgtest_in:eu"}},
		{"single table form", "[inputs.cfgtest_in]\nrate = 2.0\n", []string{"inputs.cfgtest_in"}},
		{"inline array form", "inputs.cfgtest_in = [{rate = 2.0}, {alias = \"b\"}]\n", []string{"inputs.cfgtest_in", "inputs.cfgtest_in:b"}},
		{"dotted keys form", "inputs.cfgtest_in.rate = 2.0\n", []string{"inputs.cfgtest_in"}},
		{"unicode alias", "[[inputs.cfgtest_in]]\nalias = \"commandes_été-2.v1\"\n", []string{"inputs.cfgtest_in:commandes_été-2.v1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := parse(t, tt.text+"[[outputs.cfgtest_out]]\n", nil)
			got := ids(cfg)
			got = got[:len(got)-1] // the output
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("IDs = %q, want %q", got, tt.want)
			}
			for _, in := range cfg.Inputs {
				if _, ok := in.Plugin.(*testInput); !ok {
					t.Errorf("%s: plugin %T", in.ID, in.Plugin)
				}
			}
		})
	}
}

// Values with quotes, newlines or TOML syntax, whether written in the file or
// substituted from the environment, must arrive unchanged and never alter the
// structure of the configuration.
func TestEnvSubstitution(t *testing.T) {
	env := map[string]string{
		"SET":    "value",
		"EMPTY":  "",
		"QUOTES": "a\"b\nc = 1\n[[outputs.cfgtest_out]]\n'''x",
		"DOLLAR": "p$ss${NOT_EXPANDED}",
	}
	tests := []struct {
		name, value, want string
	}{
		{"plain", "plain", "plain"},
		{"set", "${SET}", "value"},
		{"embedded", "x-${SET}-y", "x-value-y"},
		{"twice", "${SET}${SET}", "valuevalue"},
		{"unset with default", "${UNSET:-fallback}", "fallback"},
		{"empty with default", "${EMPTY:-fallback}", "fallback"},
		{"empty without default", "${EMPTY}", ""},
		{"set with default", "${SET:-fallback}", "value"},
		{"empty default", "${UNSET:-}", ""},
		{"default with colon and dash", "${UNSET:-a:-b}", "a:-b"},
		{"nested default", "${UNSET:-${SET}}", "value"},
		{"escaped", "$${SET}", "${SET}"},
		{"escaped then real", "$${SET}${SET}", "${SET}value"},
		{"lone dollar", "pa$$word$", "pa$$word$"},
		{"dollar before letter", "$SET", "$SET"},
		{"closing brace alone", "a}b", "a}b"},
		{"value with quotes and newlines", "${QUOTES}", env["QUOTES"]},
		{"value is not expanded again", "${DOLLAR}", env["DOLLAR"]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := "[[inputs.cfgtest_in]]\n  dsn = '" + tt.value + "'\n[[outputs.cfgtest_out]]\n"
			cfg := parse(t, text, env)
			if got := cfg.Inputs[0].Plugin.(*testInput).DSN; got != tt.want {
				t.Errorf("dsn = %q, want %q", got, tt.want)
			}
			if len(cfg.Outputs) != 1 || len(cfg.Inputs) != 1 {
				t.Errorf("structure changed: %d inputs, %d outputs", len(cfg.Inputs), len(cfg.Outputs))
			}
		})
	}
}

func TestEnvSubstitutionNested(t *testing.T) {
	const text = `
[[inputs.cfgtest_in]]
  tags = ["${A}", "b", "${UNSET:-c}"]
  matrix = [[1]]
  [inputs.cfgtest_in.sub.deep]
    "${A}" = 1
  [[inputs.cfgtest_in.tables]]
    name = "${A}"
    key = ["${B}", "k2"]
  [[inputs.cfgtest_in.tables]]
    name = "${B}"
  [inputs.cfgtest_in.extra]
    list = [{x = "${A}"}, ["${B}"]]
    table = {y = "${B}"}
[[outputs.cfgtest_out]]
  headers = {Authorization = "Bearer ${B}"}
`
	cfg := parse(t, text, map[string]string{"A": "aa", "B": "bb"})
	in := cfg.Inputs[0].Plugin.(*testInput)
	if want := []string{"aa", "b", "c"}; !reflect.DeepEqual(in.Tags, want) {
		t.Errorf("tags = %q, want %q", in.Tags, want)
	}
	if want := []testTable{{Name: "aa", Key: []string{"bb", "k2"}}, {Name: "bb"}}; !reflect.DeepEqual(in.Tables, want) {
		t.Errorf("tables = %+v, want %+v", in.Tables, want)
	}
	// Keys are never substituted.
	if _, ok := in.Sub.Deep["${A}"]; !ok {
		t.Errorf("key was substituted: %v", in.Sub.Deep)
	}
	wantExtra := map[string]any{
		"list":  []any{map[string]any{"x": "aa"}, []any{"bb"}},
		"table": map[string]any{"y": "bb"},
	}
	if !reflect.DeepEqual(in.Extra, wantExtra) {
		t.Errorf("extra = %#v, want %#v", in.Extra, wantExtra)
	}
	if got := cfg.Outputs[0].Plugin.(*testOutput).Headers["Authorization"]; got != "Bearer bb" {
		t.Errorf("header = %q", got)
	}
}

// A field that takes any value owns the keys below it: they are not unknown.
func TestOpaqueFieldsAcceptAnyKeys(t *testing.T) {
	const text = `
[[inputs.cfgtest_in]]
  [inputs.cfgtest_in.extra]
    a = 1
    [inputs.cfgtest_in.extra.b.c]
      d = [1, 2]
  [inputs.cfgtest_in.raw]
    anything = "goes"
    [inputs.cfgtest_in.raw.deeper]
      x = 1
[[outputs.cfgtest_out]]
`
	cfg := parse(t, text, nil)
	in := cfg.Inputs[0].Plugin.(*testInput)
	want := map[string]any{"a": int64(1), "b": map[string]any{"c": map[string]any{"d": []any{int64(1), int64(2)}}}}
	if !reflect.DeepEqual(in.Extra, want) {
		t.Errorf("extra = %#v", in.Extra)
	}
}

func TestValuesKeepTheirTypes(t *testing.T) {
	const text = `
[[inputs.cfgtest_in]]
  [inputs.cfgtest_in.extra]
    int = 9223372036854775807
    neg = -9223372036854775808
    float = 1e300
    small = 5e-324
    inf = -inf
    nan = nan
    bool = false
    odt = 1979-05-27T07:32:00.999999999-07:00
    ldt = 1979-05-27T07:32:00
    ld = 1979-05-27
    lt = 07:32:00
    mixed = [1, "a", 2.5, {x = 1}, [true]]
    empty = []
    "quoted key" = "v"
    "" = "empty key"
    [[inputs.cfgtest_in.extra.aot]]
      n = 1
    [[inputs.cfgtest_in.extra.aot]]
      n = 2
[[outputs.cfgtest_out]]
`
	cfg := parse(t, text, nil)
	x := cfg.Inputs[0].Plugin.(*testInput).Extra
	check := func(key string, want any) {
		t.Helper()
		if got := x[key]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v (%T), want %#v (%T)", key, got, got, want, want)
		}
	}
	check("int", int64(math.MaxInt64))
	check("neg", int64(math.MinInt64))
	check("float", 1e300)
	check("small", 5e-324)
	check("inf", math.Inf(-1))
	if f, ok := x["nan"].(float64); !ok || !math.IsNaN(f) {
		t.Errorf("nan = %#v", x["nan"])
	}
	check("bool", false)
	check("mixed", []any{int64(1), "a", 2.5, map[string]any{"x": int64(1)}, []any{true}})
	check("empty", []any{})
	check("quoted key", "v")
	check("", "empty key")
	check("aot", []map[string]any{{"n": int64(1)}, {"n": int64(2)}})
	if odt, ok := x["odt"].(time.Time); !ok || !odt.Equal(time.Date(1979, 5, 27, 14, 32, 0, 999999999, time.UTC)) {
		t.Errorf("odt = %#v", x["odt"])
	}
	for key, want := range map[string]string{"ldt": "datetime-local", "ld": "date-local", "lt": "time-local"} {
		if tm, ok := x[key].(time.Time); !ok || tm.Location().String() != want {
			t.Errorf("%s = %#v, want a %s value", key, x[key], want)
		}
	}
}

func TestPluginWithoutConfigNeedNotBePointer(t *testing.T) {
	cfg := parse(t, "[[inputs.cfgtest_in]]\n[[outputs.cfgtest_out_value]]\nbatch_size = 5\n", nil)
	if _, ok := cfg.Outputs[0].Plugin.(testValueOutput); !ok || cfg.Outputs[0].BatchSize != 5 {
		t.Errorf("output = %+v", cfg.Outputs[0])
	}
}

func TestEmptyPluginArray(t *testing.T) {
	cfg := parse(t, "processors.cfgtest_proc_a = []\n"+minimal, nil)
	if len(cfg.Processors) != 0 {
		t.Errorf("processors = %v", cfg.Processors)
	}
}

// Each Parse creates fresh plugin values: two configs never share one.
func TestFreshPluginsPerParse(t *testing.T) {
	a := parse(t, minimal, nil)
	b := parse(t, minimal, nil)
	if a.Inputs[0].Plugin == b.Inputs[0].Plugin {
		t.Error("plugins shared between parses")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pipeline.toml")
	if err := os.WriteFile(path, []byte(minimal+"[agent]\nlog_level = \"${LVL}\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, fakeEnv(map[string]string{"LVL": "warn"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Path != path || cfg.Agent.LogLevel != "warn" {
		t.Errorf("Path = %q, log level = %q", cfg.Path, cfg.Agent.LogLevel)
	}

	_, err = Load(filepath.Join(dir, "missing.toml"), fakeEnv(nil))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.toml") {
		t.Errorf("missing file: %v", err)
	}

	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[agent]\nlog_level = \"loud\"\n"+minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad, fakeEnv(nil))
	if want := bad + `: agent: log_level: must be debug, info, warn or error, got "loud"`; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

func TestUnknownPluginMessage(t *testing.T) {
	tests := []struct {
		kind  sdk.Kind
		known []sdk.Info
		want  string
	}{
		{sdk.KindOutput, []sdk.Info{{Name: "stdout"}, {Name: "websocket"}}, `unknown output "x" (known outputs: stdout, websocket)`},
		{sdk.KindInput, []sdk.Info{{Name: "generate"}}, `unknown input "x" (known inputs: generate)`},
		{sdk.KindProcessor, nil, `unknown processor "x" (no processors are registered)`},
		{sdk.KindOutput, nil, `unknown output "x" (no outputs are registered)`},
	}
	for _, tt := range tests {
		if got := unknownPlugin(tt.kind, "x", tt.known); got != tt.want {
			t.Errorf("got %s, want %s", got, tt.want)
		}
	}
}

// A wrapped key error keeps its cause for errors.Is / errors.As.
func TestErrorsWrap(t *testing.T) {
	_, err := Parse("p.toml", []byte("[[inputs.cfgtest_in]]\ndsn = \"${NOPE}\"\n[[outputs.cfgtest_out]]\n"), fakeEnv(nil))
	var ke *keyError
	if !errors.As(err, &ke) || ke.key != "dsn" {
		t.Errorf("error %v does not wrap a keyError for dsn", err)
	}
}
