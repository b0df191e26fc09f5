// Package config loads the agent's pipeline file: an [agent] section and
// [[inputs.NAME]], [[processors.NAME]] and [[outputs.NAME]] tables, with
// ${VAR} environment references in string values.
//
// Every error names the file, the section or plugin instance, and the key,
// so that a user can find the mistake without reading code. Errors never show
// a value that came from the environment, since it may be a password.
package config

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/rowflux/rowflux/sdk"
)

// Instance identifies one configured plugin.
type Instance struct {
	Kind  sdk.Kind // inputs | processors | outputs
	Name  string   // plugin name, e.g. "generate"
	Alias string   // optional `alias` key
	// ID is stable across restarts and unique in the file: "inputs.generate"
	// for the first unaliased instance of a plugin, "inputs.generate#2" for
	// the second unaliased one, "inputs.generate:orders" when aliased. Aliased
	// instances are not counted, so adding or removing one never renumbers
	// the others (IDs key checkpoints). Used in logs, metrics labels and
	// checkpoint keys.
	ID string
}

// Input is a configured input plugin, decoded but not initialised.
type Input struct {
	Instance
	Plugin sdk.Input
}

// Processor is a configured processor plugin, decoded but not initialised.
type Processor struct {
	Instance
	Plugin sdk.Processor
}

// Output is a configured output plugin with the buffering settings the agent
// applies in front of it.
type Output struct {
	Instance
	Plugin           sdk.Output
	BatchSize        int          // key batch_size, default 1000, >= 1
	FlushInterval    sdk.Duration // key flush_interval, default 1s, > 0
	BufferLimit      int          // key buffer_limit, default 100000, >= BatchSize
	OnFull           string       // key on_full: "block" (default) or "drop_oldest"
	RetryMaxInterval sdk.Duration // key retry_max_interval, default 30s, > 0
}

// Config is a parsed pipeline file.
type Config struct {
	Path       string
	Agent      Agent
	Inputs     []Input
	Processors []Processor // in declaration order in the file, across plugin names
	Outputs    []Output
}

// Load reads and parses a file. lookupEnv is os.LookupEnv in production;
// tests pass a fake.
func Load(path string, lookupEnv func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, lookupEnv)
}

// Parse parses config text; name is used in error messages (usually the file
// path). A nil lookupEnv means os.LookupEnv. Plugins are created and their
// configuration decoded, but not initialised: the runtime calls Init.
func Parse(name string, data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	var raw map[string]any
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s:%d:%d: %s", name, pe.Position.Line, pe.Position.Col, oneLine(pe.Message))
		}
		if msg := err.Error(); oneLine(msg) != msg {
			return nil, fmt.Errorf("%s: %s", name, oneLine(msg))
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &parser{name: name, lookupEnv: lookupEnv, doc: newDocOrder(&md), raw: raw}
	cfg, err := p.parse()
	if err != nil {
		return nil, err
	}
	cfg.Path = name
	return cfg, nil
}

// parser holds what the steps of one Parse share.
type parser struct {
	name      string
	lookupEnv func(string) (string, bool)
	doc       *docOrder
	raw       map[string]any
	// unaliased counts unaliased instances per plugin and aliases holds the
	// IDs of aliased ones, for assigning IDs.
	unaliased map[string]int
	aliases   map[string]bool
}

var pluginKinds = []sdk.Kind{sdk.KindInput, sdk.KindProcessor, sdk.KindOutput}

func (p *parser) parse() (*Config, error) {
	if err := p.checkSections(); err != nil {
		return nil, err
	}
	cfg := &Config{}
	agent, err := p.agent()
	if err != nil {
		return nil, err
	}
	cfg.Agent = agent

	for _, kind := range pluginKinds {
		insts, err := p.instances(kind)
		if err != nil {
			return nil, err
		}
		for _, ri := range insts {
			if err := p.build(cfg, ri); err != nil {
				return nil, err
			}
		}
	}
	if len(cfg.Inputs) == 0 {
		return nil, fmt.Errorf("%s: no inputs configured (add an [[inputs.NAME]] table)", p.name)
	}
	if len(cfg.Outputs) == 0 {
		return nil, fmt.Errorf("%s: no outputs configured (add an [[outputs.NAME]] table)", p.name)
	}
	return cfg, nil
}

// checkSections rejects unknown top-level keys, the first in the file first.
func (p *parser) checkSections() error {
	keys := make([]string, 0, len(p.raw))
	for k := range p.raw {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		pi, pj := p.doc.sectionPos(keys[i]), p.doc.sectionPos(keys[j])
		if pi != pj {
			return pi < pj
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		switch k {
		case "agent", string(sdk.KindInput), string(sdk.KindProcessor), string(sdk.KindOutput):
			continue
		}
		return fmt.Errorf("%s: unknown section %q (want agent, inputs, processors or outputs)", p.name, k)
	}
	return nil
}

// errorf formats an error about a section or instance: "NAME: SCOPE: ...".
func (p *parser) errorf(scope, format string, args ...any) error {
	return fmt.Errorf("%s: %s: "+format, append([]any{p.name, scope}, args...)...)
}

// wrap puts the file name and scope in front of an error about a key.
func (p *parser) wrap(scope string, err error) error {
	return fmt.Errorf("%s: %s: %w", p.name, scope, err)
}

// oneLine escapes the control characters the TOML library copies from the
// file into its messages (an invalid escape followed by a line break), so
// that an error stays one line in a log.
func oneLine(msg string) string {
	var b strings.Builder
	for _, r := range msg {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
