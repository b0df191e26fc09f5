// Command currency is an example third-party processor served out of
// process: it converts an amount field to a target currency with a rate
// table from its configuration.
//
// Everything the plugin does is in this file and written against package
// sdk only; main.go just serves Registration. A custom build of the agent
// could compile the same code in with sdk.RegisterProcessor(Registration).
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/rowflux/rowflux/sdk"
)

//go:embed sample.conf
var sampleConfig string

// Registration describes the plugin, whether it is served by main or
// registered in a compiled-in build.
var Registration = sdk.Registration[sdk.Processor]{
	Name:         "currency",
	Description:  "Convert an amount field to a target currency with a configured rate table",
	SampleConfig: sampleConfig,
	New:          func() sdk.Processor { return New() },
}

// The values of on_unknown.
const (
	unknownKeep = "keep"
	unknownDrop = "drop"
)

// maxWarned bounds the unknown codes remembered for logging, so that a
// source sending garbage codes cannot grow the set without limit.
const maxWarned = 256

// arenaChunk is the least number of fields allocated at once for events
// that need room for the output field.
const arenaChunk = 4096

// Currency is the processor. Create it with New, decode the configuration
// into it, then call Init before Process.
type Currency struct {
	// Rates maps a currency code to the value in the target currency of one
	// unit of it.
	Rates map[string]float64 `toml:"rates"`
	// Target is the currency converted to.
	Target string `toml:"target"`
	// AmountField is the numeric field converted.
	AmountField string `toml:"amount_field"`
	// CurrencyKey names the tag, or else the field, holding the code.
	CurrencyKey string `toml:"currency_key"`
	// OutputField receives the converted amount; empty means "amount_" and
	// the lower-case target.
	OutputField string `toml:"output_field"`
	// OnUnknown is "keep" or "drop": what happens to an event whose
	// currency has no rate.
	OnUnknown string `toml:"on_unknown"`

	output string
	drop   bool
	ready  bool

	log              *slog.Logger
	converted        *sdk.Counter
	unknown, skipped *sdk.Counter

	// warned holds the unknown codes already logged, so that a steady flow
	// of one unknown currency logs one line rather than one per batch.
	warned     map[string]struct{}
	warnedFull bool

	// fieldArena is fresh memory that events needing room for the output
	// field take capped slices of. Appending in place is not safe: inputs
	// may cut several events' fields from one array, so the spare capacity
	// can be the next event's fields. Copying each event into its own
	// slice would cost an allocation per event; the arena costs one per
	// few thousand fields.
	fieldArena []sdk.Field
}

var (
	_ sdk.Processor   = (*Currency)(nil)
	_ sdk.Initializer = (*Currency)(nil)
)

// New returns a processor with the defaults set; rates has none, so it
// must be configured.
func New() *Currency {
	return &Currency{
		Target:      "EUR",
		AmountField: "amount",
		CurrencyKey: "currency",
		OnUnknown:   unknownKeep,
	}
}

// Init validates the configuration. Each error names the key at fault, as
// the agent shows it as a configuration error.
func (c *Currency) Init(env sdk.Env) error {
	c.ready = false
	if !isCode(c.Target) {
		return fmt.Errorf("target: currency code must be three upper-case letters, got %q", c.Target)
	}
	if len(c.Rates) == 0 {
		return errors.New("rates: required: a table of currency code = value of one unit in the target currency, e.g. USD = 0.92")
	}
	codes := make([]string, 0, len(c.Rates))
	for code := range c.Rates {
		codes = append(codes, code)
	}
	// Sorted, so that a file with several mistakes reports the same one
	// first every time.
	sort.Strings(codes)
	for _, code := range codes {
		rate := c.Rates[code]
		if !isCode(code) {
			return fmt.Errorf("rates.%s: currency code must be three upper-case letters", quoteKey(code))
		}
		if math.IsNaN(rate) || math.IsInf(rate, 0) || rate <= 0 {
			return fmt.Errorf("rates.%s: rate must be a finite number greater than 0, got %s", code, strconv.FormatFloat(rate, 'g', -1, 64))
		}
		if code == c.Target && rate != 1 {
			// A target worth anything but 1 means the table is inverted or
			// for another target; converting with it would be silently wrong.
			return fmt.Errorf("rates.%s: the target currency's own rate must be 1, got %s", code, strconv.FormatFloat(rate, 'g', -1, 64))
		}
	}
	if c.AmountField == "" {
		return errors.New("amount_field: must not be empty")
	}
	if c.CurrencyKey == "" {
		return errors.New("currency_key: must not be empty")
	}
	output := c.OutputField
	if output == "" {
		output = "amount_" + strings.ToLower(c.Target)
	}
	if output == c.AmountField {
		return fmt.Errorf("output_field: must differ from amount_field (%q): the converted amount would replace the original one", c.AmountField)
	}
	if output == c.CurrencyKey {
		return fmt.Errorf("output_field: must differ from currency_key (%q): the converted amount would replace the currency", c.CurrencyKey)
	}
	switch c.OnUnknown {
	case unknownKeep, unknownDrop:
	default:
		return fmt.Errorf("on_unknown: must be %q or %q, got %q", unknownKeep, unknownDrop, c.OnUnknown)
	}

	c.output = output
	c.drop = c.OnUnknown == unknownDrop
	c.log = env.Logger
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.converted = counter(env, "converted", "events given the converted amount")
	c.unknown = counter(env, "unknown_currency", "events whose currency has no rate (kept unconverted or dropped, per on_unknown)")
	c.skipped = counter(env, "skipped", "events passed on unconverted: no currency, or no integer or float amount")
	c.warned = map[string]struct{}{}
	c.warnedFull = false
	c.ready = true
	return nil
}

// counter copes with an Env without counters, as tools embedding the
// plugin may give it.
func counter(env sdk.Env, name, help string) *sdk.Counter {
	if env.Counter != nil {
		if c := env.Counter(name, help); c != nil {
			return c
		}
	}
	return new(sdk.Counter)
}

func isCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// quoteKey writes a key as it would have to appear in a dotted TOML path,
// so that the error shows the key the user has to look for.
func quoteKey(k string) string {
	if k == "" {
		return `""`
	}
	for _, r := range k {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return strconv.Quote(k)
		}
	}
	return k
}

// outcome is what happened to one event.
type outcome uint8

const (
	untouched outcome = iota // a delete: its amount is history, not a sale
	converted
	skipped
	unknown
)

// Process converts the batch in place and returns it, compacted when
// on_unknown drops events.
func (c *Currency) Process(_ context.Context, batch sdk.Batch) (sdk.Batch, error) {
	if !c.ready {
		return nil, errors.New("currency: Process called before a successful Init")
	}
	var nConverted, nSkipped, nUnknown int64
	out := 0
	for i := range batch {
		e := &batch[i]
		switch c.convert(e) {
		case converted:
			nConverted++
		case skipped:
			nSkipped++
		case unknown:
			nUnknown++
			if c.drop {
				continue
			}
		}
		if out != i {
			batch[out] = *e
		}
		out++
	}
	// Clear the tail so that dropped events' slices can be collected.
	clear(batch[out:])
	c.converted.Add(nConverted)
	c.skipped.Add(nSkipped)
	c.unknown.Add(nUnknown)
	return batch[:out], nil
}

func (c *Currency) convert(e *sdk.Event) outcome {
	if e.Op == sdk.OpDelete {
		return untouched
	}
	code, ok := c.currencyOf(e)
	if !ok {
		return skipped
	}
	var amount float64
	switch v, _ := e.Field(c.AmountField); x := v.(type) {
	case int64:
		amount = float64(x)
	case float64:
		amount = x
	default:
		return skipped
	}
	rate, ok := c.Rates[code]
	if !ok {
		c.warnUnknown(code)
		return unknown
	}
	c.setOutput(e, amount*rate)
	return converted
}

// currencyOf looks among the tags first: an input that lists the currency
// in its tags has moved it out of the fields.
func (c *Currency) currencyOf(e *sdk.Event) (string, bool) {
	if v, ok := e.Tag(c.CurrencyKey); ok {
		return v, v != ""
	}
	v, _ := e.Field(c.CurrencyKey)
	s, ok := v.(string)
	return s, ok && s != ""
}

func (c *Currency) setOutput(e *sdk.Event, v float64) {
	for j := range e.Fields {
		if e.Fields[j].Key == c.output {
			e.Fields[j].Value = v
			return
		}
	}
	n := len(e.Fields)
	if cap(c.fieldArena)-len(c.fieldArena) < n+1 {
		c.fieldArena = make([]sdk.Field, 0, max(n+1, arenaChunk))
	}
	start := len(c.fieldArena)
	c.fieldArena = append(c.fieldArena, e.Fields...)
	c.fieldArena = append(c.fieldArena, sdk.Field{Key: c.output, Value: v})
	// Capped, so that a later stage appending to this event reallocates
	// instead of writing into the next event's share of the arena.
	e.Fields = c.fieldArena[start : start+n+1 : start+n+1]
}

func (c *Currency) warnUnknown(code string) {
	if _, seen := c.warned[code]; seen {
		return
	}
	if len(c.warned) >= maxWarned {
		if !c.warnedFull {
			c.warnedFull = true
			c.log.Warn("too many different unknown currencies; no longer logging new ones (see the unknown_currency counter)",
				"logged", maxWarned)
		}
		return
	}
	// The code may be a slice of a larger buffer the event was decoded
	// from; a copy keeps the set, which lives as long as the plugin, from
	// pinning that buffer.
	code = strings.Clone(code)
	c.warned[code] = struct{}{}
	action := "kept without " + c.output
	if c.drop {
		action = "dropped"
	}
	c.log.Warn("unknown currency: no rate in rates; its events are "+action, "currency", code)
}
