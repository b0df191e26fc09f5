package config

import (
	"fmt"
	"strconv"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

// Agent holds the [agent] section.
type Agent struct {
	CheckpointInterval sdk.Duration `toml:"checkpoint_interval"` // default 10s; must be > 0
	StateDir           string       `toml:"state_dir"`           // default "" = positions not persisted
	HTTPListen         string       `toml:"http_listen"`         // default "" = no HTTP server
	LogLevel           string       `toml:"log_level"`           // debug|info|warn|error, default info
	LogFormat          string       `toml:"log_format"`          // text|json, default text
	ChannelSize        int          `toml:"channel_size"`        // batches buffered between stages, default 8, must be >= 1
	ShutdownTimeout    sdk.Duration `toml:"shutdown_timeout"`    // default 30s; must be > 0
}

func defaultAgent() Agent {
	return Agent{
		CheckpointInterval: sdk.Duration(10 * time.Second),
		LogLevel:           "info",
		LogFormat:          "text",
		ChannelSize:        8,
		ShutdownTimeout:    sdk.Duration(30 * time.Second),
	}
}

func (p *parser) agent() (Agent, error) {
	a := defaultAgent()
	v, ok := p.raw["agent"]
	if !ok {
		return a, nil
	}
	t, ok := v.(map[string]any)
	if !ok {
		return a, p.errorf("agent", "must be a table ([agent]), got %s", tomlType(v))
	}
	order := p.doc.keys[scopeRef{kind: "agent"}]
	s := &substitution{lookupEnv: p.lookupEnv, order: order}
	if err := s.table(t, nil); err != nil {
		return a, p.wrap("agent", err)
	}
	md, err := decodeTable(t, &a, s)
	if err != nil {
		return a, p.wrap("agent", err)
	}
	if keys := unknownKeys(md, &a, order); len(keys) > 0 {
		return a, p.wrap("agent", unknownKeysError(keys))
	}
	if err := validateAgent(&a, s); err != nil {
		return a, p.wrap("agent", err)
	}
	return a, nil
}

func validateAgent(a *Agent, s *substitution) error {
	if err := positive("checkpoint_interval", a.CheckpointInterval, s); err != nil {
		return err
	}
	if err := positive("shutdown_timeout", a.ShutdownTimeout, s); err != nil {
		return err
	}
	switch a.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return keyErrorf("log_level", "must be debug, info, warn or error, got %s", s.show("log_level", a.LogLevel))
	}
	switch a.LogFormat {
	case "text", "json":
	default:
		return keyErrorf("log_format", "must be text or json, got %s", s.show("log_format", a.LogFormat))
	}
	if a.ChannelSize < 1 {
		return keyErrorf("channel_size", "must be at least 1, got %d", a.ChannelSize)
	}
	return nil
}

// positive checks a duration setting that must be greater than zero.
func positive(key string, d sdk.Duration, s *substitution) error {
	if d > 0 {
		return nil
	}
	got := strconv.Quote(d.String())
	if s.fromEnv(key) {
		got = "a value from environment substitution (not shown)"
	}
	return keyErrorf(key, "must be greater than 0, got %s", got)
}

func keyErrorf(key, format string, args ...any) error {
	return &keyError{key: key, err: fmt.Errorf(format, args...)}
}
