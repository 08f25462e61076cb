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
