package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rowflux/rowflux/sdk"
)

type conf struct {
	Target string             `toml:"target"`
	Rates  map[string]float64 `toml:"rates"`
	Every  sdk.Duration       `toml:"every"`
}

func TestDecodeConfig(t *testing.T) {
	tests := []struct {
		name string
		text string
		into any
		want string // error; "" for success
	}{
		{"empty", "", &conf{}, ""},
		{"values", "target = \"EUR\"\nevery = \"2s\"\n[rates]\nUSD = 0.92\n", &conf{}, ""},
		{"unknown keys", "target = \"EUR\"\ntargett = 1\n[rates]\nUSD = 1.0\n[extra]\nx = 1\n", &conf{}, "config: unknown key(s) extra, extra.x, targett"},
		{"type mismatch", "target = 3\n", &conf{}, "config: target: incompatible types: TOML value has type int64; destination has type string"},
		{"bad duration", "every = \"soon\"\n", &conf{}, "config:"},
		{"not a pointer", "target = \"EUR\"\n", conf{}, "plugin New returned plugin.conf, not a non-nil pointer, so its configuration cannot be decoded"},
		{"nil", "", nil, "plugin New returned nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := decodeConfig(tt.text, tt.into)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error = %v, want prefix %q", err, tt.want)
			}
		})
	}
	c := &conf{}
	if err := decodeConfig("target = \"EUR\"\nevery = \"2s\"\n[rates]\nUSD = 0.92\n", c); err != nil ||
		c.Target != "EUR" || c.Rates["USD"] != 0.92 || time.Duration(c.Every) != 2*time.Second {
		t.Fatalf("decoded %+v, %v", c, err)
	}
}

// The agent parses a plugin's stderr lines as hclog JSON: @level,
// @message and @timestamp in its layout, attributes beside them.
func TestJSONHandlerWritesHCLogLines(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(newJSONHandler(&buf, slog.LevelDebug-4))
	log.Debug("d")
	log.Info("i", "n", 3)
	log.Warn("w", slog.Group("g", "k", "v"))
	log.Error("e")
	log.Log(context.Background(), slog.LevelDebug-4, "t")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []struct{ level, msg string }{{"debug", "d"}, {"info", "i"}, {"warn", "w"}, {"error", "e"}, {"trace", "t"}}
	if len(lines) != len(want) {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if m["@level"] != want[i].level || m["@message"] != want[i].msg {
			t.Errorf("line %d = %s", i, l)
		}
		if _, err := time.Parse(hclogTime, m["@timestamp"].(string)); err != nil {
			t.Errorf("line %d: timestamp not in the agent's layout: %v", i, err)
		}
		if _, ok := m["time"]; ok {
			t.Errorf("line %d keeps slog's own keys: %s", i, l)
		}
	}
	if !strings.Contains(lines[1], `"n":3`) || !strings.Contains(lines[2], `"g":{"k":"v"}`) {
		t.Errorf("attributes lost:\n%s", buf.String())
	}
	buf.Reset()
	slog.New(newJSONHandler(&buf, slog.LevelWarn)).Info("hidden")
	if buf.Len() != 0 {
		t.Errorf("the agent's level is not honoured: %s", buf.String())
	}
}
