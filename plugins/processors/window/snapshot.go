package window

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Snapshots are gob-encoded (exact for every float, including NaN and
// infinities, and for arbitrary bytes in strings) after a short header:
// "rowflux-window" and a version byte.

const (
	snapMagic   = "rowflux-window"
	snapVersion = 1
)

type snapshot struct {
	Fingerprint string
	Watermark   int64
	MaxT        int64
	HasMax      bool
	LastArrival int64
	HasArrival  bool
	LastUpdate  int64
	HasUpdate   bool
	States      []snapState
}

type snapState struct {
	Start, End int64
	Key        string
	Closed     bool
	Dirty      bool
	Aggs       []snapAgg
}

type snapAgg struct {
	N    int64
	A, B float64
	// first / last
	Has bool
	T   int64
	V   snapValue
	// count_distinct
	Set    []string
	HasSet bool
	// percentile
	HasDigest  bool
	DN         int64
	Min, Max   float64
	Raw        []float64
	Centroids  []float64 // mean, weight pairs
	HasTDigest bool
}

// snapValue is a typed field value.
type snapValue struct {
	Kind byte // 0 nil, 'i' int64, 'f' float64, 's' string, 'b' bool, 'y' []byte, 't' time
	I    int64
	F    float64
	S    string
	Y    []byte
}

func encodeValue(v any) (snapValue, error) {
	switch x := v.(type) {
	case nil:
		return snapValue{}, nil
	case int64:
		return snapValue{Kind: 'i', I: x}, nil
	case float64:
		return snapValue{Kind: 'f', F: x}, nil
	case string:
		return snapValue{Kind: 's', S: x}, nil
	case bool:
		if x {
			return snapValue{Kind: 'b', I: 1}, nil
		}
		return snapValue{Kind: 'b'}, nil
	case []byte:
		return snapValue{Kind: 'y', Y: x}, nil
	case time.Time:
		b, err := x.MarshalBinary()
		if err != nil {
			return snapValue{}, err
		}
		return snapValue{Kind: 't', Y: b}, nil
	}
	return snapValue{}, fmt.Errorf("cannot snapshot a value of type %T", v)
}

func (s snapValue) decode() (any, error) {
	switch s.Kind {
	case 0:
		return nil, nil
	case 'i':
		return s.I, nil
	case 'f':
		return s.F, nil
	case 's':
		return s.S, nil
	case 'b':
		return s.I != 0, nil
	case 'y':
		if s.Y == nil {
			return []byte{}, nil
		}
		return s.Y, nil
	case 't':
		var t time.Time
		if err := t.UnmarshalBinary(s.Y); err != nil {
			return nil, err
		}
		return t, nil
	}
	return nil, fmt.Errorf("unknown value kind %q", s.Kind)
}

// Snapshot serialises the open windows, the retained closed ones, the
// watermark and the clocks.
func (w *Window) Snapshot() ([]byte, error) {
	if err := w.mustReady(); err != nil {
		return nil, err
	}
	s := snapshot{
		Fingerprint: w.fingerprint,
		Watermark:   w.wm,
		MaxT:        w.maxT, HasMax: w.hasMax,
		LastArrival: w.lastArr, HasArrival: w.hasArr,
		LastUpdate: w.lastUpd, HasUpdate: w.hasUpd,
	}
	var all []*state
	for _, win := range w.windows {
		for _, st := range win.groups {
			all = append(all, st)
		}
	}
	for _, win := range w.retained {
		for _, st := range win.groups {
			all = append(all, st)
		}
	}
	for _, g := range w.sessions {
		all = append(all, g.open...)
		all = append(all, g.closed...)
	}
	sortStates(all)
	s.States = make([]snapState, 0, len(all))
	for _, st := range all {
		ss := snapState{Start: st.start, End: st.end, Key: st.key, Closed: st.closed, Dirty: st.dirty, Aggs: make([]snapAgg, len(st.aggs))}
		for i := range st.aggs {
			a := &st.aggs[i]
			sa := &ss.Aggs[i]
			sa.N, sa.A, sa.B = a.n, a.a, a.b
			if x := a.x; x != nil {
				sa.Has, sa.T = x.has, x.t
				v, err := encodeValue(x.v)
				if err != nil {
					return nil, fmt.Errorf("window: fields.%s: %w", w.fields[i].name, err)
				}
				sa.V = v
				if x.set != nil {
					sa.HasSet, sa.Set = true, sortedSet(x.set)
				}
				if d := x.d; d != nil {
					sa.HasDigest = true
					sa.DN, sa.Min, sa.Max = d.n, d.min, d.max
					sa.Raw = slices.Clone(d.raw)
					if d.td != nil {
						sa.HasTDigest = true
						sa.Centroids = d.centroids()
					}
				}
			}
		}
		s.States = append(s.States, ss)
	}
	var buf bytes.Buffer
	buf.WriteString(snapMagic)
	buf.WriteByte(snapVersion)
	if err := gob.NewEncoder(&buf).Encode(&s); err != nil {
		return nil, fmt.Errorf("window: encoding the state: %w", err)
	}
	return buf.Bytes(), nil
}

// Restore replaces the state with a snapshot taken by the same window
// configuration.
func (w *Window) Restore(data []byte) error {
	if err := w.mustReady(); err != nil {
		return err
	}
	if !bytes.HasPrefix(data, []byte(snapMagic)) || len(data) < len(snapMagic)+1 {
		return errors.New("window: the state is not a window processor state")
	}
	if v := data[len(snapMagic)]; v != snapVersion {
		return fmt.Errorf("window: state format version %d is not supported (want %d)", v, snapVersion)
	}
	var s snapshot
	if err := gob.NewDecoder(bytes.NewReader(data[len(snapMagic)+1:])).Decode(&s); err != nil {
		return fmt.Errorf("window: decoding the state: %w", err)
	}
	if s.Fingerprint != w.fingerprint {
		return errors.New("window: the state was taken with another window configuration " +
			"(measurement, type, size, hop, gap, fields, group_by, time or where changed); " +
			"restore the previous configuration or discard the state (--reset-state)")
	}
	// Check every record before touching the current state, so that a
	// corrupt state leaves the processor as it was.
	for _, ss := range s.States {
		if len(ss.Aggs) != len(w.fields) {
			return fmt.Errorf("window: the state has %d aggregates per group, the configuration %d", len(ss.Aggs), len(w.fields))
		}
		if _, err := decodeKey(ss.Key, len(w.groups)); err != nil {
			return fmt.Errorf("window: corrupt state: %w", err)
		}
		for i := range ss.Aggs {
			if _, err := ss.Aggs[i].V.decode(); err != nil {
				return fmt.Errorf("window: corrupt state: fields.%s: %w", w.fields[i].name, err)
			}
		}
	}
	w.reset()
	w.wm = s.Watermark
	w.maxT, w.hasMax = s.MaxT, s.HasMax
	// A restart is not idleness: the time the agent was down must not
	// advance the watermark past the events replayed after this state.
	w.lastArr, w.hasArr = w.clock().UnixNano(), s.HasArrival
	w.lastUpd, w.hasUpd = s.LastUpdate, s.HasUpdate
	for _, ss := range s.States {
		if len(ss.Aggs) != len(w.fields) {
			return fmt.Errorf("window: the state has %d aggregates per group, the configuration %d", len(ss.Aggs), len(w.fields))
		}
		if _, err := decodeKey(ss.Key, len(w.groups)); err != nil {
			return fmt.Errorf("window: corrupt state: %w", err)
		}
		st := &state{start: ss.Start, end: ss.End, key: ss.Key, closed: ss.Closed, aggs: make([]agg, len(w.fields))}
		for i := range ss.Aggs {
			sa := &ss.Aggs[i]
			a := &st.aggs[i]
			a.n, a.a, a.b = sa.N, sa.A, sa.B
			if sa.Has || sa.HasSet || sa.HasDigest {
				x := a.ext()
				x.has, x.t = sa.Has, sa.T
				v, err := sa.V.decode()
				if err != nil {
					return fmt.Errorf("window: corrupt state: fields.%s: %w", w.fields[i].name, err)
				}
				x.v = v
				if sa.HasSet {
					x.set = make(map[string]struct{}, len(sa.Set))
					for _, k := range sa.Set {
						x.set[k] = struct{}{}
					}
				}
				if sa.HasDigest {
					d := &digest{n: sa.DN, min: sa.Min, max: sa.Max, raw: sa.Raw}
					if sa.HasTDigest {
						d.restore(sa.Centroids)
					}
					x.d = d
				}
			}
		}
		w.insertRestored(st)
		if ss.Dirty && !st.closed {
			st.dirty = true
			w.dirty = append(w.dirty, st)
		}
	}
	w.recomputeBounds()
	return nil
}

func (w *Window) insertRestored(st *state) {
	w.states++
	if w.typ == session {
		g := w.sessions[st.key]
		if g == nil {
			g = &sgroup{key: st.key, tags: w.tagsFor(st.key)}
			w.sessions[st.key] = g
		}
		st.key, st.tags = g.key, g.tags
		if st.closed {
			g.closed = append(g.closed, st) // states come sorted by end, start
			slices.SortFunc(g.closed, func(a, b *state) int { return cmpInt(a.start, b.start) })
		} else {
			g.open = append(g.open, st)
			slices.SortFunc(g.open, func(a, b *state) int { return cmpInt(a.start, b.start) })
		}
		return
	}
	st.tags = w.tagsFor(st.key)
	m := w.windows
	if st.closed {
		m = w.retained
	}
	win := m[st.start]
	if win == nil {
		win = &window{start: st.start, end: st.end, groups: map[string]*state{}}
		m[st.start] = win
	}
	win.groups[st.key] = st
}

func (w *Window) recomputeBounds() {
	w.nextClose, w.nextExpire = math.MaxInt64, math.MaxInt64
	for _, win := range w.windows {
		w.nextClose = min(w.nextClose, win.end)
	}
	for _, win := range w.retained {
		w.nextExpire = min(w.nextExpire, satAdd(win.end, w.retention))
	}
	for _, g := range w.sessions {
		if len(g.open) > 0 {
			w.nextClose = min(w.nextClose, g.open[0].end)
		}
		for _, c := range g.closed {
			w.nextExpire = min(w.nextExpire, satAdd(c.end, w.retention))
		}
	}
}
