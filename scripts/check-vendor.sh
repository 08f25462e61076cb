#!/usr/bin/env bash
# Checks that vendor/tachys is exactly tachys 0.2.19 as published on crates.io
# plus vendor/tachys-lazy-gate.patch (vendor/README.md), nothing else.
#
#   scripts/check-vendor.sh [DIR]    # DIR: what to compare, default vendor/tachys
#
# Re-creates the patched crate in a temporary directory from, in this order:
# cargo's unpacked registry copy, cargo's downloaded .crate, a copy kept in
# ~/.cache/rollcall by an earlier run, or a download from static.crates.io
# (kept for next time, so later runs work offline). A .crate file is checked
# against the checksum crates.io's index gives for 0.2.19. Exits 0 when the
# trees are equal; prints the difference and exits 1 otherwise.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CRATE=tachys
VERSION=0.2.19
# "cksum" of tachys 0.2.19 in https://index.crates.io/ta/ch/tachys
SHA256=e47e2220bb9d2a3be976a22a0fb7685a0b84499bb11ea5cb3bbc82907675ac68
PATCH_FILE="$REPO_ROOT/vendor/tachys-lazy-gate.patch"
TARGET="${1:-$REPO_ROOT/vendor/tachys}"
CARGO_DIR="${CARGO_HOME:-$HOME/.cargo}"
KEEP_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/rollcall"

fail() { echo "check-vendor: $*" >&2; exit 1; }

[ -d "$TARGET" ] || fail "no directory $TARGET"
[ -f "$PATCH_FILE" ] || fail "no patch $PATCH_FILE"
command -v patch >/dev/null || fail "needs patch(1) (apt-get install patch)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fresh="$work/$CRATE-$VERSION"

# Unpacks a .crate file into $work after checking its checksum.
unpack() {
  local got
  got="$(sha256sum "$1" | cut -d' ' -f1)"
  [ "$got" = "$SHA256" ] || fail "$1: sha256 $got, crates.io says $SHA256 (delete the file to fetch it again)"
  tar -xzf "$1" -C "$work"
}

first() { for f in "$@"; do [ -e "$f" ] && { echo "$f"; return; }; done; return 0; }
unpacked="$(first "$CARGO_DIR"/registry/src/*/"$CRATE-$VERSION")"
cached="$(first "$CARGO_DIR"/registry/cache/*/"$CRATE-$VERSION.crate" "$KEEP_DIR/$CRATE-$VERSION.crate")"

if [ -n "$unpacked" ]; then
  cp -R "$unpacked" "$fresh"
elif [ -n "$cached" ]; then
  unpack "$cached"
else
  url="https://static.crates.io/crates/$CRATE/$VERSION/download"
  curl -sSfL --max-time 60 "$url" -o "$work/$CRATE.crate" \
    || fail "no registry copy of $CRATE $VERSION and the download from $url failed"
  unpack "$work/$CRATE.crate"
  mkdir -p "$KEEP_DIR" && cp "$work/$CRATE.crate" "$KEEP_DIR/$CRATE-$VERSION.crate"
fi
[ -d "$fresh" ] || fail "the $CRATE $VERSION source did not unpack to $fresh"

# What cargo adds on unpacking or packaging, which vendor/ does not keep.
rm -f "$fresh/.cargo-ok" "$fresh/.cargo_vcs_info.json" "$fresh/Cargo.lock"
patch -p1 -s --fuzz=0 --no-backup-if-mismatch -d "$fresh" < "$PATCH_FILE" \
  || fail "$PATCH_FILE does not apply cleanly to $CRATE $VERSION"

if ! diff -r "$fresh" "$TARGET"; then
  echo "check-vendor: $TARGET is not $CRATE $VERSION + $(basename "$PATCH_FILE") (diff above: fresh copy first)" >&2
  exit 1
fi
echo "check-vendor: $TARGET is $CRATE $VERSION + $(basename "$PATCH_FILE")"
