#!/usr/bin/env bash
# `make run`: install what is missing, build, and serve the dashboard on the
# embedded store at http://127.0.0.1:3000.
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$REPO_ROOT/scripts/setup.sh"
"$REPO_ROOT/scripts/build.sh"
cd "$REPO_ROOT"
log "serving http://127.0.0.1:3000 (Ctrl-C to stop)"
exec "$CARGO_TARGET_DIR/debug/rollcall" serve --site-root "$ROLLCALL_SITE_ROOT" --demo "$@"
