package config

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/rowflux/rowflux/sdk"
)

// rawInstance is one plugin table from the file, before decoding.
type rawInstance struct {
	kind  sdk.Kind
	name  string
	table map[string]any
	order keyOrder
}

// instances returns the tables of one kind in the order they appear in the
// file, checking that each plugin exists and is written as tables.
func (p *parser) instances(kind sdk.Kind) ([]rawInstance, error) {
	v, ok := p.raw[string(kind)]
	if !ok {
		return nil, nil
	}
	sect, ok := v.(map[string]any)
	if !ok {
		return nil, p.errorf(string(kind), "must be a table of plugins such as [[%s.NAME]], got %s", kind, tomlType(v))
	}

	refs := append([]instanceRef(nil), p.doc.plugins[kind]...)
	// Every name in the section should be in refs; a name missing there
	// still gets processed, last and in a fixed order.
	var rest []string
	listed := map[string]bool{}
	for _, r := range refs {
		listed[r.name] = true
	}
	for name := range sect {
		if !listed[name] {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	for _, name := range rest {
		refs = append(refs, instanceRef{name: name, index: -1})
	}

	elements := map[string][]map[string]any{}
	emitted := map[string][]bool{}
	var out []rawInstance
	for _, r := range refs {
		tables, seen := elements[r.name]
		if !seen {
			var err error
			if tables, err = p.pluginTables(kind, r.name, sect[r.name]); err != nil {
				return nil, err
			}
			elements[r.name] = tables
			emitted[r.name] = make([]bool, len(tables))
		}
		for i, t := range tables {
			if emitted[r.name][i] || (r.index >= 0 && r.index != i) {
				continue
			}
			emitted[r.name][i] = true
			out = append(out, rawInstance{kind: kind, name: r.name, table: t, order: p.doc.instanceKeys(kind, r.name, r.index)})
		}
	}
	return out, nil
}

// pluginTables checks the plugin name and returns its instance tables.
func (p *parser) pluginTables(kind sdk.Kind, name string, v any) ([]map[string]any, error) {
	if !registered(kind, name) {
		return nil, fmt.Errorf("%s: %s", p.name, unknownPlugin(kind, name, sdk.Plugins(kind)))
	}
	notTables := func() error {
		return p.errorf(string(kind)+"."+name, "must be a table ([[%s.%s]]), got %s", kind, name, tomlType(v))
	}
	switch x := v.(type) {
	case map[string]any:
		// [inputs.generate] is accepted as a single instance.
		return []map[string]any{x}, nil
	case []map[string]any:
		return x, nil
	case []any:
		tables := make([]map[string]any, len(x))
		for i, e := range x {
			t, ok := e.(map[string]any)
			if !ok {
				return nil, notTables()
			}
			tables[i] = t
		}
		return tables, nil
	}
	return nil, notTables()
}

func registered(kind sdk.Kind, name string) bool {
	var ok bool
	switch kind {
	case sdk.KindInput:
		_, ok = sdk.LookupInput(name)
	case sdk.KindProcessor:
		_, ok = sdk.LookupProcessor(name)
	case sdk.KindOutput:
		_, ok = sdk.LookupOutput(name)
	}
	return ok
}

func unknownPlugin(kind sdk.Kind, name string, known []sdk.Info) string {
	noun := strings.TrimSuffix(string(kind), "s")
	if len(known) == 0 {
		return fmt.Sprintf("unknown %s %q (no %s are registered)", noun, name, kind)
	}
	names := make([]string, len(known))
	for i, k := range known {
		names[i] = k.Name
	}
	return fmt.Sprintf("unknown %s %q (known %s: %s)", noun, name, kind, strings.Join(names, ", "))
}

// build decodes one instance and appends it to cfg.
func (p *parser) build(cfg *Config, ri rawInstance) error {
	base := string(ri.kind) + "." + ri.name
	s := &substitution{lookupEnv: p.lookupEnv, order: ri.order}
	inst := Instance{Kind: ri.kind, Name: ri.name}

	// The alias is substituted like any value but then names the instance in
	// every log line and metric, so it is not treated as secret.
	if v, ok := ri.table["alias"]; ok {
		delete(ri.table, "alias")
		alias, err := p.alias(v, s)
		if err != nil {
			return p.wrap(base, err)
		}
		inst.Alias = alias
	}
	if err := p.assignID(&inst); err != nil {
		return err
	}
	if err := s.table(ri.table, nil); err != nil {
		return p.wrap(inst.ID, err)
	}

	switch ri.kind {
	case sdk.KindInput:
		reg, _ := sdk.LookupInput(ri.name)
		plugin := reg.New()
		if err := decodePlugin(ri, plugin, s); err != nil {
			return p.wrap(inst.ID, err)
		}
		cfg.Inputs = append(cfg.Inputs, Input{Instance: inst, Plugin: plugin})
	case sdk.KindProcessor:
		reg, _ := sdk.LookupProcessor(ri.name)
		plugin := reg.New()
		if err := decodePlugin(ri, plugin, s); err != nil {
			return p.wrap(inst.ID, err)
		}
		cfg.Processors = append(cfg.Processors, Processor{Instance: inst, Plugin: plugin})
	case sdk.KindOutput:
		out, err := outputSettings(ri, s)
		if err != nil {
			return p.wrap(inst.ID, err)
		}
		reg, _ := sdk.LookupOutput(ri.name)
		out.Instance = inst
		out.Plugin = reg.New()
		if err := decodePlugin(ri, out.Plugin, s); err != nil {
			return p.wrap(inst.ID, err)
		}
		cfg.Outputs = append(cfg.Outputs, out)
	}
	return nil
}

func (p *parser) alias(v any, s *substitution) (string, error) {
	path := keyPath{}.key("alias")
	sv, ok := v.(string)
	if !ok {
		return "", keyErrorf("alias", "must be a string, got %s", tomlType(v))
	}
	out, err := s.value(sv, path)
	if err != nil {
		return "", err
	}
	alias := out.(string)
	if alias == "" {
		return "", keyErrorf("alias", "must not be empty")
	}
	for _, r := range alias {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' && r != '-' && r != '.' {
			// An alias from the environment is shown only once it is valid
			// (it then names the instance everywhere); a rejected one may be
			// whatever the variable held, a password included.
			return "", keyErrorf("alias", "must contain only letters, digits, '_', '-' and '.', got %s", s.show(path.plain(), alias))
		}
	}
	return alias, nil
}

// assignID gives an instance its ID. Unaliased instances are numbered among
// themselves only, so that adding an aliased instance renumbers nothing.
func (p *parser) assignID(inst *Instance) error {
	base := string(inst.Kind) + "." + inst.Name
	if inst.Alias != "" {
		inst.ID = base + ":" + inst.Alias
		if p.aliases == nil {
			p.aliases = map[string]bool{}
		}
		if p.aliases[inst.ID] {
			return p.errorf(base, "alias %q is used by more than one instance (aliases must be unique per plugin)", inst.Alias)
		}
		p.aliases[inst.ID] = true
		return nil
	}
	if p.unaliased == nil {
		p.unaliased = map[string]int{}
	}
	p.unaliased[base]++
	inst.ID = base
	if n := p.unaliased[base]; n > 1 {
		inst.ID = base + "#" + strconv.Itoa(n)
	}
	return nil
}

// outputKeys are the settings the agent applies in front of every output;
// they are taken out of the table before the plugin sees it.
var outputKeys = []string{"batch_size", "flush_interval", "buffer_limit", "on_full", "retry_max_interval"}

type outputCommon struct {
	BatchSize        int          `toml:"batch_size"`
	FlushInterval    sdk.Duration `toml:"flush_interval"`
	BufferLimit      int          `toml:"buffer_limit"`
	OnFull           string       `toml:"on_full"`
	RetryMaxInterval sdk.Duration `toml:"retry_max_interval"`
}

func outputSettings(ri rawInstance, s *substitution) (Output, error) {
	c := outputCommon{
		BatchSize:        1000,
		FlushInterval:    sdk.Duration(time.Second),
		BufferLimit:      100000,
		OnFull:           "block",
		RetryMaxInterval: sdk.Duration(30 * time.Second),
	}
	common := map[string]any{}
	for _, k := range outputKeys {
		if v, ok := ri.table[k]; ok {
			common[k] = v
			delete(ri.table, k)
		}
	}
	if len(common) > 0 {
		if _, err := decodeTable(common, &c, s); err != nil {
			return Output{}, err
		}
	}
	switch {
	case c.BatchSize < 1:
		return Output{}, keyErrorf("batch_size", "must be at least 1, got %d", c.BatchSize)
	case c.BufferLimit < c.BatchSize:
		return Output{}, keyErrorf("buffer_limit", "must be at least batch_size (%d), got %d", c.BatchSize, c.BufferLimit)
	case c.OnFull != "block" && c.OnFull != "drop_oldest":
		return Output{}, keyErrorf("on_full", `must be "block" or "drop_oldest", got %s`, s.show("on_full", c.OnFull))
	}
	if err := positive("flush_interval", c.FlushInterval, s); err != nil {
		return Output{}, err
	}
	if err := positive("retry_max_interval", c.RetryMaxInterval, s); err != nil {
		return Output{}, err
	}
	return Output{
		BatchSize:        c.BatchSize,
		FlushInterval:    c.FlushInterval,
		BufferLimit:      c.BufferLimit,
		OnFull:           c.OnFull,
		RetryMaxInterval: c.RetryMaxInterval,
	}, nil
}

// decodePlugin decodes what is left of an instance table into the value the
// plugin's New returned. Init is not called: the runtime does that with an
// Env.
func decodePlugin(ri rawInstance, plugin any, s *substitution) error {
	if len(ri.table) == 0 {
		// Nothing to decode, so a plugin without configuration need not be
		// a pointer to a struct.
		if plugin == nil {
			return errors.New("plugin New returned nil")
		}
		return nil
	}
	rv := reflect.ValueOf(plugin)
	if plugin == nil || rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("plugin New returned %T, not a non-nil pointer, so its configuration cannot be decoded", plugin)
	}
	md, err := decodeTable(ri.table, plugin, s)
	if err != nil {
		return err
	}
	if keys := unknownKeys(md, plugin, ri.order); len(keys) > 0 {
		return unknownKeysError(keys)
	}
	return nil
}
