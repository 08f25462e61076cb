#!/usr/bin/env bash
# `make bench`: every benchmark, side by side, into docs/benchmarks.md.
# Not part of `make test`: timings are numbers to read, never assertions.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
ROLLCALL_SETUP_BQ=1 "$REPO_ROOT/scripts/setup.sh"
"$REPO_ROOT/scripts/build.sh"
rollcall="$CARGO_TARGET_DIR/debug/rollcall"
"$rollcall" bench backfill --output docs/benchmarks.md
"$rollcall" bench reconcile --output docs/benchmarks.md
"$rollcall" bench watch --output docs/benchmarks.md
"$rollcall" bench snapshot --output docs/benchmarks.md
"$rollcall" bench load --viewers 200 --seconds 30 --output docs/benchmarks.md
"$rollcall" bench load --pages --viewers 200 --seconds 30 --output docs/benchmarks.md
bq_pid_file="$(mktemp)"
trap 'kill "$(cat "$bq_pid_file")" 2>/dev/null || true' EXIT
bq_url="$("$REPO_ROOT/scripts/bq-emulator.sh" "$bq_pid_file" 9070)"
"$rollcall" --warehouse bigquery --project local-proj --dataset-prefix bench_ --bq-auth none \
  --bigquery-url "$bq_url" bench bigquery --output docs/benchmarks.md
kill "$(cat "$bq_pid_file")" 2>/dev/null || true
workdir="$(mktemp -d)"
server_pids=()
cleanup() {
  for pid in "${server_pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$workdir"
}
trap cleanup EXIT
"$rollcall" --db "$workdir/bench.duckdb" demo >/dev/null
"$rollcall" --db "$workdir/bench.duckdb" serve --addr 127.0.0.1:3200 --site-root "$ROLLCALL_SITE_ROOT" >"$workdir/server.log" 2>&1 &
server_pids+=($!)
until curl -sf http://127.0.0.1:3200/healthz >/dev/null; do sleep 0.2; done
(cd end2end && node measure.mjs http://127.0.0.1:3200 "$ROLLCALL_SITE_ROOT/pkg" ../docs/benchmarks.md)

# The heatmap at scale: the demo next to a generated 40-processor pipeline
# over five seasons (about 73 000 cells in a five-year range).
wide=(--pipeline "$workdir/wide.toml" --db "$workdir/wide.duckdb")
"$REPO_ROOT/scripts/wide-pipeline.sh" 40 >"$workdir/wide.toml"
"$rollcall" "${wide[@]}" bench scale-data
"$rollcall" "${wide[@]}" serve --addr 127.0.0.1:3201 --site-root "$ROLLCALL_SITE_ROOT" >"$workdir/wide.log" 2>&1 &
server_pids+=($!)
until curl -sf http://127.0.0.1:3201/healthz >/dev/null; do sleep 0.2; done
(cd end2end && node measure-heatmap.mjs ../docs/benchmarks.md \
  "4 processors (demo)=http://127.0.0.1:3200" "40 processors, 5 seasons=http://127.0.0.1:3201")
