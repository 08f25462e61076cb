#!/usr/bin/env bash
# The plain build route (what cargo-leptos does internally):
#   1. the hydrate bundle: `frontend` for wasm32 (profile wasm-release: size
#      first, fat LTO) with wasm-bindgen --target web
#   2. the stylesheet beside it; all three named `rollcall.<hash>` after their
#      content, with `.br` and `.gz` twins, and the name recorded in
#      `$ROLLCALL_SITE_ROOT/output-name` for the server
#   3. the `rollcall` server binary
# Usage: scripts/build.sh [--dev-wasm]   (--dev-wasm: the debug bundle, faster to build)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"

wasm_profile=wasm-release
if [ "${1:-}" = "--dev-wasm" ]; then wasm_profile=dev; fi

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

staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
log "wasm-bindgen, content hashes, precompression -> $ROLLCALL_SITE_ROOT/pkg"
# No wasm-opt: dropping the name and producers sections gives the smallest
# *compressed* bundle; `wasm-opt -Oz` (npm binaryen 132) shrinks the raw file
# but grows it by ~8 % under brotli and gzip, and Debian's wasm-opt 108
# breaks hydration (see ARCHITECTURE.md, build route).
wasm-bindgen --target web --out-dir "$staging" --out-name rollcall --no-typescript \
  --remove-name-section --remove-producers-section \
  "$wasm_file"
cp style/main.css "$staging/rollcall.css"
hash="$(cat "$staging/rollcall.js" "$staging/rollcall_bg.wasm" "$staging/rollcall.css" |
  sha256sum | cut -c1-16)"
name="rollcall.$hash"
pkg="$ROLLCALL_SITE_ROOT/pkg"
# Only the current bundle stays: stale names and stale .br/.gz go.
rm -rf "$pkg"
mkdir -p "$pkg"
mv "$staging/rollcall.js" "$pkg/$name.js"
mv "$staging/rollcall_bg.wasm" "$pkg/${name}_bg.wasm"
mv "$staging/rollcall.css" "$pkg/$name.css"
node "$REPO_ROOT/scripts/precompress.mjs" "$pkg"
echo "$name" > "$ROLLCALL_SITE_ROOT/output-name"

log "building the rollcall binary (and the test targets)"
# Always the same package and target selection as `cargo test` and clippy:
# cargo unifies dependency features per invocation, and a different selection
# gives DuckDB's build script different host features, i.e. a 40-minute C++
# rebuild. `cargo test --no-run` builds target/debug/rollcall too.
cargo test --locked --no-run
