"""Benchmark of task time on the example project (a command, not a test).

    python benchmarks/bench_solve.py [--model M] [--budget N ...] [--request ID ...]

For each feature request in examples/requests.json, with the map (after one sleep pass) and
without it (`--no-map`, the baseline), at each budget: the files modified, file-level F1
against the files the reference patch modifies, test-time tokens and wall time. The no-map run
at the same budget is the anchor: the table prints each map run's tokens as a ratio of it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com",
       "-c", "commit.gpgsign=false"]


def f1(predicted: set[str], gold: set[str]) -> tuple[float, float, float]:
    hit = len(predicted & gold)
    precision = hit / len(predicted) if predicted else 0.0
    recall = hit / len(gold) if gold else 0.0
    return precision, recall, (2 * precision * recall / (precision + recall) if hit else 0.0)


def reference_files(patch: str) -> set[str]:
    return {line[6:] for line in patch.splitlines() if line.startswith("+++ b/")}


def scratch(work: Path) -> Path:
    target = work / "inventory"
    shutil.copytree(EXAMPLES / "inventory", target)
    subprocess.run([*GIT, "init", "-q"], cwd=target, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=target, check=True)
    subprocess.run([*GIT, "commit", "-qm", "example"], cwd=target, check=True)
    return target


def main() -> None:
    from agent.sleep.run import run_sleep
    from agent.solve.context import SolveOptions
    from agent.solve.run import start_solve

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="local/qwen2.5-coder-1.5b")
    parser.add_argument("--budget", type=int, action="append",
                        help="test-time token budgets (default: 8000 and 20000)")
    parser.add_argument("--request", action="append", help="request ids (default: all)")
    args = parser.parse_args()
    budgets = args.budget or [8000, 20000]
    requests = json.loads((EXAMPLES / "requests.json").read_text())
    if args.request:
        requests = [r for r in requests if r["id"] in args.request]
    rows = []
    with tempfile.TemporaryDirectory(prefix="sleepcoder-bench-") as tmp:
        repo = scratch(Path(tmp))
        started = time.perf_counter()
        sleep = run_sleep(repo, model=args.model)
        sleep_tokens = sleep["llm"]["prompt_tokens"] + sleep["llm"]["completion_tokens"]
        print(f"sleep pass: {sleep_tokens:,} tokens, {time.perf_counter() - started:.0f} s "
              f"(amortised over {len(requests) * len(budgets)} map runs: "
              f"{sleep_tokens / (len(requests) * len(budgets)):,.0f} tokens each)")
        print(f"{'request':<11} {'condition':<7} {'budget':>7} {'status':<17} {'F1':>5} "
              f"{'P':>5} {'R':>5} {'tokens':>7} {'vs no-map':>9} {'time':>6}  files")
        for item in requests:
            gold = reference_files((EXAMPLES / item["reference_patch"]).read_text())
            for budget in budgets:
                results = {}
                for condition in ("no-map", "map"):
                    began = time.perf_counter()
                    result = start_solve(repo, item["request"], SolveOptions(
                        model=args.model, no_map=condition == "no-map", budget=budget))
                    seconds = time.perf_counter() - began
                    modified = set(result.record["files"]["modified"])
                    p, r, score = f1(modified, gold)
                    tokens = result.record["usage"]["test"]["tokens"]
                    results[condition] = tokens
                    ratio = f"{tokens / results['no-map']:.2f}x" if condition == "map" and \
                        results.get("no-map") else ""
                    rows.append({"request": item["id"], "condition": condition,
                                 "budget": budget, "status": result.status, "f1": score,
                                 "precision": p, "recall": r, "tokens": tokens,
                                 "seconds": seconds})
                    print(f"{item['id']:<11} {condition:<7} {budget:>7} {result.status:<17} "
                          f"{score:5.2f} {p:5.2f} {r:5.2f} {tokens:7,} {ratio:>9} "
                          f"{seconds:5.0f}s  {', '.join(sorted(modified)) or '-'}",
                          flush=True)
    print("\nmeans")
    for condition in ("no-map", "map"):
        for budget in budgets:
            chosen = [r for r in rows if r["condition"] == condition and r["budget"] == budget]
            if chosen:
                n = len(chosen)
                print(f"  {condition:<7} budget {budget:>6}: F1 "
                      f"{sum(r['f1'] for r in chosen) / n:.2f}, tokens "
                      f"{sum(r['tokens'] for r in chosen) / n:,.0f}, time "
                      f"{sum(r['seconds'] for r in chosen) / n:.0f} s")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
