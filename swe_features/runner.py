"""The evaluation runner: every (task, condition, budget) cell of a dataset, resumable, per
repository in sequence (one snapshot worktree walks the base commits, so each repository's map
and sleep pass are refreshed incrementally), repositories in parallel (local processes, or a
Dask cluster).

Conditions:
  map                  solve with the sleep-time map
  no-map               solve without it: the model explores with read-only tools (baseline)
  map-localize         the map's localizer with the model's narrow decisions; no edits
  map-localize-no-llm  the map's localizer alone: no model at all
  bm25                 BM25 of the request over .py/.js files, top 5: the floor
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from sleepcoder.swe_features.dataset import Instance, is_code, parse_record
from sleepcoder.swe_features.repos import Snapshot, locate
from sleepcoder.swe_features.scorer import Prediction, modified_in_patch, score_task
from sleepcoder.tools.errors import clip
from sleepcoder.tools.secrets import scrub

CONDITIONS = ("map", "no-map", "map-localize", "map-localize-no-llm", "bm25")
BUDGETED = ("map", "no-map")
NEEDS_MODEL = ("map", "no-map", "map-localize")
NEEDS_SLEEP = ("map", "map-localize")
NEEDS_MAP = ("map", "map-localize", "map-localize-no-llm")
BM25_TOP = 5


@dataclass(frozen=True)
class RunSettings:
    conditions: tuple[str, ...]
    budgets: tuple[int, ...] = (0,)
    model: str | None = None
    repos_dir: str | None = None
    repo_paths: dict[str, str] = field(default_factory=dict)
    cache_dir: str = ""
    out: str = ""
    max_steps: int = 0
    sleep: bool = True  # False: map conditions use the static map only (no sleep pass)
    edit_format: str = "auto"  # symbols, blocks, whole (see docs/solve.md)

    def cells(self) -> list[tuple[str, int]]:
        out = []
        for condition in self.conditions:
            for budget in (self.budgets if condition in BUDGETED else (0,)):
                out.append((condition, budget))
        return out


def cell_key(instance_id: str, condition: str, budget: int) -> str:
    return f"{instance_id}|{condition}|{budget}"


def load_done(out: Path) -> dict[str, dict]:
    """Finished cells from results.jsonl and from partial files of interrupted jobs."""
    done: dict[str, dict] = {}
    files = [out / "results.jsonl", *sorted((out / "partial").glob("*.jsonl"))]
    for path in files:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                done[cell_key(row["instance_id"], row["condition"], row["budget"])] = row
    return done


# --- one repository ------------------------------------------------------------------------

def run_repository(repo: str, records: list[dict], settings: RunSettings, done: set[str],
                   on_cell: Callable[[dict], None] | None = None) -> list[dict]:
    """All pending cells of one repository's instances, oldest base commit first. Runs in a
    worker process (or a Dask worker): takes and returns plain data."""
    instances = [parse_record(f"{repo} task {i}", r) for i, r in enumerate(records)]
    out = Path(settings.out)
    partial = out / "partial" / f"{repo.replace('/', '+')}.jsonl"
    partial.parent.mkdir(parents=True, exist_ok=True)
    cache = Path(settings.cache_dir)
    results: list[dict] = []

    def emit(row: dict) -> None:
        results.append(row)
        with partial.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        if on_cell:
            on_cell(row)

    log = RunLog(out, repo)
    try:
        source = locate(repo, Path(settings.repos_dir) if settings.repos_dir else None,
                        {k: Path(v) for k, v in settings.repo_paths.items()}, cache)
    except Exception as exc:  # the whole repository is unusable: every cell says why
        reason = log.failure("locating the repository", exc)
        for instance in instances:
            for condition, budget in settings.cells():
                if cell_key(instance.instance_id, condition, budget) not in done:
                    emit(_failed(instance, condition, budget, reason))
        return results
    snapshot = Snapshot(source, cache / "worktrees" / repo.replace("/", "+"))
    config = _config(cache / "maps" / repo.replace("/", "+"))
    for instance in sorted(instances, key=lambda i: (i.created_at, i.instance_id)):
        todo = [(c, b) for c, b in settings.cells()
                if cell_key(instance.instance_id, c, b) not in done]
        if not todo:
            continue
        try:
            left_out = snapshot.checkout(instance.base_commit)
        except Exception as exc:
            reason = log.failure(f"{instance.instance_id}: checking out {instance.base_commit}",
                                 exc)
            for condition, budget in todo:
                emit(_failed(instance, condition, budget, f"preparing the snapshot: {reason}"))
            continue
        if left_out:
            log.write(f"{instance.instance_id}: {instance.base_commit} checked out without "
                      f"{len(left_out)} files whose content the repository lacks",
                      "\n".join(left_out))
        try:
            sleep_tokens = _prepare(snapshot.path, config, settings, {c for c, _ in todo})
        except Exception as exc:  # the cells that need no map (bm25, no-map) still run
            reason = log.failure(f"{instance.instance_id}: preparing the map", exc)
            for condition, budget in [cell for cell in todo if cell[0] in NEEDS_MAP]:
                emit(_failed(instance, condition, budget, f"preparing the map: {reason}"))
            todo = [cell for cell in todo if cell[0] not in NEEDS_MAP]
            sleep_tokens = 0
        for condition, budget in todo:
            row = run_cell(instance, condition, budget, snapshot.path, config, settings,
                           sleep_tokens if condition in NEEDS_SLEEP else 0, log)
            row["unavailable_files"] = len(left_out)
            emit(row)
    return results


class RunLog:
    """The full text of every failure of one repository's cells, in OUT/logs/: the results
    rows keep a few hundred characters and point here."""

    def __init__(self, out: Path, repo: str) -> None:
        self.relative = f"logs/{repo.replace('/', '+')}.log"
        self.path = out / self.relative

    def write(self, title: str, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8", errors="replace") as handle:
            handle.write(scrub(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} {title}\n{text}\n"))

    def failure(self, title: str, exc: BaseException) -> str:
        """Log `exc` with its traceback; its text for a row, clipped, with the log's name."""
        self.write(title, "".join(traceback.format_exception(exc)))
        return scrub(f"{clip(f'{type(exc).__name__}: {exc}')} (full text: {self.relative})")


def _config(store_dir: Path):
    from sleepcoder.tools.config import Config, MapConfig

    return Config(map=MapConfig(store_dir=str(store_dir)))


def _prepare(root: Path, config, settings: RunSettings, conditions: set[str]) -> int:
    """Refresh the map (and run the sleep pass) for this base commit; sleep tokens spent."""
    if conditions & set(NEEDS_SLEEP) and settings.sleep:
        from sleepcoder.agent.sleep.run import run_sleep

        report = run_sleep(root, config, model=settings.model)
        return report["llm"]["prompt_tokens"] + report["llm"]["completion_tokens"]
    if conditions & set(NEEDS_MAP):
        from sleepcoder.tools.repomap import build_map

        build_map(root, config, calibrate=True)  # as `sleepcoder map` does
    return 0


def run_cell(instance: Instance, condition: str, budget: int, root: Path, config,
             settings: RunSettings, sleep_tokens: int, log: RunLog) -> dict:
    started = time.perf_counter()
    try:
        files, patch, status, usage, run = _predict(instance, condition, budget, root, config,
                                                    settings)
    except Exception as exc:
        reason = log.failure(f"{instance.instance_id}: {condition} (budget {budget})", exc)
        row = _failed(instance, condition, budget, reason)
        row["seconds"] = round(time.perf_counter() - started, 2)
        return row
    scores = score_task(instance, Prediction(instance.instance_id, files, patch))
    return {"instance_id": instance.instance_id, "repo": instance.repo, "condition": condition,
            "budget": budget, "status": status, "modified_files": files, "model_patch": patch,
            "test_tokens": usage.get("tokens", 0), "steps": usage.get("steps", 0),
            "cost": usage.get("cost") if condition in NEEDS_MODEL else 0.0,
            "sleep_tokens": sleep_tokens,
            "seconds": round(time.perf_counter() - started, 2), "error": "",
            "f1": scores.f1, "precision": scores.precision, "recall": scores.recall,
            "code_f1": scores.code_f1, "line_f1": scores.line_f1, **_run_facts(instance, run)}


def _run_facts(instance: Instance, record: dict) -> dict:
    """What a solve run adds to its row: the files its own localization chose and their F1,
    the files it planned, and how many of those got a validated edit (the landing rate)."""
    if not record:
        return {}
    from sleepcoder.swe_features.scorer import prf

    localized = sorted(record.get("localization", {}).get("files", []))
    # once each: a file whose left-out changes were edited later has a second step
    planned = list(dict.fromkeys(s["path"] for s in (record.get("plan") or {}).get("steps", [])))
    landed = [e["path"] for e in record.get("edits", []) if e["status"] in ("done", "partial")
              and e["path"] in planned]
    return {"localized_files": localized,
            "localization_f1": prf(set(localized), set(instance.gold_modified))[2],
            "planned_files": planned, "landed_files": landed,
            "landing_rate": len(landed) / len(planned) if planned else None,
            "left_out": list((record.get("plan") or {}).get("left_out", [])),
            "edit_methods": sorted({e.get("method", "") for e in record.get("edits", [])}),
            "run_id": record.get("id", "")}


def _predict(instance: Instance, condition: str, budget: int, root: Path, config,
             settings: RunSettings) -> tuple[list[str], str, str, dict, dict]:
    if condition == "bm25":
        return bm25_files(root, instance.text), "", "localized", {}, {}
    if condition == "map-localize-no-llm":
        from sleepcoder.tools.localize import localize
        from sleepcoder.tools.store import MapStore

        store, _ = MapStore.open(config.map.store_path(root), create=False)
        try:
            files = localize(store, root, instance.text).chosen
        finally:
            store.close()
        return sorted(files), "", "localized", {}, {}
    from sleepcoder.agent.solve.context import SolveOptions
    from sleepcoder.agent.solve.run import start_solve

    options = SolveOptions(model=settings.model or "", no_map=condition == "no-map",
                           localize_only=condition == "map-localize", budget=budget,
                           max_steps=settings.max_steps, edit_format=settings.edit_format)
    result = start_solve(root, instance.text, options, config=config)
    usage = result.record["usage"]["test"]
    if condition == "map-localize":
        files = result.record["localization"].get("files", [])
        return sorted(f for f in files if (root / f).exists()), "", result.status, usage, {}
    files = modified_in_patch(result.patch) if result.patch else []
    return files, result.patch, result.status, usage, result.record


def bm25_files(root: Path, text: str, top: int = BM25_TOP) -> list[str]:
    """The floor: BM25 over tracked .py/.js files (path and content), the top `top`."""
    from collections import Counter as Count

    from sleepcoder.tools.search import BM25, tokenize
    from sleepcoder.tools.worktree import git

    documents = {}
    for path in git(root, "ls-files").stdout.splitlines():
        if not is_code(path):
            continue
        try:
            data = (root / path).read_bytes()
        except OSError:
            continue
        words = tokenize(path.replace("/", " ").replace(".", " "))
        if len(data) <= 1_000_000 and b"\0" not in data[:8192]:
            words += tokenize(data.decode("utf-8", "replace"))
        documents[path] = Count(words)
    return [path for path, _score in BM25(documents).rank(tokenize(text))[:top]]


def _failed(instance: Instance, condition: str, budget: int, reason: str) -> dict:
    """A cell that could not run; `reason` is already short (RunLog.failure)."""
    return {"instance_id": instance.instance_id, "repo": instance.repo, "condition": condition,
            "budget": budget, "status": "error", "modified_files": [], "model_patch": "",
            "test_tokens": 0, "steps": 0, "cost": None, "sleep_tokens": 0, "seconds": 0.0,
            "error": reason, "f1": 0.0, "precision": 0.0, "recall": 0.0,
            "code_f1": 0.0 if any(is_code(g) for g in instance.gold_modified) else None,
            "line_f1": None}


# --- the whole run --------------------------------------------------------------------------

def run(instances: list[Instance], settings: RunSettings, workers: int = 1,
        scheduler: str | None = None, on_cell: Callable[[dict], None] | None = None,
        on_job: Callable[[str, int], None] | None = None) -> dict:
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    if not settings.cache_dir:
        settings = replace(settings, cache_dir=str(out / "cache"))
    done = load_done(out)
    by_repo: dict[str, list[dict]] = {}
    for instance in instances:
        by_repo.setdefault(instance.repo, []).append(instance.to_json())
    jobs = {repo: records for repo, records in by_repo.items()
            if any(cell_key(r["instance_id"], c, b) not in done
                   for r in records for c, b in settings.cells())}
    keys = set(done)
    if scheduler:
        _run_dask(jobs, settings, keys, scheduler, on_job)
    elif workers > 1 and len(jobs) > 1:
        _run_processes(jobs, settings, keys, workers, on_job)
    else:
        for repo, records in jobs.items():
            rows = run_repository(repo, records, settings, keys, on_cell)
            if on_job:
                on_job(repo, len(rows))
    return finish(instances, settings)


def _run_processes(jobs, settings, keys, workers, on_job) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(run_repository, repo, records, settings, keys): repo
                   for repo, records in jobs.items()}
        for future in as_completed(futures):
            rows = future.result()
            if on_job:
                on_job(futures[future], len(rows))


class SchedulerError(RuntimeError):
    """The Dask scheduler cannot be used (Dask missing, nothing answers at the address)."""


def _run_dask(jobs, settings, keys, scheduler, on_job) -> None:
    try:
        from dask.distributed import Client, as_completed
    except ImportError as exc:
        raise SchedulerError("--scheduler needs Dask: pip install 'sleepcoder[eval]'") from exc
    try:
        client = Client(scheduler) if isinstance(scheduler, str) else scheduler
    except OSError as exc:  # nothing listens there, or it does not answer in time
        raise SchedulerError(f"cannot connect to the Dask scheduler {scheduler}: {exc}; is "
                             "`dask scheduler` running there?") from None
    try:
        futures = {client.submit(run_repository, repo, records, settings, keys, pure=False):
                   repo for repo, records in jobs.items()}
        out = Path(settings.out)
        for future in as_completed(futures):
            rows = future.result()
            # workers without the output folder (another machine) return their rows
            partial = out / "partial" / f"{futures[future].replace('/', '+')}.jsonl"
            if not partial.exists():
                partial.parent.mkdir(parents=True, exist_ok=True)
                partial.write_text("".join(json.dumps(r) + "\n" for r in rows))
            if on_job:
                on_job(futures[future], len(rows))
    finally:
        if isinstance(scheduler, str):
            client.close()


def finish(instances: list[Instance], settings: RunSettings) -> dict:
    """Merge every finished cell into results.jsonl, predictions/ and summary.json."""
    out = Path(settings.out)
    done = load_done(out)
    wanted = {cell_key(i.instance_id, c, b) for i in instances for c, b in settings.cells()}
    rows = [done[k] for k in sorted(done)]
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for path in (out / "partial").glob("*.jsonl"):
        path.unlink()
    predictions = out / "predictions"
    predictions.mkdir(exist_ok=True)
    groups: dict[tuple[str, int], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["condition"], row["budget"]), []).append(row)
    for (condition, budget), members in groups.items():
        name = condition + (f"-{budget}" if condition in BUDGETED else "")
        with (predictions / f"{name}.jsonl").open("w") as handle:
            for row in members:
                handle.write(json.dumps({
                    "instance_id": row["instance_id"],
                    "model_name_or_path": f"sleepcoder/{condition}/{settings.model or 'none'}",
                    "model_patch": row["model_patch"], "modified_files": row["modified_files"],
                    "test_tokens": row["test_tokens"], "status": row["status"]}) + "\n")
    summary = summarize(rows, instances)
    summary["missing_cells"] = len(wanted - set(done))
    summary["model"] = settings.model
    summary.update(repository_health([done[k] for k in sorted(wanted & set(done))]))
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def summarize(rows: list[dict], instances: list[Instance]) -> dict:
    """Means per (condition, budget). A sleep pass's tokens are recorded on the first task at
    its base commit, so their sum over a condition's tasks divided by the tasks is the
    sleep-time cost amortised per task."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["condition"], row["budget"]), []).append(row)
    table = []
    for (condition, budget), members in sorted(groups.items()):
        n = len(members)
        code = [r["code_f1"] for r in members if r["code_f1"] is not None]
        costs = [r["cost"] for r in members if r.get("cost") is not None]
        sleep = sum(r["sleep_tokens"] for r in members)
        table.append({
            "condition": condition, "budget": budget, "tasks": n,
            "f1": sum(r["f1"] for r in members) / n,
            "precision": sum(r["precision"] for r in members) / n,
            "recall": sum(r["recall"] for r in members) / n,
            "code_f1": sum(code) / len(code) if code else None,
            "test_tokens": sum(r["test_tokens"] for r in members) / n,
            "sleep_tokens_per_task": sleep / n,
            "cost": sum(costs) if costs else None,
            "failures": sum(r["status"] in ("error", "failed") for r in members),
            "seconds": sum(r["seconds"] for r in members) / n,
            **_solve_means(members),
        })
    return {"cells": table}


def _solve_means(members: list[dict]) -> dict:
    """For solve conditions: the localization F1 of the same runs, the landing rate over all
    planned files, runs that stopped at the budget, and tokens per file that got an edit."""
    runs = [r for r in members if "planned_files" in r]
    if not runs:
        return {}
    planned = sum(len(r["planned_files"]) for r in runs)
    landed = sum(len(r["landed_files"]) for r in runs)
    return {"localization_f1": sum(r["localization_f1"] for r in runs) / len(runs),
            "landing_rate": landed / planned if planned else None,
            "budget_exhausted": sum(r["status"] == "budget_exhausted" for r in runs),
            # planned changes cut before editing to fit the budget (agent/solve/fit.py)
            "left_out": sum(len(r.get("left_out", [])) for r in runs),
            "tokens_per_landed_file": sum(r["test_tokens"] for r in runs) / landed
            if landed else None}


def repository_health(rows: list[dict]) -> dict:
    """Repositories where every cell failed (with the first reason), and those whose
    snapshots lacked files (the most left out at one base commit)."""
    by_repo: dict[str, list[dict]] = {}
    for row in rows:
        by_repo.setdefault(row["repo"], []).append(row)
    failed = {repo: members[0]["error"] for repo, members in sorted(by_repo.items())
              if all(r["status"] == "error" for r in members)}
    unavailable = {repo: most for repo, members in sorted(by_repo.items())
                   if (most := max(r.get("unavailable_files", 0) for r in members))}
    return {"failed_repositories": failed, "unavailable_files": unavailable}


def dataset_subset(instances: list[Instance], limit: int | None) -> list[Instance]:
    return instances[:limit] if limit else instances


