package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// writePipeline writes the agent config of one strategy phase into dir
// and returns its path. The file can hold a DSN with a password: 0600.
//
// Why these settings: the stdout output flushes every 10ms (its 1s default
// would dominate capture latency); checkpoints every second let trigger
// and notify trim their changelog as they would in production; auto_setup
// is off because the bench runs `agent setup` itself, before the first
// write, so that every strategy starts with its objects in place.
func writePipeline(dir, kind string, db phaseDB, strategy string, poll time.Duration) (string, error) {
	var src string
	switch kind {
	case "sqlite":
		src = "path = " + tomlString(db.path)
	default: // postgres, oracle: [[inputs.oracle]] accepts the strategy names and aliases the bench config does
		src = "dsn = " + tomlString(db.dsn)
	}
	ts := ""
	if strategy == "polling" {
		ts = "\n    timestamp_column = \"updated_at\""
	}
	conf := fmt.Sprintf(`[agent]
  checkpoint_interval = "1s"
  state_dir = %s
[[inputs.%s]]
  %s
  strategy = %q
  auto_setup = false
  poll_interval = %q
  [[inputs.%s.tables]]
    name = "transactions"
    key = ["transaction_id"]%s
[[outputs.stdout]]
  format = "json"
  flush_interval = "10ms"
`, tomlString(filepath.Join(dir, "state")), kind, src, strategy, poll.String(), kind, ts)
	path := filepath.Join(dir, "pipeline-"+strategy+".toml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return "", fmt.Errorf("write pipeline config: %w", err)
	}
	return path, nil
}

// tomlString quotes s as a TOML basic string (Go's %q escapes such as \x00
// are not TOML).
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
