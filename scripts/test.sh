#!/usr/bin/env bash
# `make test`: every check CI runs. The vendored crate (scripts/check-vendor.sh),
# formatting, clippy for the server (ssr) and the browser (hydrate, wasm32)
# feature sets, all Rust tests, then the browser tests against a real server on
# 127.0.0.1 (JavaScript off and hydrated).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
ROLLCALL_SETUP_BQ=1 "$REPO_ROOT/scripts/setup.sh"

log "vendor/tachys is tachys 0.2.19 + its patch"
"$REPO_ROOT/scripts/check-vendor.sh"

log "cargo fmt --check"
cargo fmt --all --check

log "clippy: server feature set (ssr)"
cargo clippy --locked --all-targets -- -D warnings
log "clippy: browser feature set (hydrate, wasm32)"
CARGO_TARGET_DIR="$ROLLCALL_WASM_TARGET_DIR" \
  cargo clippy --locked -p frontend --target wasm32-unknown-unknown -- -D warnings

log "starting the BigQuery emulator"
bq_pid_file="$(mktemp)"
stop_emulator() { kill "$(cat "$bq_pid_file")" 2>/dev/null || true; rm -f "$bq_pid_file"; }
trap stop_emulator EXIT
ROLLCALL_BQ_URL="$("$REPO_ROOT/scripts/bq-emulator.sh" "$bq_pid_file" "${ROLLCALL_BQ_PORT:-9050}")"
export ROLLCALL_BQ_URL

log "Rust tests"
cargo test --locked

"$REPO_ROOT/scripts/build.sh"

log "browser tests"
workdir="$(mktemp -d)"
port="${ROLLCALL_E2E_PORT:-3100}"
bq_port="${ROLLCALL_E2E_BQ_PORT:-3101}"
server_pids=()
cleanup() {
  for pid in "${server_pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$workdir"
  stop_emulator
}
trap cleanup EXIT
rollcall="$CARGO_TARGET_DIR/debug/rollcall"

# serve_and_wait LOG ARGS...: starts `rollcall ARGS... serve` and waits for /healthz.
serve_and_wait() {
  local log_file="$1" addr="$2"; shift 2
  "$rollcall" "$@" serve --addr "$addr" --site-root "$ROLLCALL_SITE_ROOT" >"$log_file" 2>&1 &
  local pid=$!
  server_pids+=("$pid")
  for _ in $(seq 1 300); do
    if curl -sf "http://$addr/healthz" >/dev/null; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then cat "$log_file"; echo "server exited" >&2; exit 1; fi
    sleep 0.2
  done
  cat "$log_file"; echo "server on $addr did not become healthy" >&2; exit 1
}

# The demo's default state, plus PDC and its downstream re-run with failure
# tracking over 2021-11-16..18 (real MISSING_UPSTREAM rows for the trace test).
"$rollcall" --db "$workdir/e2e.duckdb" demo >/dev/null
"$rollcall" --db "$workdir/e2e.duckdb" backfill --processor PDC --downstream \
  --start-date 2021-11-16 --end-date 2021-11-18 >/dev/null
serve_and_wait "$workdir/server.log" "127.0.0.1:$port" --db "$workdir/e2e.duckdb"

# The same product on the BigQuery warehouse (the emulator): a 20-day demo.
bq=(--warehouse bigquery --project local-proj --dataset-prefix e2e_ --bq-auth none
    --bigquery-url "$ROLLCALL_BQ_URL")
"$rollcall" "${bq[@]}" demo --days 20 >/dev/null
serve_and_wait "$workdir/server-bq.log" "127.0.0.1:$bq_port" "${bq[@]}"

# Another pipeline entirely (pipelines/orders: customers per order date, two
# Python scripts as commands) with its demo data: README's two commands.
orders_port="${ROLLCALL_E2E_ORDERS_PORT:-3102}"
orders=(--pipeline "$REPO_ROOT/pipelines/orders/pipeline.toml" --db "$workdir/orders.duckdb")
"$rollcall" "${orders[@]}" demo >/dev/null
# A run of DAILY on 2024-03-20 whose program crashes (the same pipeline with
# a command that fails): the failed-run drill-down's data. It exits 1.
mkdir -p "$workdir/orders-crash"
cp -r "$REPO_ROOT"/pipelines/orders/. "$workdir/orders-crash/"
sed -i 's|^command = \["python3", "daily_totals.py"\]|command = ["sh", "-c", "echo \x27Traceback (most recent call last):\x27 >\&2; echo \x27KeyError: amount\x27 >\&2; exit 3"]|' \
  "$workdir/orders-crash/pipeline.toml"
grep -q 'KeyError: amount' "$workdir/orders-crash/pipeline.toml"
if "$rollcall" --pipeline "$workdir/orders-crash/pipeline.toml" --db "$workdir/orders.duckdb" \
  backfill --processor DAILY --dates 2024-03-20 >/dev/null; then
  echo "the crashing DAILY run should have failed" >&2; exit 1
fi
serve_and_wait "$workdir/server-orders.log" "127.0.0.1:$orders_port" "${orders[@]}"

# A team's warehouse adopted in place (issue [P] 4, pipelines/nba-in-place;
# README's walk-through): the team's tables made by its own Python (Google's
# client, from the emulator's venv), the box scores, the team's first and
# faulty backfill; the server starts the team's program on a re-run.
inplace_port="${ROLLCALL_E2E_INPLACE_PORT:-3104}"
inplace=(--pipeline "$REPO_ROOT/pipelines/nba-in-place/pipeline.toml" --warehouse bigquery
         --project local-proj --dataset-prefix inplace_ --bq-auth none --bigquery-url "$ROLLCALL_BQ_URL")
(
  export PATH="$ROLLCALL_BQ_VENV/bin:$PATH" TEAM_BQ_URL="$ROLLCALL_BQ_URL" TEAM_DATASET_PREFIX=inplace_
  cd "$REPO_ROOT/pipelines/nba-in-place"
  python3 team_tables.py >/dev/null
  "$rollcall" "${inplace[@]}" demo --days 12 >/dev/null
  python3 pdc_backfill.py --start-date 2021-10-19 --end-date 2021-10-30 --faults >/dev/null
)
PATH="$ROLLCALL_BQ_VENV/bin:$PATH" TEAM_BQ_URL="$ROLLCALL_BQ_URL" TEAM_DATASET_PREFIX=inplace_ \
  serve_and_wait "$workdir/server-inplace.log" "127.0.0.1:$inplace_port" "${inplace[@]}"

# Behind an identity-aware proxy (issue [N] 2): the browser tests send the
# proxy's email header from 127.0.0.1, as oauth2-proxy would.
viewer_port="${ROLLCALL_E2E_VIEWER_PORT:-3103}"
"$rollcall" --db "$workdir/viewer.duckdb" demo --days 30 >/dev/null
export ROLLCALL_AUTH=proxy ROLLCALL_TRUSTED_PROXIES=127.0.0.1 ROLLCALL_OPERATORS=@ops.example.com
serve_and_wait "$workdir/server-viewer.log" "127.0.0.1:$viewer_port" --db "$workdir/viewer.duckdb"
unset ROLLCALL_AUTH ROLLCALL_TRUSTED_PROXIES ROLLCALL_OPERATORS

(cd end2end && ROLLCALL_E2E_URL="http://127.0.0.1:$port" \
  ROLLCALL_E2E_BQ_URL="http://127.0.0.1:$bq_port" \
  ROLLCALL_E2E_ORDERS_URL="http://127.0.0.1:$orders_port" \
  ROLLCALL_E2E_VIEWER_URL="http://127.0.0.1:$viewer_port" \
  ROLLCALL_E2E_INPLACE_URL="http://127.0.0.1:$inplace_port" npx --no-install playwright test)
