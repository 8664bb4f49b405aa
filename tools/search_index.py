"""Per-file search terms (token counts of the content), cached by blob in the map store.

Computed when the map's search documents are built (tools/search_docs.py); a file's terms are
never computed twice for the same content.
"""

from __future__ import annotations

import marshal
import sqlite3
from collections import Counter
from pathlib import Path

from sleepcoder.tools.search import token_counts
from sleepcoder.tools.store import MapStore

_MAX_BYTES = 1_000_000
_LOOKUP_MAX = 2_000  # files looked up one by one; more are read with the whole list
_BATCH = 1000  # files whose terms `cache_missing_terms` computes and commits at a time


def store_missing_terms(store: MapStore, root: Path, paths: list[str] | None = None
                        ) -> dict[int, Counter[str]]:
    """Compute the terms of the mapped files in `paths` (all for None) whose blob lacks them,
    and store them; returns them by blob id. On a map that cannot be written (a read-only
    checkout) they are only returned: a cache not written changes no result."""
    new = dict(_read_terms(str(root), list(_missing(store, paths).items())))
    _store_terms(store, new)
    return new


def cache_missing_terms(store: MapStore, root: Path, paths: list[str],
                        batch: int | None = None) -> None:
    """As `store_missing_terms`, keeping nothing: `batch` files are read and their terms
    committed at a time, so a full build never holds every file's terms (390 MB at 33,000
    files). On a read-only map nothing is stored."""
    todo = list(_missing(store, paths).items())
    size = batch or _BATCH
    for start in range(0, len(todo), size):
        _store_terms(store, dict(_read_terms(str(root), todo[start:start + size])))


def _store_terms(store: MapStore, new: dict[int, Counter[str]]) -> None:
    if not new:
        return
    try:
        with store.transaction():
            store.conn.executemany(
                "INSERT OR REPLACE INTO blob_terms VALUES (?,?)",
                [(fid, marshal.dumps(dict(counts))) for fid, counts in new.items()])
    except sqlite3.OperationalError as exc:
        if "readonly" not in str(exc).replace("-", "").lower():
            raise


def _missing(store: MapStore, paths: list[str] | None) -> dict[int, str]:
    """Blob id -> a path of it, for the mapped files in `paths` whose blob lacks its terms."""
    sql = "SELECT rowid, path, fid FROM files WHERE status='ok' AND fid IS NOT NULL"
    wanted = set(paths) if paths is not None else None
    if wanted is not None and len(wanted) <= _LOOKUP_MAX:  # a refresh: not the whole list
        found = sorted(row for path in wanted
                       for row in store.conn.execute(f"{sql} AND path=?", (path,)))
    else:
        found = store.conn.execute(sql).fetchall()
    rows = [(path, fid) for _rowid, path, fid in found]  # in the table's order either way
    todo: dict[int, str] = {}
    for path, fid in rows:
        if fid not in todo and (wanted is None or path in wanted):
            todo[fid] = path
    # by key, not by reading the table: its rows are large
    return {fid: path for fid, path in todo.items() if store.conn.execute(
        "SELECT 1 FROM blob_terms WHERE fid=?", (fid,)).fetchone() is None}


def _read_terms(root: str, items: list[tuple[int, str]]) -> list[tuple[int, Counter[str]]]:
    """(fid, terms) of the readable files among `items` (fid, path)."""
    out = []
    for fid, path in items:
        try:
            data = (Path(root) / path).read_bytes()[:_MAX_BYTES]
        except OSError:
            continue
        out.append((fid, token_counts(data.decode("utf-8", "replace"))))
    return out
