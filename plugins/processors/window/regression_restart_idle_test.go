package window_test

import (
	"testing"

	"github.com/rowflux/rowflux/plugins/common/processortest"
)

// TestRestartDowntimeIsNotIdleness: the checkpoint holds the
// processing time of the last arrival; after a restart, the downtime counts
// as idleness, so the first Process (or Tick) moves the watermark by the
// whole downtime and drops every replayed event (events after the last
// checkpoint, which the delivery guarantee says are replayed, never lost).
func TestRestartDowntimeIsNotIdleness(t *testing.T) {
	processortest.RunString(t, "window", `
config
  measurement = "m"
  time = "time"
  size = "10s"
  allowed_lateness = "2s"
  [fields]
    n = "count()"

send at 1s
  e x=1 1s
# checkpoint taken here; the agent is down for a minute
restart
# the input replays what came after the checkpoint (committed at 5s and 8s)
send at 60s
  e x=1 5s
  e x=1 8s
expect none
expect counter late_events 0
finish
expect
  m n=3i 10s
`)
}
