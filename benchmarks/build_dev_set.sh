#!/usr/bin/env bash
# Build the larger localization development set from bare mirrors, with sleepcoder's own
# builder: merged feature PRs modifying at least 3 existing code files, at most 25 per
# repository evenly spaced over its history. The output is derived from public repositories:
# write it outside any work tree, never commit it.
#
#   benchmarks/build_dev_set.sh MIRRORS OUT_DIR     # OUT_DIR/dev_set.jsonl
#
# MIRRORS holds OWNER+NAME/repo for each repository of benchmarks/dev_repos.txt.
# Code files: .py and .js as in the original set, plus .jsx/.mjs/.cjs/.ts/.tsx so that
# TypeScript repositories count (docs/benchmarks.md reports the .py/.js-comparable figure too).
set -euo pipefail
mirrors=${1:?usage: build_dev_set.sh MIRRORS OUT_DIR}
out=${2:?usage: build_dev_set.sh MIRRORS OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
: > "$out/dev_set.jsonl"
grep -v '^\s*#' "$here/dev_repos.txt" | while read -r repo _language _kind _year; do
  [ -n "$repo" ] || continue
  name=${repo/\//+}
  sleepcoder swe-features build --repo "$mirrors/$name/repo" --name "$repo" --no-patches \
    --feature-titles --spread 25 \
    --code-suffix .py --code-suffix .js --code-suffix .jsx --code-suffix .mjs \
    --code-suffix .cjs --code-suffix .ts --code-suffix .tsx \
    --out "$out/$name.jsonl"
  cat "$out/$name.jsonl" >> "$out/dev_set.jsonl"
done
wc -l "$out/dev_set.jsonl"
