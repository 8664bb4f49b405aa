"""What a stored map holds: counts by language and status, graph sizes, history, top files."""

from __future__ import annotations

import os

from sleepcoder.tools.history import HistoryView
from sleepcoder.tools.store import MapStore


def map_stats(store: MapStore, top: int = 10) -> dict:
    conn = store.conn
    languages = dict(conn.execute(
        "SELECT CASE language WHEN '' THEN 'other' ELSE language END, COUNT(*) FROM files "
        "WHERE status='ok' GROUP BY 1 ORDER BY 2 DESC"))
    skipped = dict(conn.execute(
        "SELECT status, COUNT(*) FROM files WHERE status != 'ok' GROUP BY 1 ORDER BY 2 DESC"))
    lines, errors, replaced = conn.execute(
        "SELECT COALESCE(SUM(b.lines), 0), COALESCE(SUM(b.parse_errors > 0), 0), "
        "COALESCE(SUM(b.decode_replaced), 0) FROM files f JOIN blobs b ON b.id = f.fid "
        "WHERE f.status='ok'").fetchone()
    counts = store.counts()
    how = dict(conn.execute("SELECT how, COUNT(*) FROM call_edges GROUP BY how ORDER BY 2 DESC"))
    top_files = [{"path": p, "rank": r} for p, r in conn.execute(
        "SELECT path, rank FROM files WHERE status='ok' ORDER BY rank DESC, path LIMIT ?",
        (top,))]
    existing = {row[0] for row in conn.execute("SELECT path FROM files WHERE status='ok'")}
    history = HistoryView(conn, existing=existing)
    recipes = [{"sha": r.sha, "subject": r.subject, "files": list(r.files)}
               for r in history.recipes(limit=5)]
    size = sum(os.path.getsize(f"{store.path}{suffix}") for suffix in ("", "-wal")
               if os.path.exists(f"{store.path}{suffix}"))
    return {
        "root": store.get_meta("root") or "",
        "commit": store.get_meta("commit") or "",
        "uncommitted_changes": store.get_meta("dirty") == "1",
        "files_by_language": languages,
        "skipped": skipped,
        "lines": lines,
        "files_with_syntax_errors": errors,
        "files_not_utf8": replaced,
        "definitions": counts["defs"],
        "references": counts["refs"],
        "imports": counts["imports"],
        "import_edges": counts["import_edges"],
        "call_edges": counts["call_edges"],
        "call_edges_by_resolution": how,
        "commits": counts["commits"],
        "unreadable_commits": conn.execute(  # objects missing: skipped, see docs/map.md
            "SELECT COUNT(*) FROM commits WHERE skipped='unreadable'").fetchone()[0],
        "store_bytes": size,
        "last_build": store.get_json("last_build"),
        "top_files": top_files,
        "recipes": recipes,
        "calibration": _calibration(store),
    }


def _calibration(store: MapStore) -> dict:
    """The localizer's calibration for this repository, with its evidence (the pseudo-tasks),
    or why there is none."""
    from sleepcoder.tools.calibrate import load

    stored = load(store)
    if stored is None:
        return {"note": "none yet: `sleepcoder map` or `sleep` calibrates the localizer"}
    return {**stored.summary(), "evidence": stored.evidence}
