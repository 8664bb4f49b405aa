"""Entry point of the sleep-time pass: pick the model, take the sleep lock, start or resume the
checkpointed graph, and record the report in the map store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sleepcoder.agent.llm import LLM, resolve_model
from sleepcoder.agent.sleep.graph import (
    SleepContext,
    SleepProgress,
    new_report,
    new_thread_id,
    open_checkpointer,
    pending_thread,
    run_graph,
)
from sleepcoder.tools import gitutil
from sleepcoder.tools.config import Config, load_config
from sleepcoder.tools.lock import map_lock
from sleepcoder.tools.scan import resolve_root
from sleepcoder.tools.store import MapStore


def run_sleep(path: Path, config: Config | None = None, *, model: str | None = None,
              budget: int | None = None, no_llm: bool = False, fresh: bool = False,
              retry_skipped: bool = False, progress: Any = None) -> dict[str, Any]:
    """Run (or resume) the sleep pass on the repository at `path`; returns its report.

    Raises agent.local_model.ModelUnavailable / WeightsMismatch before any work when the
    model cannot run (see agent/preflight.py), tools.lock.MapBusy when another pass holds
    the repository.
    """
    progress = progress or SleepProgress()
    root, repo = resolve_root(Path(path))
    config = config or load_config(root)
    store_dir = config.map.store_path(root)
    limit = config.sleep.budget if budget is None else budget
    llm = None
    if not no_llm:
        model_id, _source = resolve_model(model, config.llm)
        llm = LLM(model_id, config.llm)
        llm.check_available()  # the pre-flight: before the store is touched
    # creates the store (checked: not a link, not a file, writable) before the model's cache
    gitutil.make_store_dir(store_dir, root, repo, on_notice=progress.notice)
    if llm is not None:
        llm.open_cache(store_dir / "llm_cache.db")
    with map_lock(store_dir, config.map.lock_timeout, on_wait=progress.notice,
                  name="sleep.lock", what="sleep pass"):
        store, notice = MapStore.open(store_dir, create=True)
        if notice:
            progress.notice(notice)
        try:
            return _run(store, store_dir, root, config, llm, limit, no_llm, fresh,
                        retry_skipped, progress)
        finally:
            store.close()


def _run(store: MapStore, store_dir: Path, root: Path, config: Config, llm: LLM | None,
         limit: int, no_llm: bool, fresh: bool, retry_skipped: bool,
         progress: Any) -> dict[str, Any]:
    initial_report = new_report(llm.model if llm else "", no_llm, limit)
    initial_report["retry_skipped"] = retry_skipped
    thread = None if fresh else pending_thread(store, store_dir)
    if thread is not None and not _same_settings(store_dir, thread, initial_report):
        progress.notice("an interrupted pass used another model or mode: starting afresh")
        thread = None
    resume = thread is not None
    if resume:
        progress.notice(f"resuming the interrupted sleep pass {thread}")
    else:
        thread = new_thread_id()
    with store.transaction():
        store.set_meta("sleep_thread", thread)
        store.set_meta("sleep_status", "running")
    ctx = SleepContext(root, config, store, llm, progress, limit)
    report = run_graph(ctx, thread, resume, {"queue": [], "report": initial_report})
    report["resumed"] = resume
    report["thread"] = thread
    with store.transaction():
        store.set_meta("sleep_status", "done")
        store.set_meta("last_sleep", json.dumps(report))
    return report


def every_request_failed(report: dict[str, Any]) -> str:
    """The first error when the model failed on every request of the pass (and there were
    requests), else '': every file then stays unsummarized, which is a failure, not a pass."""
    usage = report["llm"]
    if report["mode"] != "llm" or not usage["failed"] or usage["calls"] or usage["cached"]:
        return ""
    return usage.get("first_error") or "no error was recorded"


def _same_settings(store_dir: Path, thread: str, report: dict[str, Any]) -> bool:
    saver, conn = open_checkpointer(store_dir)
    try:
        snapshot = saver.get_tuple({"configurable": {"thread_id": thread}})
    finally:
        conn.close()
    if snapshot is None:
        return False
    previous = snapshot.checkpoint.get("channel_values", {}).get("report", {})
    return previous.get("mode") == report["mode"] and previous.get("model") == report["model"]
