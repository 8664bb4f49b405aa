"""Per-file search terms (token counts of the content), cached by blob in the map store.

Computed on first use at task time, or ahead of time by the sleep pass; a file's terms are
never computed twice for the same content.
"""

from __future__ import annotations

import marshal
from collections import Counter
from pathlib import Path

from tools.search import tokenize
from tools.store import MapStore

_MAX_BYTES = 1_000_000

def ensure_terms(store: MapStore, root: Path, paths: list[str] | None = None) -> int:
    """Compute and store the terms of mapped files that lack them; returns how many."""
    have = {row[0] for row in store.conn.execute("SELECT fid FROM blob_terms")}
    rows = store.conn.execute(
        "SELECT path, fid FROM files WHERE status='ok' AND fid IS NOT NULL").fetchall()
    wanted = set(paths) if paths is not None else None
    todo: dict[int, str] = {}
    for path, fid in rows:
        if fid not in have and fid not in todo and (wanted is None or path in wanted):
            todo[fid] = path
    new = []
    for fid, path in todo.items():
        try:
            data = (root / path).read_bytes()[:_MAX_BYTES]
        except OSError:
            continue
        counts = Counter(tokenize(data.decode("utf-8", "replace")))
        new.append((fid, marshal.dumps(dict(counts))))
    with store.transaction():
        store.conn.executemany("INSERT OR REPLACE INTO blob_terms VALUES (?,?)", new)
    return len(new)


def load_terms(store: MapStore) -> dict[str, Counter[str]]:
    """path -> token counts of the content, for mapped files that have them."""
    return {path: Counter(marshal.loads(raw)) for path, raw in store.conn.execute(
        "SELECT f.path, t.terms FROM files f JOIN blob_terms t ON t.fid = f.fid "
        "WHERE f.status='ok'")}
