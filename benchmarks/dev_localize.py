"""Localization on a SWE-Features set without any model: features, fit, and honest estimate.

    python benchmarks/dev_localize.py --dataset DEV.jsonl --repos-dir MIRRORS
                                      [--features CACHE.pkl] [--fit]

For each task it maps the repository at the task's base commit (history up to it only) and
computes tools.localize's features for every file. It then scores, with the same cut-off
(`tools.localize.choose`):
  * the BM25 floor (top 5 .py/.js files by text);
  * the shipped model (tools.localize.DEFAULT_WEIGHTS);
  * with --fit, a logistic model refitted under leave-one-repository-out cross-validation
    (trained on five repositories, scored on the sixth): the estimate of how a fit on this
    set transfers to repositories it has never seen. The weights fitted on all tasks are
    printed, ready to become the defaults.
F1 is reported on all modified files and on the .py/.js ones (the held-out setting).

With --no-history the features are computed with every history signal withheld (as for a
repository with too little history) and the model evaluated and fitted is the one used then
(tools.localize.NO_HISTORY_WEIGHTS).
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


def collect(dataset: Path, repos_dir: Path, cache: Path, use_history: bool = True
            ) -> list[dict]:
    from sleepcoder.config import Config, MapConfig
    from swe_features.dataset import load_dataset
    from swe_features.repos import Snapshot, locate
    from tools.localize import compute_features
    from tools.repomap import build_map
    from tools.store import MapStore

    rows = []
    instances = load_dataset(dataset)
    by_repo: dict[str, list] = defaultdict(list)
    for instance in instances:
        by_repo[instance.repo].append(instance)
    for repo, items in by_repo.items():
        source = locate(repo, repos_dir, {}, cache)
        snapshot = Snapshot(source, cache / "worktrees" / repo.replace("/", "+"))
        config = Config(map=MapConfig(store_dir=str(cache / "maps" / repo.replace("/", "+"))))
        for instance in sorted(items, key=lambda i: i.created_at):
            snapshot.checkout(instance.base_commit)
            build_map(snapshot.path, config)
            store, _ = MapStore.open(config.map.store_path(snapshot.path), create=False)
            features, kinds, habits, _seeds = compute_features(
                store, snapshot.path, instance.text, use_history=use_history)
            store.close()
            rows.append({"id": instance.instance_id, "repo": repo,
                         "gold": instance.gold_modified, "habits": habits,
                         "files": [(p, kinds[p], features[p]) for p in features]})
            print(f"  {instance.instance_id}: {len(features)} files", file=sys.stderr)
    return rows


def f1(predicted: list[str], gold: list[str]) -> float:
    hit = len(set(predicted) & set(gold))
    if not hit:
        return 0.0
    p, r = hit / len(set(predicted)), hit / len(set(gold))
    return 2 * p * r / (p + r)


def code(paths: list[str]) -> list[str]:
    return [p for p in paths if p.endswith((".py", ".js"))]


def matrix(rows: list[dict], names: tuple[str, ...]):
    xs, ys = [], []
    for row in rows:
        gold = set(row["gold"])
        for path, _kind, values in row["files"]:
            xs.append([values.get(n, 0.0) for n in names])
            ys.append(1.0 if path in gold else 0.0)
    return np.array(xs), np.array(ys)


def fit(rows: list[dict], names: tuple[str, ...], l2: float = 1.0) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method."""
    x, y = matrix(rows, names)
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


def evaluate(rows: list[dict], model) -> dict[str, float]:
    from tools.localize import Candidate, choose

    scores: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        candidates = [Candidate(p, model.probability(v), v, [], k) for p, k, v in row["files"]]
        candidates.sort(key=lambda c: (-c.score, c.path))
        chosen, _ = choose(candidates, model)
        scores["all"].append(f1(chosen, row["gold"]))
        if code(row["gold"]):
            scores["code"].append(f1(code(chosen), code(row["gold"])))
        scores["size"].append(len(chosen))
    return {k: sum(v) / len(v) for k, v in scores.items()}


def bm25_floor(rows: list[dict]) -> float:
    out = []
    for row in rows:
        ranked = sorted((p for p, _k, v in row["files"] if p.endswith((".py", ".js"))
                         and v.get("text_rank", 0) > 0),
                        key=lambda p: -next(v["text_rank"] for q, _k, v in row["files"]
                                            if q == p))
        if code(row["gold"]):
            out.append(f1(ranked[:5], code(row["gold"])))
    return sum(out) / len(out)


def main() -> None:
    from tools.localize import LocalizeModel, default_young_model

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--repos-dir", type=Path, required=True)
    parser.add_argument("--features", type=Path, default=None,
                        help="feature cache (default /tmp/dev_features[_nohistory].pkl)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/dev_localize_cache"))
    parser.add_argument("--fit", action="store_true")
    parser.add_argument("--no-history", action="store_true")
    parser.add_argument("--l2", type=float, default=3.0)
    args = parser.parse_args()
    features = args.features or Path(
        "/tmp/dev_features_nohistory.pkl" if args.no_history else "/tmp/dev_features.pkl")
    if features.exists():
        rows = pickle.loads(features.read_bytes())
    else:
        rows = collect(args.dataset, args.repos_dir, args.cache, not args.no_history)
        features.write_bytes(pickle.dumps(rows))
    shipped_model = default_young_model() if args.no_history else LocalizeModel()
    repos = sorted({r["repo"] for r in rows})
    print(f"{len(rows)} tasks from {len(repos)} repositories")
    print(f"BM25 top-5 (.py/.js):            code F1 {bm25_floor(rows):.3f}")
    shipped = evaluate(rows, shipped_model)
    print(f"shipped model:                   code F1 {shipped['code']:.3f}   all F1 "
          f"{shipped['all']:.3f}   files {shipped['size']:.1f}")
    for repo in repos:
        part = evaluate([r for r in rows if r["repo"] == repo], shipped_model)
        print(f"    {repo:<20} code F1 {part['code']:.3f}   all F1 {part['all']:.3f}")
    if not args.fit:
        return
    totals: dict[str, list[float]] = defaultdict(list)
    for held in repos:
        train = [r for r in rows if r["repo"] != held]
        test = [r for r in rows if r["repo"] == held]
        part = evaluate(test, train_model(train, args.l2, args.no_history))
        print(f"    held out {held:<20} code F1 {part['code']:.3f}   all F1 {part['all']:.3f}"
              f"   files {part['size']:.1f}")
        for key in ("code", "all"):
            totals[key].extend([part[key]] * len(test))
    print(f"leave-one-repository-out:        code F1 {np.mean(totals['code']):.3f}   all F1 "
          f"{np.mean(totals['all']):.3f}")
    model = train_model(rows, args.l2, args.no_history)
    full = evaluate(rows, model)
    print(f"fitted on all tasks (optimistic): code F1 {full['code']:.3f}   all F1 "
          f"{full['all']:.3f}")
    name = "NO_HISTORY_WEIGHTS =" if args.no_history else "DEFAULT_WEIGHTS ="
    print(name, json.dumps({k: round(v, 3) for k, v in model.weights.items()}),
          f"bias {model.bias:.3f}")


def train_model(rows: list[dict], l2: float, no_history: bool = False):
    from tools.localize import FEATURES, HISTORY_FEATURES, LocalizeModel

    names = tuple(n for n in FEATURES if not (no_history and n in HISTORY_FEATURES))
    weights, bias = fit(rows, names, l2)
    return LocalizeModel({n: float(w) for n, w in zip(names, weights, strict=True)}, bias,
                         min_history_commits=0)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
