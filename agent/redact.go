package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
)

// redactor removes secrets from text. Every value the configuration took
// from an environment variable counts as a secret: that is where passwords,
// tokens and DSNs come from, and a plugin's validation error may quote the
// value it rejected.
type redactor struct {
	mu      sync.Mutex
	secrets map[string]bool
	r       *strings.Replacer
}

// minSecretLen keeps short values such as "1" or "on" from being redacted
// everywhere they happen to appear.
const minSecretLen = 4

const redacted = "[redacted]"

func newRedactor() *redactor { return &redactor{secrets: map[string]bool{}} }

// lookupEnv wraps a lookup function and remembers the values it returns.
func (r *redactor) lookupEnv(lookup func(string) (string, bool)) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := lookup(name)
		if ok && len(v) >= minSecretLen {
			r.add(v)
		}
		return v, ok
	}
}

func (r *redactor) add(secret string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.secrets[secret] {
		return
	}
	r.secrets[secret] = true
	list := make([]string, 0, len(r.secrets))
	for s := range r.secrets {
		list = append(list, s)
	}
	// Longest first, so a secret containing another is replaced whole.
	sort.Slice(list, func(i, j int) bool { return len(list[i]) > len(list[j]) })
	pairs := make([]string, 0, 2*len(list))
	for _, s := range list {
		pairs = append(pairs, s, redacted)
	}
	r.r = strings.NewReplacer(pairs...)
}

func (r *redactor) String(s string) string {
	r.mu.Lock()
	rep := r.r
	r.mu.Unlock()
	if rep == nil {
		return s
	}
	return rep.Replace(s)
}

// redactedError keeps the wrapped error for errors.As while printing the
// redacted text.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Error redacts err's message; a ConfigError stays a ConfigError.
func (r *redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := r.String(err.Error())
	if msg == err.Error() {
		return err
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		return &ConfigError{&redactedError{msg: msg, err: err}}
	}
	return &redactedError{msg: msg, err: err}
}

// handler is a slog.Handler that redacts the message and attribute values.
type handler struct {
	next slog.Handler
	r    *redactor
}

func (h handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.String(v.String()))
	case slog.KindGroup:
		attrs := v.Group()
		clean := make([]any, len(attrs))
		for i, g := range attrs {
			clean[i] = h.attr(g)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.r.String(err.Error()))
		}
		return slog.String(a.Key, h.r.String(fmt.Sprint(v.Any())))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = h.attr(a)
	}
	return handler{next: h.next.WithAttrs(clean), r: h.r}
}

func (h handler) WithGroup(name string) slog.Handler {
	return handler{next: h.next.WithGroup(name), r: h.r}
}
