#!/usr/bin/env bash
# `make test`: every check CI runs. Formatting, clippy for the server (ssr) and
# the browser (hydrate, wasm32) feature sets, all Rust tests, then the browser
# tests against a real server on 127.0.0.1 (JavaScript off and hydrated).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
"$REPO_ROOT/scripts/setup.sh"

log "cargo fmt --check"
cargo fmt --all --check

log "clippy: server feature set (ssr)"
cargo clippy --locked --all-targets -- -D warnings
log "clippy: browser feature set (hydrate, wasm32)"
CARGO_TARGET_DIR="$ROLLCALL_WASM_TARGET_DIR" \
  cargo clippy --locked -p frontend --target wasm32-unknown-unknown -- -D warnings

log "Rust tests"
cargo test --locked

"$REPO_ROOT/scripts/build.sh"

log "browser tests"
workdir="$(mktemp -d)"
port="${ROLLCALL_E2E_PORT:-3100}"
server_log="$workdir/server.log"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$workdir"
}
trap cleanup EXIT
rollcall="$CARGO_TARGET_DIR/debug/rollcall"
# The demo's default state, plus PDC and its downstream re-run with failure
# tracking over 2021-11-16..18 (real MISSING_UPSTREAM rows for the trace test).
"$rollcall" --db "$workdir/e2e.duckdb" demo >/dev/null
"$rollcall" --db "$workdir/e2e.duckdb" backfill --processor PDC --downstream \
  --start-date 2021-11-16 --end-date 2021-11-18 >/dev/null
"$rollcall" --db "$workdir/e2e.duckdb" serve \
  --addr "127.0.0.1:$port" --site-root "$ROLLCALL_SITE_ROOT" >"$server_log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
  if curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then cat "$server_log"; echo "server exited" >&2; exit 1; fi
  sleep 0.2
done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$server_log"; echo "server did not become healthy" >&2; exit 1; }
(cd end2end && ROLLCALL_E2E_URL="http://127.0.0.1:$port" npx --no-install playwright test)
