#!/usr/bin/env bash
# `make install [PREFIX=~/.local]`: builds, then puts `rollcall` in
# $PREFIX/bin and the site it serves in $PREFIX/share/rollcall/site, where
# the binary looks for it (no --site-root needed, from any directory).
set -euo pipefail
source "$(dirname "$0")/env.sh"
prefix="${PREFIX:-$HOME/.local}"
"$REPO_ROOT/scripts/setup.sh"
"$REPO_ROOT/scripts/build.sh"
log "installing into $prefix"
install -D -m 0755 "$CARGO_TARGET_DIR/debug/rollcall" "$prefix/bin/rollcall"
site="$prefix/share/rollcall/site"
rm -rf "$site"
mkdir -p "$site"
cp -R "$ROLLCALL_SITE_ROOT/." "$site/"
log "installed: $prefix/bin/rollcall (add $prefix/bin to PATH)"
