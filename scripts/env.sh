# Shared settings for the scripts. Sourced, not run.
# One persistent target directory outside the clone: DuckDB's C++ build is paid once.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rollcall/target}"
# The wasm bundle builds in its own target directory: it shares no units with
# the host build, and a separate lock lets both build at once.
export ROLLCALL_WASM_TARGET_DIR="${ROLLCALL_WASM_TARGET_DIR:-$HOME/.cache/rollcall/target-wasm}"
export ROLLCALL_SITE_ROOT="${ROLLCALL_SITE_ROOT:-$CARGO_TARGET_DIR/site}"
# The BigQuery emulator's virtualenv (outside the clone, installed once).
export ROLLCALL_BQ_VENV="${ROLLCALL_BQ_VENV:-$HOME/.cache/rollcall/venv-bq}"
export PATH="$HOME/.cargo/bin:$PATH"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
# The wasm-bindgen CLI must equal the crate version pinned in Cargo.lock.
WASM_BINDGEN_VERSION="$(grep -A1 '^name = "wasm-bindgen"$' "$REPO_ROOT/Cargo.lock" | sed -n 's/^version = "\(.*\)"/\1/p')"
export WASM_BINDGEN_VERSION
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# wasm_bundle PROFILE DIR: builds `frontend` for wasm32 and runs wasm-bindgen
# into DIR (rollcall.js, rollcall_bg.wasm): the bundle build.sh installs and
# bundle-size.sh measures.
wasm_bundle() {
  local profile="$1" dir="$2" wasm_file
  log "building the hydrate bundle (wasm32, profile $profile)"
  # The artifact path comes from cargo's own report: the uplifted
  # `debug/frontend.wasm` is shared by every checkout using this target
  # directory and can be another checkout's build when this one is fresh
  # (its server functions would then have other URLs).
  wasm_file="$(CARGO_TARGET_DIR="$ROLLCALL_WASM_TARGET_DIR" \
    cargo build --locked -p frontend --lib --target wasm32-unknown-unknown --profile "$profile" \
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
  [ -n "$wasm_file" ] || { echo "cargo reported no frontend .wasm" >&2; return 1; }
  # No wasm-opt: dropping the name and producers sections gives the smallest
  # *compressed* bundle; `wasm-opt -Oz` (npm binaryen 132) shrinks the raw
  # file but grows it by ~8 % under brotli and gzip, and Debian's wasm-opt
  # 108 breaks hydration (see ARCHITECTURE.md, build route).
  wasm-bindgen --target web --out-dir "$dir" --out-name rollcall --no-typescript \
    --remove-name-section --remove-producers-section "$wasm_file"
}
