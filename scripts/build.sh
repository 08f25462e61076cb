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

staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
wasm_bundle "$wasm_profile" "$staging"
log "content hashes, precompression -> $ROLLCALL_SITE_ROOT/pkg"
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
