"""Why a query on the map failed, as a one-line error that says how to recover: the database is
damaged (PRAGMA quick_check, missing tables), busy, on a full disk, not writable, or deleted."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from sleepcoder.tools.lock import MapBusy
from sleepcoder.tools.store_location import ELSEWHERE, StoreError

REBUILD = "run `sleepcoder map --rebuild`"
_DETAIL_CHARS = 160


def damaged(db: Path, detail: str) -> StoreError:
    return StoreError(f"the map at {db} is damaged ({_bounded(detail)}); {REBUILD}")


def deleted(store_dir: Path) -> StoreError:
    return StoreError(f"the map store {store_dir} was deleted or replaced while this command "
                      "was using it, so what it computed was not saved; run the command again "
                      "to build the map afresh")


def missing_tables(conn: sqlite3.Connection, expected: Iterable[str]) -> list[str]:
    present = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    return sorted(set(expected) - present)


def missing_detail(missing: list[str], expected: Iterable[str]) -> str:
    if len(missing) == len(set(expected)):
        return "it holds none of the map's tables: an empty or foreign database"
    return f"missing tables: {', '.join(missing)}"


def check(db: Path, tables: Iterable[str] = ()) -> str:
    """What is wrong with the database `db`, '' when nothing: the first problem PRAGMA
    quick_check reports (it reads every page, so this is for after a failure), or the tables
    of `tables` it lacks."""
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
        try:
            rows = [str(row[0]) for row in conn.execute("PRAGMA quick_check(10)")]
            if rows != ["ok"]:
                return _first_problem(rows)
            missing = missing_tables(conn, tables)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if _code(exc).startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return ""  # a writer holds it: that is not damage
        return f"quick_check: {exc}"
    except UnicodeDecodeError as exc:  # SQLite's own message quotes damaged bytes
        return f"quick_check: {exc.object[:120]!r}"
    return missing_detail(missing, tables) if missing else ""


def explain(db: Path, tables: Iterable[str], exc: sqlite3.DatabaseError) -> Exception:
    """The error to report instead of `exc`, raised by a query on the map database `db` (or on
    another database in its store directory)."""
    store_dir = db.parent
    code = _code(exc)
    if code == "SQLITE_READONLY_DBMOVED" or not store_dir.is_dir():
        return deleted(store_dir)
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return MapBusy(f"the map at {db} is busy: another process is writing it ({exc}); try "
                       "again when it has finished")
    if code.startswith("SQLITE_READONLY"):
        return StoreError(f"cannot write the map at {db} ({exc}); {ELSEWHERE}")
    if code == "SQLITE_FULL":
        return StoreError(f"the disk holding the map at {db} is full ({exc}); free some space "
                          f"or {ELSEWHERE}, then run the same command again")
    problem = check(db, tables) if db.is_file() else ""
    if problem:
        return damaged(db, problem)
    for other in sorted(store_dir.glob("*.db")):
        if other != db and (problem := check(other)):
            return StoreError(f"the database {other} is damaged ({_bounded(problem)}); delete "
                              "it: sleepcoder creates it again, without what it held")
    return StoreError(f"the map at {db} could not be used ({_bounded(str(exc))}) although it "
                      f"checks out; run the command again, and if it fails the same way, "
                      f"{REBUILD}")


def damage_behind(db: Path, tables: Iterable[str]) -> StoreError | None:
    """For an exception that is not SQLite's, raised while the map was in use: the damage that
    may be its cause (a query can read part of a damaged table without an error, and the code
    reading it then fails on what it got), else None."""
    if not db.is_file():
        return None
    problem = check(db, tables)
    return damaged(db, problem) if problem else None


def _code(exc: sqlite3.DatabaseError) -> str:
    return getattr(exc, "sqlite_errorname", None) or ""


def _first_problem(rows: list[str]) -> str:
    lines = [line.strip() for row in rows for line in row.splitlines()]
    problems = [line for line in lines if line and not line.startswith("***")] or lines
    more = "" if len(problems) == 1 else ", and more"
    return f"quick_check: {_bounded(problems[0])}{more}"


def _bounded(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _DETAIL_CHARS else line[: _DETAIL_CHARS - 1] + "…"
