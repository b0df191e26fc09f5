#!/usr/bin/env bash
# `agent workload` writes sales into the transactions table of an Oracle database while the
# agent captures every change with the cqn strategy and prints the windows of
# examples/oracle/pipeline.toml. Ctrl-C stops both cleanly.
#   ORACLE_DSN=oracle://rowflux:rowflux@localhost:1521/FREEPDB1 examples/oracle/run.sh
# examples/oracle/README.md says how to start Oracle Database Free in a container first.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${ORACLE_DSN:?set ORACLE_DSN=oracle://USER:PASSWORD@HOST:PORT/SERVICE (examples/oracle/README.md)}"
export ORACLE_DSN
BIN=${BIN:-bin/agent}
[ -x "$BIN" ] || make build
DIR=state/oracle
mkdir -p "$DIR"

# Create the table (ROWDEPENDENCIES) if it is missing, then install the changelog, the
# handler and the CQN registration before the first write.
"$BIN" workload --dsn "$ORACLE_DSN" --schema-only
"$BIN" setup --config examples/oracle/pipeline.toml >/dev/null

"$BIN" workload --dsn "$ORACLE_DSN" --rate 20 --ledger "$DIR/ledger.jsonl" 2>"$DIR/workload.log" &
workload=$!
# Ctrl-C already reaches the workload; a second signal would cut its final ledger flush
# short, so send one only if it is still running, then wait.
stop_workload() { kill -0 "$workload" 2>/dev/null && kill -INT "$workload" 2>/dev/null; wait "$workload" 2>/dev/null || true; }
trap stop_workload EXIT

echo "workload: writing ~20 changes/s into the transactions table (progress: tail -f $DIR/workload.log)" >&2
"$BIN" --config examples/oracle/pipeline.toml
