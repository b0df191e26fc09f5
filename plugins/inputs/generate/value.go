package generate

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/bits"
	"slices"
)

// Generator configures one field or tag of the generated events.
type Generator struct {
	// Name is the field or tag key.
	Name string `toml:"name"`
	// Type is sequence, choice, float or int (tags: sequence or choice).
	Type string `toml:"type"`
	// Values are the candidates of a choice generator.
	Values []string `toml:"values"`
	// Min and Max bound float ([min, max)) and int ([min, max]) generators.
	Min float64 `toml:"min"`
	Max float64 `toml:"max"`
	// Decimals rounds float values to that many decimal places; nil or -1
	// leaves them unrounded. A pointer, because TOML decodes each table of
	// an array into a zero struct and 0 is a valid number of decimals.
	Decimals *int `toml:"decimals"`
}

type kind uint8

const (
	kindSequence kind = iota + 1
	kindChoice
	kindFloat
	kindInt
)

var kindNames = map[string]kind{"sequence": kindSequence, "choice": kindChoice, "float": kindFloat, "int": kindInt}

// maxExactInt bounds int generators: beyond 2^53 the float64 min and max
// from TOML no longer hold every integer exactly.
const maxExactInt = 1 << 53

// gen is a validated Generator, ready to produce values.
type gen struct {
	key  string
	kind kind
	// base is the state of this generator's splitmix64 stream; the value for
	// sequence number n is the stream's n-th output, so it depends on nothing
	// but (seed, generator, n) and a replay reproduces it exactly.
	base uint64
	// boxed holds the choice values as interfaces, converted once, so that
	// putting one into a field does not allocate per event.
	boxed   []any
	choices []string
	min     float64
	width   float64 // max - min
	max     float64
	scale   float64 // 10^decimals, 0 for no rounding
	imin    int64
	span    uint64 // number of values in [imin, imax]
}

// compile validates g as the generator at path (e.g. `fields[1] ("amount")`)
// and returns its ready form. forTag limits the types to those that make a
// string.
func compile(g Generator, path string, forTag bool, seed int64) (gen, error) {
	k, ok := kindNames[g.Type]
	if !ok {
		want := "sequence, choice, float or int"
		if forTag {
			want = "sequence or choice"
		}
		if g.Type == "" {
			return gen{}, fmt.Errorf("%s: type is missing (want %s)", path, want)
		}
		return gen{}, fmt.Errorf("%s: type %q is unknown (want %s)", path, g.Type, want)
	}
	if forTag && k != kindSequence && k != kindChoice {
		return gen{}, fmt.Errorf("%s: type %q is not allowed for a tag (want sequence or choice)", path, g.Type)
	}
	// Keys that the type ignores are almost always a mistake (a typo in type,
	// or a generator copied from another), so they are rejected rather than
	// silently unused.
	if g.Values != nil && k != kindChoice {
		return gen{}, fmt.Errorf("%s: values apply only to type choice, not %s", path, g.Type)
	}
	if (g.Min != 0 || g.Max != 0) && k != kindFloat && k != kindInt {
		return gen{}, fmt.Errorf("%s: min and max apply only to types float and int, not %s", path, g.Type)
	}
	if g.Decimals != nil && k != kindFloat {
		return gen{}, fmt.Errorf("%s: decimals applies only to type float, not %s", path, g.Type)
	}

	out := gen{key: g.Name, kind: k, base: streamBase(seed, forTag, g.Name)}
	switch k {
	case kindChoice:
		if len(g.Values) == 0 {
			return gen{}, fmt.Errorf("%s: choice needs at least one value", path)
		}
		for i, v := range g.Values {
			// Line protocol and most sinks reject an empty tag value.
			if forTag && v == "" {
				return gen{}, fmt.Errorf("%s: values[%d] is empty (a tag value must not be empty)", path, i)
			}
		}
		out.choices = slices.Clone(g.Values)
		out.boxed = make([]any, len(g.Values))
		for i, v := range out.choices {
			out.boxed[i] = v
		}
	case kindFloat:
		if math.IsNaN(g.Min) || math.IsInf(g.Min, 0) || math.IsNaN(g.Max) || math.IsInf(g.Max, 0) {
			return gen{}, fmt.Errorf("%s: float: min and max must be finite numbers", path)
		}
		if !(g.Min < g.Max) {
			return gen{}, fmt.Errorf("%s: float: min %v must be below max %v", path, g.Min, g.Max)
		}
		if w := g.Max - g.Min; math.IsInf(w, 0) {
			return gen{}, fmt.Errorf("%s: float: the range from min %v to max %v is too wide for float64", path, g.Min, g.Max)
		}
		out.min, out.max, out.width = g.Min, g.Max, g.Max-g.Min
		if g.Decimals != nil && *g.Decimals != -1 {
			d := *g.Decimals
			if d < 0 || d > 15 {
				return gen{}, fmt.Errorf("%s: decimals %d is out of range (want 0 to 15, or -1 for no rounding)", path, d)
			}
			out.scale = math.Pow10(d)
		}
	case kindInt:
		for _, b := range [...]struct {
			name string
			v    float64
		}{{"min", g.Min}, {"max", g.Max}} {
			if b.v != math.Trunc(b.v) || math.IsInf(b.v, 0) {
				return gen{}, fmt.Errorf("%s: int: %s %v is not a whole number", path, b.name, b.v)
			}
			if math.Abs(b.v) > maxExactInt {
				return gen{}, fmt.Errorf("%s: int: %s %v is out of range (want -2^53 to 2^53)", path, b.name, b.v)
			}
		}
		if g.Min > g.Max {
			return gen{}, fmt.Errorf("%s: int: min %v must not be above max %v", path, g.Min, g.Max)
		}
		out.imin = int64(g.Min)
		out.span = uint64(int64(g.Max)-int64(g.Min)) + 1
	}
	return out, nil
}

// streamBase derives a generator's stream from the seed and the generator's
// kind and name rather than its position, so that adding, removing or
// reordering other generators leaves this one's values unchanged.
func streamBase(seed int64, forTag bool, name string) uint64 {
	h := fnv.New64a()
	if forTag {
		h.Write([]byte("tag\x00"))
	} else {
		h.Write([]byte("field\x00"))
	}
	h.Write([]byte(name))
	return mix64(mix64(uint64(seed)) ^ h.Sum64())
}

// golden is splitmix64's increment (2^64 / φ).
const golden = 0x9e3779b97f4a7c15

// mix64 is the splitmix64 output function.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// random returns the generator's pseudo-random word for sequence number seq.
func (g *gen) random(seq int64) uint64 {
	return mix64(g.base + uint64(seq)*golden)
}

// index picks one of n slots; the multiply-high maps the word onto [0, n)
// with a bias of at most n/2^64, which no test or benchmark can observe.
func index(r uint64, n uint64) uint64 {
	hi, _ := bits.Mul64(r, n)
	return hi
}

// field returns the field value for sequence number seq.
func (g *gen) field(seq int64) any {
	switch g.kind {
	case kindSequence:
		return seq
	case kindChoice:
		return g.boxed[index(g.random(seq), uint64(len(g.boxed)))]
	case kindFloat:
		return g.float(seq)
	default:
		return g.imin + int64(index(g.random(seq), g.span))
	}
}

func (g *gen) float(seq int64) float64 {
	u := float64(g.random(seq)>>11) * 0x1p-53 // [0, 1) with 53 random bits
	v := g.min + g.width*u
	if v >= g.max { // rounding of min + width*u can land on max
		v = math.Nextafter(g.max, math.Inf(-1))
	}
	if g.scale != 0 {
		v = math.Round(v*g.scale) / g.scale
	}
	return v
}

// choice returns a choice generator's value for seq (tags).
func (g *gen) choice(seq int64) string {
	return g.choices[index(g.random(seq), uint64(len(g.choices)))]
}
