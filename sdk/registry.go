package sdk

import (
	"fmt"
	"sort"
	"sync"
)

// Kind is the role of a plugin in the pipeline.
type Kind string

const (
	KindInput     Kind = "inputs"
	KindProcessor Kind = "processors"
	KindOutput    Kind = "outputs"
)

// Registration describes a plugin to the registry.
type Registration[T any] struct {
	// Name is the word used in configuration: [[inputs.NAME]].
	Name string
	// Description is one line for `agent plugins`.
	Description string
	// SampleConfig is the plugin's embedded sample.conf.
	SampleConfig string
	// New returns a plugin with its defaults set; the agent then decodes the
	// instance's configuration into it (TOML tags on exported fields).
	New func() T
}

// Info is a registered plugin as listed by Plugins.
type Info struct {
	Kind         Kind
	Name         string
	Description  string
	SampleConfig string
}

type registry[T any] struct {
	mu    sync.RWMutex
	kind  Kind
	items map[string]Registration[T]
}

func (r *registry[T]) add(reg Registration[T]) {
	if reg.Name == "" || reg.New == nil {
		panic(fmt.Sprintf("sdk: %s registration needs a Name and a New function", r.kind))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.items == nil {
		r.items = map[string]Registration[T]{}
	}
	if _, dup := r.items[reg.Name]; dup {
		panic(fmt.Sprintf("sdk: %s.%s registered twice", r.kind, reg.Name))
	}
	r.items[reg.Name] = reg
}

func (r *registry[T]) get(name string) (Registration[T], bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	reg, ok := r.items[name]
	return reg, ok
}

func (r *registry[T]) infos() []Info {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Info, 0, len(r.items))
	for _, reg := range r.items {
		out = append(out, Info{Kind: r.kind, Name: reg.Name, Description: reg.Description, SampleConfig: reg.SampleConfig})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// The plugin registries are the only global state in rowflux.
var (
	inputs     = &registry[Input]{kind: KindInput}
	processors = &registry[Processor]{kind: KindProcessor}
	outputs    = &registry[Output]{kind: KindOutput}
)

// RegisterInput makes an input available to configurations. It panics on a
// duplicate name; call it from init.
func RegisterInput(r Registration[Input]) { inputs.add(r) }

// RegisterProcessor makes a processor available. It panics on a duplicate name.
func RegisterProcessor(r Registration[Processor]) { processors.add(r) }

// RegisterOutput makes an output available. It panics on a duplicate name.
func RegisterOutput(r Registration[Output]) { outputs.add(r) }

// LookupInput returns the registration of a named input.
func LookupInput(name string) (Registration[Input], bool) { return inputs.get(name) }

// LookupProcessor returns the registration of a named processor.
func LookupProcessor(name string) (Registration[Processor], bool) { return processors.get(name) }

// LookupOutput returns the registration of a named output.
func LookupOutput(name string) (Registration[Output], bool) { return outputs.get(name) }

// Plugins lists every registered plugin of a kind, sorted by name.
func Plugins(k Kind) []Info {
	switch k {
	case KindInput:
		return inputs.infos()
	case KindProcessor:
		return processors.infos()
	case KindOutput:
		return outputs.infos()
	}
	return nil
}
