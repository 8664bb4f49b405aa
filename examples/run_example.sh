#!/usr/bin/env bash
# Try sleepcoder on its example project: copy examples/inventory into a scratch git
# repository, run the sleep-time pass (embedded local model by default; extra arguments go to
# `sleepcoder sleep`, e.g. --no-llm or --model ...), then print the map.
#   examples/run_example.sh [--no-llm | --model MODEL]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
sleepcoder="${SLEEPCODER:-$here/../.venv/bin/sleepcoder}"
target="${SLEEPCODER_EXAMPLE_DIR:-${TMPDIR:-/tmp}/sleepcoder-example}"
rm -rf "$target"
cp -r "$here/inventory" "$target"
git -C "$target" init -q
git -C "$target" add -A
git -C "$target" -c user.name=example -c user.email=example@localhost \
    -c commit.gpgsign=false commit -qm "Example inventory project"
echo "example repository: $target"
"$sleepcoder" sleep "$target" "$@"
"$sleepcoder" map show "$target" --budget 1500
