"""Render the map for a reader or a prompt: files by (focused) rank, key definitions with
signatures, and co-change hints, fitted greedily to a token budget.

This text is what task time puts in the model's prompt, so it is deterministic and compact.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sleepcoder.tools.history import HistoryView
from sleepcoder.tools.rank import focus_tokens
from sleepcoder.tools.search import split_identifier, tokenize
from sleepcoder.tools.store import MapStore

_TOP_LEVEL = frozenset({"class", "interface", "struct", "enum", "trait", "type", "function",
                        "module", "macro"})
_SKIP_KINDS = frozenset({"declaration", "constant"})


def estimate_tokens(text: str) -> int:
    """Roughly 4 characters per token for code and English (no tokenizer needed offline)."""
    return math.ceil(len(text) / 4)


@dataclass
class ShownDefinition:
    kind: str
    qname: str
    signature: str
    line: int
    doc: str
    callers: int


@dataclass
class ShownFile:
    path: str
    score: float
    language: str
    lines: int
    doc: str
    summary: str = ""
    summary_source: str = ""  # llm, fallback (docstrings and signatures), "" (none)
    definitions: list[ShownDefinition] = field(default_factory=list)
    cochanges: list[dict] = field(default_factory=list)


@dataclass
class RenderedMap:
    root: str
    commit: str
    focus: str
    budget: int
    tokens: int
    total_files: int
    files: list[ShownFile]
    text: str
    overview: list[dict] = field(default_factory=list)  # directory summaries shown
    likely_changes: list[dict] = field(default_factory=list)  # anticipated requests shown

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def ranked_files(store: MapStore, focus: str = "", scores: dict[str, float] | None = None
                 ) -> list[tuple[str, float]]:
    """All mapped files, best first.

    Without a focus: the stored PageRank. With one: the localizer's probability that a
    request saying `focus` modifies the file (tools/localize.py, the same model and
    calibration as `solve`), so the map a plan sees and the files it edits agree. `scores`:
    that localizer's scores for this focus, already computed (`Localization.scores`).
    """
    rows = store.conn.execute("SELECT path, rank FROM files WHERE status='ok'").fetchall()
    if not focus.strip() or not rows:
        return sorted(rows, key=lambda r: (-r[1], r[0]))
    if scores is None:
        from sleepcoder.tools.localize import localize

        root = Path(store.get_meta("root") or ".")
        scores = localize(store, root, focus, limit=0).scores
    return sorted(((path, scores.get(path, 0.0)) for path, _rank in rows),
                  key=lambda r: (-r[1], r[0]))


def render_map(store: MapStore, budget: int = 2048, focus: str = "",
               max_defs: int = 12, likely_changes: bool = True,
               scores: dict[str, float] | None = None, root_name_only: bool = False
               ) -> RenderedMap:
    """The map as text within `budget` tokens: an overview of the main directories (from the
    sleep pass, up to 15% of the budget), files by relevance with their summaries, key
    definitions and co-change hints, then anticipated changes (up to 15%; left out with
    `likely_changes=False`, e.g. where a small model might take them for its task). `scores`:
    the localizer's scores for `focus` when the caller has them (see `ranked_files`).
    `root_name_only`: the header names the repository's folder, not its path on this machine
    (for text sent to a model, which may be a remote API)."""
    ranked = ranked_files(store, focus, scores)
    info = {path: (lang, lines, doc) for path, lang, lines, doc in store.conn.execute(
        "SELECT f.path, f.language, b.lines, b.doc FROM files f JOIN blobs b ON b.id = f.fid "
        "WHERE f.status='ok'")}
    callers = _caller_counts(store)
    history = HistoryView(store.conn, existing=set(info))
    summaries = store.file_summaries()
    tokens = focus_tokens(focus)
    idf = _definition_idf(store, tokens)
    commit = store.get_meta("commit") or ""
    root = store.get_meta("root") or ""
    header = _header(Path(root).name if root_name_only and root else root, commit,
                     len(ranked), focus, store.get_meta("sleep_mode") or "",
                     store.get_meta("sleep_model") or "")
    parts = [header]
    used = estimate_tokens(header)
    overview_text, overview = _overview(store, ranked, budget * 0.15)
    if overview_text:
        parts.append(overview_text)
        used += estimate_tokens(overview_text)
    changes_text, changes = _likely_changes(store, tokens, budget * 0.15) if likely_changes \
        else ("", [])
    reserve = estimate_tokens(changes_text) if changes_text else 0
    shown: list[ShownFile] = []
    if ranked:
        parts.append("## Files")
        used += 3
    for position, (path, score) in enumerate(ranked):
        lang, lines, doc = info[path]
        summary, source = summaries.get(path, ("", ""))
        entry = ShownFile(path, round(score, 6), lang or "other", lines, doc, summary, source)
        limit = max(2, max_defs - position // 4)
        entry.definitions = _key_definitions(store, path, callers, idf, limit)
        entry.cochanges = [{"path": c.path, "count": c.count,
                            "confidence": round(c.confidence, 2)}
                           for c in history.cochanges(path, limit=3) if c.confidence >= 0.2]
        text = _format_file(entry)
        cost = estimate_tokens(text)
        if used + cost + reserve > budget:
            entry.definitions = entry.definitions[:2]
            entry.cochanges = entry.cochanges[:1]
            text = _format_file(entry)
            cost = estimate_tokens(text)
            if used + cost + reserve > budget:
                break
        parts.append(text)
        used += cost
        shown.append(entry)
    if changes_text:
        parts.append(changes_text)
    text = "\n".join(parts)
    return RenderedMap(root, commit, focus, budget, estimate_tokens(text), len(ranked), shown,
                       text, overview, changes)


def _overview(store: MapStore, ranked: list[tuple[str, float]], limit: float
              ) -> tuple[str, list[dict]]:
    """The repository and its most central directories, as the sleep pass summarized them."""
    dirs = store.dir_summaries()
    if not dirs:
        return "", []
    weight: dict[str, float] = defaultdict(float)
    for path, score in ranked:
        directory = path.rpartition("/")[0]
        while directory:
            weight[directory] += score
            directory = directory.rpartition("/")[0]
    order = [""] + sorted((d for d in dirs if d), key=lambda d: (-weight.get(d, 0.0), d))
    lines, items = ["## Overview"], []
    for directory in order:
        if directory not in dirs:
            continue
        text, source = dirs[directory]
        line = f"{directory or '(repository)'}/: {text}" if directory else f"{text}"
        if source == "fallback":
            line += "  [no model: from docstrings]"
        if estimate_tokens("\n".join([*lines, line])) > limit:
            break
        lines.append(line)
        items.append({"path": directory, "summary": text, "source": source})
    return ("\n".join(lines), items) if items else ("", [])


def _likely_changes(store: MapStore, focus: set[str], limit: float) -> tuple[str, list[dict]]:
    """Anticipated feature requests (sleep pass), the ones closest to the focus first."""
    notes = store.notes("anticipated")
    if not notes:
        return "", []
    scored = []
    for order, (subject, request, files, reason, _source, _key) in enumerate(notes):
        overlap = len(focus & focus_tokens(request + " " + " ".join(files))) if focus else 0
        scored.append((-overlap, order, subject, request, files, reason))
    scored.sort()
    lines, items = ["## Likely changes (anticipated at sleep time)"], []
    for _o, _n, subject, request, files, reason in scored:
        line = f"- {request} -> {', '.join(files)}"
        if estimate_tokens("\n".join([*lines, line])) > limit:
            break
        lines.append(line)
        items.append({"subsystem": subject, "request": request, "files": list(files),
                      "reason": reason})
    return ("\n".join(lines), items) if items else ("", [])


def _header(root: str, commit: str, total: int, focus: str, sleep_mode: str,
            sleep_model: str) -> str:
    at = f" @ {commit[:10]}" if commit else ""
    line = f"# Repository map of {root}{at}: {total} files, most relevant first"
    if focus.strip():
        line += f" for: {focus.strip()[:120]}"
    if sleep_mode == "llm":
        line += f"\n(summaries and notes by {sleep_model} at sleep time)"
    elif sleep_mode == "no-llm":
        line += "\n(no model at sleep time: summaries are docstrings and signatures, notes " \
                "come from history only)"
    return line


def _caller_counts(store: MapStore) -> dict[tuple[str, str], int]:
    """(path, qname) -> number of distinct other files that use it (resolved edges only:
    name-only guesses, `attr` and `ambiguous`, would inflate the count)."""
    return {(dst, qname): n for dst, qname, n in store.conn.execute(
        "SELECT dst, dst_qname, COUNT(DISTINCT src) FROM call_edges WHERE src != dst "
        "AND how IN ('import', 'global', 'local', 'self') GROUP BY dst, dst_qname")}


def _definition_idf(store: MapStore, focus: set[str]) -> dict[str, float]:
    """Inverse document frequency over all definitions (name and doc words) of each focus
    word: a word every class mentions says little about which one the focus means."""
    if not focus:
        return {}
    df = dict.fromkeys(focus, 0)
    total = 0
    for name, doc in store.conn.execute("SELECT name, doc FROM defs"):
        total += 1
        for word in (set(split_identifier(name)) | set(tokenize(doc))) & focus:
            df[word] += 1
    return {word: math.log(1 + total / (1 + n)) for word, n in df.items()}


def definition_relevance(name: str, signature: str, doc: str, idf: dict[str, float]) -> float:
    """How much a definition is about the focus: its name's words count double, its doc's
    and signature's once, each by how rare it is among the map's definitions."""
    if not idf:
        return 0.0
    in_name = set(split_identifier(name)) & idf.keys()
    in_text = (set(tokenize(f"{signature} {doc}")) & idf.keys()) - in_name
    return sum(2 * idf[w] for w in in_name) + sum(idf[w] for w in in_text)


def _key_definitions(store: MapStore, path: str, callers: dict[tuple[str, str], int],
                     idf: dict[str, float], limit: int) -> list[ShownDefinition]:
    """The file's most useful definitions: with a focus, the ones about it first (a class
    with its methods, ordered by their best relevance), else the most used, in file order."""
    fid_row = store.conn.execute("SELECT fid FROM files WHERE path=?", (path,)).fetchone()
    rows = store.conn.execute(
        "SELECT kind, name, qname, signature, doc, start_line FROM defs WHERE fid=? "
        "ORDER BY start_line", (fid_row[0],)).fetchall()
    scored = []
    relevance: dict[str, float] = {}
    for order, (kind, name, qname, signature, doc, line) in enumerate(rows):
        if kind in _SKIP_KINDS or (name.startswith("_") and not name.startswith("__init")):
            continue
        count = callers.get((path, qname), 0)
        relevance[qname] = definition_relevance(name, signature, doc, idf)
        score = count * 2 + (3 if kind in _TOP_LEVEL and "." not in qname else 0)
        score += 10 * relevance[qname]
        scored.append((score, order, ShownDefinition(kind, qname, signature, line, doc, count)))
    chosen = sorted(scored, key=lambda s: (-s[0], s[1]))[:limit]
    # a method is shown under its class: bring in the class line when it was not chosen
    by_qname = {row[2]: (order, row) for order, row in enumerate(rows)}
    have = {item.qname for _s, _o, item in chosen}
    for _score, _order, item in list(chosen):
        parent = item.qname.rpartition(".")[0]
        while parent and parent not in have and parent in by_qname:
            order, (kind, _name, qname, signature, doc, line) = by_qname[parent]
            chosen.append((0, order, ShownDefinition(kind, qname, signature, line, doc,
                                                     callers.get((path, qname), 0))))
            have.add(parent)
            parent = parent.rpartition(".")[0]
    if not any(relevance.values()):
        return [item for _score, _order, item in sorted(chosen, key=lambda s: s[1])]
    # most relevant first, keeping each definition under its enclosing one
    best: dict[str, float] = {}
    for _score, _order, item in chosen:
        value = relevance.get(item.qname, 0.0)
        parts = item.qname.split(".")
        for depth in range(1, len(parts) + 1):
            prefix = ".".join(parts[:depth])
            best[prefix] = max(best.get(prefix, 0.0), value)
    order_of = {item.qname: order for _s, order, item in chosen}

    def key(item: ShownDefinition) -> tuple:
        parts = item.qname.split(".")
        return tuple(step for depth in range(1, len(parts) + 1) for step in (
            -best.get(".".join(parts[:depth]), 0.0),
            order_of.get(".".join(parts[:depth]), 0)))

    return sorted((item for _s, _o, item in chosen), key=key)


def _format_file(entry: ShownFile) -> str:
    about = entry.summary or entry.doc
    label = "  [from docstrings]" if entry.summary_source == "fallback" else ""
    lines = [f"{entry.path}" + (f"  — {about}{label}" if about else "")]
    for d in entry.definitions:
        indent = "    " * (1 + d.qname.count("."))
        used_by = f"  [used by {d.callers} files]" if d.callers > 1 else ""
        doc = f"  — {d.doc[:100]}" if d.doc else ""
        signature = d.signature or d.qname
        if len(signature) > 140:
            signature = signature[:139] + "…"
        lines.append(f"{indent}{signature}{used_by}{doc}")
    if entry.cochanges:
        hints = ", ".join(f"{c['path']} ({c['confidence']:.0%})" for c in entry.cochanges)
        lines.append(f"    changes with: {hints}")
    return "\n".join(lines)
