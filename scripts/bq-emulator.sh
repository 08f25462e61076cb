#!/usr/bin/env bash
# Starts the BigQuery emulator (PyPI `bqemulator`, installed by setup.sh into
# $ROLLCALL_BQ_VENV) on 127.0.0.1 in the background and waits until it answers.
# Prints the API base URL for ROLLCALL_BQ_URL; the emulator's pid goes to the
# file named by $1 (the caller stops it). In-memory: nothing outlives it.
set -euo pipefail
source "$(dirname "$0")/env.sh"
pid_file="${1:?usage: bq-emulator.sh PID_FILE [REST_PORT]}"
rest_port="${2:-9050}"
grpc_port=$((rest_port + 10))
log_file="$(mktemp)"
# Through a launcher that runs the emulator's DuckDB on one thread (why: there).
"$ROLLCALL_BQ_VENV/bin/python" "$(dirname "$0")/bq-emulator.py" start --rest-host 127.0.0.1 --rest-port "$rest_port" \
  --grpc-host 127.0.0.1 --grpc-port "$grpc_port" --project local-proj --log-level warning \
  >"$log_file" 2>&1 &
echo $! >"$pid_file"
for _ in $(seq 1 150); do
  if curl -sf "http://127.0.0.1:$rest_port/healthz" >/dev/null; then
    echo "http://127.0.0.1:$rest_port/bigquery/v2"
    exit 0
  fi
  if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then break; fi
  sleep 0.2
done
cat "$log_file" >&2
echo "the BigQuery emulator did not start" >&2
exit 1
