"""Per-file search terms (token counts of the content), cached by blob in the map store.

Computed on first use at task time, or ahead of time by the sleep pass; a file's terms are
never computed twice for the same content.
"""

from __future__ import annotations

import marshal
import sqlite3
from collections import Counter
from pathlib import Path

from sleepcoder.tools.search import tokenize
from sleepcoder.tools.store import MapStore

_MAX_BYTES = 1_000_000


def ensure_terms(store: MapStore, root: Path, paths: list[str] | None = None) -> int:
    """Compute and store the terms of mapped files that lack them; returns how many."""
    new = _missing_terms(store, root, paths)
    with store.transaction():
        store.conn.executemany("INSERT OR REPLACE INTO blob_terms VALUES (?,?)",
                               [(fid, marshal.dumps(dict(counts))) for fid, (_p, counts)
                                in new.items()])
    return len(new)


def terms_by_path(store: MapStore, root: Path) -> dict[str, Counter[str]]:
    """path -> token counts of every mapped file's content: stored ones, and the missing ones
    computed now and stored for next time (only kept in memory when the map is read-only,
    e.g. `map show` in a read-only checkout: a cache not written changes no result)."""
    new = _missing_terms(store, root, None)
    if new:
        try:
            with store.transaction():
                store.conn.executemany(
                    "INSERT OR REPLACE INTO blob_terms VALUES (?,?)",
                    [(fid, marshal.dumps(dict(counts))) for fid, (_p, counts) in new.items()])
        except sqlite3.OperationalError as exc:
            if "readonly" not in str(exc).replace("-", "").lower():
                raise
    terms = load_terms(store)
    for _fid, (path, counts) in new.items():
        terms.setdefault(path, counts)
    return terms


def _missing_terms(store: MapStore, root: Path, paths: list[str] | None
                   ) -> dict[int, tuple[str, Counter[str]]]:
    have = {row[0] for row in store.conn.execute("SELECT fid FROM blob_terms")}
    rows = store.conn.execute(
        "SELECT path, fid FROM files WHERE status='ok' AND fid IS NOT NULL").fetchall()
    wanted = set(paths) if paths is not None else None
    todo: dict[int, str] = {}
    for path, fid in rows:
        if fid not in have and fid not in todo and (wanted is None or path in wanted):
            todo[fid] = path
    new = {}
    for fid, path in todo.items():
        try:
            data = (root / path).read_bytes()[:_MAX_BYTES]
        except OSError:
            continue
        new[fid] = (path, Counter(tokenize(data.decode("utf-8", "replace"))))
    return new


def load_terms(store: MapStore) -> dict[str, Counter[str]]:
    """path -> token counts of the content, for mapped files that have them."""
    return {path: Counter(marshal.loads(raw)) for path, raw in store.conn.execute(
        "SELECT f.path, t.terms FROM files f JOIN blob_terms t ON t.fid = f.fid "
        "WHERE f.status='ok'")}
