#!/usr/bin/env bash
# Prints a pipeline of N processors for the heatmap's scale measurement: the
# shipped NBA pipeline (four builtins) plus N-4 observed feeds, each its own
# table, each depending on PDC. Usage: scripts/wide-pipeline.sh N
set -euo pipefail
source "$(dirname "$0")/env.sh"
total="${1:?usage: wide-pipeline.sh N}"
cat "$REPO_ROOT/pipelines/nba.toml"
for i in $(seq 0 $((total - 5))); do
  printf '\n[[processor]]\ncode = "F%d"\nname = "VendorFeed%d"\noutput_table = "vendor.feed_%d"\n' "$i" "$i" "$i"
  printf 'date_column = "feed_date"\nentity_column = "player_lookup"\ndepends_on = ["PDC"]\nruns = "observe"\n'
done
