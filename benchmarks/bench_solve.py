"""Benchmark of task time on the example project (a command, not a test).

    python benchmarks/bench_solve.py [--model M] [--budget N ...] [--request ID ...]
        [--format symbols|blocks ...] [--condition map|no-map ...] [--out RESULTS.jsonl]

For each feature request in examples/requests.json, in each edit format, with the map (after
one sleep pass) and without it (`--no-map`, the baseline), at each budget, with the example's
own tests as the test command (as the README's main job runs it): the files modified,
file-level F1 against the files the reference patch modifies, whether the example's tests pass
with the patch, the landing rate (planned files that got a validated edit), test-time tokens
and wall time. The no-map run at the same format and budget is the anchor: the table prints
each map run's tokens as a ratio of it. With --out, finished runs are kept and a rerun skips
them.
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
    from sleepcoder.agent.sleep.run import run_sleep
    from sleepcoder.agent.solve.context import SolveOptions
    from sleepcoder.agent.solve.run import start_solve

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="local/qwen2.5-coder-1.5b")
    parser.add_argument("--budget", type=int, action="append",
                        help="test-time token budgets (default: 8000 and 20000)")
    parser.add_argument("--request", action="append", help="request ids (default: all)")
    parser.add_argument("--format", action="append", dest="formats",
                        help="edit formats (default: symbols and blocks)")
    parser.add_argument("--out", type=Path, help="results JSONL (resumable)")
    parser.add_argument("--condition", action="append", dest="conditions",
                        choices=["no-map", "map"],
                        help="conditions (default: both; the token ratio needs both)")
    args = parser.parse_args()
    conditions = args.conditions or ["no-map", "map"]
    budgets = args.budget or [8000, 20000]
    formats = args.formats or ["symbols", "blocks"]
    requests = json.loads((EXAMPLES / "requests.json").read_text())
    if args.request:
        requests = [r for r in requests if r["id"] in args.request]
    done = {}
    if args.out and args.out.exists():
        for line in args.out.read_text().splitlines():
            row = json.loads(line)
            done[(row["request"], row["format"], row["condition"], row["budget"])] = row
    tests = f"{sys.executable} -m pytest -q -p no:cacheprovider"
    rows = list(done.values())
    with tempfile.TemporaryDirectory(prefix="sleepcoder-bench-") as tmp:
        repo = scratch(Path(tmp))
        started = time.perf_counter()
        sleep = run_sleep(repo, model=args.model)
        sleep_tokens = sleep["llm"]["prompt_tokens"] + sleep["llm"]["completion_tokens"]
        runs = len(requests) * len(budgets) * len(formats)
        print(f"sleep pass: {sleep_tokens:,} tokens, {time.perf_counter() - started:.0f} s "
              f"(amortised over {runs} map runs: {sleep_tokens / runs:,.0f} tokens each)")
        print(f"{'request':<11} {'format':<8} {'condition':<7} {'budget':>7} {'status':<17} "
              f"{'F1':>5} {'tests':<7} {'landed':>6} {'tokens':>7} {'vs no-map':>9} "
              f"{'time':>6}  files")
        for item in requests:
            gold = reference_files((EXAMPLES / item["reference_patch"]).read_text())
            for edit_format in formats:
                for budget in budgets:
                    tokens_of: dict[str, int] = {}
                    for condition in [c for c in ("no-map", "map") if c in conditions]:
                        key = (item["id"], edit_format, condition, budget)
                        row = done.get(key)
                        if row is None:
                            began = time.perf_counter()
                            result = start_solve(repo, item["request"], SolveOptions(
                                model=args.model, no_map=condition == "no-map", budget=budget,
                                edit_format=edit_format, test_cmd=tests))
                            row = _row(item["id"], edit_format, condition, budget, result,
                                       gold, time.perf_counter() - began)
                            rows.append(row)
                            if args.out:
                                with args.out.open("a") as handle:
                                    handle.write(json.dumps(row) + "\n")
                        tokens_of[condition] = row["tokens"]
                        ratio = f"{row['tokens'] / tokens_of['no-map']:.2f}x" \
                            if condition == "map" and tokens_of.get("no-map") else ""
                        landed = "–" if row["landing_rate"] is None else \
                            f"{row['landing_rate']:.2f}"
                        print(f"{item['id']:<11} {edit_format:<8} {condition:<7} {budget:>7} "
                              f"{row['status']:<17} {row['f1']:5.2f} {row['tests']:<7} "
                              f"{landed:>6} {row['tokens']:7,} {ratio:>9} "
                              f"{row['seconds']:5.0f}s  {', '.join(row['modified']) or '-'}",
                              flush=True)
    _means(rows, formats, budgets)


def _row(request: str, edit_format: str, condition: str, budget: int, result, gold: set[str],
         seconds: float) -> dict:
    record = result.record
    modified = set(record["files"]["modified"])
    p, r, score = f1(modified, gold)
    planned = list(dict.fromkeys(s["path"] for s in (record.get("plan") or {}).get("steps", [])))
    landed = [e["path"] for e in record.get("edits", []) if e["status"] in ("done", "partial")]
    test = record.get("test") or {}
    return {"request": request, "format": edit_format, "condition": condition,
            "budget": budget, "status": result.status, "f1": score, "precision": p,
            "recall": r, "tests": test.get("status", "not run") if result.patch else "no patch",
            "landing_rate": len(landed) / len(planned) if planned else None,
            "left_out": len((record.get("plan") or {}).get("left_out", [])),
            "tokens": record["usage"]["test"]["tokens"], "seconds": seconds,
            "modified": sorted(modified), "run": record["id"]}


def _means(rows: list[dict], formats: list[str], budgets: list[int]) -> None:
    print("\nmeans")
    for edit_format in formats:
        for condition in ("no-map", "map"):
            for budget in budgets:
                chosen = [r for r in rows if (r["format"], r["condition"], r["budget"]) ==
                          (edit_format, condition, budget)]
                if not chosen:
                    continue
                n = len(chosen)
                rates = [r["landing_rate"] for r in chosen if r["landing_rate"] is not None]
                print(f"  {edit_format:<8} {condition:<7} budget {budget:>6}: F1 "
                      f"{sum(r['f1'] for r in chosen) / n:.2f}, tests pass "
                      f"{sum(r['tests'] == 'passed' for r in chosen)}/{n}, landing "
                      f"{sum(rates) / len(rates) if rates else 0:.2f}, tokens "
                      f"{sum(r['tokens'] for r in chosen) / n:,.0f}, time "
                      f"{sum(r['seconds'] for r in chosen) / n:.0f} s")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
