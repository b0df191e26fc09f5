package capture

import (
	"context"
	"fmt"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

func decodeCursors(pos position) (map[string][]any, error) {
	cursors := map[string][]any{}
	for table, enc := range pos.Cursors {
		vals := make([]any, len(enc))
		for i, s := range enc {
			v, err := decodeValue(s)
			if err != nil {
				return nil, fmt.Errorf("checkpointed cursor of %s: %w", table, err)
			}
			vals[i] = v
		}
		cursors[table] = vals
	}
	return cursors, nil
}

func (e *Engine) pollPosition(cursors map[string][]any) (sdk.Position, error) {
	p := position{Strategy: Polling, Cursors: make(map[string][]string, len(cursors))}
	for table, vals := range cursors {
		enc := make([]string, len(vals))
		for i, v := range vals {
			s, err := encodeValue(v)
			if err != nil {
				return nil, fmt.Errorf("table %s: %w", table, err)
			}
			enc[i] = s
		}
		p.Cursors[table] = enc
	}
	return p.encode(), nil
}

// poll reads every table in (timestamp, key) pages below the upper bound,
// then sleeps poll_interval. The cursor of a table advances only with an
// emitted batch, so a reconnect resumes exactly there.
func (e *Engine) poll(ctx context.Context, out sdk.Emitter, cursors map[string][]any) error {
	p := e.src.(Poller)
	var b builder
	for {
		upper, err := p.PollUpper(ctx, time.Duration(e.cfg.Lag))
		if err != nil {
			return fmt.Errorf("poll upper bound: %w", err)
		}
		for _, t := range e.tables {
			for {
				page, err := p.PollPage(ctx, t, cursors[t.Config.Name], upper, e.cfg.BatchSize)
				rows := page.Rows
				if err != nil {
					return fmt.Errorf("poll %s: %w", t.Config.Name, err)
				}
				if len(rows) == 0 {
					break
				}
				op := sdk.OpUpsert
				if t.Config.AppendOnly {
					op = sdk.OpInsert
				}
				now := time.Now()
				b.reset(t, len(rows))
				batch := make(sdk.Batch, len(rows))
				for i, r := range rows {
					batch[i] = b.event(t, op, r, now)
				}
				if len(page.Cursor) != 1+len(t.KeyIdx) {
					return errStop{fmt.Errorf("poll %s: dialect returned a cursor of %d values, want %d", t.Config.Name, len(page.Cursor), 1+len(t.KeyIdx))}
				}
				cursors[t.Config.Name] = page.Cursor
				pos, err := e.pollPosition(cursors)
				if err != nil {
					return errStop{err}
				}
				if err := emit(ctx, out, batch, pos); err != nil {
					return err
				}
				if len(rows) < e.cfg.BatchSize {
					break
				}
			}
		}
		if !sdk.Sleep(ctx, time.Duration(e.cfg.PollInterval)) {
			return ctx.Err()
		}
	}
}
