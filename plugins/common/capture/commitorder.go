package capture

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// round is the commit_order strategy's progress; it lives in the engine so
// that a reconnect resumes inside the round.
type round struct {
	low, high uint64
	table     int
	cursor    []any
	// ahead holds the rows the previous round read with versions at or
	// above its horizon (a dialect whose versions are upper bounds returns
	// them); this round drops them when it reads them with the same
	// version. next collects this round's. Not checkpointed: after a
	// restart they are replayed, as at-least-once allows.
	ahead, next map[aheadKey]struct{}
}

type aheadKey struct {
	table   int
	key     string
	version uint64
}

// seenAhead reports whether row (of version v) is a re-read of a row the
// previous round already emitted, and remembers rows read ahead of this
// round's horizon for the next one.
func (r *round) seenAhead(t *Table, row []any, v uint64) bool {
	if v < r.high && len(r.ahead) == 0 {
		return false
	}
	var sb strings.Builder
	for _, i := range t.KeyIdx {
		s, err := encodeValue(row[i])
		if err != nil {
			s = fmt.Sprintf("%T:%v", row[i], row[i])
		}
		sb.WriteString(s)
		sb.WriteByte(0)
	}
	k := aheadKey{table: r.table, key: sb.String(), version: v}
	if v >= r.high {
		if r.next == nil {
			r.next = map[aheadKey]struct{}{}
		}
		r.next[k] = struct{}{}
	}
	_, dup := r.ahead[k]
	return dup
}

func (r *round) position() (sdk.Position, error) {
	p := position{Strategy: CommitOrder, Low: r.low, High: r.high, Table: r.table}
	if r.cursor != nil {
		enc := make([]string, len(r.cursor))
		for i, v := range r.cursor {
			s, err := encodeValue(v)
			if err != nil {
				return nil, err
			}
			enc[i] = s
		}
		p.Cursors = map[string][]string{"": enc}
	}
	return p.encode(), nil
}

func roundFrom(pos position) (round, error) {
	r := round{low: pos.Low, high: pos.High, table: pos.Table}
	if enc, ok := pos.Cursors[""]; ok && pos.Strategy == CommitOrder {
		r.cursor = make([]any, len(enc))
		for i, s := range enc {
			v, err := decodeValue(s)
			if err != nil {
				return r, fmt.Errorf("checkpointed commit_order cursor: %w", err)
			}
			r.cursor[i] = v
		}
	}
	return r, nil
}

// commitOrder reads rounds: take the horizon H, read every table's rows
// with versions in [low, H), then low = H. The horizon is read before the
// rows, and low only ever becomes a horizon, never the largest version
// seen: a transaction still open when H was read commits with a version
// ≥ H and is read in a later round. The position names the round and the
// cursor inside it, so no row is read twice, even across a restart.
func (e *Engine) commitOrder(ctx context.Context, out sdk.Emitter) error {
	vr := e.src.(VersionReader)
	r := &e.round
	var b builder
	for {
		if r.high == 0 {
			h, err := vr.Horizon(ctx)
			if err != nil {
				return fmt.Errorf("read commit horizon: %w", err)
			}
			if h <= r.low {
				if !sdk.Sleep(ctx, time.Duration(e.cfg.PollInterval)) {
					return ctx.Err()
				}
				continue
			}
			r.high, r.table, r.cursor = h, 0, nil
		}
		for r.table < len(e.tables) {
			t := e.tables[r.table]
			page, err := vr.Changed(ctx, t, r.low, r.high, r.cursor, e.cfg.BatchSize)
			if err != nil {
				return fmt.Errorf("read %s changed in [%d, %d): %w", t.Config.Name, r.low, r.high, err)
			}
			if len(page.Rows) == 0 {
				r.table, r.cursor = r.table+1, nil
				continue
			}
			op := sdk.OpUpsert
			if t.Config.AppendOnly {
				op = sdk.OpInsert
			}
			now := time.Now()
			b.reset(t, len(page.Rows))
			batch := make(sdk.Batch, 0, len(page.Rows))
			for i, row := range page.Rows {
				if i < len(page.Versions) && r.seenAhead(t, row, page.Versions[i]) {
					continue
				}
				batch = append(batch, b.event(t, op, row, now))
			}
			if len(page.Rows) < e.cfg.BatchSize {
				r.table, r.cursor = r.table+1, nil
			} else {
				r.cursor = page.Cursor
			}
			pos, err := r.position()
			if err != nil {
				return errStop{err}
			}
			if err := emit(ctx, out, batch, pos); err != nil {
				return err
			}
		}
		r.low, r.high, r.table, r.cursor = r.high, 0, 0, nil
		r.ahead, r.next = r.next, nil
		pos, _ := r.position()
		if err := emit(ctx, out, nil, pos); err != nil {
			return err
		}
		if !sdk.Sleep(ctx, time.Duration(e.cfg.PollInterval)) {
			return ctx.Err()
		}
	}
}
