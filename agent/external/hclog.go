package external

import (
	"context"
	"io"
	"log"
	"log/slog"
	"sort"

	"github.com/hashicorp/go-hclog"
)

// hclogger is go-plugin's logger interface over the agent's slog logger.
// Two kinds of records arrive through it: go-plugin's own (how it starts
// and stops the process), which the agent only shows at debug level, and
// the plugin's log lines, which go-plugin re-logs through Named(binary) at
// the level the plugin wrote them.
type hclogger struct {
	log    *slog.Logger
	plugin bool // records come from the plugin itself
	args   []any
}

func newHCLogger(log *slog.Logger) *hclogger { return &hclogger{log: log} }

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Info, hclog.NoLevel, hclog.DefaultLevel:
		return slog.LevelInfo
	case hclog.Warn:
		return slog.LevelWarn
	}
	return slog.LevelError
}

func (h *hclogger) Log(level hclog.Level, msg string, args ...any) {
	lv := slogLevel(level)
	if !h.plugin && lv > slog.LevelDebug {
		lv = slog.LevelDebug
	}
	ctx := context.Background()
	if !h.log.Enabled(ctx, lv) {
		return
	}
	h.log.Log(ctx, lv, msg, h.attrs(args)...)
}

// attrs orders the plugin's key/value pairs by key (go-plugin hands them
// over from a map, in random order) and drops the timestamp go-plugin adds:
// the agent's record has its own.
func (h *hclogger) attrs(args []any) []any {
	type kv struct {
		k string
		v any
	}
	var pairs []kv
	all := append(append([]any(nil), h.args...), args...)
	for i := 0; i+1 < len(all); i += 2 {
		k, ok := all[i].(string)
		if !ok || k == "timestamp" || k == "@module" || k == "@caller" {
			continue
		}
		pairs = append(pairs, kv{k, all[i+1]})
	}
	sort.SliceStable(pairs, func(i, j int) bool { return pairs[i].k < pairs[j].k })
	out := make([]any, 0, 2*len(pairs))
	for _, p := range pairs {
		out = append(out, p.k, p.v)
	}
	return out
}

func (h *hclogger) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hclogger) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hclogger) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hclogger) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hclogger) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hclogger) IsTrace() bool { return h.log.Enabled(context.Background(), slog.LevelDebug-4) }
func (h *hclogger) IsDebug() bool { return h.log.Enabled(context.Background(), slog.LevelDebug) }
func (h *hclogger) IsInfo() bool  { return h.log.Enabled(context.Background(), slog.LevelInfo) }
func (h *hclogger) IsWarn() bool  { return h.log.Enabled(context.Background(), slog.LevelWarn) }
func (h *hclogger) IsError() bool { return h.log.Enabled(context.Background(), slog.LevelError) }

func (h *hclogger) ImpliedArgs() []any { return h.args }

func (h *hclogger) With(args ...any) hclog.Logger {
	c := *h
	c.args = append(append([]any(nil), h.args...), args...)
	return &c
}

func (h *hclogger) Name() string { return "" }

// Named is how go-plugin marks the records read from the plugin's stderr.
func (h *hclogger) Named(string) hclog.Logger {
	c := *h
	c.plugin = true
	return &c
}

func (h *hclogger) ResetNamed(name string) hclog.Logger { return h.Named(name) }

// GetLevel reports the most verbose level the agent would print, so that
// go-plugin skips parsing lines nobody will see.
func (h *hclogger) GetLevel() hclog.Level {
	switch {
	case h.IsTrace():
		return hclog.Trace
	case h.IsDebug():
		return hclog.Debug
	case h.IsInfo():
		return hclog.Info
	case h.IsWarn():
		return hclog.Warn
	}
	return hclog.Error
}

func (h *hclogger) SetLevel(hclog.Level) {}

func (h *hclogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

func (h *hclogger) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return &lineWriter{emit: func(line string) { h.Info(line) }}
}

var _ hclog.Logger = (*hclogger)(nil)
