"""Read-only queries on the map store behind `sleepcoder mcp`'s per-file, per-symbol and
likely-change tools: each returns the text a client model reads, and says plainly when the map
does not know the file or symbol asked for."""

from __future__ import annotations

from sleepcoder.tools.history import HistoryView
from sleepcoder.tools.rank import focus_tokens
from sleepcoder.tools.store import MapStore

MAX_DEFINITIONS = 200  # per file
MAX_SITES = 50  # definitions of one name, callers of one definition
# call edges resolved through imports or scopes; the others are matched by name only
_RESOLVED = frozenset({"import", "global", "local", "self"})


def _not_in_map(store: MapStore, path: str) -> str:
    total = store.conn.execute("SELECT COUNT(*) FROM files WHERE status='ok'").fetchone()[0]
    return (f"{path}: not in the map (no such file, or one the map's rules leave out); the map "
            f"has {total} files. Paths are relative to the repository root, e.g. "
            "'src/app.py'.")


def _file_row(store: MapStore, path: str) -> tuple[str, str, int | None, str] | None:
    return store.conn.execute("SELECT status, detail, fid, language FROM files WHERE path=?",
                              (path,)).fetchone()


def describe_file(store: MapStore, path: str) -> str:
    """The file's summary (sleep pass) or docstring, and its definitions with their lines,
    signatures and how many other files use them."""
    row = _file_row(store, path)
    if row is None:
        return _not_in_map(store, path)
    status, detail, fid, language = row
    if status != "ok" or fid is None:
        return f"{path}: listed in the map but not parsed ({status}" + \
            (f": {detail})" if detail else ")")
    lines, doc = store.conn.execute("SELECT lines, doc FROM blobs WHERE id=?", (fid,)).fetchone()
    out = [f"{path} ({language}, {lines} lines)"]
    summary = store.conn.execute(
        "SELECT s.text, s.source FROM summaries s JOIN blobs b ON b.id=? WHERE s.kind='file' "
        "AND s.path=? AND s.content_key=b.blob AND s.text != ''", (fid, path)).fetchone()
    if summary:
        label = " (no model: from docstrings and signatures)" if summary[1] == "fallback" else ""
        out.append(f"Summary{label}: {summary[0]}")
    else:
        out.append("Summary: none in the map (`sleepcoder sleep` writes summaries)")
    if doc:
        out.append(f"Docstring: {doc}")
    used_by = dict(store.conn.execute(
        "SELECT dst_qname, COUNT(DISTINCT src) FROM call_edges WHERE dst=? AND src != dst "
        "GROUP BY dst_qname", (path,)).fetchall())
    defs = store.conn.execute(
        "SELECT kind, qname, signature, doc, start_line, end_line FROM defs WHERE fid=? "
        "ORDER BY start_line, qname", (fid,)).fetchall()
    out.append(f"Definitions ({len(defs)}):" if defs else "Definitions: none found")
    for kind, qname, signature, def_doc, start, end in defs[:MAX_DEFINITIONS]:
        indent = "  " * (1 + qname.count("."))
        text = f"{indent}L{start}-{end} {kind} {qname}"
        if signature and signature != qname:
            text += f": {signature[:160]}"
        users = used_by.get(qname, 0)
        if users:
            text += f"  [used by {users} other file{'s' if users > 1 else ''}]"
        if def_doc:
            text += f"  — {def_doc.splitlines()[0][:120]}"
        out.append(text)
    if len(defs) > MAX_DEFINITIONS:
        out.append(f"  … and {len(defs) - MAX_DEFINITIONS} more")
    return "\n".join(out)


def describe_cochanges(store: MapStore, path: str, limit: int) -> str:
    """The files that changed in the same commits as `path` (at least twice), most
    confident first."""
    if _file_row(store, path) is None:
        return _not_in_map(store, path)
    mapped = {p for (p,) in store.conn.execute("SELECT path FROM files WHERE status='ok'")}
    history = HistoryView(store.conn, existing=mapped)
    if not history.commits:
        return (f"{path}: the map has no history to learn from (not a git repository, or no "
                "commits yet)")
    changes = history.change_count(path)
    found = history.cochanges(path, limit=limit, min_count=2)
    if not found:
        return (f"{path}: no file changed together with it in two or more commits "
                f"({changes} mapped commit{'s' if changes != 1 else ''} changed it)")
    out = [f"Files that usually change with {path} ({changes} commits changed it):"]
    out.extend(f"- {c.path}: together in {c.count} of them ({c.confidence:.0%})" for c in found)
    return "\n".join(out)


def describe_symbol(store: MapStore, name: str) -> str:
    """Where `name` (a plain or qualified name, e.g. `Item.value`) is defined, and which
    definitions call or use it, from the map's call graph."""
    sites = store.conn.execute(
        "SELECT f.path, d.kind, d.qname, d.signature, d.start_line FROM defs d "
        "JOIN files f ON f.fid = d.fid AND f.status='ok' WHERE d.name=? OR d.qname=? "
        "ORDER BY f.path, d.start_line LIMIT ?", (name, name, MAX_SITES + 1)).fetchall()
    if not sites:
        return (f"{name}: not in the map (no definition has this name or qualified name; "
                "names are case-sensitive, methods can be given as Class.method)")
    out = []
    for path, kind, qname, signature, line in sites[:MAX_SITES]:
        out.append(f"{qname} ({kind}) defined in {path}:{line}")
        if signature and signature != qname:
            out.append(f"  {signature[:200]}")
        callers = store.conn.execute(
            "SELECT src, src_qname, how, count FROM call_edges WHERE dst=? AND dst_qname=? "
            "ORDER BY src, src_qname LIMIT ?", (path, qname, MAX_SITES + 1)).fetchall()
        if not callers:
            out.append("  used by: nothing the map's call graph resolved")
            continue
        out.append("  used by:")
        for src, src_qname, how, count in callers[:MAX_SITES]:
            where = f"{src}: {src_qname}" if src_qname else f"{src} (module level)"
            guess = "" if how in _RESOLVED else ", matched by name only"
            out.append(f"    {where} ({count} use{'s' if count != 1 else ''}{guess})")
        if len(callers) > MAX_SITES:
            out.append(f"    … and more (first {MAX_SITES} shown)")
    if len(sites) > MAX_SITES:
        out.append(f"… and more definitions named {name} (first {MAX_SITES} shown)")
    return "\n".join(out)


def describe_likely_changes(store: MapStore, focus: str = "") -> str:
    """The anticipated requests of the sleep pass (those closest to `focus` first), or why
    the map has none."""
    notes = store.notes("anticipated")
    if not notes:
        mode = store.get_meta("sleep_mode") or ""
        why = ("the last sleep pass ran without a model (--no-llm), which writes no "
               "anticipated requests" if mode == "no-llm" else
               "run `sleepcoder sleep` with a model to write them" if not mode else
               "the sleep pass wrote none")
        return f"The map has no likely-change notes (anticipated requests): {why}."
    words = focus_tokens(focus)
    scored = []
    for order, (subject, request, files, reason, _source, _key) in enumerate(notes):
        overlap = len(words & focus_tokens(request + " " + " ".join(files))) if words else 0
        scored.append((-overlap, order, subject, request, files, reason))
    scored.sort()
    out = [f"Likely changes anticipated at sleep time ({len(notes)}):"]
    for _overlap, _order, subject, request, files, reason in scored:
        line = f"- {request} -> {', '.join(files)}"
        if subject:
            line += f"  [{subject or '(repository)'}]"
        if reason:
            line += f"  — {reason}"
        out.append(line)
    return "\n".join(out)
