// Package filter is a stateless processor that keeps or drops events with a
// condition and reshapes the ones it keeps: computed fields, fields promoted
// to tags, renames and dropped keys, all driven by expressions compiled once
// at Init.
//
// Per event the steps run in a fixed order: where → fields (computed) →
// tags (promote) → rename → drop.
package filter

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/rowflux/rowflux/plugins/common/expression"
	"github.com/rowflux/rowflux/sdk"
)

//go:embed sample.conf
var sampleConfig string

// Name is the word used in configuration: [[processors.filter]].
const Name = "filter"

func init() {
	sdk.RegisterProcessor(sdk.Registration[sdk.Processor]{
		Name:         Name,
		Description:  "Filter events and compute, rename, drop or promote fields with expressions",
		SampleConfig: sampleConfig,
		New:          func() sdk.Processor { return New() },
	})
}

// Filter is the processor. Create it with New (or through the registry),
// decode configuration into it, then call Init before Process.
type Filter struct {
	// Where keeps only the events for which it is true; empty keeps all.
	Where string `toml:"where"`
	// Drop removes fields and tags with these names.
	Drop []string `toml:"drop"`
	// Tags promotes fields with these names to tags.
	Tags []string `toml:"tags"`
	// Fields are computed fields: name = expression.
	Fields map[string]string `toml:"fields"`
	// Rename maps an old field or tag name to a new one.
	Rename map[string]string `toml:"rename"`

	where    *expression.Expr
	computed []computed // sorted by name
	promote  []string
	renames  []rename // sorted by old name
	drop     []string
	eval     *expression.Evaluator
	results  []result // per computed field, reused for every event
	compiled bool

	// Fresh memory that events needing room for added fields or tags take
	// capped slices of, so that growing costs an allocation per chunk rather
	// than per event. A chunk is never written again once handed out.
	fieldArena []sdk.Field
	tagArena   []sdk.Tag

	log           *slog.Logger
	evalErrors    *sdk.Counter
	eventsDropped *sdk.Counter

	// errLog limits runtime-error lines; errExample is the first error
	// since the last line, quoted in the next one.
	errLog     sdk.LogThrottle
	errExample error
	now        func() time.Time
}

type computed struct {
	name string
	expr *expression.Expr
}

type result struct {
	value any
	ok    bool
}

type rename struct{ old, new string }

var (
	_ sdk.Processor   = (*Filter)(nil)
	_ sdk.Initializer = (*Filter)(nil)
)

// New returns a filter that keeps every event unchanged.
func New() *Filter { return &Filter{} }

// SetClock replaces the clock that throttles error logging (tests).
func (f *Filter) SetClock(now func() time.Time) { f.now = now }

// Init validates the configuration and compiles the expressions.
func (f *Filter) Init(env sdk.Env) error {
	f.compiled = false
	var where *expression.Expr
	if strings.TrimSpace(f.Where) != "" {
		x, err := expression.CompileBool(f.Where)
		if err != nil {
			return fmt.Errorf("where: %w", err)
		}
		where = x
	}

	names := make([]string, 0, len(f.Fields))
	for k := range f.Fields {
		names = append(names, k)
	}
	sort.Strings(names)
	comp := make([]computed, 0, len(names))
	for _, k := range names {
		if err := checkKey(k); err != nil {
			return fmt.Errorf("fields.%s: %w", quoteKey(k), err)
		}
		src := f.Fields[k]
		if strings.TrimSpace(src) == "" {
			return fmt.Errorf("fields.%s: expression is empty", quoteKey(k))
		}
		x, err := expression.Compile(src)
		if err != nil {
			return fmt.Errorf("fields.%s: %w", quoteKey(k), err)
		}
		comp = append(comp, computed{name: k, expr: x})
	}

	for i, k := range f.Tags {
		if err := checkKey(k); err != nil {
			return fmt.Errorf("tags[%d] (%q): %w", i, k, err)
		}
	}
	for i, k := range f.Drop {
		if k == "" {
			return fmt.Errorf("drop[%d]: name is empty", i)
		}
	}

	olds := make([]string, 0, len(f.Rename))
	for k := range f.Rename {
		olds = append(olds, k)
	}
	sort.Strings(olds)
	renames := make([]rename, 0, len(olds))
	targets := map[string]string{}
	for _, old := range olds {
		nw := f.Rename[old]
		if old == "" {
			return fmt.Errorf("rename.%s: name is empty", quoteKey(old))
		}
		if nw == "" {
			return fmt.Errorf("rename.%s: new name is empty", quoteKey(old))
		}
		if err := checkKey(nw); err != nil {
			return fmt.Errorf("rename.%s: new name %q: %w", quoteKey(old), nw, err)
		}
		if prev, dup := targets[nw]; dup {
			return fmt.Errorf("rename.%s: new name %q is also the new name of rename.%s", quoteKey(old), nw, quoteKey(prev))
		}
		targets[nw] = old
		if old != nw {
			renames = append(renames, rename{old: old, new: nw})
		}
	}

	f.where, f.computed, f.renames = where, comp, renames
	f.promote = slices.Clone(f.Tags)
	f.drop = slices.Clone(f.Drop)
	f.results = make([]result, len(comp))
	f.eval = expression.NewEvaluator()
	f.log = env.Logger
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	f.evalErrors = counter(env, "eval_errors", "expression errors at runtime (the event is dropped for where, the field left out for a computed field)")
	f.eventsDropped = counter(env, "events_dropped", "events removed because where was false or failed")
	if f.now == nil {
		f.now = time.Now
	}
	f.errLog, f.errExample = sdk.LogThrottle{}, nil
	f.compiled = true
	return nil
}

func counter(env sdk.Env, name, help string) *sdk.Counter {
	if env.Counter != nil {
		if c := env.Counter(name, help); c != nil {
			return c
		}
	}
	return new(sdk.Counter)
}

// checkKey reports why a name cannot be a field or tag key.
func checkKey(k string) error {
	if k == "" {
		return errors.New("name is empty")
	}
	for _, r := range k {
		switch {
		case r == '=' || r == ',' || r == ' ':
			return fmt.Errorf("name must not contain %q", r)
		case unicode.IsControl(r):
			return fmt.Errorf("name must not contain control character %U", r)
		case r == unicode.ReplacementChar:
			return errors.New("name is not valid UTF-8")
		}
	}
	return nil
}

// quoteKey writes a config key as TOML would need it in a dotted path.
func quoteKey(k string) string {
	for _, r := range k {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return strconv.Quote(k)
		}
	}
	if k == "" {
		return `""`
	}
	return k
}

// Process filters and reshapes the batch in place and returns it compacted.
func (f *Filter) Process(_ context.Context, batch sdk.Batch) (sdk.Batch, error) {
	if !f.compiled {
		if err := f.Init(sdk.Env{}); err != nil {
			return nil, fmt.Errorf("invalid configuration: %w", err)
		}
	}
	out := 0
	var dropped int64
	for i := range batch {
		e := &batch[i]
		if f.where != nil {
			f.eval.Begin(e)
			keep, err := f.eval.EvalBool(f.where)
			if err != nil {
				f.evalError("where", err)
			}
			if !keep {
				dropped++
				continue
			}
		}
		f.apply(e)
		if out != i {
			batch[out] = *e
		}
		out++
	}
	// Clear the tail so that dropped events' slices can be collected.
	clear(batch[out:])
	if dropped > 0 {
		f.eventsDropped.Add(dropped)
	}
	f.flushLog(0)
	return batch[:out], nil
}

// apply runs the steps after where on one kept event.
func (f *Filter) apply(e *sdk.Event) {
	// Cap the event's slices at their length: appending then reallocates
	// rather than writing into an array the event may share with others.
	e.Fields = e.Fields[:len(e.Fields):len(e.Fields)]
	e.Tags = e.Tags[:len(e.Tags):len(e.Tags)]

	// Computed fields: all evaluated against the event as where saw it,
	// then set in name order.
	if len(f.computed) > 0 {
		missing := 0
		for j := range f.computed {
			if _, ok := e.Field(f.computed[j].name); !ok {
				missing++
			}
		}
		if missing > 0 {
			e.Fields = grow(&f.fieldArena, e.Fields, missing)
		}
		f.eval.Begin(e)
		for j := range f.computed {
			c := &f.computed[j]
			r := &f.results[j]
			r.value, r.ok = nil, false
			v, err := f.eval.Eval(c.expr)
			if err == nil {
				v, err = expression.Value(v)
			}
			if err != nil {
				f.evalError("fields."+quoteKey(c.name), err)
				continue
			}
			r.value, r.ok = v, true
		}
		for j := range f.computed {
			r := &f.results[j]
			if r.ok {
				e.SetField(f.computed[j].name, r.value)
			} else {
				// Never pass on a value the expression failed to replace.
				e.RemoveField(f.computed[j].name)
			}
			r.value = nil
		}
	}

	if len(f.promote) > 0 {
		added := 0
		for _, k := range f.promote {
			if _, ok := e.Field(k); ok {
				if _, ok := e.Tag(k); !ok {
					added++
				}
			}
		}
		if added > 0 {
			e.Tags = grow(&f.tagArena, e.Tags, added)
		}
	}
	for _, k := range f.promote {
		v, ok := e.Field(k)
		if !ok {
			continue
		}
		e.RemoveField(k)
		if s, ok := tagText(v); ok {
			e.SetTag(k, s)
		}
	}

	if len(f.renames) > 0 {
		f.renameFields(e)
		f.renameTags(e)
	}

	for _, k := range f.drop {
		for e.RemoveField(k) {
		}
		e.RemoveTag(k)
	}
}

// arenaChunk is the least number of fields or tags allocated at once for
// events that grow.
const arenaChunk = 2048

// grow returns a copy of s with room for extra more elements, taken from
// arena: a slice of fresh memory capped at len(s)+extra, so that appends
// up to that length write only memory that belongs to this event.
func grow[T any](arena *[]T, s []T, extra int) []T {
	need := len(s) + extra
	if cap(*arena)-len(*arena) < need {
		*arena = make([]T, 0, max(need, arenaChunk))
	}
	start := len(*arena)
	*arena = append(*arena, s...)
	out := (*arena)[start : start+len(s) : start+need]
	*arena = (*arena)[:start+need]
	return out
}

// lookupRename returns the new name of old.
func (f *Filter) lookupRename(old string) (string, bool) {
	for i := range f.renames {
		if f.renames[i].old == old {
			return f.renames[i].new, true
		}
	}
	return "", false
}

// sourceOf returns the old name whose new name is k.
func (f *Filter) sourceOf(k string) (string, bool) {
	for i := range f.renames {
		if f.renames[i].new == k {
			return f.renames[i].old, true
		}
	}
	return "", false
}

// renameFields renames fields in place, keeping their order. All renames
// apply at once (a→b and b→c move both); a field that is not renamed but
// has the new name of a field that is gives way to it.
func (f *Filter) renameFields(e *sdk.Event) {
	n := 0
	for i := range e.Fields {
		k := e.Fields[i].Key
		if old, ok := f.sourceOf(k); ok {
			if _, renamed := f.lookupRename(k); !renamed {
				if _, present := e.Field(old); present {
					continue // replaced by the renamed field
				}
			}
		}
		if n != i {
			e.Fields[n] = e.Fields[i]
		}
		n++
	}
	clear(e.Fields[n:])
	e.Fields = e.Fields[:n]
	for i := range e.Fields {
		if nw, ok := f.lookupRename(e.Fields[i].Key); ok {
			e.Fields[i].Key = nw
		}
	}
}

// renameTags renames tags with the same rules as renameFields and sorts
// them again.
func (f *Filter) renameTags(e *sdk.Event) {
	n := 0
	changed := false
	for i := range e.Tags {
		k := e.Tags[i].Key
		if old, ok := f.sourceOf(k); ok {
			if _, renamed := f.lookupRename(k); !renamed {
				if _, present := e.Tag(old); present {
					continue
				}
			}
		}
		if n != i {
			e.Tags[n] = e.Tags[i]
		}
		n++
	}
	clear(e.Tags[n:])
	e.Tags = e.Tags[:n]
	for i := range e.Tags {
		if nw, ok := f.lookupRename(e.Tags[i].Key); ok {
			e.Tags[i].Key = nw
			changed = true
		}
	}
	if changed {
		slices.SortStableFunc(e.Tags, func(a, b sdk.Tag) int { return strings.Compare(a.Key, b.Key) })
	}
}

// tagText formats a field value as a tag value; nil and empty text make
// no tag.
func tagText(v any) (string, bool) {
	var s string
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		s = x
	case []byte:
		s = string(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) || math.Abs(x) >= 1e21 {
			s = strconv.FormatFloat(x, 'g', -1, 64)
		} else {
			s = strconv.FormatFloat(x, 'f', -1, 64)
		}
	case bool:
		s = strconv.FormatBool(x)
	case time.Time:
		s = x.UTC().Format(time.RFC3339Nano)
	default:
		s = fmt.Sprint(x)
	}
	return s, s != ""
}

// evalError counts a runtime expression error and keeps it as the example
// of the next log line.
func (f *Filter) evalError(key string, err error) {
	f.evalErrors.Inc()
	if f.errExample == nil {
		f.errExample = fmt.Errorf("%s: %w", key, err)
	}
	f.flushLog(1)
}

// flushLog records n new errors and writes a line when the throttle lets
// one through.
func (f *Filter) flushLog(n int64) {
	if c := f.errLog.Note(f.now(), n); c > 0 {
		f.log.Warn("expression errors: failed where drops the event, a failed computed field is left out",
			"errors", c, "example", f.errExample.Error())
		f.errExample = nil
	}
}
