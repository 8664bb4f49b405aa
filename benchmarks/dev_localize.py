"""Localization on a SWE-Features set without any model: fit, honest estimates, calibration.

    python benchmarks/dev_collect.py --dataset DEV.jsonl --repos-dir MIRRORS --out FEATURES
    python benchmarks/dev_localize.py --features FEATURES [--fit] [--calibrate]
                                      [--variant NAME] [--l2 3] [--json OUT.json]
                                      [--no-history]

Scores, per repository and overall, with the localizer's cut-off (`tools.localize.choose`):
  * the BM25 floor (top 5 code files by text);
  * the shipped model (tools.localize.DEFAULT_WEIGHTS);
  * with --fit, a logistic model refitted under leave-one-repository-out cross-validation
    (trained on the other repositories, scored on the held-out one): the estimate for a
    repository the weights have never seen. The weights fitted on all tasks are printed,
    ready to become the defaults;
  * with --calibrate, the same held-out model plus the per-repository calibration
    (tools/calibrate.py) fitted on each task's own pseudo-tasks (the repository's features
    before the task), and what the pseudo-tasks' approximation leaks (the previous task
    replayed at a later map against its exact features).
F1 is the per-task set F1, macro mean: on all modified files, on code files (.py .js .jsx
.mjs .cjs .ts .tsx) and on .py/.js only (the original development set's setting; tasks with
.py/.js gold only). "files" is the mean number chosen against the mean number modified.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CODE = (".py", ".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx")
PYJS = (".py", ".js")
# feature sets to compare (`--variant`); "shipped" is tools.localize.FEATURES
VARIANTS = {
    "raw-history": ("text", "text_rank", "path", "graph", "cochange", "cochange_top", "notes",
                    "churn", "recency", "habit", "seed_link", "same_dir", "test_pair",
                    "is_test", "test_habit", "is_other", "is_init", "similar_commits",
                    "history_text"),
}


def load(folder: Path) -> list[dict]:
    rows = []
    for path in sorted(folder.glob("*.pkl")):
        rows.extend(pickle.loads(path.read_bytes()))
    return rows


def f1(predicted, gold) -> float:
    hit = len(set(predicted) & set(gold))
    return 2 * hit / (len(set(predicted)) + len(set(gold))) if hit else 0.0


def only(paths, suffixes) -> list[str]:
    return [p for p in paths if p.endswith(suffixes)]


def columns(x: np.ndarray, have: tuple[str, ...], names: tuple[str, ...]) -> np.ndarray:
    index = {n: i for i, n in enumerate(have)}
    out = np.zeros((len(x), len(names)))
    for j, name in enumerate(names):
        if name in index:
            out[:, j] = x[:, index[name]]
    return out


def chosen_files(paths: list[str], x: np.ndarray, model, names) -> list[str]:
    from sleepcoder.tools.localize import Candidate, choose

    weights = np.array([model.weights.get(n, 0.0) for n in names])
    p = 1 / (1 + np.exp(-np.clip(model.bias + x @ weights, -30, 30)))
    candidates = sorted((Candidate(path, float(s)) for path, s in zip(paths, p, strict=True)),
                        key=lambda c: (-c.score, c.path))
    return choose(candidates, model)[0]


def task_scores(row: dict, chosen: list[str]) -> dict[str, float]:
    gold = row["gold"]
    out = {"all": f1(chosen, gold), "files": len(chosen), "gold": len(gold)}
    if only(gold, CODE):
        out["code"] = f1(only(chosen, CODE), only(gold, CODE))
    if only(gold, PYJS):
        out["pyjs"] = f1(only(chosen, PYJS), only(gold, PYJS))
    return out


def mean_scores(items: list[dict]) -> dict[str, float]:
    keys = {k for item in items for k in item}
    return {k: float(np.mean([i[k] for i in items if k in i])) for k in sorted(keys)} | \
        {"n": len(items)}


def bm25_floor(row: dict) -> dict[str, float]:
    rank = row["x"][:, row["names"].index("text_rank")]
    order = [row["paths"][i] for i in np.argsort(-rank, kind="stable") if rank[i] > 0]
    return task_scores(row, only(order, CODE)[:5])


def fit(rows: list[dict], names: tuple[str, ...], l2: float) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method."""
    x = np.vstack([columns(r["x"], r["names"], names) for r in rows])
    y = np.concatenate([[1.0 if p in set(r["gold"]) else 0.0 for p in r["paths"]]
                        for r in rows])
    x1 = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(x1.shape[1])
    penalty = np.full(x1.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(x1 @ w, -30, 30)))
        grad = x1.T @ (p - y) + penalty * w
        hess = (x1 * (p * (1 - p))[:, None]).T @ x1 + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    return w[:-1], float(w[-1])


def train_model(rows: list[dict], names: tuple[str, ...], l2: float):
    from sleepcoder.tools.localize import LocalizeModel

    weights, bias = fit(rows, names, l2)
    return LocalizeModel({n: float(w) for n, w in zip(names, weights, strict=True)}, bias,
                         min_history_commits=0)


def replays_of(pseudo: list[dict], names: tuple[str, ...]) -> list:
    from sleepcoder.tools.pseudo_tasks import PseudoTask, Replay

    return [Replay(PseudoTask(p["seq"], p["sha"], p["title"], p["title"], (), frozenset(),
                              frozenset()), p["paths"],
                   columns(p["x"].astype(np.float64), p["names"], names),
                   p["gold"].astype(np.float64)) for p in pseudo]


def with_reference(model, rows: list[dict], names: tuple[str, ...], settings):
    """`model` with its replay reference fitted on the pseudo-tasks of `rows` (each
    repository's past features once, as replayed at the first map that had them)."""
    from dataclasses import replace

    from sleepcoder.tools.calibrate import fit_reference

    seen, pseudo = set(), []
    for row in rows:
        for item in row["pseudo"]:
            if (row["repo"], item["sha"]) not in seen:
                seen.add((row["repo"], item["sha"]))
                pseudo.append(item)
    reference = fit_reference(replays_of(pseudo, names), model, names, settings)
    return replace(model, replay_reference=reference)


def calibrated(row: dict, model, names: tuple[str, ...], settings):
    """`model` adjusted by the calibration fitted on the task's own pseudo-tasks."""
    from sleepcoder.tools.calibrate import fit_calibration

    calibration = fit_calibration(replays_of(row["pseudo"], names), model, names, settings)
    return (calibration.apply(model) if calibration.active else model), calibration


def predict(row: dict, model, names) -> list[str]:
    return chosen_files(row["paths"], columns(row["x"], row["names"], names), model, names)


def main() -> None:
    from sleepcoder.tools.localize import (
        FEATURES,
        HISTORY_FEATURES,
        LocalizeModel,
        default_young_model,
    )

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=Path, required=True, help="dev_collect.py's folder")
    parser.add_argument("--fit", action="store_true")
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--variant", default="shipped", choices=["shipped", *VARIANTS])
    parser.add_argument("--no-history", action="store_true",
                        help="features collected with --no-history: fit and score the model "
                             "for young repositories (NO_HISTORY_WEIGHTS)")
    parser.add_argument("--l2", type=float, default=3.0)
    parser.add_argument("--prior-tasks", type=float, default=None)
    parser.add_argument("--offset-prior", type=float, default=None)
    parser.add_argument("--offsets", default=None,
                        help="comma-separated features with offsets ('' for none)")
    parser.add_argument("--no-scale", action="store_true")
    parser.add_argument("--guard", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    args = parser.parse_args()
    rows = load(args.features)
    names = FEATURES if args.variant == "shipped" else VARIANTS[args.variant]
    if args.no_history:
        names = tuple(n for n in names if n not in HISTORY_FEATURES)
    settings = calibration_settings(args)
    repos = sorted({r["repo"] for r in rows})
    print(f"{len(rows)} tasks from {len(repos)} repositories; features: {args.variant}")
    results: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    shipped = default_young_model() if args.no_history else LocalizeModel()
    for row in rows:
        results["bm25"][row["repo"]].append(bm25_floor(row))
        results["shipped"][row["repo"]].append(
            task_scores(row, predict(row, shipped, tuple(shipped.weights))))
    leakage: list[tuple[float, float]] = []
    if args.fit:
        for held in repos:
            train = [r for r in rows if r["repo"] != held]
            model = train_model(train, names, args.l2)
            if args.calibrate:
                model = with_reference(model, train, names, settings)
            test = [r for r in rows if r["repo"] == held]  # in time order (dev_collect)
            for i, row in enumerate(test):
                results["loro"][held].append(task_scores(row, predict(row, model, names)))
                if not args.calibrate:
                    continue
                adjusted, _cal = calibrated(row, model, names, settings)
                results["loro+calibration"][held].append(
                    task_scores(row, predict(row, adjusted, names)))
                approx = row.get("approx_previous")
                if approx is not None and i > 0:
                    before = test[i - 1]
                    exact = f1(predict(before, model, names), before["gold"])
                    x = columns(approx["x"].astype(np.float64), approx["names"], names)
                    guess = chosen_files(approx["paths"], x, model, names)
                    gold = [p for p, g in zip(approx["paths"], approx["gold"], strict=True) if g]
                    leakage.append((exact, f1(guess, gold)))
    report(results, repos)
    if leakage:
        exact, approx = np.mean(leakage, axis=0)
        print(f"pseudo-task approximation (previous task replayed at the next map, {len(leakage)}"
              f" tasks): F1 {approx:.3f} against {exact:.3f} with its exact features")
    if args.fit:
        model = train_model(rows, names, args.l2)
        label = "NO_HISTORY_WEIGHTS =" if args.no_history else "DEFAULT_WEIGHTS ="
        print(label, json.dumps({k: round(v, 3) for k, v in model.weights.items()}),
              f"bias {model.bias:.3f}")
        if args.calibrate:
            reference = with_reference(model, rows, names, settings).replay_reference
            print("REPLAY_REFERENCE =", json.dumps({k: round(v, 3)
                                                    for k, v in reference.items()}))
    if args.json:
        args.json.write_text(json.dumps({
            c: {repo: mean_scores(items) for repo, items in by.items()}
            | {"all": mean_scores([i for items in by.values() for i in items])}
            for c, by in results.items()}, indent=2))


def calibration_settings(args):
    from dataclasses import replace

    from sleepcoder.tools.calibrate import DEFAULT_SETTINGS

    settings = DEFAULT_SETTINGS
    if args.prior_tasks is not None:
        settings = replace(settings, prior_tasks=args.prior_tasks)
    if args.offset_prior is not None:
        settings = replace(settings, offset_prior=args.offset_prior)
    if args.offsets is not None:
        settings = replace(settings, offsets=tuple(n for n in args.offsets.split(",") if n))
    return replace(settings, fit_scale=not args.no_scale, guard=args.guard or settings.guard)


def report(results: dict, repos: list[str]) -> None:
    """Markdown: per repository and overall, code F1 (.py/.js F1) of each condition, then the
    mean number of files chosen against the mean number modified."""
    conditions = list(results)
    print("\n| repository | tasks | " + " | ".join(f"{c} F1 code (.py/.js)" for c in conditions)
          + " | " + " | ".join(f"files {c}" for c in conditions if c != "bm25")
          + " | files modified |")
    print("|---" * (3 + 2 * len(conditions)) + "|")
    for repo in [*repos, "all"]:
        cells = []
        for condition in conditions:
            items = results[condition][repo] if repo != "all" else \
                [i for by in results[condition].values() for i in by]
            cells.append(mean_scores(items))
        pyjs = [f" ({m['pyjs']:.3f})" if "pyjs" in m else "" for m in cells]
        files = [f"{m['files']:.1f}" for c, m in zip(conditions, cells, strict=True)
                 if c != "bm25"]
        print(f"| {repo} | {cells[0]['n']} | "
              + " | ".join(f"{m.get('code', 0):.3f}{p}" for m, p in zip(cells, pyjs,
                                                                      strict=True))
              + " | " + " | ".join(files) + f" | {cells[0]['gold']:.1f} |")

if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
