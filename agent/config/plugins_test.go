package config

import (
	"context"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/rowflux/rowflux/sdk"
)

// Fake plugins, registered under a cfgtest_ prefix so that they cannot clash
// with real plugins should a test binary ever link both.

type testTable struct {
	Name string   `toml:"name"`
	Key  []string `toml:"key"`
}

type testInput struct {
	Rate     float64        `toml:"rate"`
	Count    int            `toml:"count"`
	Small    int8           `toml:"small"`
	DSN      string         `toml:"dsn"`
	Interval sdk.Duration   `toml:"interval"`
	Timeout  time.Duration  `toml:"timeout"`
	Tags     []string       `toml:"tags"`
	Start    time.Time      `toml:"start"`
	Enabled  bool           `toml:"enabled"`
	Tables   []testTable    `toml:"tables"`
	Sub      testSub        `toml:"sub"`
	Extra    map[string]any `toml:"extra"`
	Raw      toml.Primitive `toml:"raw"`
	Matrix   [][]int64      `toml:"matrix"`
}

type testSub struct {
	K    int64          `toml:"k"`
	Deep map[string]int `toml:"deep"`
}

func (*testInput) Run(context.Context, sdk.Position, sdk.Emitter) error { return nil }

type testProcA struct {
	Where string `toml:"where"`
}

func (*testProcA) Process(_ context.Context, b sdk.Batch) (sdk.Batch, error) { return b, nil }

type testProcB struct {
	Fields map[string]string `toml:"fields"`
}

func (*testProcB) Process(_ context.Context, b sdk.Batch) (sdk.Batch, error) { return b, nil }

type testOutput struct {
	Format  string            `toml:"format"`
	Headers map[string]string `toml:"headers"`
	Token   string            `toml:"token"`
}

func (*testOutput) Write(context.Context, sdk.Batch) error { return nil }

// testValueOutput is registered as a value, not a pointer: fine without
// configuration, an error with some.
type testValueOutput struct{}

func (testValueOutput) Write(context.Context, sdk.Batch) error { return nil }

func init() {
	sdk.RegisterInput(sdk.Registration[sdk.Input]{Name: "cfgtest_in", New: func() sdk.Input { return &testInput{Rate: 1, Count: 10} }})
	sdk.RegisterInput(sdk.Registration[sdk.Input]{Name: "cfgtest_in2", New: func() sdk.Input { return &testInput{} }})
	sdk.RegisterProcessor(sdk.Registration[sdk.Processor]{Name: "cfgtest_proc_a", New: func() sdk.Processor { return &testProcA{} }})
	sdk.RegisterProcessor(sdk.Registration[sdk.Processor]{Name: "cfgtest_proc_b", New: func() sdk.Processor { return &testProcB{} }})
	sdk.RegisterOutput(sdk.Registration[sdk.Output]{Name: "cfgtest_out", New: func() sdk.Output { return &testOutput{Format: "influx"} }})
	sdk.RegisterOutput(sdk.Registration[sdk.Output]{Name: "cfgtest_out_value", New: func() sdk.Output { return testValueOutput{} }})
}
