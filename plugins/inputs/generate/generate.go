// Package generate is a synthetic input: it emits events with generated
// fields at a given rate, and resumes exactly from its position, so that it
// can drive tests and benchmarks of the pipeline and of checkpoint/restore.
package generate

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

//go:embed sample.conf
var sampleConfig string

func init() {
	sdk.RegisterInput(sdk.Registration[sdk.Input]{
		Name:         "generate",
		Description:  "Emit synthetic events at a given rate (test and benchmark driver)",
		SampleConfig: sampleConfig,
		New:          func() sdk.Input { return New() },
	})
}

// Defaults of the configuration.
const (
	DefaultName      = "generated"
	DefaultRate      = 100.0
	DefaultBatchSize = 1000
	DefaultSeed      = 1
)

// flushEvery is how often a rate-limited generator emits what is due when
// that is less than a full batch: small rates then arrive as a steady
// trickle rather than one batch every batch_size/rate seconds.
const flushEvery = 50 * time.Millisecond

// minWait keeps the pacing loop from spinning on waits too short to matter.
const minWait = time.Millisecond

// maxWait bounds one wait so that absurdly small rates cannot overflow a
// time.Duration; the loop simply re-checks after it.
const maxWait = time.Hour

// Generate emits synthetic events. Create it with New (or through the
// registry), decode configuration into it, then call Init before Run.
type Generate struct {
	// Name of the emitted events.
	Name string `toml:"name"`
	// Rate in events per second; 0 emits as fast as the pipeline accepts.
	Rate float64 `toml:"rate"`
	// BatchSize is the most events in one emitted batch.
	BatchSize int `toml:"batch_size"`
	// Count stops Run after the event with this sequence number (0: never).
	Count int64 `toml:"count"`
	// Seed of the value generators.
	Seed int64 `toml:"seed"`
	// Op of the emitted events: "", insert, update, delete or upsert.
	Op string `toml:"op"`
	// Fields are generated in this order; none configured means one sequence
	// field "seq".
	Fields []Generator `toml:"fields"`
	// Tags are sorted by key on each event, whatever their order here.
	Tags []Generator `toml:"tags"`

	op       sdk.Op
	fields   []gen
	tags     []gen // sorted by key
	seqTags  bool  // some tag is a sequence: format its text once per batch
	log      *slog.Logger
	compiled bool

	// now and wait are the clock; tests replace them to check pacing over
	// hours of virtual time.
	now  func() time.Time
	wait func(ctx context.Context, d time.Duration) bool
}

var (
	_ sdk.Input       = (*Generate)(nil)
	_ sdk.Initializer = (*Generate)(nil)
)

// New returns a generator with the default configuration.
func New() *Generate {
	return &Generate{Name: DefaultName, Rate: DefaultRate, BatchSize: DefaultBatchSize, Seed: DefaultSeed}
}

// Init validates the configuration and prepares the generators.
func (g *Generate) Init(env sdk.Env) error {
	g.compiled = false
	if g.Name == "" {
		return errors.New("name: must not be empty")
	}
	if math.IsNaN(g.Rate) || math.IsInf(g.Rate, 0) {
		return fmt.Errorf("rate: %v is not a finite number", g.Rate)
	}
	if g.Rate < 0 {
		return errors.New("rate: must not be negative")
	}
	if g.BatchSize <= 0 {
		return errors.New("batch_size: must be positive")
	}
	if g.Count < 0 {
		return errors.New("count: must not be negative (0 = never stop)")
	}
	op, err := sdk.ParseOp(g.Op)
	if err != nil {
		return fmt.Errorf("op: %w", err)
	}

	fieldCfg := g.Fields
	if len(fieldCfg) == 0 {
		fieldCfg = []Generator{{Name: "seq", Type: "sequence"}}
	}
	// One name space for fields and tags: expressions downstream look both
	// up by bare name, so a field and a tag with one name would be ambiguous.
	seen := map[string]string{}
	fields := make([]gen, 0, len(fieldCfg))
	for i, c := range fieldCfg {
		x, err := compileNamed(c, "fields", i, false, g.Seed, seen)
		if err != nil {
			return err
		}
		fields = append(fields, x)
	}
	tags := make([]gen, 0, len(g.Tags))
	seqTags := false
	for i, c := range g.Tags {
		x, err := compileNamed(c, "tags", i, true, g.Seed, seen)
		if err != nil {
			return err
		}
		seqTags = seqTags || x.kind == kindSequence
		tags = append(tags, x)
	}
	// Sorting the generators once means every event's tags come out sorted
	// (the sdk.Event invariant) without sorting per event.
	slices.SortFunc(tags, func(a, b gen) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})

	g.op, g.fields, g.tags, g.seqTags = op, fields, tags, seqTags
	g.log = env.Logger
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	g.compiled = true
	return nil
}

func compileNamed(c Generator, list string, i int, forTag bool, seed int64, seen map[string]string) (gen, error) {
	if c.Name == "" {
		return gen{}, fmt.Errorf("%s[%d]: name is empty", list, i)
	}
	path := fmt.Sprintf("%s[%d] (%q)", list, i, c.Name)
	if prev, dup := seen[c.Name]; dup {
		return gen{}, fmt.Errorf("%s: name is already used by %s", path, prev)
	}
	seen[c.Name] = fmt.Sprintf("%s[%d]", list, i)
	return compile(c, path, forTag, seed)
}

// position is the resume point: the sequence number of the next event.
type position struct {
	Next *int64 `json:"next"`
}

// EncodePosition returns the position from which Run emits next first.
func EncodePosition(next int64) sdk.Position {
	b := make([]byte, 0, 32)
	b = append(b, `{"next":`...)
	b = strconv.AppendInt(b, next, 10)
	return append(b, '}')
}

// DecodePosition returns the next sequence number held by pos; nil or empty
// means a first start, at 1.
func DecodePosition(pos sdk.Position) (int64, error) {
	if len(pos) == 0 {
		return 1, nil
	}
	shown := pos
	if len(shown) > 64 {
		shown = shown[:64]
	}
	var p position
	dec := json.NewDecoder(bytes.NewReader(pos))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return 0, fmt.Errorf("position %q: want {\"next\":N}: %w", shown, err)
	}
	if dec.More() {
		return 0, fmt.Errorf("position %q: want {\"next\":N}: unexpected data after the object", shown)
	}
	if p.Next == nil {
		return 0, fmt.Errorf("position %q: \"next\" is missing", shown)
	}
	if *p.Next < 1 {
		return 0, fmt.Errorf("position %q: next %d must be at least 1", shown, *p.Next)
	}
	return *p.Next, nil
}

// Run emits events from the sequence number in from (1 when from is nil)
// until ctx is cancelled, Count is reached, or Emit fails.
func (g *Generate) Run(ctx context.Context, from sdk.Position, out sdk.Emitter) error {
	if !g.compiled {
		if err := g.Init(sdk.Env{}); err != nil {
			return fmt.Errorf("invalid configuration: %w", err)
		}
	}
	next, err := DecodePosition(from)
	if err != nil {
		return err
	}
	now, wait := g.now, g.wait
	if now == nil {
		now = time.Now
	}
	if wait == nil {
		wait = sdk.Sleep
	}
	g.log.Debug("generate starting", "next", next, "rate", g.Rate, "count", g.Count)

	// Pacing counts from the start of this Run, not from sequence 1, so a
	// resumed generator does not burst to catch up with its previous life.
	start := now()
	lastEmit := start
	var emitted int64
	for {
		if ctx.Err() != nil {
			return nil
		}
		n := int64(g.BatchSize)
		if g.Count > 0 {
			left := g.Count - next + 1
			if left <= 0 {
				return nil
			}
			n = min(n, left)
		}
		t := now()
		if g.Rate > 0 {
			// Events due are derived from the total elapsed time, so wait
			// overshoot and backpressure never accumulate as drift: whatever
			// was delayed becomes due at once and goes out in full batches.
			for {
				// Nanoseconds times rate, then divided, is exact for whole
				// rates, where seconds times rate would round 15 down to
				// 14.999… and delay an event by a wait.
				elapsed := t.Sub(start)
				due := math.Floor(g.Rate*float64(elapsed)/float64(time.Second)) - float64(emitted)
				if due >= float64(n) {
					break
				}
				if due >= 1 && t.Sub(lastEmit) >= flushEvery {
					n = int64(due)
					break
				}
				// Wake when a full batch is due, or when the next flush
				// finds at least one event due, whichever comes first.
				full := dueAt(emitted+n, g.Rate) - elapsed
				one := dueAt(emitted+1, g.Rate) - elapsed
				flush := lastEmit.Add(flushEvery).Sub(t)
				d := min(full, max(one, flush), maxWait)
				if !wait(ctx, max(d, minWait)) {
					return nil
				}
				t = now()
			}
		}
		batch := g.batch(next, int(n), t)
		next += n
		if err := out.Emit(ctx, batch, EncodePosition(next)); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("emit events up to sequence %d: %w", next-1, err)
		}
		emitted += n
		lastEmit = t
	}
}

// dueAt is the time after start at which event k of this run is due,
// rounded up so that at that instant it really is, and saturating where a
// tiny rate would overflow a Duration.
func dueAt(k int64, rate float64) time.Duration {
	ns := math.Ceil(float64(k) * float64(time.Second) / rate)
	if ns >= 1<<62 {
		return 1 << 62
	}
	return time.Duration(ns)
}

// batch builds the n events from sequence number first. The batch and its
// tag and field backing arrays are fresh, because the pipeline owns emitted
// batches; events share a backing array per batch so that allocations grow
// with batches, not events.
func (g *Generate) batch(first int64, n int, t time.Time) sdk.Batch {
	batch := make(sdk.Batch, n)
	nt, nf := len(g.tags), len(g.fields)
	var tags []sdk.Tag
	if nt > 0 {
		tags = make([]sdk.Tag, n*nt)
	}
	fields := make([]sdk.Field, n*nf)

	// The decimal text of every sequence number in the batch, converted to
	// one string whose substrings the events share.
	var seqText string
	var seqEnd []int
	if g.seqTags {
		buf := make([]byte, 0, n*8)
		seqEnd = make([]int, n)
		for i := range n {
			buf = strconv.AppendInt(buf, first+int64(i), 10)
			seqEnd[i] = len(buf)
		}
		seqText = string(buf)
	}

	for i := range batch {
		seq := first + int64(i)
		e := &batch[i]
		e.Name, e.Op, e.Time = g.Name, g.op, t
		if nt > 0 {
			// The three-index slice caps each event's tags at its own, so a
			// processor appending a tag reallocates instead of overwriting the
			// next event's.
			e.Tags = tags[i*nt : (i+1)*nt : (i+1)*nt]
			for j := range g.tags {
				gn := &g.tags[j]
				var v string
				if gn.kind == kindSequence {
					lo := 0
					if i > 0 {
						lo = seqEnd[i-1]
					}
					v = seqText[lo:seqEnd[i]]
				} else {
					v = gn.choice(seq)
				}
				e.Tags[j] = sdk.Tag{Key: gn.key, Value: v}
			}
		}
		e.Fields = fields[i*nf : (i+1)*nf : (i+1)*nf]
		for j := range g.fields {
			gn := &g.fields[j]
			e.Fields[j] = sdk.Field{Key: gn.key, Value: gn.field(seq)}
		}
	}
	return batch
}
