package sdk

import "sync/atomic"

// Counter is a monotonically increasing, concurrency-safe count exported in
// the agent's /metrics.
type Counter struct{ v atomic.Int64 }

// Add increases the counter by n (n must not be negative).
func (c *Counter) Add(n int64) { c.v.Add(n) }

// Inc increases the counter by one.
func (c *Counter) Inc() { c.v.Add(1) }

// Load returns the current count.
func (c *Counter) Load() int64 { return c.v.Load() }
