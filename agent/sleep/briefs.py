"""What the sleep pass tells the model about a file: facts from the static map (module doc,
key definitions with signatures and docs, imports, callers and callees), never raw source.

Built from the map rather than file text because prompt processing is the slow part of a
small local model; a brief is a few hundred characters even for a very large file.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from sleepcoder.tools.store import MapStore

_MAX_DEFS = 10
_MAX_LINKS = 4
_SKIP_KINDS = frozenset({"declaration"})


@dataclass
class FileBrief:
    path: str
    blob: str
    language: str
    lines: int
    rank: float
    doc: str
    definitions: list[tuple[str, str, str, str]] = field(default_factory=list)  # kind, qname,
    # signature, doc
    imports: list[str] = field(default_factory=list)  # repository files it imports
    used_by: list[str] = field(default_factory=list)  # files that call into it
    calls_into: list[str] = field(default_factory=list)

    def render(self, index: int, max_chars: int = 1400) -> str:
        lines = [f"[{index}] {self.path} ({self.lines} lines)"]
        if self.doc:
            lines.append(f"doc: {self.doc}")
        if self.definitions:
            shown = []
            for _kind, qname, signature, doc in self.definitions:
                text = signature or qname
                if len(text) > 110:
                    text = text[:109] + "…"
                shown.append(f"  {text}" + (f"  # {doc[:80]}" if doc else ""))
            lines.append("defines:")
            lines.extend(shown)
        for label, paths in (("imports", self.imports), ("used by", self.used_by),
                             ("calls into", self.calls_into)):
            if paths:
                lines.append(f"{label}: {', '.join(paths)}")
        text = "\n".join(lines)
        return text if len(text) <= max_chars else text[: max_chars - 1] + "…"

    def estimated_tokens(self) -> int:
        return math.ceil(len(self.render(1)) / 4)


def load_briefs(store: MapStore, paths: list[str]) -> dict[str, FileBrief]:
    """Briefs for `paths` (mapped files), from one pass over the map tables."""
    wanted = set(paths)
    briefs: dict[str, FileBrief] = {}
    rows = store.conn.execute(
        "SELECT f.path, b.blob, f.language, b.lines, f.rank, b.doc, f.fid FROM files f "
        "JOIN blobs b ON b.id = f.fid WHERE f.status='ok'").fetchall()
    fid_of = {}
    for path, blob, language, lines, rank, doc, fid in rows:
        if path in wanted:
            briefs[path] = FileBrief(path, blob, language, lines, rank, doc)
            fid_of[path] = fid
    callers = _callers(store)
    for path, brief in briefs.items():
        brief.definitions = _key_definitions(store, fid_of[path], path, callers)
    imports: dict[str, list[str]] = defaultdict(list)
    for src, dst in store.conn.execute("SELECT DISTINCT src, dst FROM import_edges"):
        if src in briefs and dst not in imports[src]:
            imports[src].append(dst)
    for path, brief in briefs.items():
        brief.imports = imports.get(path, [])[:_MAX_LINKS * 2]
    used_by: dict[str, dict[str, float]] = defaultdict(dict)
    calls_into: dict[str, dict[str, float]] = defaultdict(dict)
    for src, dst, weight in store.conn.execute("SELECT src, dst, weight FROM file_edges"):
        if dst in briefs:
            used_by[dst][src] = weight
        if src in briefs:
            calls_into[src][dst] = weight
    for path, brief in briefs.items():
        brief.used_by = _top(used_by.get(path, {}))
        brief.calls_into = [p for p in _top(calls_into.get(path, {}), 2 * _MAX_LINKS)
                            if p not in brief.imports][:_MAX_LINKS]
    return briefs


def _top(weights: dict[str, float], limit: int = _MAX_LINKS) -> list[str]:
    return [p for p, _w in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


def _callers(store: MapStore) -> dict[tuple[str, str], int]:
    return {(dst, qname): n for dst, qname, n in store.conn.execute(
        "SELECT dst, dst_qname, COUNT(DISTINCT src) FROM call_edges WHERE src != dst "
        "AND how IN ('import', 'global', 'local', 'self') GROUP BY dst, dst_qname")}


def _key_definitions(store: MapStore, fid: int, path: str,
                     callers: dict[tuple[str, str], int]) -> list[tuple[str, str, str, str]]:
    """The definitions that best say what a file is: public, top-level, and used elsewhere."""
    rows = store.conn.execute(
        "SELECT kind, name, qname, signature, doc, start_line FROM defs WHERE fid=? "
        "ORDER BY start_line", (fid,)).fetchall()
    scored = []
    for order, (kind, name, qname, signature, doc, _line) in enumerate(rows):
        if kind in _SKIP_KINDS:
            continue
        private = name.startswith("_") and not name.startswith("__init")
        nested = qname.count(".")
        score = 3 * callers.get((path, qname), 0) + (4 if nested == 0 else 0) \
            + (1 if doc else 0) - (6 if private else 0) - 2 * nested
        scored.append((score, order, (kind, qname, signature, doc)))
    chosen = sorted(scored, key=lambda s: (-s[0], s[1]))[:_MAX_DEFS]
    return [item for _s, _o, item in sorted(chosen, key=lambda s: s[1])]


def fallback_summary(brief: FileBrief) -> str:
    """A summary without a model: the module docstring, else what the file defines."""
    if brief.doc:
        return brief.doc
    names = [qname for kind, qname, _sig, _doc in brief.definitions
             if "." not in qname and kind != "constant"][:5]
    if names:
        return "Defines " + ", ".join(names) + "."
    if brief.definitions:
        return "Defines " + ", ".join(q for _k, q, _s, _d in brief.definitions[:5]) + "."
    return ""
