#!/usr/bin/env bash
# The hydrate bundle's size as served (brotli), without installing it: for
# comparing variants side by side against the 300 000-byte budget
# (end2end/tests/bundle.spec.mjs). The same bundle as scripts/build.sh.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
wasm_bundle wasm-release "$out"
node scripts/precompress.mjs "$out" >/dev/null
ls -l "$out" | awk '/(js|wasm)\.br$/ { total += $5; print $5, $9 } END { print total, "bytes with brotli (budget 300000)" }'
