#!/usr/bin/env bash
# Try sleepcoder on its example project: copy examples/inventory into a scratch git
# repository, run the sleep-time pass, then solve one of the feature requests in
# examples/requests.json (default: rename), printing the plan, the diff and the token use.
#   examples/run_example.sh [REQUEST_ID] [extra `sleepcoder solve` options, e.g. --no-map]
# The model is the embedded local one unless SLEEPCODER_MODEL names another.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
sleepcoder="${SLEEPCODER:-$here/../.venv/bin/sleepcoder}"
target="${SLEEPCODER_EXAMPLE_DIR:-${TMPDIR:-/tmp}/sleepcoder-example}"
request_id="${1:-rename}"
shift || true
request=$(python3 -c 'import json, sys
items = {r["id"]: r["request"] for r in json.load(open(sys.argv[1]))}
print(items[sys.argv[2]])' "$here/requests.json" "$request_id")
rm -rf "$target"
cp -r "$here/inventory" "$target"
git -C "$target" init -q
git -C "$target" add -A
git -C "$target" -c user.name=example -c user.email=example@localhost \
    -c commit.gpgsign=false commit -qm "Example inventory project"
echo "example repository: $target"
"$sleepcoder" sleep "$target"
echo
echo "request ($request_id): $request"
"$sleepcoder" solve "$request" --repo "$target" "$@"
