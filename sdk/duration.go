package sdk

import (
	"fmt"
	"time"
)

// Duration is a time.Duration written in configuration as a string such as
// "10s", "1m30s" or "250ms".
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (examples: \"500ms\", \"10s\", \"1m\")", string(b))
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration in Go's format.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// String formats the duration like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }
