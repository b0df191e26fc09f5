package main

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/rowflux/rowflux/sdk"
)

var commitTime = time.Date(2026, 11, 21, 5, 47, 3, 0, time.UTC)

// counters is an Env.Counter that keeps what it hands out, so that tests
// can read the values.
type counters map[string]*sdk.Counter

func (c counters) counter(name, _ string) *sdk.Counter {
	if c[name] == nil {
		c[name] = &sdk.Counter{}
	}
	return c[name]
}

func (c counters) values() map[string]int64 {
	out := map[string]int64{}
	for k, v := range c {
		out[k] = v.Load()
	}
	return out
}

func discardEnv(c counters) sdk.Env {
	return sdk.Env{Logger: slog.New(slog.DiscardHandler), Counter: c.counter}
}

// newProcessor decodes conf as the agent decodes a [config] table (unknown
// keys are errors) into the plugin the Registration makes, then runs Init.
func newProcessor(t *testing.T, conf string, env sdk.Env) (*Currency, error) {
	t.Helper()
	c := Registration.New().(*Currency)
	md, err := toml.Decode(conf, c)
	if err != nil {
		t.Fatalf("decoding %q: %v", conf, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		t.Fatalf("unknown keys in %q: %v", conf, und)
	}
	return c, c.Init(env)
}

const rates = `
[rates]
EUR = 1.0
USD = 0.92
GBP = 1.17
`

// mul is a product computed at run time: Go constant arithmetic is exact,
// so 100 * 0.92 written as constants is not what float64 gives.
func mul(a, b float64) float64 { return a * b }

func sale(op sdk.Op, tags []sdk.Tag, fields ...sdk.Field) sdk.Event {
	return sdk.Event{Name: "transactions", Op: op, Tags: tags, Fields: fields, Time: commitTime}
}

func f(k string, v any) sdk.Field { return sdk.Field{Key: k, Value: v} }

func cur(code string) []sdk.Tag { return []sdk.Tag{{Key: "currency", Value: code}} }

func TestProcess(t *testing.T) {
	tests := []struct {
		name   string
		conf   string
		in     sdk.Batch
		want   sdk.Batch
		counts map[string]int64
	}{
		{
			name:   "int64 amount, currency as tag",
			conf:   rates,
			in:     sdk.Batch{sale(sdk.OpInsert, cur("USD"), f("id", int64(1)), f("amount", int64(100)))},
			want:   sdk.Batch{sale(sdk.OpInsert, cur("USD"), f("id", int64(1)), f("amount", int64(100)), f("amount_eur", mul(100, 0.92)))},
			counts: map[string]int64{"converted": 1, "skipped": 0, "unknown_currency": 0},
		},
		{
			name:   "float64 amount, currency as field, full precision",
			conf:   rates,
			in:     sdk.Batch{sale(sdk.OpUpdate, nil, f("amount", 12.34), f("currency", "GBP"))},
			want:   sdk.Batch{sale(sdk.OpUpdate, nil, f("amount", 12.34), f("currency", "GBP"), f("amount_eur", mul(12.34, 1.17)))},
			counts: map[string]int64{"converted": 1, "skipped": 0, "unknown_currency": 0},
		},
		{
			name:   "the target currency converts at 1",
			conf:   rates,
			in:     sdk.Batch{sale(sdk.OpUpsert, nil, f("amount", 5.5), f("currency", "EUR"))},
			want:   sdk.Batch{sale(sdk.OpUpsert, nil, f("amount", 5.5), f("currency", "EUR"), f("amount_eur", 5.5))},
			counts: map[string]int64{"converted": 1, "skipped": 0, "unknown_currency": 0},
		},
		{
			name:   "a tag wins over a field of the same name",
			conf:   rates,
			in:     sdk.Batch{sale(sdk.OpInsert, cur("USD"), f("amount", 10.0), f("currency", "GBP"))},
			want:   sdk.Batch{sale(sdk.OpInsert, cur("USD"), f("amount", 10.0), f("currency", "GBP"), f("amount_eur", mul(10, 0.92)))},
			counts: map[string]int64{"converted": 1, "skipped": 0, "unknown_currency": 0},
		},
		{
			name:   "an existing output field is replaced where it is",
			conf:   rates,
			in:     sdk.Batch{sale(sdk.OpInsert, cur("USD"), f("amount_eur", "stale"), f("amount", int64(2)))},
			want:   sdk.Batch{sale(sdk.OpInsert, cur("USD"), f("amount_eur", mul(2, 0.92)), f("amount", int64(2)))},
			counts: map[string]int64{"converted": 1, "skipped": 0, "unknown_currency": 0},
		},
		{
			name: "unknown currency kept",
			conf: rates,
			in: sdk.Batch{
				sale(sdk.OpInsert, cur("JPY"), f("amount", int64(1000))),
				sale(sdk.OpInsert, cur("USD"), f("amount", int64(1))),
			},
			want: sdk.Batch{
				sale(sdk.OpInsert, cur("JPY"), f("amount", int64(1000))),
				sale(sdk.OpInsert, cur("USD"), f("amount", int64(1)), f("amount_eur", 0.92)),
			},
			counts: map[string]int64{"converted": 1, "skipped": 0, "unknown_currency": 1},
		},
		{
			name: "unknown currency dropped",
			conf: `on_unknown = "drop"` + rates,
			in: sdk.Batch{
				sale(sdk.OpInsert, cur("JPY"), f("amount", int64(1000))),
				sale(sdk.OpInsert, cur("USD"), f("amount", int64(1))),
				sale(sdk.OpInsert, nil, f("amount", 3.0), f("currency", "CHF")),
				sale(sdk.OpInsert, cur("GBP"), f("amount", int64(2))),
			},
			want: sdk.Batch{
				sale(sdk.OpInsert, cur("USD"), f("amount", int64(1)), f("amount_eur", 0.92)),
				sale(sdk.OpInsert, cur("GBP"), f("amount", int64(2)), f("amount_eur", mul(2, 1.17))),
			},
			counts: map[string]int64{"converted": 2, "skipped": 0, "unknown_currency": 2},
		},
		{
			name:   "missing amount",
			conf:   `on_unknown = "drop"` + rates,
			in:     sdk.Batch{sale(sdk.OpInsert, cur("USD"), f("id", int64(1))), sale(sdk.OpInsert, cur("JPY"))},
			want:   sdk.Batch{sale(sdk.OpInsert, cur("USD"), f("id", int64(1))), sale(sdk.OpInsert, cur("JPY"))},
			counts: map[string]int64{"converted": 0, "skipped": 2, "unknown_currency": 0},
		},
		{
			name: "non-numeric amounts",
			conf: rates,
			in: sdk.Batch{
				sale(sdk.OpInsert, cur("USD"), f("amount", "12.50")),
				sale(sdk.OpInsert, cur("USD"), f("amount", nil)),
				sale(sdk.OpInsert, cur("USD"), f("amount", true)),
			},
			want: sdk.Batch{
				sale(sdk.OpInsert, cur("USD"), f("amount", "12.50")),
				sale(sdk.OpInsert, cur("USD"), f("amount", nil)),
				sale(sdk.OpInsert, cur("USD"), f("amount", true)),
			},
			counts: map[string]int64{"converted": 0, "skipped": 3, "unknown_currency": 0},
		},
		{
			name: "no currency",
			conf: `on_unknown = "drop"` + rates,
			in: sdk.Batch{
				sale(sdk.OpInsert, nil, f("amount", int64(1))),
				sale(sdk.OpInsert, cur(""), f("amount", int64(1))),
				sale(sdk.OpInsert, nil, f("amount", int64(1)), f("currency", nil)),
				sale(sdk.OpInsert, nil, f("amount", int64(1)), f("currency", int64(840))),
			},
			want: sdk.Batch{
				sale(sdk.OpInsert, nil, f("amount", int64(1))),
				sale(sdk.OpInsert, cur(""), f("amount", int64(1))),
				sale(sdk.OpInsert, nil, f("amount", int64(1)), f("currency", nil)),
				sale(sdk.OpInsert, nil, f("amount", int64(1)), f("currency", int64(840))),
			},
			counts: map[string]int64{"converted": 0, "skipped": 4, "unknown_currency": 0},
		},
		{
			name: "delete passes through, even with an unknown currency and drop",
			conf: `on_unknown = "drop"` + rates,
			in: sdk.Batch{
				sale(sdk.OpDelete, cur("USD"), f("amount", int64(100))),
				sale(sdk.OpDelete, cur("JPY"), f("amount", int64(100))),
			},
			want: sdk.Batch{
				sale(sdk.OpDelete, cur("USD"), f("amount", int64(100))),
				sale(sdk.OpDelete, cur("JPY"), f("amount", int64(100))),
			},
			counts: map[string]int64{"converted": 0, "skipped": 0, "unknown_currency": 0},
		},
		{
			name: "other keys and target, default output field",
			conf: `
target = "USD"
amount_field = "total"
currency_key = "cur"
[rates]
USD = 1
EUR = 1.087
`,
			in:     sdk.Batch{sale(sdk.OpInsert, []sdk.Tag{{Key: "cur", Value: "EUR"}}, f("total", int64(50)), f("amount", int64(7)))},
			want:   sdk.Batch{sale(sdk.OpInsert, []sdk.Tag{{Key: "cur", Value: "EUR"}}, f("total", int64(50)), f("amount", int64(7)), f("amount_usd", mul(50, 1.087)))},
			counts: map[string]int64{"converted": 1, "skipped": 0, "unknown_currency": 0},
		},
		{
			name:   "explicit output field",
			conf:   `output_field = "eur"` + rates,
			in:     sdk.Batch{sale(sdk.OpInsert, cur("GBP"), f("amount", int64(3)))},
			want:   sdk.Batch{sale(sdk.OpInsert, cur("GBP"), f("amount", int64(3)), f("eur", mul(3, 1.17)))},
			counts: map[string]int64{"converted": 1, "skipped": 0, "unknown_currency": 0},
		},
		{
			name:   "empty batch",
			conf:   rates,
			in:     sdk.Batch{},
			want:   sdk.Batch{},
			counts: map[string]int64{"converted": 0, "skipped": 0, "unknown_currency": 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := counters{}
			p, err := newProcessor(t, tc.conf, discardEnv(c))
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Process(context.Background(), tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, tc.want)
			}
			if got := c.values(); !reflect.DeepEqual(got, tc.counts) {
				t.Errorf("counters %v, want %v", got, tc.counts)
			}
		})
	}
}

// TestSharedFieldArrays: events whose fields are cut from one array, as
// inputs and the plugin protocol make them, must not overwrite each other
// when one gains the output field.
func TestSharedFieldArrays(t *testing.T) {
	slab := []sdk.Field{
		f("amount", int64(1)), f("currency", "USD"),
		f("amount", int64(2)), f("currency", "GBP"),
	}
	batch := sdk.Batch{
		{Name: "t", Op: sdk.OpInsert, Fields: slab[0:2]}, // room to grow into the next event
		{Name: "t", Op: sdk.OpInsert, Fields: slab[2:4]},
	}
	p, err := newProcessor(t, rates, discardEnv(counters{}))
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Process(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	want := sdk.Batch{
		{Name: "t", Op: sdk.OpInsert, Fields: []sdk.Field{f("amount", int64(1)), f("currency", "USD"), f("amount_eur", 0.92)}},
		{Name: "t", Op: sdk.OpInsert, Fields: []sdk.Field{f("amount", int64(2)), f("currency", "GBP"), f("amount_eur", mul(2, 1.17))}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
	if slab[2].Key != "amount" || slab[2].Value != int64(2) {
		t.Errorf("the second event's array was overwritten: %+v", slab)
	}
	// A later stage appending to the first event must not reach the second.
	got[0].Fields = append(got[0].Fields, f("x", int64(0)))
	if !reflect.DeepEqual(got[1], want[1]) {
		t.Errorf("appending to event 0 changed event 1: %+v", got[1])
	}
}

func TestUnknownLoggedOncePerCode(t *testing.T) {
	var logs bytes.Buffer
	c := counters{}
	p, err := newProcessor(t, rates, sdk.Env{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Counter: c.counter})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		batch := sdk.Batch{
			sale(sdk.OpInsert, cur("JPY"), f("amount", int64(1))),
			sale(sdk.OpInsert, cur("CHF"), f("amount", int64(1))),
			sale(sdk.OpInsert, cur("JPY"), f("amount", int64(1))),
		}
		if _, err := p.Process(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	if got := c["unknown_currency"].Load(); got != 9 {
		t.Errorf("unknown_currency = %d, want 9", got)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want one per code:\n%s", len(lines), logs.String())
	}
	for i, code := range []string{"JPY", "CHF"} {
		for _, want := range []string{"level=WARN", "currency=" + code, "kept without amount_eur"} {
			if !strings.Contains(lines[i], want) {
				t.Errorf("log line %d %q lacks %q", i, lines[i], want)
			}
		}
	}
}

func TestUnknownLoggingBounded(t *testing.T) {
	var logs bytes.Buffer
	p, err := newProcessor(t, `on_unknown = "drop"`+rates, sdk.Env{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	batch := make(sdk.Batch, 0, 26*26)
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			batch = append(batch, sale(sdk.OpInsert, cur(string([]rune{'Q', a, b})), f("amount", int64(1))))
		}
	}
	got, err := p.Process(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("%d events left, want all dropped", len(got))
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != maxWarned+1 {
		t.Fatalf("%d log lines, want %d codes and one line saying logging stops", len(lines), maxWarned)
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "no longer logging new ones") {
		t.Errorf("last line %q", last)
	}
	if !strings.Contains(lines[0], "its events are dropped") {
		t.Errorf("first line %q does not say the events are dropped", lines[0])
	}
}

func TestInitErrors(t *testing.T) {
	tests := []struct {
		conf string
		want string
	}{
		{``, `rates: required: a table of currency code = value of one unit in the target currency, e.g. USD = 0.92`},
		{"[rates]", `rates: required: a table of currency code = value of one unit in the target currency, e.g. USD = 0.92`},
		{"[rates]\nusd = 0.92", `rates.usd: currency code must be three upper-case letters`},
		{"[rates]\nUS = 0.92", `rates.US: currency code must be three upper-case letters`},
		{"[rates]\nUSDX = 0.92", `rates.USDX: currency code must be three upper-case letters`},
		{"[rates]\n\"U S\" = 0.92", `rates."U S": currency code must be three upper-case letters`},
		{"[rates]\n\"ÜSD\" = 0.92", `rates."ÜSD": currency code must be three upper-case letters`},
		{"[rates]\nUSD = 0", `rates.USD: rate must be a finite number greater than 0, got 0`},
		{"[rates]\nUSD = -0.92", `rates.USD: rate must be a finite number greater than 0, got -0.92`},
		{"[rates]\nUSD = nan", `rates.USD: rate must be a finite number greater than 0, got NaN`},
		{"[rates]\nUSD = inf", `rates.USD: rate must be a finite number greater than 0, got +Inf`},
		{"[rates]\nEUR = 1.0\nUSD = 0.92\naaa = 1\nzzz = 1", `rates.aaa: currency code must be three upper-case letters`},
		{"[rates]\nEUR = 0.92", `rates.EUR: the target currency's own rate must be 1, got 0.92`},
		{`target = "eur"` + rates, `target: currency code must be three upper-case letters, got "eur"`},
		{`target = ""` + rates, `target: currency code must be three upper-case letters, got ""`},
		{`target = "EURO"` + rates, `target: currency code must be three upper-case letters, got "EURO"`},
		{`amount_field = ""` + rates, `amount_field: must not be empty`},
		{`currency_key = ""` + rates, `currency_key: must not be empty`},
		{`output_field = "amount"` + rates, `output_field: must differ from amount_field ("amount"): the converted amount would replace the original one`},
		{`amount_field = "amount_eur"` + rates, `output_field: must differ from amount_field ("amount_eur"): the converted amount would replace the original one`},
		{`output_field = "currency"` + rates, `output_field: must differ from currency_key ("currency"): the converted amount would replace the currency`},
		{`on_unknown = "skip"` + rates, `on_unknown: must be "keep" or "drop", got "skip"`},
		{`on_unknown = ""` + rates, `on_unknown: must be "keep" or "drop", got ""`},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			p, err := newProcessor(t, tc.conf, discardEnv(counters{}))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Init with\n%s\nerror %v, want %q", tc.conf, err, tc.want)
			}
			if _, err := p.Process(context.Background(), sdk.Batch{sale(sdk.OpInsert, cur("USD"), f("amount", 1.0))}); err == nil {
				t.Error("Process after a failed Init succeeded")
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	p := Registration.New().(*Currency)
	want := &Currency{Target: "EUR", AmountField: "amount", CurrencyKey: "currency", OnUnknown: "keep"}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("New() = %+v, want %+v", p, want)
	}
}

func TestProcessBeforeInit(t *testing.T) {
	_, err := New().Process(context.Background(), sdk.Batch{sale(sdk.OpInsert, cur("USD"), f("amount", 1.0))})
	if err == nil || err.Error() != "currency: Process called before a successful Init" {
		t.Errorf("error %v", err)
	}
}

// TestInitWithoutCounters covers an Env with neither logger nor counters,
// as tools embedding the plugin may pass.
func TestInitWithoutCounters(t *testing.T) {
	p, err := newProcessor(t, rates, sdk.Env{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Process(context.Background(), sdk.Batch{sale(sdk.OpInsert, cur("XXX"), f("amount", math.Pi))})
	if err != nil || len(got) != 1 {
		t.Fatalf("Process: %v, %d events", err, len(got))
	}
}

// TestSampleConfig: the embedded sample is the agent-side declaration, and
// its config table is exactly what the plugin accepts.
func TestSampleConfig(t *testing.T) {
	if Registration.SampleConfig != sampleConfig || !strings.HasPrefix(sampleConfig, "# "+Registration.Description+"\n") {
		t.Errorf("sample.conf does not start with the description line:\n%s", sampleConfig)
	}
	var conf struct {
		Processors struct {
			External []struct {
				Command []string       `toml:"command"`
				Config  toml.Primitive `toml:"config"`
			} `toml:"external"`
		} `toml:"processors"`
	}
	md, err := toml.Decode(sampleConfig, &conf)
	if err != nil {
		t.Fatalf("sample.conf: %v", err)
	}
	if len(conf.Processors.External) != 1 {
		t.Fatalf("sample.conf has %d [[processors.external]] tables, want 1", len(conf.Processors.External))
	}
	ext := conf.Processors.External[0]
	if want := []string{"./bin/plugins/currency"}; !reflect.DeepEqual(ext.Command, want) {
		t.Errorf("command = %q, want %q", ext.Command, want)
	}
	p := Registration.New().(*Currency)
	if err := md.PrimitiveDecode(ext.Config, p); err != nil {
		t.Fatal(err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		t.Errorf("sample.conf has keys the plugin does not know: %v", und)
	}
	if err := p.Init(discardEnv(counters{})); err != nil {
		t.Fatalf("Init with the sample config: %v", err)
	}
	// The sample shows the defaults, so that a user sees what leaving a key
	// out means.
	d := New()
	if p.Target != d.Target || p.AmountField != d.AmountField || p.CurrencyKey != d.CurrencyKey || p.OnUnknown != d.OnUnknown || p.OutputField != p.output {
		t.Errorf("the sample config is not the defaults: %+v", p)
	}
	if want := map[string]float64{"EUR": 1, "USD": 0.92, "GBP": 1.17}; !reflect.DeepEqual(p.Rates, want) {
		t.Errorf("rates = %v, want %v", p.Rates, want)
	}
}
