"""The solve runs a store holds: list them (status, start, request, whether they can be resumed,
what they take on disk) and remove finished and abandoned ones, worktrees included.

A run leaves up to five things under the store directory: its record `runs/<id>.json` (written
when it finishes, whatever its status), its folder `runs/<id>/` (the trajectory of its model
requests, written as it goes), its checkpoints in `checkpoints.db` (LangGraph's SqliteSaver,
thread id = run id), its scratch worktree `worktrees/<id>` (kept only while the run can be
resumed) and, while a process works on it, the lock `runs/<id>.lock`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sleepcoder.agent.solve.trajectory import FILE_NAME, Step, read_trajectory, run_dir
from sleepcoder.tools.secrets import scrub_tree
from sleepcoder.tools.worktree import Worktree, git

PREFIX = "solve-"  # sleep passes keep their checkpoints in the same database: never touched
UNFINISHED = ("running", "interrupted", "awaiting_review")


class RunBusy(RuntimeError):
    """Another process is working on this run."""


class UnknownRun(ValueError):
    """The store holds no trace of this run."""


@dataclass(frozen=True)
class RunInfo:
    id: str
    status: str  # the record's final status, or running / interrupted / awaiting_review /
    #              orphaned (a worktree with neither record nor checkpoint)
    started: float | None  # seconds since the epoch
    title: str
    resumable: bool
    worktree: bool
    disk_bytes: int  # worktree + record + checkpoints

    @property
    def finished(self) -> bool:
        return self.status not in UNFINISHED

    def to_dict(self) -> dict:
        return {**asdict(self), "finished": self.finished}


@dataclass
class CleanReport:
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # unfinished runs left alone
    failed: list[str] = field(default_factory=list)  # "<run>: why", runs that could not go
    freed_bytes: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


# --- the lock of a run in progress ----------------------------------------------------------

def _lock_path(store_dir: Path, run: str) -> Path:
    return store_dir / "runs" / f"{run}.lock"


@contextlib.contextmanager
def hold_run(store_dir: Path, run: str) -> Iterator[None]:
    """Mark `run` as worked on by this process (RunBusy if another one holds it)."""
    path = _lock_path(store_dir, run)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held for the duration of the context
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunBusy(f"run {run} is being worked on by {_holder(path)}; wait for it to "
                          "finish") from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            path.unlink(missing_ok=True)  # while still held: nobody else can be using it
    finally:
        handle.close()


def is_running(store_dir: Path, run: str) -> bool:
    try:
        fd = os.open(_lock_path(store_dir, run), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _holder(path: Path) -> str:
    with contextlib.suppress(OSError):
        pid = path.read_text().strip()
        if pid:
            return f"process {pid}"
    return "another process"


def new_run_id(store_dir: Path, stem: str) -> str:
    """`stem` (solve-<epoch seconds>-<task>), or with -2, -3, ... when the same request started
    within the same second already left a trace: two runs never share a record or a thread."""
    run, number = stem, 1
    while (record_path(store_dir, run).exists() or _lock_path(store_dir, run).exists()
           or (store_dir / "worktrees" / run).exists() or run_dir(store_dir, run).exists()
           or _has_checkpoint(store_dir, run)):
        number += 1
        run = f"{stem}-{number}"
    return run


def _has_checkpoint(store_dir: Path, run: str) -> bool:
    if not (store_dir / "checkpoints.db").exists():
        return False
    conn = sqlite3.connect(store_dir / "checkpoints.db", timeout=10.0)
    try:
        return conn.execute("SELECT 1 FROM checkpoints WHERE thread_id = ? LIMIT 1",
                            (run,)).fetchone() is not None
    except sqlite3.OperationalError:  # no table yet
        return False
    finally:
        conn.close()


# --- records ---------------------------------------------------------------------------------

def record_path(store_dir: Path, run: str) -> Path:
    return store_dir / "runs" / f"{run}.json"


def write_record(store_dir: Path, run: str, record: dict) -> Path:
    """Write a run record, scrubbed of every known secret (tools/secrets.py)."""
    path = record_path(store_dir, run)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(scrub_tree(record), indent=2))
    temporary.replace(path)  # a reader never sees half a record
    return path


def read_record(store_dir: Path, run: str) -> dict | None:
    try:
        return json.loads(record_path(store_dir, run).read_text())
    except (OSError, ValueError):
        return None


# --- one run in detail ------------------------------------------------------------------------

@dataclass
class RunDetail:
    """A run as `sleepcoder runs show` prints it: its record (for an unfinished run, what its
    last checkpoint holds) and its trajectory."""

    info: RunInfo
    record: dict
    steps: list[Step]
    unreadable_lines: int  # trajectory lines that could not be read (a killed write)

    def to_dict(self) -> dict:
        return {"run": self.info.to_dict(), "record": self.record,
                "trajectory": [s.to_dict() for s in self.steps],
                "unreadable_lines": self.unreadable_lines}


def show_run(store_dir: Path, run: str) -> RunDetail:
    """The record and trajectory of `run` (UnknownRun if the store has no trace of it)."""
    info = next((r for r in list_runs(store_dir) if r.id == run), None)
    if info is None:  # also keeps a made-up id from naming a path outside the store
        raise UnknownRun(f"no solve run {run!r} in {store_dir} (`sleepcoder runs` lists them)")
    record = read_record(store_dir, run)
    if record is None:
        values = (_saved(store_dir, run) or {}).get("values", {})
        record = {"id": run, "task": values.get("task", {}), "status": info.status,
                  "started": values.get("started"), "options": values.get("options", {}),
                  "plan": values.get("plan"), "edits": values.get("results", []),
                  "events": values.get("events", [])}
    steps, bad = read_trajectory(run_dir(store_dir, run) / FILE_NAME)
    return RunDetail(info, scrub_tree(record), steps, bad)


# --- listing ---------------------------------------------------------------------------------

def list_runs(store_dir: Path) -> list[RunInfo]:
    """Every solve run the store holds a trace of, newest first."""
    checkpoints = _checkpoint_sizes(store_dir)
    ids = set(checkpoints)
    runs_dir, worktrees = store_dir / "runs", store_dir / "worktrees"
    if runs_dir.is_dir():
        ids |= {p.name[:-5] for p in runs_dir.glob(f"{PREFIX}*.json")}
        ids |= {p.name[:-5] for p in runs_dir.glob(f"{PREFIX}*.lock")}
        ids |= {p.name for p in runs_dir.glob(f"{PREFIX}*")  # a record that is a folder:
                if p.is_dir() and p.suffix not in (".json", ".lock")}  # counted above
    if worktrees.is_dir():
        ids |= {p.name for p in worktrees.iterdir() if p.name.startswith(PREFIX)}
    found = [_info(store_dir, run, checkpoints.get(run, 0)) for run in ids]
    return sorted(found, key=lambda r: (r.started or 0, r.id), reverse=True)


def _info(store_dir: Path, run: str, checkpoint_bytes: int) -> RunInfo:
    tree = store_dir / "worktrees" / run
    record = read_record(store_dir, run)
    path = record_path(store_dir, run)
    disk = checkpoint_bytes + _tree_bytes(tree) + _tree_bytes(run_dir(store_dir, run)) + \
        (path.stat().st_size if path.exists() else 0)
    state = None if record is not None else _saved(store_dir, run)
    source = record if record is not None else (state or {}).get("values", {})
    title = (source.get("task") or {}).get("title", "")
    started = source.get("started") or _started_from_id(run)
    if record is not None:
        status = str(record.get("status") or "failed")
    elif is_running(store_dir, run):
        status = "running"
    elif state is not None:
        status = "awaiting_review" if state["waiting"] else "interrupted"
    else:
        status = "orphaned"
    return RunInfo(run, status, started, title, status in ("interrupted", "awaiting_review"),
                   tree.exists(), disk)


def _started_from_id(run: str) -> float | None:
    match = re.match(rf"{PREFIX}(\d+)-", run)  # ids are solve-<epoch seconds>-<task>
    return float(match.group(1)) if match else None


def _tree_bytes(path: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


def _checkpoint_sizes(store_dir: Path) -> dict[str, int]:
    """Bytes of checkpoints and pending writes per solve run (SqliteSaver's two tables)."""
    path = store_dir / "checkpoints.db"
    if not path.exists():
        return {}
    conn = sqlite3.connect(path, timeout=10.0)
    try:
        sizes: dict[str, int] = {}
        for query in ("SELECT thread_id, SUM(LENGTH(checkpoint) + LENGTH(metadata)) "
                      "FROM checkpoints GROUP BY thread_id",
                      "SELECT thread_id, SUM(LENGTH(value)) FROM writes GROUP BY thread_id"):
            with contextlib.suppress(sqlite3.OperationalError):  # no table yet
                for thread, size in conn.execute(query):
                    if str(thread).startswith(PREFIX):
                        sizes[thread] = sizes.get(thread, 0) + int(size or 0)
        return sizes
    finally:
        conn.close()


def _saver(store_dir: Path):
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(store_dir / "checkpoints.db", check_same_thread=False, timeout=10.0)
    return SqliteSaver(conn), conn


def _saved(store_dir: Path, run: str) -> dict | None:
    """The last checkpoint's values and whether the run waits at plan review; None if none."""
    if not (store_dir / "checkpoints.db").exists():
        return None
    saver, conn = _saver(store_dir)
    try:
        saved = saver.get_tuple({"configurable": {"thread_id": run}})
    finally:
        conn.close()
    if saved is None:
        return None
    waiting = any(write[1] == "__interrupt__" for write in saved.pending_writes or ())
    return {"values": saved.checkpoint.get("channel_values", {}), "waiting": waiting}


# --- cleaning --------------------------------------------------------------------------------

def clean_runs(root: Path, store_dir: Path, *, older_than_days: float | None = None,
               everything: bool = False, now: float | None = None) -> CleanReport:
    """Remove finished runs (record, checkpoints, leftover worktree) and orphaned worktrees;
    with `older_than_days`, also unfinished runs started longer ago; with `everything`, every
    unfinished run. A run some process is working on is never touched, nor is the map."""
    now = time.time() if now is None else now
    report = CleanReport()
    doomed: list[RunInfo] = []
    for run in list_runs(store_dir):
        old = older_than_days is not None and run.started is not None and \
            now - run.started > older_than_days * 86400
        if run.finished or (run.status != "running" and (everything or old)):
            doomed.append(run)
        else:
            report.kept.append(run.id)
    for run in doomed:
        try:
            with hold_run(store_dir, run.id):  # a resume that started meanwhile wins
                _delete_checkpoints(store_dir, run.id)
                _remove_worktree(root, store_dir / "worktrees" / run.id)
                _remove_path(record_path(store_dir, run.id))
                _remove_path(run_dir(store_dir, run.id))
        except RunBusy:
            report.kept.append(run.id)
            continue
        except OSError as exc:  # the others are still cleaned; the command says which failed
            report.failed.append(f"{run.id}: {exc.strerror or exc} ({exc.filename})")
            continue
        report.removed.append(run.id)
        report.freed_bytes += run.disk_bytes
    if doomed:
        _vacuum(store_dir)
    if (root / ".git").exists():
        git(root, "worktree", "prune", check=False)  # metadata of worktrees deleted by hand
    return report


def _remove_path(path: Path) -> None:
    """Remove what is at `path` under the store, whatever it became: a file or a link (never
    followed), or a folder (a record path that is a folder is damage, not a record)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _remove_worktree(root: Path, path: Path) -> None:
    if path.exists() or path.is_symlink():
        Worktree(root, path, "").remove()


def _delete_checkpoints(store_dir: Path, run: str) -> None:
    if not (store_dir / "checkpoints.db").exists():
        return
    saver, conn = _saver(store_dir)
    try:
        saver.delete_thread(run)
    finally:
        conn.close()


def _vacuum(store_dir: Path) -> None:
    """Give the deleted checkpoints' space back to the file system."""
    if not (store_dir / "checkpoints.db").exists():
        return
    conn = sqlite3.connect(store_dir / "checkpoints.db", timeout=1.0)
    try:
        with contextlib.suppress(sqlite3.OperationalError):  # a sleep pass writes: next time
            conn.execute("VACUUM")
    finally:
        conn.close()
