package plugin

import (
	"io"
	"log/slog"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// stderrLog is the process's real stderr, written one whole line at a time
// so that log lines from several goroutines never interleave.
type stderrLog struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *stderrLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *stderrLog) line(l string) {
	s.Write([]byte(l + "\n"))
}

// newHCLogJSON is the logger go-plugin's own server code uses: warnings
// and errors only, in the JSON form the agent parses.
func newHCLogJSON(w io.Writer, name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: name, Output: w, JSONFormat: true, Level: hclog.Warn})
}

// hclogTime is the timestamp layout the agent's plugin client parses.
const hclogTime = "2006-01-02T15:04:05.000000Z07:00"

// newJSONHandler writes slog records as the JSON lines the agent reads
// from a plugin's stderr (hclog's format: @level, @message, @timestamp and
// the attributes), so that they reappear in the agent's log at their level.
func newJSONHandler(w io.Writer, level slog.Level) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format(hclogTime))
			case slog.LevelKey:
				return slog.String("@level", hclogLevel(a.Value.Any().(slog.Level)))
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			}
			return a
		},
	})
}

func hclogLevel(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}
