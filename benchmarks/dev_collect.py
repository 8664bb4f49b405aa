"""Collect the localizer's features on a SWE-Features set, for benchmarks/dev_localize.py.

    python benchmarks/dev_collect.py --dataset DEV.jsonl --repos-dir MIRRORS --out FEATURES_DIR
                                     [--pseudo-tasks 30] [--cache DIR] [--repo OWNER/NAME ...]
                                     [--no-history] [--sleep [--model M]]

For each task it maps the repository at the task's base commit (history up to it only) and
stores, per repository in FEATURES_DIR/OWNER+NAME.pkl (resumable: a finished repository is
skipped; with --no-history, only the first item, computed with the history withheld):
  * every mapped file's features (`tools.localize_features.request_features`, all of them:
    also the ones no model uses, so that variants can be fitted without collecting again);
  * the calibration's pseudo-tasks as the sleep pass would replay them at that base commit
    (`tools.pseudo_tasks`): the repository's own recent features before the task;
  * the previous task replayed as a pseudo-task at this (later) map: its features under the
    replay's approximation (today's code, history cut before it), to measure what the
    approximation leaks against the exact features stored for it.
With --sleep, the map at each base commit is made by the sleep pass with the model
(`agent.sleep.run.run_sleep`, incremental from one base commit to the next, its answers cached
in the map's folder) instead of the static map: the sleep-derived signals (the anticipated
requests' `notes`, the summaries in the `text` index) then carry what the model wrote, and each
row records the pass's tokens. Collect into another FEATURES_DIR than the static run's, and
compare the two with dev_localize.py (the paired comparison of issue 12, part 4).
Nothing here is committed: the output is derived from the mirrors.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def collect_repo(repo: str, items: list, repos_dir: Path, cache: Path, limit: int,
                 use_history: bool = True, sleep: bool = False,
                 model: str | None = None) -> list[dict]:
    from sleepcoder.swe_features.repos import Snapshot, locate
    from sleepcoder.tools.config import Config, MapConfig
    from sleepcoder.tools.localize_features import build_index, request_features
    from sleepcoder.tools.pseudo_tasks import contents_before, created_at, replay, select_tasks
    from sleepcoder.tools.repomap import build_map
    from sleepcoder.tools.store import MapStore

    source = locate(repo, repos_dir, {}, cache)
    snapshot = Snapshot(source, cache / "worktrees" / repo.replace("/", "+"))
    # slept maps apart from the static ones: a later static collection must not read them
    maps = cache / ("maps-slept" if sleep else "maps")
    config = Config(map=MapConfig(store_dir=str(maps / repo.replace("/", "+"))))
    rows: list[dict] = []
    previous = None
    for instance in sorted(items, key=lambda i: i.created_at):
        started = time.perf_counter()
        snapshot.checkout(instance.base_commit)
        slept: dict = {}
        if sleep:
            from sleepcoder.agent.sleep.run import run_sleep

            report = run_sleep(snapshot.path, config, model=model)
            usage = report["llm"]
            slept = {"tokens": usage["prompt_tokens"] + usage["completion_tokens"],
                     "calls": usage["calls"], "cached": usage["cached"],
                     "summarized": report["summarized"], "fallback": report["fallback"],
                     "anticipated": report["anticipated"], "seconds": report["seconds"]}
        else:
            build_map(snapshot.path, config)
        store, _ = MapStore.open(config.map.store_path(snapshot.path), create=False)
        try:
            index = build_index(store, snapshot.path, use_history)
            assert index is not None
            features, kinds, habits, _seeds = request_features(index, instance.text)
            names = tuple(sorted(next(iter(features.values()))))
            paths = sorted(features)
            pseudo, approx = [], None
            if index.history is not None:
                born = created_at(store, index.history)
                tasks = select_tasks(store, index.history, index.files, snapshot.path, limit)
                before = contents_before(snapshot.path, tasks)
                pseudo = [_packed(r, names)
                          for r in replay(index, tasks, names, 5, born, before)]
            if previous is not None and index.history is not None:
                task = _as_pseudo_task(store, index, previous, snapshot.path)
                if task is not None:
                    done = replay(index, [task], names, 5, born,
                                  contents_before(snapshot.path, [task]))
                    approx = _packed(done[0], names) if done else None
            rows.append({
                "id": instance.instance_id, "repo": repo, "created_at": instance.created_at,
                "gold": instance.gold_modified, "habits": habits, "names": names,
                "paths": paths, "kinds": [kinds[p] for p in paths],
                "x": np.array([[features[p][n] for n in names] for p in paths], np.float32),
                "pseudo": pseudo, "approx_previous": approx, "sleep": slept,
                "history_commits": len(index.history.commits) + len(index.history.merges)
                if index.history else 0})
        finally:
            store.close()
        previous = instance
        print(f"  {instance.instance_id}: {len(paths)} files, {len(pseudo)} pseudo-tasks, "
              f"{time.perf_counter() - started:.1f} s"
              + (f", sleep pass {slept['tokens']:,} tokens" if sleep else ""),
              file=sys.stderr, flush=True)
    return rows


def _packed(item, names: tuple[str, ...]) -> dict:
    return {"sha": item.task.sha, "title": item.task.title, "seq": item.task.seq,
            "paths": item.paths, "x": item.x.astype(np.float16), "gold": item.gold.astype(bool),
            "names": names}


def _as_pseudo_task(store, index, instance, root: Path):
    """The earlier task `instance` as a pseudo-task of this later map (None if its commit
    is not in this map's first-parent history)."""
    from sleepcoder.tools.pseudo_tasks import PseudoTask, _pull_request_commits

    sha = instance.extra.get("merge_commit", "")
    row = store.conn.execute("SELECT seq, skipped FROM commits WHERE sha=?", (sha,)).fetchone()
    if row is None:
        return None
    seq, skipped = row
    hidden: frozenset[int] = frozenset()
    if skipped == "merge":
        own = _pull_request_commits(root, sha)
        if own is None:
            return None
        seqs = dict(store.conn.execute(
            f"SELECT sha, seq FROM commits WHERE sha IN ({','.join('?' * len(own))})", own))
        hidden = frozenset(seqs.values())
    gold = tuple(p for p in instance.gold_modified if p in index.files)
    added = frozenset(f.filename for f in instance.changed_files if f.status == "added")
    return PseudoTask(seq, sha, instance.title, instance.text, gold, added, hidden,
                      tuple((p, p) for p in gold)) if gold else None


def main() -> None:
    from sleepcoder.swe_features.dataset import load_dataset

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--repos-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder for the features")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/dev_localize_cache"))
    parser.add_argument("--pseudo-tasks", type=int, default=30)
    parser.add_argument("--repo", action="append", default=[], help="only these (repeat)")
    parser.add_argument("--no-history", action="store_true",
                        help="features with every history signal withheld (young repositories)")
    parser.add_argument("--sleep", action="store_true",
                        help="map with the sleep pass and the model at each base commit")
    parser.add_argument("--model", default=None, help="the sleep pass's model (with --sleep)")
    args = parser.parse_args()
    if args.sleep and args.no_history:
        parser.error("--sleep and --no-history measure different things: collect them apart")
    by_repo: dict[str, list] = defaultdict(list)
    for instance in load_dataset(args.dataset):
        by_repo[instance.repo].append(instance)
    args.out.mkdir(parents=True, exist_ok=True)
    for repo, items in sorted(by_repo.items()):
        target = args.out / f"{repo.replace('/', '+')}.pkl"
        if (args.repo and repo not in args.repo) or target.exists():
            continue
        print(f"{repo}: {len(items)} tasks", file=sys.stderr, flush=True)
        rows = collect_repo(repo, items, args.repos_dir, args.cache, args.pseudo_tasks,
                            not args.no_history, args.sleep, args.model)
        partial = target.with_suffix(".part")
        partial.write_bytes(pickle.dumps(rows))
        partial.rename(target)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
