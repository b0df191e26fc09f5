package sdk

import (
	"context"
	"time"
)

// Sleep waits for d, or until ctx is done. It reports whether to go on:
// false means ctx ended. A d of zero or less returns at once.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
