#!/usr/bin/env bash
# The quickstart: `agent workload` writes sales into an embedded SQLite file while the agent
# captures every insert, update and delete with the notify strategy and prints it.
# Ctrl-C stops both cleanly.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-bin/agent}
DIR=state/quickstart
DB="$DIR/shop.db"
mkdir -p "$DIR"

# Create the database, then install the changelog and triggers, before the
# first write: triggers capture only what happens after they exist.
"$BIN" workload --dsn "sqlite://$DB" --schema-only
"$BIN" setup --config examples/quickstart/pipeline.toml >/dev/null

"$BIN" workload --dsn "sqlite://$DB" --rate 20 --ledger "$DIR/ledger.jsonl" 2>"$DIR/workload.log" &
workload=$!
# Ctrl-C already reaches the workload; a second signal would cut its final
# ledger flush short, so send one only if it is still running, then wait.
stop_workload() { kill -0 "$workload" 2>/dev/null && kill -INT "$workload" 2>/dev/null; wait "$workload" 2>/dev/null || true; }
trap stop_workload EXIT

echo "workload: writing ~20 changes/s into $DB (progress: tail -f $DIR/workload.log)" >&2
"$BIN" --config examples/quickstart/pipeline.toml
