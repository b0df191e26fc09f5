package config

import (
	"github.com/BurntSushi/toml"
	"github.com/rowflux/rowflux/sdk"
)

// docOrder is what a Go map forgets about the file: the order of sections,
// of plugin instances and of keys. Processors run in declaration order, and
// errors are reported in the order a user reads the file.
type docOrder struct {
	sections map[string]int
	// plugins lists, per kind, the instances in the order they appear.
	plugins map[sdk.Kind][]instanceRef
	// keys maps a scope to the order of the keys below it, relative to it.
	keys map[scopeRef]keyOrder
}

// instanceRef points at an element of the array of tables kind.name. An
// index of -1 stands for every element of a plugin written as one table or
// as an inline array, where the file gives no separate position per element.
type instanceRef struct {
	name  string
	index int
}

type scopeRef struct {
	kind  string // "agent" or a plugin kind
	name  string
	index int
}

func newDocOrder(md *toml.MetaData) *docOrder {
	d := &docOrder{
		sections: map[string]int{},
		plugins:  map[sdk.Kind][]instanceRef{},
		keys:     map[scopeRef]keyOrder{},
	}
	// elements counts [[kind.name]] headers seen; whole marks plugins written
	// another way.
	elements := map[[2]string]int{}
	whole := map[[2]string]bool{}
	for pos, k := range md.Keys() {
		if _, ok := d.sections[k[0]]; !ok {
			d.sections[k[0]] = pos
		}
		if k[0] == "agent" {
			if len(k) > 1 {
				d.addKey(scopeRef{kind: "agent"}, k[1:], pos)
			}
			continue
		}
		kind := sdk.Kind(k[0])
		if !isPluginKind(kind) || len(k) < 2 {
			continue
		}
		kn := [2]string{k[0], k[1]}
		// Each [[kind.name]] header opens the next element; the keys after
		// it, down to the next header, belong to that element.
		if len(k) == 2 && md.Type(k...) == "ArrayHash" {
			d.plugins[kind] = append(d.plugins[kind], instanceRef{name: k[1], index: elements[kn]})
			elements[kn]++
			continue
		}
		if elements[kn] == 0 && !whole[kn] {
			whole[kn] = true
			d.plugins[kind] = append(d.plugins[kind], instanceRef{name: k[1], index: -1})
		}
		if len(k) > 2 {
			index := -1
			if !whole[kn] {
				index = elements[kn] - 1
			}
			d.addKey(scopeRef{kind: k[0], name: k[1], index: index}, k[2:], pos)
		}
	}
	return d
}

func (d *docOrder) addKey(s scopeRef, rel toml.Key, pos int) {
	o := d.keys[s]
	if o == nil {
		o = keyOrder{}
		d.keys[s] = o
	}
	if _, ok := o[rel.String()]; !ok {
		o[rel.String()] = pos
	}
}

// keyOrder returns the key order inside one instance.
func (d *docOrder) instanceKeys(kind sdk.Kind, name string, index int) keyOrder {
	if o, ok := d.keys[scopeRef{kind: string(kind), name: name, index: index}]; ok {
		return o
	}
	return d.keys[scopeRef{kind: string(kind), name: name, index: -1}]
}

func (d *docOrder) sectionPos(k string) int {
	if p, ok := d.sections[k]; ok {
		return p
	}
	return int(^uint(0) >> 1)
}

func isPluginKind(k sdk.Kind) bool {
	return k == sdk.KindInput || k == sdk.KindProcessor || k == sdk.KindOutput
}
