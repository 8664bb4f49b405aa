#!/usr/bin/env bash
# Try sleepcoder on its example project: copy examples/inventory into a scratch git
# repository, run the sleep-time pass, then solve one of the feature requests in
# examples/requests.json (default: low-stock) with the example's own tests as the test command,
# printing the plan, the diff, whether the tests pass with it, and the token use.
#   examples/run_example.sh [REQUEST_ID] [extra `sleepcoder solve` options, e.g. --no-map]
# The model is the embedded local one unless SLEEPCODER_MODEL names another. The copy goes to
# SLEEPCODER_EXAMPLE_DIR (default $TMPDIR/sleepcoder-example) and replaces an earlier copy there,
# but never a folder this script did not make.
# A run the model could not finish (solve's exit codes 6 and 9: no valid patch, or a partial
# one) is reported as such and still counts as a completed demonstration (exit 0); any other
# failure (installation, bad input, no usable model) is passed on as solve's exit code.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
sleepcoder="${SLEEPCODER:-$here/../.venv/bin/sleepcoder}"
target="${SLEEPCODER_EXAMPLE_DIR:-${TMPDIR:-/tmp}/sleepcoder-example}"
request_id="${1:-low-stock}"
shift || true
request=$(python3 -c 'import json, sys
items = {r["id"]: r["request"] for r in json.load(open(sys.argv[1]))}
if sys.argv[2] not in items:
    names = ", ".join(items)
    sys.exit(f"run_example.sh: unknown request {sys.argv[2]!r}; choose from {names}")
print(items[sys.argv[2]])' "$here/requests.json" "$request_id") || exit 2
# the copy is replaced on every run: only a folder this script made (it holds the marker) is
# ever removed, never whatever else SLEEPCODER_EXAMPLE_DIR happens to name
marker=".sleepcoder-example"
if [ -e "$target" ] || [ -L "$target" ]; then
  if [ -L "$target" ] || [ ! -f "$target/$marker" ]; then
    echo "run_example.sh: $target exists and is not a copy this script made (no $marker in" \
         "it); remove it yourself or set SLEEPCODER_EXAMPLE_DIR to another folder" >&2
    exit 2
  fi
  rm -rf "$target"
fi
cp -r "$here/inventory" "$target"
touch "$target/$marker"
git -C "$target" init -q
echo "$marker" >> "$target/.git/info/exclude"
git -C "$target" add -A
git -C "$target" -c user.name=example -c user.email=example@localhost \
    -c commit.gpgsign=false commit -qm "Example inventory project"
echo "example repository: $target"
"$sleepcoder" sleep "$target"
echo
echo "request ($request_id): $request"
status=0
# the example's own tests judge the patch: run (sandboxed) after the edits, and their failures
# go back to the model for at most two fix rounds
python="${SLEEPCODER_PYTHON:-$(dirname "$sleepcoder")/python}"
"$sleepcoder" solve "$request" --repo "$target" \
    --test-cmd "$python -m pytest -q -p no:cacheprovider" "$@" || status=$?
case "$status" in
  0) echo "example: done, and the example's tests pass with the patch" ;;
  6) echo "example: the model produced no valid patch (solve exit code 6); the reasons are above" ;;
  9) echo "example: the model finished only part of the plan, or the example's tests fail" \
          "with its patch (solve exit code 9: see Status and Tests above); the patch above" \
          "holds what was validated" ;;
  *) exit "$status" ;;
esac
