// Package stdout is the output that writes events to standard output, as
// InfluxDB line protocol or as JSON lines.
package stdout

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/rowflux/rowflux/sdk"
	"github.com/rowflux/rowflux/sdk/encoding"
)

//go:embed sample.conf
var sampleConfig string

func init() {
	sdk.RegisterOutput(sdk.Registration[sdk.Output]{
		Name:         "stdout",
		Description:  "Write events to standard output as line protocol or JSON lines",
		SampleConfig: sampleConfig,
		New:          func() sdk.Output { return &Stdout{Format: encoding.FormatInflux, w: os.Stdout} },
	})
}

var (
	_ sdk.Output      = (*Stdout)(nil)
	_ sdk.Initializer = (*Stdout)(nil)
	_ sdk.Closer      = (*Stdout)(nil)
)

// maxKeptBuffer is the largest buffer kept between writes, so that one huge
// batch does not pin its memory for the life of the agent.
const maxKeptBuffer = 16 << 20

// Stdout writes each batch to standard output with a single Write call, so
// that lines from one batch are never interleaved with other output.
type Stdout struct {
	// Format is "influx" (line protocol) or "json" (one object per line).
	Format string `toml:"format"`

	w io.Writer

	// mu serialises writes: the encoder and buffer are reused, and a flush
	// at a checkpoint barrier may race a timed flush.
	mu      sync.Mutex
	enc     encoding.Encoder
	buf     []byte
	log     *slog.Logger
	skipped *sdk.Counter
	// skipLog keeps a source of unencodable rows from logging once per batch.
	skipLog sdk.LogThrottle
	now     func() time.Time
}

// Init validates the format and prepares the encoder.
func (s *Stdout) Init(env sdk.Env) error {
	enc, err := encoding.New(s.Format)
	if err != nil {
		return fmt.Errorf("format: %w", err)
	}
	s.enc = enc
	s.log = env.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if env.Counter != nil {
		s.skipped = env.Counter("events_skipped", "events that could not be encoded")
	}
	if s.w == nil {
		s.w = os.Stdout
	}
	if s.now == nil {
		s.now = time.Now
	}
	return nil
}

// Write encodes the batch and writes it in one call. Events the format cannot
// represent are counted and logged, not treated as an error: retrying would
// not make them representable.
func (s *Stdout) Write(_ context.Context, batch sdk.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.enc == nil {
		return errors.New("stdout: Write called before Init")
	}
	out, skipped := s.enc.Encode(s.buf[:0], batch)
	if cap(out) <= maxKeptBuffer {
		s.buf = out[:0]
	} else {
		s.buf = nil
	}
	if skipped > 0 {
		s.noteSkipped(skipped)
	}
	if len(out) == 0 {
		return nil
	}
	if _, err := s.w.Write(out); err != nil {
		return fmt.Errorf("stdout: write: %w", err)
	}
	return nil
}

// noteSkipped counts skipped events and logs them, at most once per
// sdk.DefaultLogEvery, with the number skipped since the last message.
func (s *Stdout) noteSkipped(n int) {
	if s.skipped != nil {
		s.skipped.Add(int64(n))
	}
	if c := s.skipLog.Note(s.now(), int64(n)); c > 0 {
		s.logSkipped(c)
	}
}

func (s *Stdout) logSkipped(count int64) {
	s.log.Warn("events skipped: the output format cannot represent them",
		"count", count, "format", s.Format)
}

// Close reports skipped events that the rate limit kept out of the log.
func (s *Stdout) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.skipLog.Flush(); c > 0 && s.log != nil {
		s.logSkipped(c)
	}
	return nil
}
