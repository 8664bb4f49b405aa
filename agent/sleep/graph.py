"""The sleep-time pass as a LangGraph graph, checkpointed in SQLite:

    refresh_map -> plan -> summarize_files (loops) -> summarize_dirs -> history_notes
                -> anticipate -> finish
(history_notes also computes the search terms task-time retrieval uses.)

Work already done is never redone: file summaries are keyed by blob, directory summaries by
their members' summaries, anticipated notes by their inputs. Each batch is stored as soon as
it is answered, so an interrupted pass (Ctrl-C, kill) resumes where it stopped.
"""

from __future__ import annotations

import copy
import os
import posixpath
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from sleepcoder.agent.budget import BudgetExhausted, TaskBudget
from sleepcoder.agent.llm import LLM
from sleepcoder.agent.sleep import knowledge
from sleepcoder.agent.sleep.briefs import load_briefs
from sleepcoder.agent.sleep.notes import (
    PathChecker,
    Subsystem,
    anticipate,
    choose_subsystems,
    history_notes,
)
from sleepcoder.agent.sleep.summaries import (
    DirInput,
    FileSummarizer,
    batch_files,
    fallback_outcome,
    summarize_dir,
)
from sleepcoder.agent.tokens import weakest
from sleepcoder.tools.config import Config
from sleepcoder.tools.history import HistoryView
from sleepcoder.tools.repomap import build_map
from sleepcoder.tools.search_docs import sync_documents
from sleepcoder.tools.store import MapStore

_BATCHES_PER_STEP = 4  # a checkpoint every few requests


class SleepState(TypedDict, total=False):
    queue: list[str]
    report: dict[str, Any]


def new_report(model: str, no_llm: bool, budget: int) -> dict[str, Any]:
    return {
        "model": "" if no_llm else model, "mode": "no-llm" if no_llm else "llm",
        "budget": budget, "budget_exhausted": False, "files": 0, "summarized": 0,
        "reused": 0, "fallback": 0, "skipped": 0, "skipped_reasons": [], "files_left": 0,
        "dirs_summarized": 0, "dirs_reused": 0, "dirs_skipped": 0, "history_notes": 0,
        "subsystems": 0, "subsystems_reused": 0, "anticipated": 0, "dropped_paths": [],
        "dropped_requests": 0, "anticipation_failures": [], "map": {},
        "llm": {"calls": 0, "cached": 0, "failed": 0, "prompt_tokens": 0,
                "completion_tokens": 0, "cost": 0.0, "cost_known": True, "seconds": 0.0},
        "seconds": 0.0, "resumed": False,
    }


class SleepProgress:
    """Receives progress from the pass; the CLI draws a bar (tools.repomap.Progress shape)."""

    def start(self, phase: str, total: int) -> None: ...
    def advance(self, count: int = 1) -> None: ...
    def notice(self, message: str) -> None: ...


@dataclass
class SleepContext:
    root: Path
    config: Config
    store: MapStore
    llm: LLM | None
    progress: Any
    budget_limit: int
    report: dict[str, Any] = field(default_factory=dict)
    _ledger_mark: int = 0

    @property
    def repo_name(self) -> str:
        return self.root.name

    def account(self) -> None:
        """Move LLM usage since the last call into the (checkpointed) report."""
        if self.llm is None:
            return
        records = self.llm.ledger.records[self._ledger_mark:]
        self._ledger_mark += len(records)
        totals = self.report["llm"]
        by_node = totals.setdefault("by_node", {})
        for r in records:
            node = by_node.setdefault(r.node, {"calls": 0, "tokens": 0, "seconds": 0.0})
            node["calls"] += 0 if r.cached else 1
            node["tokens"] += r.prompt_tokens + r.completion_tokens
            node["seconds"] = round(node["seconds"] + r.seconds, 3)
            if r.error:
                totals["failed"] += 1
                totals.setdefault("first_error", r.error)  # why, when every request failed
            elif r.cached:
                totals["cached"] += 1
            else:
                totals["calls"] += 1
            totals["prompt_tokens"] += r.prompt_tokens
            totals["completion_tokens"] += r.completion_tokens
            totals["seconds"] += r.seconds
            if r.cost is None:
                totals["cost_known"] = False
            elif not r.cached:
                totals["cost"] += r.cost
            if r.counted:
                counted = totals.setdefault("token_count_calls", {})
                counted[r.counted] = counted.get(r.counted, 0) + 1
        checks = set(totals.get("budget_checks", [])) | self.llm.ledger.check_methods()
        totals["budget_checks"] = sorted(checks)
        totals["token_count"] = weakest(totals.get("token_count_calls", {}))
        totals["budget_check"] = weakest(checks)

    def spent(self) -> int:
        self.account()
        return self.report["llm"]["prompt_tokens"] + self.report["llm"]["completion_tokens"]

    def budget(self) -> TaskBudget:
        return TaskBudget(self.budget_limit, 0, self.spent, lambda: 0)


def build_graph(ctx: SleepContext):
    from langgraph.graph import END, START, StateGraph

    def step(fn):
        def node(state: SleepState) -> SleepState:
            ctx.report = copy.deepcopy(state["report"])
            update = fn(state) or {}
            ctx.account()
            return {**update, "report": ctx.report}
        node.__name__ = fn.__name__
        return node

    graph = StateGraph(SleepState)
    graph.add_node("refresh_map", step(lambda s: _refresh_map(ctx)))
    graph.add_node("plan", step(lambda s: _plan(ctx)))
    graph.add_node("summarize_files", step(lambda s: _summarize_files(ctx, s["queue"])))
    graph.add_node("summarize_dirs", step(lambda s: _summarize_dirs(ctx)))
    graph.add_node("history_notes", step(lambda s: _history_notes(ctx)))
    graph.add_node("anticipate", step(lambda s: _anticipate(ctx)))
    graph.add_node("finish", step(lambda s: _finish(ctx)))
    graph.add_edge(START, "refresh_map")
    graph.add_edge("refresh_map", "plan")
    graph.add_edge("plan", "summarize_files")
    graph.add_conditional_edges(
        "summarize_files",
        lambda s: "summarize_files" if s["queue"] and not s["report"]["budget_exhausted"]
        else "summarize_dirs",
        ["summarize_files", "summarize_dirs"])
    graph.add_edge("summarize_dirs", "history_notes")
    graph.add_edge("history_notes", "anticipate")
    graph.add_edge("anticipate", "finish")
    graph.add_edge("finish", END)
    return graph


# --- nodes -----------------------------------------------------------------------------------

def _refresh_map(ctx: SleepContext) -> None:
    report = build_map(ctx.root, ctx.config, progress=ctx.progress, calibrate=True)
    ctx.report["map"] = {"mapped": report.mapped, "parsed": report.parsed,
                         "reused": report.reused, "commit": report.commit}
    ctx.report["calibration"] = report.calibration


def _source_files(ctx: SleepContext) -> list[tuple[str, str, float]]:
    """(path, blob, rank) of mapped source files, most central first."""
    return ctx.store.conn.execute(
        "SELECT f.path, b.blob, f.rank FROM files f JOIN blobs b ON b.id = f.fid "
        "WHERE f.status='ok' AND f.language != '' ORDER BY f.rank DESC, f.path").fetchall()


def _plan(ctx: SleepContext) -> SleepState:
    files = _source_files(ctx)
    stored = knowledge.stored_summaries(ctx.store, "file")
    current = {path for path, _blob, _rank in files}
    knowledge.delete_summaries(ctx.store, "file", [p for p in stored if p not in current])
    queue = [path for path, blob, _rank in files if _needs_summary(ctx, stored.get(path), blob)]
    ctx.report["files"] = len(files)
    ctx.report["reused"] = len(files) - len(queue)
    ctx.progress.start("summarize", len(queue))
    return {"queue": queue}


def _needs_summary(ctx: SleepContext, stored: tuple[str, str, str] | None, blob: str) -> bool:
    if stored is None or stored[0] != blob:
        return True
    source = stored[2]
    if ctx.llm is not None and source == "fallback":
        return True  # a pass without a model left a fallback: a model is here now
    return source == "skipped" and ctx.report.get("retry_skipped", False)


def _summarize_files(ctx: SleepContext, queue: list[str]) -> SleepState:
    stored = knowledge.stored_summaries(ctx.store, "file")
    blobs = {path: blob for path, blob, _rank in _source_files(ctx)}
    queue = [p for p in queue if p in blobs and _needs_summary(ctx, stored.get(p), blobs[p])]
    if ctx.llm is None:
        briefs = load_briefs(ctx.store, queue)
        outcomes = [fallback_outcome(briefs[p]) for p in queue]
        _store_file_outcomes(ctx, outcomes, blobs)
        return {"queue": []}
    summarizer = FileSummarizer(ctx.llm, ctx.repo_name, ctx.budget())
    sleep_cfg = ctx.config.sleep
    head = queue[: sleep_cfg.batch_files * _BATCHES_PER_STEP]
    briefs = load_briefs(ctx.store, head)
    done: set[str] = set()
    for batch in batch_files([briefs[p] for p in head], sleep_cfg.batch_files,
                             sleep_cfg.batch_prompt_tokens):
        try:
            outcomes = summarizer.summarize(batch)
        except BudgetExhausted as exc:
            ctx.report["budget_exhausted"] = True
            ctx.progress.notice(f"sleep budget reached: {exc}")
            break
        _store_file_outcomes(ctx, outcomes, blobs)
        done.update(o.path for o in outcomes)
    remaining = [p for p in queue if p not in done]
    ctx.report["files_left"] = len(remaining)
    return {"queue": remaining}


def _store_file_outcomes(ctx: SleepContext, outcomes, blobs: dict[str, str]) -> None:
    model = ctx.llm.model if ctx.llm else ""
    knowledge.put_summaries(ctx.store, "file", [(o, blobs[o.path]) for o in outcomes],
                            model)
    for outcome in outcomes:
        key = {"llm": "summarized", "fallback": "fallback", "skipped": "skipped"}[outcome.source]
        ctx.report[key] += 1
        if outcome.source == "skipped" and len(ctx.report["skipped_reasons"]) < 50:
            ctx.report["skipped_reasons"].append([outcome.path, outcome.detail])
    ctx.progress.advance(len(outcomes))


def _summarize_dirs(ctx: SleepContext) -> None:
    files = ctx.store.file_summaries()
    by_dir: dict[str, list[str]] = defaultdict(list)
    for path in files:
        by_dir[posixpath.dirname(path)].append(path)
    dirs = set()
    for directory in list(by_dir):
        while True:
            dirs.add(directory)
            if not directory:
                break
            directory = posixpath.dirname(directory)
    children: dict[str, list[str]] = defaultdict(list)
    for directory in dirs:
        if directory:
            children[posixpath.dirname(directory)].append(directory)
    stored = knowledge.stored_summaries(ctx.store, "dir")
    knowledge.delete_summaries(ctx.store, "dir", [d for d in stored if d not in dirs])
    budget = ctx.budget()
    texts: dict[str, str] = {}
    model = ctx.llm.model if ctx.llm else ""
    for directory in sorted(dirs, key=lambda d: (-d.count("/") - (1 if d else 0), d)):
        item = DirInput(
            directory,
            [(posixpath.basename(p), files[p][0]) for p in sorted(by_dir.get(directory, []))],
            [(posixpath.basename(d), texts[d]) for d in sorted(children.get(directory, []))
             if texts.get(d)])
        key = item.content_key()
        previous = stored.get(directory)
        if previous and previous[0] == key and previous[1] and \
                not (ctx.llm and previous[2] == "fallback"):
            texts[directory] = previous[1]
            ctx.report["dirs_reused"] += 1
            continue
        if not item.files and not item.subdirs:
            continue
        try:
            outcome = summarize_dir(ctx.llm, ctx.repo_name, item, budget)
        except BudgetExhausted:
            ctx.report["budget_exhausted"] = True
            break
        knowledge.put_summaries(ctx.store, "dir", [(outcome, key)], model)
        texts[directory] = outcome.text
        ctx.report["dirs_skipped" if outcome.source == "skipped" else "dirs_summarized"] += 1


def _history_notes(ctx: SleepContext) -> None:
    # the search documents take in the file summaries just written: rebuilt now, while
    # nobody waits for them
    ctx.report["search_terms"] = sync_documents(ctx.store, ctx.root)
    existing = {row[0] for row in ctx.store.conn.execute(
        "SELECT path FROM files WHERE status='ok'")}
    history = HistoryView(ctx.store.conn, existing=existing)
    head = ctx.store.get_meta("history_head") or ""
    notes = history_notes(history, sorted(existing), head)
    knowledge.replace_notes(ctx.store, ("cochange", "recipe"), notes)
    ctx.report["history_notes"] = len(notes)


def _anticipate(ctx: SleepContext) -> None:
    if ctx.llm is None:
        ctx.report["anticipation"] = "skipped: no model (--no-llm); notes come from history only"
        return
    if ctx.report["budget_exhausted"]:
        ctx.report["anticipation"] = "skipped: sleep budget reached"
        return
    files = _source_files(ctx)
    chosen = choose_subsystems([(p, r) for p, _b, r in files], ctx.config.sleep.subsystems)
    ctx.report["subsystems"] = len(chosen)
    summaries = ctx.store.file_summaries()
    dirs = ctx.store.dir_summaries()
    existing = {n.subject: n.content_key for n in knowledge.notes_of(ctx.store,
                                                                     "anticipated")}
    for subject in set(existing) - set(chosen):
        knowledge.replace_notes(ctx.store, ("anticipated",), [], subject=subject)
    all_paths = {row[0] for row in ctx.store.conn.execute(
        "SELECT path FROM files WHERE status='ok'")}
    checker = PathChecker(all_paths)
    history = HistoryView(ctx.store.conn, existing=all_paths)
    budget = ctx.budget()
    for directory in chosen:
        subsystem = _subsystem(ctx, directory, files, summaries, dirs, history)
        if existing.get(directory) == subsystem.content_key():
            ctx.report["subsystems_reused"] += 1
            continue
        try:
            result = anticipate(ctx.llm, ctx.repo_name, subsystem, checker,
                                ctx.config.sleep.requests_per_subsystem, budget)
        except BudgetExhausted:
            ctx.report["budget_exhausted"] = True
            break
        if result.failure:
            ctx.report["anticipation_failures"].append([directory, result.failure])
            continue
        knowledge.replace_notes(ctx.store, ("anticipated",), result.notes,
                                subject=directory)
        ctx.report["anticipated"] += len(result.notes)
        ctx.report["dropped_paths"].extend(result.dropped_paths)
        ctx.report["dropped_requests"] += result.dropped_requests


def _subsystem(ctx: SleepContext, directory: str, files, summaries, dirs,
               history: HistoryView) -> Subsystem:
    prefix = f"{directory}/" if directory else ""
    members = [p for p, _b, _r in files if p.startswith(prefix)][:12]
    member_set = set(members)
    pairs: dict[tuple[str, str], int] = {}
    for path in members:
        for change in history.cochanges(path, limit=4):
            key = tuple(sorted((path, change.path)))
            pairs[key] = max(pairs.get(key, 0), change.count)
    cochange = [(a, b, n) for (a, b), n in sorted(pairs.items(), key=lambda kv: -kv[1])[:8]]
    calls = [(s, d) for s, d in ctx.store.conn.execute(
        "SELECT src, dst FROM file_edges ORDER BY weight DESC")
        if s in member_set and d in member_set][:8]
    return Subsystem(directory, dirs.get(directory, ("", ""))[0],
                     [(p, summaries.get(p, ("", ""))[0]) for p in members], cochange, calls)


def _finish(ctx: SleepContext) -> None:
    ctx.account()
    ctx.store.set_meta("sleep_mode", ctx.report["mode"])
    ctx.store.set_meta("sleep_model", ctx.report["model"])


# --- running ---------------------------------------------------------------------------------

def open_checkpointer(store_dir: Path):
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(store_dir / "checkpoints.db", check_same_thread=False)
    return SqliteSaver(conn), conn


def run_graph(ctx: SleepContext, thread_id: str, resume: bool, initial: SleepState) -> dict:
    saver, conn = open_checkpointer(ctx.store.path.parent)
    try:
        app = build_graph(ctx).compile(checkpointer=saver)
        config = {"configurable": {"thread_id": thread_id}, "recursion_limit": 100_000}
        started = time.perf_counter()
        final = app.invoke(None, config) if resume else app.invoke(initial, config)
        report = final["report"]
        report["seconds"] = round(report.get("seconds", 0.0) + time.perf_counter() - started, 2)
        return report
    finally:
        conn.close()


def pending_thread(store: MapStore, store_dir: Path) -> str | None:
    """The id of an interrupted pass that can be resumed, if any."""
    if store.get_meta("sleep_status") != "running":
        return None
    thread = store.get_meta("sleep_thread")
    if not thread or not (store_dir / "checkpoints.db").exists():
        return None
    saver, conn = open_checkpointer(store_dir)
    try:
        checkpoint = saver.get_tuple({"configurable": {"thread_id": thread}})
    finally:
        conn.close()
    return thread if checkpoint is not None else None


def new_thread_id() -> str:
    return f"sleep-{int(time.time())}-{os.getpid()}"
