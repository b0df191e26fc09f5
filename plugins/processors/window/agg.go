package window

import (
	"math"
	"slices"
	"sort"

	"github.com/influxdata/tdigest"
)

// agg is the state of one aggregate of one (window, group). The numeric
// aggregates use only n, a and b; the others keep an aggExt.
//
//	count:    n
//	sum, avg: n, a = sum
//	min, max: n, a = extreme
//	stddev:   n, a = mean, b = M2 (Welford)
type agg struct {
	n    int64
	a, b float64
	x    *aggExt
}

// aggExt holds the state of first, last, count_distinct and percentile.
type aggExt struct {
	has bool
	t   int64 // event time of v
	v   any
	set map[string]struct{}
	d   *digest
}

func (a *agg) ext() *aggExt {
	if a.x == nil {
		a.x = &aggExt{}
	}
	return a.x
}

// result returns the aggregate's value; false omits the field.
func (a *agg) result(f *fieldSpec, scratch *[]float64) (any, bool) {
	switch f.kind {
	case kCount:
		return a.n, true
	case kSum:
		return a.a, a.n > 0
	case kAvg:
		if a.n == 0 {
			return nil, false
		}
		return a.a / float64(a.n), true
	case kMin, kMax:
		return a.a, a.n > 0
	case kStddev:
		if a.n < 2 {
			return nil, false
		}
		return math.Sqrt(a.b / float64(a.n-1)), true
	case kFirst, kLast:
		if a.x == nil || !a.x.has {
			return nil, false
		}
		return a.x.v, true
	case kDistinct:
		if a.x == nil {
			return int64(0), true
		}
		return int64(len(a.x.set)), true
	case kPercentile:
		if a.x == nil || a.x.d == nil || a.x.d.n == 0 {
			return nil, false
		}
		return a.x.d.quantile(f.p/100, scratch), true
	}
	return nil, false
}

// merge folds b into a (session merges). Both belong to the same field.
func (a *agg) merge(b *agg, kind aggKind) {
	switch kind {
	case kCount, kSum, kAvg:
		a.n += b.n
		a.a += b.a
	case kMin:
		if b.n > 0 && (a.n == 0 || b.a < a.a) {
			a.a = b.a
		}
		a.n += b.n
	case kMax:
		if b.n > 0 && (a.n == 0 || b.a > a.a) {
			a.a = b.a
		}
		a.n += b.n
	case kStddev:
		if b.n == 0 {
			return
		}
		if a.n == 0 {
			a.n, a.a, a.b = b.n, b.a, b.b
			return
		}
		n := a.n + b.n
		d := b.a - a.a
		a.a += d * float64(b.n) / float64(n)
		a.b += b.b + d*d*float64(a.n)*float64(b.n)/float64(n)
		a.n = n
	case kFirst:
		if b.x != nil && b.x.has {
			x := a.ext()
			if !x.has || b.x.t < x.t {
				x.has, x.t, x.v = true, b.x.t, b.x.v
			}
		}
	case kLast:
		if b.x != nil && b.x.has {
			x := a.ext()
			if !x.has || b.x.t >= x.t {
				x.has, x.t, x.v = true, b.x.t, b.x.v
			}
		}
	case kDistinct:
		if b.x != nil && len(b.x.set) > 0 {
			x := a.ext()
			if x.set == nil {
				x.set = make(map[string]struct{}, len(b.x.set))
			}
			for k := range b.x.set {
				x.set[k] = struct{}{}
			}
		}
	case kPercentile:
		if b.x != nil && b.x.d != nil {
			x := a.ext()
			if x.d == nil {
				x.d = &digest{}
			}
			x.d.merge(b.x.d)
		}
	}
}

// Percentiles.
//
// Up to rawCap values are kept as they are and the percentile is exact. Past
// that, values go into a t-digest (influxdata/tdigest, compression 100) in
// blocks of rawCap, and the digest is compressed after each block, so that
// its state at any moment is a sorted centroid list that a snapshot can copy
// without changing it. The quantile is interpolated from the centroids as
// influxdata/tdigest does, but with the exact minimum and maximum kept here
// (the library does not expose them, and its upper tail always returns the
// maximum).

const (
	rawCap      = 512
	compression = 100
)

type digest struct {
	n        int64
	min, max float64
	raw      []float64
	td       *tdigest.TDigest
}

func (d *digest) add(x float64) {
	if d.n == 0 || x < d.min {
		d.min = x
	}
	if d.n == 0 || x > d.max {
		d.max = x
	}
	d.n++
	if len(d.raw) >= rawCap {
		d.flush()
	}
	d.raw = append(d.raw, x)
}

// flush moves the raw values into the t-digest and compresses it.
func (d *digest) flush() {
	if len(d.raw) == 0 {
		return
	}
	if d.td == nil {
		d.td = tdigest.NewWithCompression(compression)
	}
	for _, x := range d.raw {
		d.td.Add(x, 1)
	}
	d.raw = d.raw[:0]
	d.td.Count() // compresses: no unprocessed centroids are left
}

func (d *digest) merge(o *digest) {
	if o.n == 0 {
		return
	}
	min, max, n := o.min, o.max, d.n+o.n
	if d.n > 0 {
		min, max = math.Min(min, d.min), math.Max(max, d.max)
	}
	if d.td == nil && o.td == nil && len(d.raw)+len(o.raw) <= rawCap {
		d.raw = append(d.raw, o.raw...)
	} else {
		for _, x := range o.raw {
			if len(d.raw) >= rawCap {
				d.flush()
			}
			d.raw = append(d.raw, x)
		}
		if o.td != nil {
			d.flush()
			if d.td == nil {
				d.td = tdigest.NewWithCompression(compression)
			}
			d.td.AddCentroidList(o.td.Centroids())
			d.td.Count()
		}
	}
	d.n, d.min, d.max = n, min, max
}

// centroids returns the compressed centroids as (mean, weight) pairs; it
// does not modify the digest (there is never unprocessed data in it).
func (d *digest) centroids() []float64 {
	if d.td == nil {
		return nil
	}
	cs := d.td.Centroids()
	out := make([]float64, 0, 2*len(cs))
	for _, c := range cs {
		out = append(out, c.Mean, c.Weight)
	}
	return out
}

func (d *digest) restore(cs []float64) {
	if len(cs) == 0 {
		return
	}
	d.td = tdigest.NewWithCompression(compression)
	list := make(tdigest.CentroidList, 0, len(cs)/2)
	for i := 0; i+1 < len(cs); i += 2 {
		list = append(list, tdigest.Centroid{Mean: cs[i], Weight: cs[i+1]})
	}
	// The list is sorted and already compressed: compressing it again
	// keeps it as it is.
	d.td.AddCentroidList(list)
	d.td.Count()
}

// quantile returns the q-quantile (0 ≤ q ≤ 1).
func (d *digest) quantile(q float64, scratch *[]float64) float64 {
	if d.td == nil {
		s := append((*scratch)[:0], d.raw...)
		*scratch = s
		sort.Float64s(s)
		return exactQuantile(s, q)
	}
	// Read from a copy: flushing the digest itself on every read would make
	// its compression, and so later results, depend on when results were
	// read (update-mode emissions, corrections).
	cs := d.td.Centroids()
	if len(d.raw) > 0 {
		tmp := tdigest.NewWithCompression(compression)
		tmp.AddCentroidList(cs)
		for _, x := range d.raw {
			tmp.Add(x, 1)
		}
		tmp.Count()
		cs = tmp.Centroids()
	}
	if len(cs) == 1 {
		return cs[0].Mean
	}
	var total float64
	for _, c := range cs {
		total += c.Weight
	}
	index := q * total
	if index <= cs[0].Weight/2 {
		return d.min + 2*index/cs[0].Weight*(cs[0].Mean-d.min)
	}
	last := cs[len(cs)-1]
	if index >= total-last.Weight/2 {
		z1 := index - (total - last.Weight/2) // past the last centroid's centre
		z2 := total - index
		return weightedAverage(last.Mean, z2, d.max, z1)
	}
	// cumulative[i] = weight before centroid i + half its own.
	prev := 0.0
	for i, c := range cs {
		cum := prev + c.Weight/2
		if cum >= index {
			pc := cs[i-1]
			pcum := prev - pc.Weight/2
			return weightedAverage(pc.Mean, cum-index, c.Mean, index-pcum)
		}
		prev += c.Weight
	}
	return d.max
}

func weightedAverage(x1, w1, x2, w2 float64) float64 {
	if w1+w2 == 0 {
		return x1
	}
	if x1 > x2 {
		x1, w1, x2, w2 = x2, w2, x1, w1
	}
	x := (x1*w1 + x2*w2) / (w1 + w2)
	return math.Max(x1, math.Min(x, x2))
}

// exactQuantile interpolates linearly between the closest ranks of sorted
// values (rank q·(n−1), like numpy's default and Excel's PERCENTILE.INC).
func exactQuantile(s []float64, q float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	r := q * float64(len(s)-1)
	lo := int(math.Floor(r))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	frac := r - float64(lo)
	return s[lo] + frac*(s[lo+1]-s[lo])
}

// sortedSet returns a set's members sorted (snapshots).
func sortedSet(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
