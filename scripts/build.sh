#!/usr/bin/env bash
# The plain build route (what cargo-leptos does internally):
#   1. the hydrate bundle: `frontend` for wasm32 with wasm-bindgen --target web
#   2. the stylesheet copied next to it
#   3. the `rollcall` server binary
# Usage: scripts/build.sh [--release-wasm]
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"

wasm_profile=dev
if [ "${1:-}" = "--release-wasm" ]; then wasm_profile=wasm-release; fi

log "building the hydrate bundle (wasm32, profile $wasm_profile)"
# The artifact path comes from cargo's own report: the uplifted
# `debug/frontend.wasm` is shared by every checkout using this target
# directory and can be another checkout's build when this one is fresh (its
# server functions would then have other URLs).
wasm_file="$(CARGO_TARGET_DIR="$ROLLCALL_WASM_TARGET_DIR" \
  cargo build --locked -p frontend --lib --target wasm32-unknown-unknown --profile "$wasm_profile" \
    --message-format=json-render-diagnostics |
  python3 -c '
import json, sys
path = ""
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "frontend":
        path = next((f for f in m["filenames"] if f.endswith(".wasm")), path)
print(path)
')"
[ -n "$wasm_file" ] || { echo "cargo reported no frontend .wasm" >&2; exit 1; }

pkg="$ROLLCALL_SITE_ROOT/pkg"
mkdir -p "$pkg"
log "wasm-bindgen -> $pkg"
# Dropping the name/producers sections gives the size wasm-opt would, without
# wasm-opt (see ARCHITECTURE.md, build route).
wasm-bindgen --target web --out-dir "$pkg" --out-name rollcall --no-typescript \
  --remove-name-section --remove-producers-section \
  "$wasm_file"
cp style/main.css "$pkg/rollcall.css"

log "building the rollcall binary (and the test targets)"
# Always the same package and target selection as `cargo test` and clippy:
# cargo unifies dependency features per invocation, and a different selection
# gives DuckDB's build script different host features, i.e. a 40-minute C++
# rebuild. `cargo test --no-run` builds target/debug/rollcall too.
cargo test --locked --no-run
