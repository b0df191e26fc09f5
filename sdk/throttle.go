package sdk

import "time"

// DefaultLogEvery is how often a LogThrottle with no Every lets a message
// through.
const DefaultLogEvery = 10 * time.Second

// LogThrottle keeps a repeated warning (skipped events, expression errors,
// rejected lines) to one log line per interval, each line carrying how many
// occurrences it stands for. The first occurrence is logged at once. It is
// not safe for concurrent use.
type LogThrottle struct {
	// Every is the least time between two lines; zero means DefaultLogEvery.
	Every time.Duration

	pending int64
	last    time.Time
	logged  bool
}

// Note records n occurrences at now. It returns the count to log now (the
// occurrences since the last line), or 0 when the line is held back.
func (t *LogThrottle) Note(now time.Time, n int64) int64 {
	t.pending += n
	every := t.Every
	if every <= 0 {
		every = DefaultLogEvery
	}
	if t.pending == 0 || (t.logged && now.Sub(t.last) < every) {
		return 0
	}
	c := t.pending
	t.pending, t.last, t.logged = 0, now, true
	return c
}

// Flush returns the occurrences held back, for a last line at Close, and
// forgets them.
func (t *LogThrottle) Flush() int64 {
	c := t.pending
	t.pending = 0
	return c
}
