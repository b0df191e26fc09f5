package window

import (
	"math"
	"slices"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// newState makes a (window, group) state for the key in keyBuf, or refuses
// it at max_groups (nil). key and tags may be passed to share them.
func (w *Window) newState(start, end int64, key string, tags []sdk.Tag) *state {
	if w.states >= w.MaxGroups {
		w.cRefused.Inc()
		w.rateLimited(&w.refusedLog, func(n int64) {
			w.log.Warn("window: max_groups reached, new groups are refused (their events are not counted)",
				"max_groups", w.MaxGroups, "refused", n, "refused_total", w.cRefused.Load())
		})
		return nil
	}
	if key == "" && len(w.keyBuf) > 0 {
		key = string(w.keyBuf)
		tags = w.tagsFor(key)
	}
	w.states++
	return &state{start: start, end: end, key: key, tags: tags, aggs: make([]agg, len(w.fields))}
}

// tagsFor builds the sorted tags of a group key (nil values are omitted).
func (w *Window) tagsFor(key string) []sdk.Tag {
	parts, err := decodeKey(key, len(w.groups))
	if err != nil {
		return nil
	}
	n := 0
	for _, p := range parts {
		if p.present {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	tags := make([]sdk.Tag, 0, n)
	for _, i := range w.tagOrder {
		if parts[i].present {
			tags = append(tags, sdk.Tag{Key: w.groups[i].key, Value: parts[i].text})
		}
	}
	return tags
}

// assignWindow adds the current event to the tumbling window at start.
func (w *Window) assignWindow(out sdk.Batch, start, t int64) sdk.Batch {
	out, _ = w.assignWindowLate(out, start, t, false)
	return out
}

// assignWindowLate adds the current event to the window at start; dropped
// reports that it was late and dropped (counted unless lateCounted).
func (w *Window) assignWindowLate(out sdk.Batch, start, t int64, lateCounted bool) (sdk.Batch, bool) {
	end := start + w.size
	if end <= w.wm {
		if w.lateEmit && w.wm < satAdd(end, w.retention) {
			win := w.retained[start]
			var st *state
			if win != nil {
				st = win.groups[string(w.keyBuf)]
			}
			if st == nil {
				if st = w.newState(start, end, "", nil); st == nil {
					return out, false
				}
				st.closed = true
				if win == nil {
					win = &window{start: start, end: end, groups: map[string]*state{}}
					w.retained[start] = win
					w.nextExpire = min(w.nextExpire, satAdd(end, w.retention))
				}
				win.groups[st.key] = st
			}
			w.apply(st, t)
			w.cCorr.Inc()
			return w.emit(out, st), false
		}
		if !lateCounted {
			w.cLate.Inc()
		}
		return out, true
	}
	win := w.lastWin
	if win == nil || win.start != start {
		win = w.windows[start]
	}
	var st *state
	if win != nil {
		st = win.groups[string(w.keyBuf)]
	}
	if st == nil {
		if st = w.newState(start, end, "", nil); st == nil {
			return out, false
		}
		if win == nil {
			win = &window{start: start, end: end, groups: map[string]*state{}}
			w.windows[start] = win
			w.nextClose = min(w.nextClose, end)
		}
		win.groups[st.key] = st
	}
	w.lastWin = win
	w.apply(st, t)
	w.markDirty(st)
	return out, false
}

func (w *Window) markDirty(st *state) {
	if w.update && !st.dirty {
		st.dirty = true
		w.dirty = append(w.dirty, st)
	}
}

// assignSession adds the current event to its group's sessions, creating,
// extending or merging them.
func (w *Window) assignSession(out sdk.Batch, t int64) sdk.Batch {
	g := w.sessions[string(w.keyBuf)]
	tEnd := satAdd(t, w.gap)
	i, j := 0, 0
	if g != nil {
		// open is sorted by start and does not overlap, so ends ascend too.
		// A session [s, e) overlaps the event's [t, t+gap) when s < t+gap
		// and t < e.
		j = len(g.open)
		for j > 0 && g.open[j-1].start >= tEnd {
			j--
		}
		i = j
		for i > 0 && g.open[i-1].end > t {
			i--
		}
	}
	var st *state
	if i == j {
		if tEnd <= w.wm {
			return w.lateSession(out, g, t, tEnd)
		}
		var key string
		var tags []sdk.Tag
		if g != nil {
			key, tags = g.key, g.tags
		}
		if st = w.newState(t, tEnd, key, tags); st == nil {
			return out
		}
		if g == nil {
			g = &sgroup{key: st.key, tags: st.tags}
			w.sessions[g.key] = g
		}
		g.open = slices.Insert(g.open, i, st)
		w.nextClose = min(w.nextClose, tEnd)
	} else {
		st = g.open[i]
		for _, o := range g.open[i+1 : j] {
			for k := range st.aggs {
				st.aggs[k].merge(&o.aggs[k], w.fields[k].kind)
			}
			st.end = max(st.end, o.end)
			o.dead = true
			w.states--
		}
		g.open = slices.Delete(g.open, i+1, j)
		st.start = min(st.start, t)
		st.end = max(st.end, tEnd)
	}
	w.apply(st, t)
	w.markDirty(st)
	return out
}

// lateSession handles an event that touches no open session and whose own
// session would already be closed.
func (w *Window) lateSession(out sdk.Batch, g *sgroup, t, tEnd int64) sdk.Batch {
	if w.lateEmit && g != nil {
		for _, c := range g.closed {
			if c.start < tEnd && t < c.end && w.wm < satAdd(c.end, w.retention) {
				// The session keeps its bounds, so the correction has the
				// same time as the result it replaces.
				w.apply(c, t)
				w.cCorr.Inc()
				return w.emit(out, c)
			}
		}
	}
	w.cLate.Inc()
	return out
}

// apply adds the prepared inputs of the current event to a state.
func (w *Window) apply(st *state, t int64) {
	for i := range w.fields {
		in := &w.in[i]
		if in.skip {
			continue
		}
		a := &st.aggs[i]
		switch w.fields[i].kind {
		case kCount:
			a.n++
		case kSum, kAvg:
			a.n++
			a.a += in.f
		case kMin:
			if a.n == 0 || in.f < a.a {
				a.a = in.f
			}
			a.n++
		case kMax:
			if a.n == 0 || in.f > a.a {
				a.a = in.f
			}
			a.n++
		case kStddev:
			a.n++
			d := in.f - a.a
			a.a += d / float64(a.n)
			a.b += d * (in.f - a.a)
		case kFirst:
			x := a.ext()
			if !x.has || t < x.t {
				x.has, x.t, x.v = true, t, w.storedValue(i)
			}
		case kLast:
			x := a.ext()
			if !x.has || t >= x.t {
				x.has, x.t, x.v = true, t, w.storedValue(i)
			}
		case kDistinct:
			x := a.ext()
			if x.set == nil {
				x.set = make(map[string]struct{}, 4)
			}
			txt := w.txtBuf[in.lo:in.hi]
			if _, ok := x.set[string(txt)]; !ok {
				x.set[string(txt)] = struct{}{}
			}
		case kPercentile:
			x := a.ext()
			if x.d == nil {
				x.d = &digest{}
			}
			x.d.add(in.f)
		}
	}
}

// storedValue is the value of field i's argument as first/last keep it.
func (w *Window) storedValue(i int) any {
	r := &w.vals[w.fields[i].arg]
	if r.isStr {
		return r.s
	}
	if b, ok := w.in[i].v.([]byte); ok {
		return append([]byte(nil), b...)
	}
	return w.in[i].v
}

// emit appends the result of a state. A state whose fields are all
// omitted emits nothing.
func (w *Window) emit(out sdk.Batch, st *state) sdk.Batch {
	fields := make([]sdk.Field, 0, len(w.fields))
	for i := range w.fields {
		if v, ok := st.aggs[i].result(&w.fields[i], &w.scratch); ok {
			if b, isBytes := v.([]byte); isBytes {
				v = append([]byte(nil), b...)
			}
			fields = append(fields, sdk.Field{Key: w.fields[i].name, Value: v})
		}
	}
	if len(fields) == 0 {
		return out
	}
	var tags []sdk.Tag
	if len(st.tags) > 0 {
		tags = append([]sdk.Tag(nil), st.tags...)
	}
	return append(out, sdk.Event{
		Name:   w.Measurement,
		Op:     sdk.OpNone,
		Tags:   tags,
		Fields: fields,
		Time:   time.Unix(0, st.end).UTC(),
	})
}

// closeDue emits and closes every open state whose end the watermark
// reached, in (end, start, group key) order.
func (w *Window) closeDue(out sdk.Batch) sdk.Batch {
	next := int64(math.MaxInt64)
	var due []*state
	if w.typ == session {
		for _, g := range w.sessions {
			k := 0
			for k < len(g.open) && g.open[k].end <= w.wm {
				due = append(due, g.open[k])
				k++
			}
			if k > 0 {
				g.open = slices.Delete(g.open, 0, k)
				if w.lateEmit {
					g.closed = append(g.closed, due[len(due)-k:]...)
					slices.SortFunc(g.closed, func(a, b *state) int { return cmpInt(a.start, b.start) })
				}
			}
			if len(g.open) > 0 {
				next = min(next, g.open[0].end)
			} else if len(g.closed) == 0 {
				delete(w.sessions, g.key)
			}
		}
	} else {
		var wins []*window
		for _, win := range w.windows {
			if win.end <= w.wm {
				wins = append(wins, win)
			} else {
				next = min(next, win.end)
			}
		}
		for _, win := range wins {
			delete(w.windows, win.start)
			if w.lastWin == win {
				w.lastWin = nil
			}
			for _, st := range win.groups {
				due = append(due, st)
			}
			if w.lateEmit {
				w.retained[win.start] = win
			}
		}
	}
	w.nextClose = next
	sortStates(due)
	for _, st := range due {
		out = w.emit(out, st)
		st.dirty = false
		st.closed = true
		if w.lateEmit {
			w.nextExpire = min(w.nextExpire, satAdd(st.end, w.retention))
		} else {
			w.states--
		}
	}
	return out
}

// expire forgets retained closed states whose retention the watermark
// passed.
func (w *Window) expire() {
	next := int64(math.MaxInt64)
	for start, win := range w.retained {
		if e := satAdd(win.end, w.retention); e <= w.wm {
			w.states -= len(win.groups)
			delete(w.retained, start)
		} else {
			next = min(next, e)
		}
	}
	for key, g := range w.sessions {
		if len(g.closed) == 0 {
			continue
		}
		kept := g.closed[:0]
		for _, c := range g.closed {
			if e := satAdd(c.end, w.retention); e <= w.wm {
				w.states--
			} else {
				kept = append(kept, c)
				next = min(next, e)
			}
		}
		clear(g.closed[len(kept):])
		g.closed = kept
		if len(g.open) == 0 && len(g.closed) == 0 {
			delete(w.sessions, key)
		}
	}
	w.nextExpire = next
}

// emitDirty emits the open states changed since the last update emission.
func (w *Window) emitDirty(out sdk.Batch) sdk.Batch {
	due := w.dirty[:0:0]
	for _, st := range w.dirty {
		if st.dirty && !st.closed && !st.dead {
			due = append(due, st)
		}
		st.dirty = false
	}
	clear(w.dirty)
	w.dirty = w.dirty[:0]
	sortStates(due)
	for _, st := range due {
		out = w.emit(out, st)
	}
	return out
}

// evalError counts an evaluation error and logs it at a limited rate.
func (w *Window) evalError(where string, err error) {
	w.cEval.Inc()
	w.rateLimited(&w.evalLog, func(n int64) {
		w.log.Warn("window: expression evaluation failed; the event is skipped for that part",
			"errors", n, "errors_total", w.cEval.Load(), "example", where+": "+err.Error())
	})
}

// rateLimited records one occurrence and calls log with the number since
// the last line when the throttle lets one through (processing time).
func (w *Window) rateLimited(r *sdk.LogThrottle, log func(n int64)) {
	if n := r.Note(w.clock(), 1); n > 0 {
		log(n)
	}
}
