"""Which definitions a change touched: for each hunk of the line diff between two versions of
a file, the definitions (tree-sitter, as in the map) the changed lines fall in, by qualified
name. Deterministic; used to tell the user what a patch did, file by file.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

from sleepcoder.tools.facts import Definition
from sleepcoder.tools.languages import language_for_path
from sleepcoder.tools.parse import extract_facts
from sleepcoder.tools.worktree import GitError, git


def touched_definitions(old_text: str, new_text: str, language: str | None) -> list[str]:
    """Qualified names of the definitions of `new_text` that the change from `old_text`
    touched, in file order. Per hunk: the outermost definitions lying wholly in the changed
    lines (a new method, not each of its inner functions), any definition the hunk cuts
    across, and otherwise the innermost definition around it. Removed lines count for the
    definition they were in, if it still exists; a definition removed whole is not listed."""
    if language is None or old_text == new_text:
        return []
    new_defs = extract_facts(new_text.encode(), language).definitions
    old_defs = extract_facts(old_text.encode(), language).definitions if old_text else []
    first_line = {}
    for d in new_defs:
        first_line.setdefault(d.qname, d.start_line)
    found: dict[str, int] = {}
    matcher = difflib.SequenceMatcher(None, old_text.splitlines(), new_text.splitlines(),
                                      autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if j2 > j1:
            for d in _in_hunk(new_defs, j1 + 1, j2):
                found.setdefault(d.qname, d.start_line)
        if i2 > i1:
            for d in _in_hunk(old_defs, i1 + 1, i2):
                if d.qname in first_line:
                    found.setdefault(d.qname, first_line[d.qname])
    return sorted(found, key=lambda q: (found[q], q))


def _in_hunk(defs: Iterable[Definition], first: int, last: int) -> list[Definition]:
    """The definitions a hunk of lines first..last (1-based, inclusive) touches."""
    inside, across, around = [], [], []
    for d in defs:
        if d.end_line < first or d.start_line > last:
            continue
        if first <= d.start_line and d.end_line <= last:
            inside.append(d)
        elif d.start_line <= first and d.end_line >= last:
            around.append(d)
        else:
            across.append(d)
    inside = [d for d in inside if not any(o is not d and _contains(o, d) for o in inside)]
    across = [d for d in across if not any(o is not d and _contains(d, o) for o in across)]
    if inside or across:
        return inside + across
    return [min(around, key=lambda d: d.end_line - d.start_line)] if around else []


def _contains(outer: Definition, inner: Definition) -> bool:
    return outer.start_line <= inner.start_line and inner.end_line <= outer.end_line and \
        (outer.start_line, outer.end_line) != (inner.start_line, inner.end_line)


def touched_in_worktree(worktree: Path, base: str, paths: Iterable[str]) -> dict[str, list[str]]:
    """For each path changed since `base` in a scratch worktree, the definitions touched
    (a file added since `base` counts from empty; one that cannot be read is left out)."""
    out: dict[str, list[str]] = {}
    for path in paths:
        try:
            new = (worktree / path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        try:
            old = git(worktree, "show", f"{base}:{path}").stdout
        except GitError:  # not in the base commit: a new file
            old = ""
        except UnicodeDecodeError:
            continue
        out[path] = touched_definitions(old, new, language_for_path(path))
    return out
