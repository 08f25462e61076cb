#!/usr/bin/env bash
# The hydrate bundle's size as served (brotli), without installing it: for
# comparing variants side by side against the 300 000-byte budget
# (end2end/tests/bundle.spec.mjs). The same steps as scripts/build.sh.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
wasm_file="$(CARGO_TARGET_DIR="$ROLLCALL_WASM_TARGET_DIR" \
  cargo build --locked -p frontend --lib --target wasm32-unknown-unknown --profile wasm-release \
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
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
wasm-bindgen --target web --out-dir "$out" --out-name rollcall --no-typescript \
  --remove-name-section --remove-producers-section "$wasm_file"
node scripts/precompress.mjs "$out" >/dev/null
ls -l "$out" | awk '/(js|wasm)\.br$/ { total += $5; print $5, $9 } END { print total, "bytes with brotli (budget 300000)" }'
