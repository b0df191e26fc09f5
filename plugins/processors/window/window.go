// Package window is the windowed-aggregation processor: it groups events by
// expressions into tumbling, hopping or session windows, in event time or
// processing time, and emits one event per (window, group) with the
// configured aggregates when the window closes (or, in update mode, as it
// changes).
package window

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/rowflux/rowflux/plugins/common/expression"
	"github.com/rowflux/rowflux/sdk"
)

//go:embed sample.conf
var sampleConfig string

func init() {
	sdk.RegisterProcessor(sdk.Registration[sdk.Processor]{
		Name:         "window",
		Description:  "Aggregate events in tumbling, hopping or session windows with expressions",
		SampleConfig: sampleConfig,
		New:          func() sdk.Processor { return New() },
	})
}

// Defaults of the configuration.
const (
	DefaultType      = "tumbling"
	DefaultLate      = "drop"
	DefaultEmit      = "final"
	DefaultEmitEvery = time.Second
	DefaultMaxGroups = 100000
)

type windowType uint8

const (
	tumbling windowType = iota
	hopping
	session
)

// Window is the processor. Create it with New, decode configuration into it,
// then call Init.
type Window struct {
	Measurement     string            `toml:"measurement"`
	Where           string            `toml:"where"`
	Time            string            `toml:"time"`
	GroupBy         []string          `toml:"group_by"`
	Type            string            `toml:"type"`
	Size            sdk.Duration      `toml:"size"`
	Hop             sdk.Duration      `toml:"hop"`
	Gap             sdk.Duration      `toml:"gap"`
	AllowedLateness sdk.Duration      `toml:"allowed_lateness"`
	Late            string            `toml:"late"`
	LateRetention   sdk.Duration      `toml:"late_retention"`
	Emit            string            `toml:"emit"`
	EmitEvery       sdk.Duration      `toml:"emit_every"`
	IdleTimeout     sdk.Duration      `toml:"idle_timeout"`
	MaxGroups       int               `toml:"max_groups"`
	DropOriginal    bool              `toml:"drop_original"`
	Fields          map[string]string `toml:"fields"`

	// compiled configuration
	typ                     windowType
	size, hop, gap          int64
	lateness, retention     int64
	idle, emitEvery         int64
	update, lateEmit        bool
	where, timeX            *cexpr
	groups                  []groupExpr
	tagOrder                []int // group indices sorted by tag key
	args                    []*cexpr
	fields                  []fieldSpec // sorted by name (the output order)
	fingerprint             string
	ev                      *expression.Evaluator
	clock                   func() time.Time
	log                     *slog.Logger
	cLate, cCorr, cRefused  *sdk.Counter
	cEval                   *sdk.Counter
	ready                   bool
	evalLog, refusedLog     sdk.LogThrottle
	keyBuf, txtBuf, sortBuf []byte
	scratch                 []float64
	vals                    []argVal
	in                      []input

	// state
	windows    map[int64]*window // open windows (tumbling, hopping)
	retained   map[int64]*window // closed windows kept for late corrections
	lastWin    *window
	sessions   map[string]*sgroup
	states     int   // open + retained (window, group) states
	wm         int64 // watermark (ns); math.MinInt64 = none yet
	maxT       int64
	hasMax     bool
	lastArr    int64 // processing time of the last accepted event
	hasArr     bool
	lastUpd    int64 // processing time of the last update-mode emission
	hasUpd     bool
	nextClose  int64 // lower bound of the end of open states
	nextExpire int64 // lower bound of end+retention of retained states
	dirty      []*state
}

type groupExpr struct {
	key string
	x   *cexpr
}

type fieldSpec struct {
	name string
	kind aggKind
	arg  int // index into args; -1 for count()
	p    float64
}

// maxHopsPerEvent bounds size/hop for hopping windows.
const maxHopsPerEvent = 1000

// window is one tumbling or hopping window.
type window struct {
	start, end int64
	groups     map[string]*state
}

// sgroup holds the sessions of one group.
type sgroup struct {
	key    string
	tags   []sdk.Tag
	open   []*state // sorted by start, not overlapping
	closed []*state // retained for late corrections, sorted by start
}

// state is one (window, group) aggregate.
type state struct {
	start, end int64
	key        string
	tags       []sdk.Tag
	aggs       []agg
	dirty      bool // update mode: changed since last emitted
	closed     bool
	dead       bool // merged into another session
}

// argVal is an evaluated aggregate argument.
type argVal struct {
	v     any
	s     string
	isStr bool
	err   error
}

// input is what one event contributes to one field.
type input struct {
	skip   bool
	f      float64
	v      any
	lo, hi int // count_distinct: text in txtBuf[lo:hi]
}

var (
	_ sdk.Processor   = (*Window)(nil)
	_ sdk.Stateful    = (*Window)(nil)
	_ sdk.Ticker      = (*Window)(nil)
	_ sdk.Finisher    = (*Window)(nil)
	_ sdk.Initializer = (*Window)(nil)
)

// New returns a window processor with the default configuration.
func New() *Window {
	return &Window{
		Type:         DefaultType,
		Late:         DefaultLate,
		Emit:         DefaultEmit,
		EmitEvery:    sdk.Duration(DefaultEmitEvery),
		MaxGroups:    DefaultMaxGroups,
		DropOriginal: true,
		clock:        time.Now,
	}
}

// SetClock sets the processing-time clock: it gives the time of events in
// processing-time mode, closes processing-time windows, measures idleness
// and throttles update-mode emission. The default is time.Now; tests and
// the golden-file runner set a virtual clock.
func (w *Window) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	w.clock = now
}

// Init validates and compiles the configuration.
func (w *Window) Init(env sdk.Env) error {
	w.ready = false
	if w.clock == nil {
		w.clock = time.Now
	}
	w.log = env.Logger
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	counter := env.Counter
	if counter == nil {
		counter = func(string, string) *sdk.Counter { return new(sdk.Counter) }
	}
	w.cLate = counter("late_events", "late events dropped")
	w.cCorr = counter("late_corrections", "window results emitted again after a late event")
	w.cRefused = counter("groups_refused", "new (window, group) states refused at max_groups")
	w.cEval = counter("eval_errors", "expression evaluation errors and non-numeric values of numeric aggregates")

	if strings.TrimSpace(w.Measurement) == "" {
		return errors.New("measurement: required (the name of the emitted events)")
	}
	dur := func(name string, d sdk.Duration) (int64, error) {
		if d < 0 {
			return 0, fmt.Errorf("%s: must not be negative, got %s", name, d)
		}
		return int64(d), nil
	}
	var err error
	if w.lateness, err = dur("allowed_lateness", w.AllowedLateness); err != nil {
		return err
	}
	if w.retention, err = dur("late_retention", w.LateRetention); err != nil {
		return err
	}
	if w.idle, err = dur("idle_timeout", w.IdleTimeout); err != nil {
		return err
	}
	if w.size, err = dur("size", w.Size); err != nil {
		return err
	}
	if w.hop, err = dur("hop", w.Hop); err != nil {
		return err
	}
	if w.gap, err = dur("gap", w.Gap); err != nil {
		return err
	}
	switch w.Type {
	case "tumbling", "":
		w.typ = tumbling
		if w.size == 0 {
			return errors.New(`size: required for tumbling windows (for example "10s")`)
		}
		if w.hop != 0 || w.gap != 0 {
			return errors.New("hop and gap: only for hopping and session windows")
		}
		w.hop = w.size
	case "hopping":
		w.typ = hopping
		if w.size == 0 {
			return errors.New(`size: required for hopping windows (for example "1m")`)
		}
		if w.hop == 0 {
			return errors.New(`hop: required for hopping windows (for example "10s")`)
		}
		if w.hop > w.size {
			return fmt.Errorf("hop: %s is larger than size %s (windows would leave gaps)", w.Hop, w.Size)
		}
		// Every event updates size/hop windows: bound the fan-out.
		if w.size/w.hop > maxHopsPerEvent {
			return fmt.Errorf("hop: %s puts each event in more than %d windows of size %s", w.Hop, maxHopsPerEvent, w.Size)
		}
		if w.gap != 0 {
			return errors.New("gap: only for session windows")
		}
	case "session":
		w.typ = session
		if w.gap == 0 {
			return errors.New(`gap: required for session windows (for example "30s")`)
		}
		if w.size != 0 || w.hop != 0 {
			return errors.New("size and hop: only for tumbling and hopping windows")
		}
	default:
		return fmt.Errorf("type: unknown window type %q (want tumbling, hopping or session)", w.Type)
	}
	span := w.size
	if w.typ == session {
		span = w.gap
	}
	if w.retention == 0 {
		w.retention = span
	}
	if w.idle == 0 {
		w.idle = span + w.lateness
	}
	switch w.Late {
	case "drop", "":
		w.lateEmit = false
	case "emit":
		w.lateEmit = true
	default:
		return fmt.Errorf("late: unknown value %q (want drop or emit)", w.Late)
	}
	switch w.Emit {
	case "final", "":
		w.update = false
	case "update":
		w.update = true
	default:
		return fmt.Errorf("emit: unknown value %q (want final or update)", w.Emit)
	}
	if w.EmitEvery <= 0 {
		return fmt.Errorf("emit_every: must be positive, got %s", w.EmitEvery)
	}
	w.emitEvery = int64(w.EmitEvery)
	if w.MaxGroups <= 0 {
		return fmt.Errorf("max_groups: must be positive, got %d", w.MaxGroups)
	}

	w.where, w.timeX = nil, nil
	if strings.TrimSpace(w.Where) != "" {
		src, off := trimOffset(w.Where)
		if w.where, err = compileAt(src, off, true); err != nil {
			return fmt.Errorf("where: %w", err)
		}
	}
	if strings.TrimSpace(w.Time) != "" {
		src, off := trimOffset(w.Time)
		if w.timeX, err = compileAt(src, off, false); err != nil {
			return fmt.Errorf("time: %w", err)
		}
	}
	w.groups = w.groups[:0]
	seen := map[string]int{}
	for i, g := range w.GroupBy {
		key, src, off := splitGroupBy(g)
		if src == "" {
			return fmt.Errorf("group_by[%d]: empty expression", i)
		}
		if prev, dup := seen[key]; dup {
			return fmt.Errorf("group_by[%d]: tag key %q is already used by group_by[%d]", i, key, prev)
		}
		seen[key] = i
		x, err := compileAt(src, off, false)
		if err != nil {
			return fmt.Errorf("group_by[%d]: %w", i, err)
		}
		w.groups = append(w.groups, groupExpr{key: key, x: x})
	}
	w.tagOrder = make([]int, len(w.groups))
	for i := range w.tagOrder {
		w.tagOrder[i] = i
	}
	slices.SortFunc(w.tagOrder, func(a, b int) int { return strings.Compare(w.groups[a].key, w.groups[b].key) })

	if len(w.Fields) == 0 {
		return errors.New(`fields: at least one field is required (for example n = "count()")`)
	}
	names := make([]string, 0, len(w.Fields))
	for name := range w.Fields {
		names = append(names, name)
	}
	slices.Sort(names)
	w.fields, w.args = w.fields[:0], w.args[:0]
	argIndex := map[string]int{}
	for _, name := range names {
		if name == "" {
			return errors.New("fields: a field name is empty")
		}
		sp, err := parseAgg(w.Fields[name])
		if err != nil {
			return fmt.Errorf("fields.%s: %w", name, err)
		}
		f := fieldSpec{name: name, kind: sp.kind, arg: -1, p: sp.p}
		if sp.kind != kCount {
			idx, ok := argIndex[sp.arg]
			if !ok {
				x, err := compileAt(sp.arg, sp.off, false)
				if err != nil {
					return fmt.Errorf("fields.%s: %w", name, err)
				}
				idx = len(w.args)
				w.args = append(w.args, x)
				argIndex[sp.arg] = idx
			}
			f.arg = idx
		}
		w.fields = append(w.fields, f)
	}
	w.vals = make([]argVal, len(w.args))
	w.in = make([]input, len(w.fields))
	w.fingerprint = w.computeFingerprint()
	w.ev = expression.NewEvaluator()
	w.reset()
	w.ready = true
	return nil
}

// computeFingerprint identifies the configuration that a snapshot's state
// depends on. allowed_lateness, late, emit and the limits may change
// across a restart.
func (w *Window) computeFingerprint() string {
	var b strings.Builder
	fmt.Fprintf(&b, "v1\x00%s\x00%d\x00%d\x00%d\x00%d\x00", w.Measurement, w.typ, w.size, w.hop, w.gap)
	fmt.Fprintf(&b, "%s\x00%s\x00", strings.TrimSpace(w.Time), strings.TrimSpace(w.Where))
	for _, g := range w.groups {
		fmt.Fprintf(&b, "g:%s=%s\x00", g.key, g.x.x.Source)
	}
	for _, f := range w.fields {
		fmt.Fprintf(&b, "f:%s=%s\x00", f.name, strings.TrimSpace(w.Fields[f.name]))
	}
	return b.String()
}

func (w *Window) reset() {
	w.windows = map[int64]*window{}
	w.retained = map[int64]*window{}
	w.sessions = map[string]*sgroup{}
	w.lastWin = nil
	w.states = 0
	w.wm = math.MinInt64
	w.maxT, w.hasMax = 0, false
	w.lastArr, w.hasArr = 0, false
	w.lastUpd, w.hasUpd = 0, false
	w.nextClose, w.nextExpire = math.MaxInt64, math.MaxInt64
	w.dirty = w.dirty[:0]
}

func (w *Window) mustReady() error {
	if !w.ready {
		return errors.New("window: Init was not called or failed")
	}
	return nil
}

// TickInterval is how often Tick runs: 250ms, or emit_every in update mode
// when that is shorter.
func (w *Window) TickInterval() time.Duration {
	d := 250 * time.Millisecond
	if w.update && time.Duration(w.emitEvery) < d && w.emitEvery > 0 {
		d = time.Duration(w.emitEvery)
	}
	return d
}

// Process aggregates a batch. It returns the results of the windows that
// closed (and late corrections); the events themselves are consumed, or,
// with drop_original = false, passed on each in its place, before the
// results it closed.
func (w *Window) Process(_ context.Context, batch sdk.Batch) (sdk.Batch, error) {
	if err := w.mustReady(); err != nil {
		return nil, err
	}
	now := w.clock().UnixNano()
	var out sdk.Batch
	if !w.DropOriginal {
		out = make(sdk.Batch, 0, len(batch))
	}
	if w.timeX == nil {
		out = w.advance(out, now)
	}
	// In event time, arriving events show the source is not idle: the idle
	// advance is Tick's alone, so it cannot turn this batch's own events
	// late after a quiet spell.
	for i := range batch {
		if !w.DropOriginal {
			// The processor only reads events, so the copy shares the
			// input's tags and fields: the batch is ours to pass on.
			out = append(out, batch[i])
		}
		out = w.processEvent(out, &batch[i], now)
	}
	return out, nil
}

// Tick closes windows whose end has passed (processing time, or an idle
// source in event time) and emits update-mode changes.
func (w *Window) Tick(_ context.Context, t time.Time) (sdk.Batch, error) {
	if err := w.mustReady(); err != nil {
		return nil, err
	}
	now := t.UnixNano()
	var out sdk.Batch
	if w.timeX == nil {
		out = w.advance(out, now)
	} else {
		out = w.idleAdvance(out, now)
	}
	if w.update && len(w.dirty) > 0 && (!w.hasUpd || now-w.lastUpd >= w.emitEvery) {
		out = w.emitDirty(out)
		w.lastUpd, w.hasUpd = now, true
	}
	return out, nil
}

// Finish emits every open window as if it closed, in closing order, and
// forgets all state (a --test run ends).
func (w *Window) Finish(context.Context) (sdk.Batch, error) {
	if err := w.mustReady(); err != nil {
		return nil, err
	}
	var due []*state
	for _, win := range w.windows {
		for _, st := range win.groups {
			due = append(due, st)
		}
	}
	for _, g := range w.sessions {
		due = append(due, g.open...)
	}
	sortStates(due)
	var out sdk.Batch
	for _, st := range due {
		out = w.emit(out, st)
	}
	w.reset()
	return out, nil
}

func sortStates(s []*state) {
	slices.SortFunc(s, func(a, b *state) int {
		switch {
		case a.end != b.end:
			return cmpInt(a.end, b.end)
		case a.start != b.start:
			return cmpInt(a.start, b.start)
		}
		return strings.Compare(a.key, b.key)
	})
}

func cmpInt(a, b int64) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

// idleAdvance moves an event-time watermark with processing time when no
// event arrived for idle_timeout.
func (w *Window) idleAdvance(out sdk.Batch, now int64) sdk.Batch {
	if w.hasArr && w.hasMax && now-w.lastArr >= w.idle {
		return w.advance(out, satAdd(w.maxT, now-w.lastArr)-w.lateness)
	}
	return out
}

func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// advance raises the watermark to wm (never lowers it) and closes and
// expires what it passed.
func (w *Window) advance(out sdk.Batch, wm int64) sdk.Batch {
	if wm <= w.wm {
		return out
	}
	w.wm = wm
	if wm >= w.nextClose {
		out = w.closeDue(out)
	}
	if wm >= w.nextExpire {
		w.expire()
	}
	return out
}

func (w *Window) processEvent(out sdk.Batch, e *sdk.Event, now int64) sdk.Batch {
	w.ev.Begin(e)
	if w.where != nil {
		ok, err := w.ev.EvalBool(w.where.x)
		if err != nil {
			w.evalError("where", err)
			return out
		}
		if !ok {
			return out
		}
	}
	t := now
	if w.timeX != nil {
		var ok bool
		if t, ok = w.eventTime(e); !ok {
			return out
		}
		w.lastArr, w.hasArr = now, true
		if !w.hasMax || t > w.maxT {
			w.maxT, w.hasMax = t, true
			out = w.advance(out, t-w.lateness)
		}
	}
	if !w.buildKey(e) {
		return out
	}
	w.prepare(e)
	switch w.typ {
	case tumbling:
		start := floorDiv(t, w.size) * w.size
		out = w.assignWindow(out, start, t)
	case hopping:
		last := floorDiv(t, w.hop) * w.hop
		// Windows in ascending start order: start > t-size.
		first := last
		for first-w.hop > t-w.size {
			first -= w.hop
		}
		lateCounted := false
		for s := first; s <= last; s += w.hop {
			var dropped bool
			out, dropped = w.assignWindowLate(out, s, t, lateCounted)
			lateCounted = lateCounted || dropped
		}
	case session:
		out = w.assignSession(out, t)
	}
	return out
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// eventTime evaluates the time expression.
func (w *Window) eventTime(e *sdk.Event) (int64, bool) {
	var v any
	if name := w.timeX.bare; name != "" {
		found := false
		for i := range e.Fields {
			if e.Fields[i].Key == name {
				v, found = e.Fields[i].Value, true
				break
			}
		}
		if !found {
			if s, ok := e.Tag(name); ok {
				v = s
			} else if name == "time" {
				return e.Time.UnixNano(), true
			}
		}
	} else {
		var err error
		if v, err = w.ev.Eval(w.timeX.x); err != nil {
			w.evalError("time", err)
			return 0, false
		}
	}
	switch x := v.(type) {
	case time.Time:
		return x.UnixNano(), true
	case int64:
		return x, true
	case int:
		return int64(x), true
	}
	w.evalError("time", fmt.Errorf("%q yielded %s, want a time or unix nanoseconds (int64)", w.timeX.x.Source, typeName(v)))
	return 0, false
}

func typeName(v any) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprintf("%T", v)
}

// read evaluates an expression for the current event. A tag read by a bare
// name comes back as s (isStr) to avoid boxing it.
func (w *Window) read(c *cexpr, e *sdk.Event) argVal {
	if name := c.bare; name != "" {
		for i := range e.Fields {
			if e.Fields[i].Key == name {
				return argVal{v: e.Fields[i].Value}
			}
		}
		if s, ok := e.Tag(name); ok {
			return argVal{s: s, isStr: true}
		}
		switch name {
		case "op":
			return argVal{s: e.Op.String(), isStr: true}
		case "table":
			return argVal{s: e.Name, isStr: true}
		case "time":
			return argVal{v: e.Time}
		}
		return argVal{}
	}
	v, err := w.ev.Eval(c.x)
	return argVal{v: v, err: err}
}

// buildKey writes the current event's group key into keyBuf.
func (w *Window) buildKey(e *sdk.Event) bool {
	b := w.keyBuf[:0]
	for i := range w.groups {
		g := &w.groups[i]
		r := w.read(g.x, e)
		if r.err != nil {
			w.keyBuf = b
			w.evalError("group_by["+g.key+"]", r.err)
			return false
		}
		if !r.isStr && r.v == nil {
			b = appendKeyNil(b)
			continue
		}
		b = append(b, 0x01)
		start := len(b)
		if r.isStr {
			b = append(b, r.s...)
		} else {
			b = appendText(b, r.v)
		}
		b = escapeKeyText(b, start)
	}
	w.keyBuf = b
	return true
}

// prepare evaluates the aggregate arguments of the current event once, for
// every window it belongs to.
func (w *Window) prepare(e *sdk.Event) {
	for j, a := range w.args {
		w.vals[j] = w.read(a, e)
	}
	w.txtBuf = w.txtBuf[:0]
	for i := range w.fields {
		f := &w.fields[i]
		in := &w.in[i]
		*in = input{}
		if f.kind == kCount {
			continue
		}
		r := &w.vals[f.arg]
		if r.err != nil {
			in.skip = true
			w.evalError("fields."+f.name, r.err)
			continue
		}
		if !r.isStr && r.v == nil {
			in.skip = true // missing values are ignored, like SQL NULL
			continue
		}
		switch f.kind {
		case kSum, kAvg, kMin, kMax, kStddev, kPercentile:
			x, ok := 0.0, false
			if !r.isStr {
				x, ok = expression.Float(r.v)
			}
			if ok && f.kind == kPercentile && math.IsInf(x, 0) {
				ok = false
			}
			if !ok {
				in.skip = true
				w.evalError("fields."+f.name, fmt.Errorf("%s needs a number, got %s", aggNameOf(f.kind), describeVal(r)))
				continue
			}
			in.f = x
		case kFirst, kLast:
			if r.isStr {
				in.v = nil // boxed only when stored
				continue
			}
			v, err := expression.Value(r.v)
			if err != nil {
				in.skip = true
				w.evalError("fields."+f.name, err)
				continue
			}
			in.v = v
		case kDistinct:
			in.lo = len(w.txtBuf)
			if r.isStr {
				w.txtBuf = append(w.txtBuf, r.s...)
			} else {
				w.txtBuf = appendText(w.txtBuf, r.v)
			}
			in.hi = len(w.txtBuf)
		}
	}
}

func aggNameOf(k aggKind) string {
	for n, kk := range aggNames {
		if kk == k {
			return n
		}
	}
	return "?"
}

func describeVal(r *argVal) string {
	if r.isStr {
		return fmt.Sprintf("string %q", r.s)
	}
	return fmt.Sprintf("%T %v", r.v, r.v)
}
