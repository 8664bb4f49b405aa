"""Build or refresh a repository's map: scan -> parse (parallel) -> graphs -> history -> store.

The same function serves a first build and every refresh: content already in the store
(same blob) is reused, so the work is proportional to what changed. Parsed facts are committed
in batches, so an interrupted build resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from sleepcoder.tools import gitutil
from sleepcoder.tools.bulk_gc import BulkCollections, fewer_collections
from sleepcoder.tools.config import Config, load_config
from sleepcoder.tools.extract import (
    ExtractJob,
    ExtractResult,
    extract_chunk,
    extract_file,
    init_worker,
)
from sleepcoder.tools.gitutil import blob_hash
from sleepcoder.tools.graphs import update_graphs
from sleepcoder.tools.history_log import HistoryJob
from sleepcoder.tools.lock import map_lock
from sleepcoder.tools.scan import ScanResult, resolve_root, scan
from sleepcoder.tools.search_docs import sync_documents
from sleepcoder.tools.store import MapStore, StoredContent

_PARALLEL_MIN_JOBS = 48  # below this, starting worker processes costs more than it saves
_COMMIT_EVERY = 400  # parsed files per transaction: the unit of resumable progress
_CHUNK_BYTES = 256_000


class Progress(Protocol):
    def start(self, phase: str, total: int) -> None: ...
    def advance(self, count: int = 1) -> None: ...
    def notice(self, message: str) -> None: ...


class _Silent:
    def start(self, phase: str, total: int) -> None:
        pass

    def advance(self, count: int = 1) -> None:
        pass

    def notice(self, message: str) -> None:
        pass


@dataclass
class BuildReport:
    root: str
    store: str
    commit: str | None
    is_git: bool
    dirty: bool
    files_by_language: dict[str, int] = field(default_factory=dict)
    mapped: int = 0
    parsed: int = 0
    reused: int = 0
    removed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    parse_error_files: int = 0
    decode_replaced_files: int = 0
    extraction_failures: int = 0
    definitions: int = 0
    references: int = 0
    imports: int = 0
    import_edges: int = 0
    call_edges: int = 0
    resolved_files: int = 0
    history: str = ""
    new_commits: int = 0
    commits: int = 0
    unreadable_commits: int = 0  # of the new commits: changes unreadable (objects missing)
    calibration: dict = field(default_factory=dict)  # tools.calibrate summary (map, sleep)
    notices: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def build_map(
    path: Path,
    config: Config | None = None,
    *,
    rebuild: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
    lock_timeout: float | None = None,
    calibrate: bool = False,
) -> BuildReport:
    """Build the map of the repository at `path`, or refresh it if one exists. With
    `calibrate`, also refresh the localizer's calibration on the repository's own past
    features (`sleepcoder map` and `sleep` do; a solve that maps first does not)."""
    progress = progress or _Silent()
    started = time.perf_counter()
    root, repo = resolve_root(Path(path))
    config = config or load_config(root)
    store_dir = gitutil.make_store_dir(config.map.store_path(root), root, repo,
                                       on_notice=progress.notice)
    timeout = config.map.lock_timeout if lock_timeout is None else lock_timeout
    with map_lock(store_dir, timeout, on_wait=progress.notice), \
            fewer_collections() as collections:
        store, notice = MapStore.open(store_dir, create=True, rebuild=rebuild)
        if notice:  # now, not only in the report: solve does not print the report
            progress.notice(notice)
        try:
            report = _build(store, root, repo, config, store_dir, workers, progress,
                            collections)
            mark = time.perf_counter()
            sync_documents(store, root)  # the localizer's search documents of changed files
            report.seconds["search"] = time.perf_counter() - mark
            if calibrate:
                report.calibration = _calibrate(store, root, config, report)
        finally:
            store.close()
    if notice:
        report.notices.insert(0, notice)
    report.seconds["total"] = time.perf_counter() - started
    return report


def _build(
    store: MapStore,
    root: Path,
    repo,
    config: Config,
    store_dir: Path,
    workers: int | None,
    progress: Progress,
    collections: BulkCollections,
) -> BuildReport:
    timings: dict[str, float] = {}
    mark = time.perf_counter()
    old_rows, contents = store.file_state()
    scanned = scan(root, repo, config.map, store_dir, contents)
    collections.scale(len(scanned.files))  # every later phase holds structures of this size
    for message in scanned.notices:
        progress.notice(message)
    history_job = HistoryJob(store, repo, scanned.commit, config)
    history_job.start()
    timings["scan"] = time.perf_counter() - mark

    mark = time.perf_counter()
    reuse, jobs = _plan(store, scanned, contents)
    bulk = len(jobs) > 2 * max(len(reuse), 1000)
    if bulk:
        store.drop_fact_indexes()
    try:
        results = _run_jobs(store, str(root), jobs, workers or config.map.workers, progress)
    finally:
        store.ensure_fact_indexes()
    timings["parse"] = time.perf_counter() - mark

    mark = time.perf_counter()
    report = BuildReport(
        root=str(root),
        store=str(store.path),
        commit=scanned.commit,
        is_git=scanned.is_git,
        dirty=scanned.dirty,
        notices=scanned.notices,
    )
    with store.transaction():
        rows, old_fids, changed, removed = _file_rows(scanned, reuse, results, old_rows)
        store.replace_files(rows, old_rows)
        full = (
            not any(status == "ok" for status, *_ in old_rows.values())
            or store.get_meta("graphs_complete") != "1"
        )
        graph = update_graphs(store, root, changed, removed, old_fids, full)
        store.set_meta("graphs_complete", "1")
        store.delete_blobs(store.orphan_fids(old_fids.values()))
        timings["graphs"] = time.perf_counter() - mark
        mark = time.perf_counter()
        outcome = history_job.finish(store.conn)
        report.new_commits, report.history = outcome.new_commits, outcome.mode
        report.unreadable_commits = outcome.unreadable
        report.notices.extend(outcome.notices)
        timings["history"] = time.perf_counter() - mark
        store.set_meta("commit", scanned.commit or "")
        store.set_meta("dirty", "1" if scanned.dirty else "0")
        store.set_meta("is_git", "1" if scanned.is_git else "0")
        store.set_meta("root", str(root))
        store.set_meta("updated_at", str(int(time.time())))
        _fill_report(report, store, rows, results, reuse, removed, graph.resolved_files)
        report.seconds = timings
        store.set_meta("last_build", report.to_json())
    return report


def _calibrate(store: MapStore, root: Path, config: Config, report: BuildReport) -> dict:
    from sleepcoder.tools.calibrate import refresh

    mark = time.perf_counter()
    calibration, redone = refresh(store, root, config.map.calibration_tasks)
    report.seconds["calibrate"] = time.perf_counter() - mark
    return {**calibration.summary(), "recomputed": redone}


def _plan(
    store: MapStore, scanned: ScanResult, contents: dict[str, StoredContent]
) -> tuple[dict[str, tuple[int, str, str]], list[ExtractJob]]:
    """Split scanned files into reused blobs (path -> (fid, skip reason, detail)) and jobs.
    Content is known by its blob id: from git's index, from unchanged stat data outside git,
    else by hashing the file; a blob stored under any path is reused."""
    reuse: dict[str, tuple[int, str, str]] = {}
    jobs: list[ExtractJob] = []
    for item in scanned.files:
        lang = item.language or ""
        blob = item.blob
        stored = contents.get(item.path)
        if (
            blob is None  # outside git (or dirty): trust unchanged stat data
            and stored is not None
            and stored.size == item.size
            and stored.mtime_ns == item.mtime_ns
            and stored.language == lang
        ):
            blob = stored.blob
        hashed = blob is None
        if hashed:  # new or modified content outside the index: key it by its hash
            blob = _content_blob(scanned.root, item.path)
        if blob is None:
            hit = None
        elif stored is not None and stored.blob == blob and stored.language == lang:
            hit = (stored.fid, stored.skip_reason, stored.detail)
        else:
            hit = store.find_blob(blob, lang)
        if hit is not None:
            reuse[item.path] = hit
        else:
            jobs.append(ExtractJob(item.path, item.language, blob, hashed))
    return reuse, jobs


def _content_blob(root: Path, path: str) -> str | None:
    """The blob id of a file's current content; None when it cannot be read (the parser
    then reports it as unreadable)."""
    try:
        with open(root / path, "rb") as handle:
            return blob_hash(handle.read())
    except OSError:
        return None


def _distinct(jobs: list[ExtractJob]) -> tuple[list[ExtractJob], dict[str, list[str]]]:
    """One job per distinct (blob, language): parsed facts are a function of the content, so
    the other paths carrying it share the result. Returns the jobs to run and, by leading
    path, the paths that follow it."""
    leaders: dict[tuple[str, str | None], ExtractJob] = {}
    followers: dict[str, list[str]] = {}
    unique: list[ExtractJob] = []
    for job in jobs:
        key = (job.blob, job.language)
        leader = leaders.get(key) if job.blob else None
        if leader is None:
            leaders[key] = job
            unique.append(job)
        else:
            followers.setdefault(leader.path, []).append(job.path)
    return unique, followers


def _run_jobs(
    store: MapStore, root: str, jobs: list[ExtractJob], workers: int, progress: Progress
) -> dict[str, tuple[ExtractResult, int | None]]:
    """Extract and store every job's facts. Returns path -> (result, fid)."""
    out: dict[str, tuple[ExtractResult, int | None]] = {}
    progress.start("parse", len(jobs))
    if not jobs:
        return out
    jobs, followers = _distinct(jobs)
    retry: list[ExtractJob] = []
    workers = workers or os.cpu_count() or 1
    pending: list[ExtractResult] = []

    def flush() -> None:
        done = len(pending)
        with store.transaction():
            for result in pending:
                fid = None
                if result.skip_reason != "unreadable":
                    fid = store.insert_blob(
                        result.blob,
                        result.language,
                        result.skip_reason,
                        result.detail,
                        result.facts,
                    )
                out[result.path] = (result._replace(facts=None), fid)  # facts are stored
                shared = followers.get(result.path, ())
                if result.skip_reason == "unreadable":  # this path's failure, not the content's
                    retry.extend(ExtractJob(p, result.language, None) for p in shared)
                    continue
                for path in shared:
                    out[path] = (result._replace(path=path, facts=None), fid)
                done += len(shared)
        progress.advance(done)
        pending.clear()

    if workers > 1 and len(jobs) >= _PARALLEL_MIN_JOBS:
        import multiprocessing  # here: a refresh of a few files parses them in this process

        # not "fork": the history is read by a thread meanwhile (HistoryJob), and a child
        # forked while another thread holds a lock (git's pipes, the allocator, an import)
        # can wait on it forever; a map once hung in its parse phase that way. The fork
        # server is a clean single-threaded process, started once, that imports the parser.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["sleepcoder.tools.extract"])
        with context.Pool(workers, initializer=init_worker, initargs=(root,)) as pool:
            for chunk_results in pool.imap_unordered(extract_chunk, _chunks(root, jobs)):
                pending.extend(chunk_results)
                if len(pending) >= _COMMIT_EVERY:
                    flush()
    else:
        for job in jobs:
            pending.append(extract_file(root, job))
            if len(pending) >= _COMMIT_EVERY:
                flush()
    flush()
    for job in retry:  # rare: a copy unreadable at one path is tried at each other path
        pending.append(extract_file(root, job))
        flush()
    return out


def _chunks(root: str, jobs: list[ExtractJob]) -> list[list[ExtractJob]]:
    """Largest files first, grouped into chunks of similar total size (balances the workers)."""
    sized = []
    for job in jobs:
        try:
            size = os.path.getsize(os.path.join(root, job.path))
        except OSError:
            size = 0
        sized.append((size, job))
    sized.sort(key=lambda item: -item[0])
    chunks, current, current_size = [], [], 0
    for size, job in sized:
        current.append(job)
        current_size += size
        if current_size >= _CHUNK_BYTES or len(current) >= 64:
            chunks.append(current)
            current, current_size = [], 0
    if current:
        chunks.append(current)
    return chunks


def _file_rows(scanned: ScanResult, reuse: dict[str, tuple[int, str, str]], results, old_rows):
    """The new files table, and what changed against the old one."""
    rows = []
    fids: dict[str, int] = {}
    for item in scanned.files:
        lang = item.language or ""
        if item.path in reuse:
            fid, status, detail = reuse[item.path]
            status = status or "ok"  # a reused binary or minified blob keeps its reason
        else:
            result, fid = results[item.path]
            status, detail = result.skip_reason or "ok", result.detail
        rows.append((item.path, status, detail, fid, lang, item.size, item.mtime_ns))
        if status == "ok" and fid is not None:
            fids[item.path] = fid
    for path, reason in scanned.skipped.items():
        rows.append((path, reason, scanned.details.get(path, ""), None, "", 0, 0))
    old_ok = {p: row[2] for p, row in old_rows.items() if row[0] == "ok" and row[2] is not None}
    changed = {p for p, fid in fids.items() if old_ok.get(p) != fid}
    removed = set(old_ok) - set(fids)
    old_fids = {p: old_ok[p] for p in changed | removed if p in old_ok}
    return rows, old_fids, changed, removed


def _fill_report(
    report: BuildReport, store: MapStore, rows, results, reuse, removed, resolved: int
) -> None:
    languages: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    for _path, status, _detail, _fid, lang, _size, _mtime in rows:
        if status == "ok":
            languages[lang or "other"] += 1
        else:
            skipped[status] += 1
    report.files_by_language = dict(languages.most_common())
    report.mapped = sum(languages.values())
    report.skipped = dict(skipped.most_common())
    # distinct contents parsed: identical new files share one parse
    report.parsed = len({fid for result, fid in results.values() if not result.skip_reason})
    report.reused = sum(1 for _fid, reason, _d in reuse.values() if not reason)
    report.removed = len(removed)
    report.resolved_files = resolved
    counts = store.counts()
    report.parse_error_files = counts["parse_error_files"]
    report.decode_replaced_files = counts["decode_replaced_files"]
    report.extraction_failures = counts["extraction_failures"]
    report.definitions = counts["defs"]
    report.references = counts["refs"]
    report.imports = counts["imports"]
    report.import_edges = counts["import_edges"]
    report.call_edges = counts["call_edges"]
    report.commits = counts["commits"]
