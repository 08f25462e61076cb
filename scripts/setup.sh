#!/usr/bin/env bash
# Installs whatever is missing for building, serving and testing. Idempotent:
# a second run only checks versions and returns in seconds.
set -euo pipefail
source "$(dirname "$0")/env.sh"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
  # --locked fails for this version here (a locked dependency is not in the index).
  cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION"
fi

# patch(1): scripts/check-vendor.sh re-creates vendor/tachys with it.
if [ ! -x /usr/bin/chromium ] || ! command -v curl >/dev/null || ! command -v patch >/dev/null; then
  log "installing Debian's chromium, curl and patch"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium curl patch >/dev/null
fi

# Debian's binaryen (wasm-opt 108) silently breaks hydration; we do not use
# wasm-opt at all, so make sure a stray one is not picked up by any tool.
if dpkg -s binaryen >/dev/null 2>&1; then
  log "removing Debian's binaryen (its wasm-opt breaks hydration)"
  apt-get remove -y -qq binaryen >/dev/null
fi

# The BigQuery emulator for the BigQuery warehouse's tests. Pinned: unpinned,
# pip picks duckdb 2.x and start-up fails downloading the spatial extension;
# numpy is an undeclared dependency (see ../shared/BUILD-NOTES.md).
# Only the tests and benchmarks need it (`make run` does not).
if [ "${ROLLCALL_SETUP_BQ:-0}" = 1 ] && [ ! -x "$ROLLCALL_BQ_VENV/bin/bqemulator" ]; then
  log "installing the BigQuery emulator (bqemulator 1.4.0) into $ROLLCALL_BQ_VENV"
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  fi
  python3 -m venv "$ROLLCALL_BQ_VENV"
  "$ROLLCALL_BQ_VENV/bin/pip" install -q bqemulator==1.4.0 duckdb==1.5.5 numpy \
    duckdb-extensions==1.5.5 duckdb-extension-spatial==1.5.5
fi
# The in-place example's team scripts (pipelines/nba-in-place) talk to the
# emulator through Google's own client, from the same venv.
if [ "${ROLLCALL_SETUP_BQ:-0}" = 1 ] && ! "$ROLLCALL_BQ_VENV/bin/python" -c 'import google.cloud.bigquery' 2>/dev/null; then
  log "installing google-cloud-bigquery 3.47.0 into $ROLLCALL_BQ_VENV"
  "$ROLLCALL_BQ_VENV/bin/pip" install -q google-cloud-bigquery==3.47.0
fi
# The emulator loads DuckDB's spatial extension from $HOME/.duckdb: put the
# bundled copy there (idempotent, no network).
if [ "${ROLLCALL_SETUP_BQ:-0}" = 1 ]; then
  "$ROLLCALL_BQ_VENV/bin/python" -c "from duckdb_extensions import import_extension; import_extension('spatial')"
fi

if [ ! -d "$REPO_ROOT/end2end/node_modules/@playwright/test" ]; then
  log "installing the browser-test packages (npm ci)"
  (cd "$REPO_ROOT/end2end" && npm ci --no-audit --no-fund --loglevel=error)
fi
