"""Entry points of task time: start a solve run, resume one, and write its run record."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sleepcoder.agent.llm import LLM, resolve_model
from sleepcoder.agent.solve.context import SolveContext, SolveOptions
from sleepcoder.agent.solve.graph import run_graph, run_localize_only
from sleepcoder.agent.solve.runs import RunBusy, hold_run, new_run_id, read_record, write_record
from sleepcoder.agent.solve.trajectory import Trajectory, relative_path
from sleepcoder.agent.tokens import weakest
from sleepcoder.tasks.task import Task, TaskError, from_issue_file, from_text
from sleepcoder.tools import gitutil
from sleepcoder.tools.config import Config, load_config
from sleepcoder.tools.diffs import parse_patch
from sleepcoder.tools.repomap import build_map
from sleepcoder.tools.sandbox import SandboxUnavailable, choose_isolation
from sleepcoder.tools.scan import resolve_root
from sleepcoder.tools.secrets import scrub_tree
from sleepcoder.tools.store import MapStore
from sleepcoder.tools.touched import touched_in_worktree
from sleepcoder.tools.workspace import Workspace
from sleepcoder.tools.worktree import GitError, git


class SolveError(ValueError):
    """The run cannot start (bad input); the message says why."""


@dataclass
class SolveResult:
    thread: str
    status: str
    patch: str
    record: dict
    interrupt: dict | None = None  # set when the plan waits for the user's review
    record_path: str = ""


class _Quiet:
    def start(self, phase: str, total: int) -> None: ...
    def advance(self, count: int = 1) -> None: ...
    def notice(self, message: str) -> None: ...


def start_solve(path: Path, request: str | None, options: SolveOptions, *,
                issue_file: Path | None = None, config: Config | None = None,
                progress: Any = None, base: str | None = None) -> SolveResult:
    """Solve `request` in the repository at `path`, from `base` (default: HEAD)."""
    progress = progress or _Quiet()
    root, repo = resolve_root(Path(path))
    if repo is None:
        raise SolveError(f"{root} is not a git repository: solve works on commits (run "
                         "`git init && git add -A && git commit` first)")
    config = config or load_config(root)
    if base is None:
        base = gitutil.head_commit(repo)
        if base is None:
            raise SolveError("the repository has no commits yet: commit your files first")
    else:
        try:
            base = repo.resolve_commit(base)
        except gitutil.GitCommandError:
            raise SolveError(f"unknown base commit {base!r}") from None
    if options.no_llm and not options.localize_only:
        raise SolveError("--no-llm works only with --localize-only: editing needs a model")
    if options.test_cmd and not options.localize_only:
        try:  # before any token is spent
            choose_isolation(options.test_sandbox)
        except (SandboxUnavailable, ValueError) as exc:
            raise SolveError(str(exc)) from None
    try:
        task = from_issue_file(issue_file, root, base) if issue_file else \
            from_text(request or "", root, base)
    except TaskError as exc:
        raise SolveError(str(exc)) from None
    if task.truncated:
        progress.notice("the request is very long: only its first 20,000 characters are used")
    llm = _model(options, config)  # the pre-flight: before anything is written
    store_dir = gitutil.make_store_dir(config.map.store_path(root), root, repo)
    if llm is not None:
        llm.open_cache(store_dir / "llm_cache.db")
    store = None
    if not options.no_map:
        if not (store_dir / "map.db").exists():
            progress.notice("no map yet: building the static map first (see `sleepcoder map`)")
        build_map(root, config, progress=progress)
        store, _ = MapStore.open(store_dir, create=False)
    thread = new_run_id(store_dir, f"solve-{int(time.time())}-{task.id[5:]}")
    if not options.localize_only:  # a localize-only run has nothing to resume
        progress.notice(f"run {thread} (if it stops, continue it with --resume {thread})")
    try:
        with hold_run(store_dir, thread):
            # no checkout yet: the worktree is made by the first edit (tools/workspace.py)
            workspace = Workspace(root, base, store_dir / "worktrees" / thread,
                                  full=options.no_map)
            ctx = SolveContext(task, options, config, llm, workspace, store, progress)
            ctx.trajectory = Trajectory.open(store_dir, thread, llm.ledger if llm else None)
            initial = {"task": task.to_dict(), "options": options.to_dict(), "base": base,
                       "worktree": str(workspace.path), "status": "running", "usage": {},
                       "events": [], "started": time.time()}
            return _run(ctx, store_dir, thread, initial, None)
    except RunBusy as exc:  # the same request started by two processes within a second
        raise SolveError(str(exc)) from None


def resume_solve(path: Path, thread: str, answer: dict | None = None, *,
                 config: Config | None = None, progress: Any = None) -> SolveResult:
    """Continue an interrupted run (Ctrl-C, a killed process) or answer a plan review."""
    progress = progress or _Quiet()
    root, repo = resolve_root(Path(path))
    config = config or load_config(root)
    store_dir = config.map.store_path(root)
    record = read_record(store_dir, thread)
    if record is not None:
        raise SolveError(f"run {thread} has finished (status {record.get('status')}): there "
                         "is nothing to resume; start a new run")
    values = _saved_state(store_dir, thread)
    if values is None:
        raise SolveError(f"no solve run {thread!r} to resume in {store_dir}")
    options = SolveOptions.from_dict(values["options"])
    task = Task.from_dict(values["task"])
    _check_checkout(values, thread)
    llm = _model(options, config)
    gitutil.make_store_dir(store_dir, root, repo)
    if llm is not None:
        llm.open_cache(store_dir / "llm_cache.db")
    try:
        with hold_run(store_dir, thread):
            workspace = Workspace(root, values["base"], Path(values["worktree"]),
                                  full=options.no_map)
            store = None if options.no_map else MapStore.open(store_dir, create=False)[0]
            ctx = SolveContext(task, options, config, llm, workspace, store, progress)
            ctx.trajectory = Trajectory.open(store_dir, thread, llm.ledger if llm else None)
            return _run(ctx, store_dir, thread, None, answer, resume=True)
    except RunBusy as exc:
        raise SolveError(str(exc)) from None


def _check_checkout(values: dict, thread: str) -> None:
    """Refuse to resume a run whose edits are gone: the edits made before the interruption
    live only in the run's checkout, and a new one would silently start from the base."""
    edited = [r["path"] for r in values.get("results", [])
              if r.get("status") in ("done", "partial")]
    checkout = Path(values.get("worktree", ""))
    if edited and not (checkout / ".git").exists():
        raise SolveError(
            f"run {thread} cannot be resumed: its checkout {checkout} was removed, and with it "
            f"the edits already made ({', '.join(edited)}); start the run again (the model's "
            "answers are cached, so repeating them costs little)")


def _model(options: SolveOptions, config: Config) -> LLM | None:
    if options.no_llm:
        return None
    model, _source = resolve_model(options.model or None, config.llm)
    llm = LLM(model, config.llm)
    llm.check_available()
    return llm


def _checkpointer(store_dir: Path):
    from langgraph.checkpoint.sqlite import SqliteSaver

    store_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(store_dir / "checkpoints.db", check_same_thread=False)
    return SqliteSaver(conn), conn


def _saved_state(store_dir: Path, thread: str) -> dict | None:
    if not (store_dir / "checkpoints.db").exists():
        return None
    saver, conn = _checkpointer(store_dir)
    try:
        saved = saver.get_tuple({"configurable": {"thread_id": thread}})
    finally:
        conn.close()
    if saved is None:
        return None
    return saved.checkpoint.get("channel_values", {})


def _run(ctx: SolveContext, store_dir: Path, thread: str, initial: dict | None,
         answer: Any, resume: bool = False) -> SolveResult:
    """Run the graph. Its worktree (if an edit made one) stays only while the run can be
    resumed: at plan review, or after an interruption (Ctrl-C) that left a checkpoint. Any
    final status, an error included, writes the run record and removes the worktree."""
    if ctx.options.localize_only and not resume and answer is None and initial is not None:
        return _run_localize_only(ctx, store_dir, thread, initial)
    saver, conn = _checkpointer(store_dir)
    try:
        if resume and answer is None:
            final = run_graph(ctx, thread, None, checkpointer=saver)
        else:
            final = run_graph(ctx, thread, initial, resume=answer, checkpointer=saver)
    except Exception as exc:
        # An error ends the run (rerunning the request reuses the cached model answers).
        ctx.trajectory.abandon(f"{type(exc).__name__}: {exc}")
        saved = _values(saver, thread) or initial or {}
        conn.close()
        _finish(ctx, store_dir, thread, {**saved, "status": "error",
                                         "error": f"{type(exc).__name__}: {exc}"[:1000]})
        raise
    except BaseException:
        ctx.trajectory.abandon("interrupted")
        resumable = _values(saver, thread) is not None
        conn.close()
        if not resumable:  # interrupted before the first checkpoint: nothing to resume
            _close(ctx)
        else:
            ctx.workspace.tree.close()
        raise
    conn.close()
    interrupts = final.get("__interrupt__")
    if interrupts:
        ctx.workspace.tree.close()
        if ctx.store is not None:
            ctx.store.close()
        return SolveResult(thread, "awaiting_review", "", {}, interrupts[0].value)
    record, path = _finish(ctx, store_dir, thread, final)
    return SolveResult(thread, final.get("status", "failed"), final.get("patch", ""), record,
                       None, str(path))


def _run_localize_only(ctx: SolveContext, store_dir: Path, thread: str,
                       initial: dict) -> SolveResult:
    """Localization alone, with no graph and no checkpoint (agent/solve/graph.py,
    run_localize_only): nothing to resume, so an interruption just ends it."""
    try:
        final = run_localize_only(ctx, initial)
    except Exception as exc:
        ctx.trajectory.abandon(f"{type(exc).__name__}: {exc}")
        _finish(ctx, store_dir, thread, {**initial, "status": "error",
                                         "error": f"{type(exc).__name__}: {exc}"[:1000]})
        raise
    except BaseException:
        ctx.trajectory.abandon("interrupted")
        _close(ctx)
        raise
    record, path = _finish(ctx, store_dir, thread, final)
    return SolveResult(thread, final.get("status", "failed"), final.get("patch", ""), record,
                       None, str(path))


def _values(saver: Any, thread: str) -> dict | None:
    """The last checkpoint's state (None when there is none, or the database cannot say)."""
    try:
        saved = saver.get_tuple({"configurable": {"thread_id": thread}})
    except sqlite3.Error:  # the error being handled may be this database's own
        return None
    return None if saved is None else saved.checkpoint.get("channel_values", {})


def _finish(ctx: SolveContext, store_dir: Path, thread: str, state: dict) -> tuple[dict, Path]:
    """Write the run record, then remove the worktree (whatever happened to the record)."""
    try:
        record = scrub_tree({**run_record(ctx, thread, state),
                             "trajectory": _trajectory_path(store_dir, thread)})
        return record, write_record(store_dir, thread, record)
    finally:
        _close(ctx)


def _trajectory_path(store_dir: Path, thread: str) -> str | None:
    """The trajectory's path relative to the store directory (None: no model request)."""
    return relative_path(thread) if (store_dir / relative_path(thread)).exists() else None


def _close(ctx: SolveContext) -> None:
    try:
        if ctx.store is not None:
            ctx.store.close()
    finally:
        ctx.workspace.close()


def run_record(ctx: SolveContext, thread: str, state: dict) -> dict:
    """The JSON record of a run: files, statuses, tokens per phase, cost, steps, time."""
    patch = parse_patch(state.get("patch", ""))
    usage = state.get("usage", {})
    sleep_tokens = None
    if ctx.store is not None:
        last = ctx.store.get_json("last_sleep")
        if last:
            sleep_tokens = last["llm"]["prompt_tokens"] + last["llm"]["completion_tokens"]
    started = state.get("started") or time.time()
    return {
        "id": thread,
        "task": state.get("task", {}),
        "model": ctx.llm.model if ctx.llm else None,
        "condition": "no-map" if ctx.options.no_map else "map",
        "options": ctx.options.to_dict(),
        "status": state.get("status"),
        "error": state.get("error"),
        "started": state.get("started"),
        "files": {
            "localized": state.get("files", []),
            "planned": list(dict.fromkeys(s["path"] for s in state.get("plan", {}).get("steps",
                                                                                       []))),
            "modified": patch.modified_files,
            "added": [f.path for f in patch.files if f.status == "added"],
            "touched": _touched(ctx, patch),
        },
        "repository_files": _repository_files(ctx),
        "review": state.get("review"),
        "localization": state.get("localization", {}),
        "exploration": state.get("exploration"),
        "plan": state.get("plan"),
        "edits": state.get("results", []),
        "test": ({**{k: v for k, v in state.get("test", {}).items() if k != "output"},
                  "output_tail": state["test"].get("output", "")[-1500:]}
                 if state.get("test") else None),
        "usage": {
            "test": {"steps": usage.get("steps", 0),
                     "prompt_tokens": usage.get("prompt_tokens", 0),
                     "completion_tokens": usage.get("completion_tokens", 0),
                     "tokens": usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0),
                     "cached_calls": usage.get("cached", 0),
                     "failed_calls": usage.get("failed", 0),
                     "cost": round(usage.get("cost", 0.0), 6)
                     if usage.get("cost_known", True) else None,
                     "by_node": usage.get("by_node", {}),
                     # how the tokens were counted (agent/tokens.py): the least exact way used
                     "token_count": weakest(usage.get("token_count_calls", {})),
                     "token_count_calls": usage.get("token_count_calls", {}),
                     "budget_check": weakest(usage.get("budget_checks", [])),
                     # what the edits cost against what the fit priced them at (fit.py)
                     "edit_pricing": usage.get("edit_pricing", {})},
            "sleep": {"tokens_of_last_pass": sleep_tokens},
        },
        "seconds": round(time.time() - started, 2),
        "events": state.get("events", []),
    }


def _touched(ctx: SolveContext, patch: Any) -> dict[str, list[str]]:
    """Per file of the final patch, the definitions its hunks touched (tools/touched.py)."""
    worktree = ctx.workspace.worktree
    if not patch.files or worktree is None or not worktree.path.exists():
        return {}
    try:
        return touched_in_worktree(worktree.path, worktree.base,
                                   [f.path for f in patch.files if f.status != "removed"])
    except OSError:  # the record is written whatever happened to the worktree
        return {}


def _repository_files(ctx: SolveContext) -> int | None:
    """Files in the map (tracked files without one): how large the repository is."""
    if ctx.store is not None:
        return len(ctx.store.mapped_files())
    try:
        listed = git(ctx.workspace.repo, "ls-tree", "-r", "-z", "--name-only", "--full-tree",
                     ctx.workspace.base).stdout
    except (GitError, OSError):  # the size only shapes a hint: not worth losing the record
        return None
    return len([p for p in listed.split("\0") if p])
