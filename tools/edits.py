"""Search/replace edit blocks: parsing a model's answer and applying it to a file's text.

Small models write these far more reliably than unified diffs with line numbers; the diff is
derived afterwards by git. Matching is exact first, then tolerant of whitespace (indentation
and trailing spaces); every failure comes back with a precise, model-readable reason.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

_SEARCH = re.compile(r"^\s*<{5,9}\s*SEARCH\s*$")
_DIVIDER = re.compile(r"^\s*={5,9}\s*$")
_REPLACE = re.compile(r"^\s*>{5,9}\s*REPLACE\s*$")
_FENCE = re.compile(r"^\s*```")


class EditFormatError(ValueError):
    """The answer is not a well-formed set of edit blocks."""


@dataclass(frozen=True)
class EditBlock:
    path: str  # "" when the answer did not name one
    search: str
    replace: str


def parse_blocks(text: str) -> list[EditBlock]:
    """SEARCH/REPLACE blocks in `text`, each with the path named on the line before it."""
    lines = text.splitlines()
    blocks: list[EditBlock] = []
    i = 0
    last_path = ""
    while i < len(lines):
        line = lines[i]
        if _SEARCH.match(line):
            search, i = _collect(lines, i + 1, _DIVIDER, "=======", len(blocks) + 1)
            replace, i = _collect(lines, i + 1, _REPLACE, ">>>>>>> REPLACE", len(blocks) + 1)
            blocks.append(EditBlock(last_path, search, replace))
        else:
            candidate = line.strip().strip("`*:").strip()
            if candidate and not _FENCE.match(line) and " " not in candidate and \
                    ("/" in candidate or "." in candidate):
                last_path = candidate
        i += 1
    return blocks


def _collect(lines: list[str], start: int, end: re.Pattern, marker: str,
             number: int) -> tuple[str, int]:
    out = []
    i = start
    while i < len(lines):
        if end.match(lines[i]):
            return "\n".join(out) + ("\n" if out else ""), i
        if _SEARCH.match(lines[i]):
            break
        out.append(lines[i])
        i += 1
    raise EditFormatError(f"edit block {number} is not closed: expected a line `{marker}`")


def whole_file(text: str) -> str | None:
    """The content of the fenced code block of an answer (a file written whole), else None.

    An unclosed fence (an answer cut off by the length limit) gives None: half a file is
    worse than none."""
    match = re.search(r"```[^\n]*\n(.*?)\n?```", text, re.DOTALL)
    return match.group(1) + "\n" if match else None


class ApplyError(ValueError):
    """A block could not be applied; the message is meant for the model."""


def apply_blocks(content: str, blocks: list[EditBlock], path: str) -> str:
    """Apply blocks in order; raise ApplyError naming the first block that does not fit."""
    for number, block in enumerate(blocks, 1):
        content = apply_block(content, block, path, number)
    return content


def apply_block(content: str, block: EditBlock, path: str, number: int) -> str:
    search, replace = block.search, block.replace
    if not search.strip():
        return content + ("" if content.endswith("\n") or not content else "\n") + replace
    count = content.count(search)
    if count == 1:
        return content.replace(search, replace, 1)
    if count > 1:
        raise ApplyError(f"block {number}: the SEARCH text occurs {count} times in {path}; "
                         "include more surrounding lines so it matches exactly once")
    spans = _tolerant_matches(content, search)
    if len(spans) == 1:
        start, end, indent = spans[0]
        lines = content.splitlines(keepends=True)
        new = _reindent(replace, indent)
        return "".join(lines[:start]) + new + "".join(lines[end:])
    if len(spans) > 1:
        raise ApplyError(f"block {number}: the SEARCH text matches {len(spans)} places in "
                         f"{path} (ignoring whitespace); include more surrounding lines")
    raise ApplyError(f"block {number}: the SEARCH text was not found in {path}. "
                     + _closest_hint(content, search))


def _normal(line: str) -> str:
    return line.strip()


def _tolerant_matches(content: str, search: str) -> list[tuple[int, int, str]]:
    """(start line, end line, indentation delta) of whitespace-insensitive matches."""
    lines = content.splitlines()
    wanted = [line for line in search.splitlines()]
    while wanted and not wanted[0].strip():
        wanted.pop(0)
    while wanted and not wanted[-1].strip():
        wanted.pop()
    if not wanted:
        return []
    key = [_normal(line) for line in wanted]
    n = len(key)
    found = []
    for i in range(len(lines) - n + 1):
        if [_normal(line) for line in lines[i:i + n]] == key:
            found.append((i, i + n, _indent_delta(wanted[0], lines[i])))
    return found


def _indent_delta(written: str, actual: str) -> str:
    """The indentation the file has in front of what the model wrote (may be empty)."""
    have = actual[: len(actual) - len(actual.lstrip())]
    gave = written[: len(written) - len(written.lstrip())]
    return have[len(gave):] if have.startswith(gave) else have


def _reindent(text: str, indent: str) -> str:
    if not indent:
        return text if text.endswith("\n") or not text else text + "\n"
    out = [(indent + line if line.strip() else line) for line in text.splitlines()]
    return "\n".join(out) + "\n"


def _closest_hint(content: str, search: str) -> str:
    lines = content.splitlines()
    wanted = search.strip("\n").splitlines()
    if not lines or not wanted:
        return "The file is empty."
    n = len(wanted)
    best, best_at = 0.0, 0
    target = "\n".join(w.strip() for w in wanted)
    for i in range(0, max(1, len(lines) - n + 1)):
        window = "\n".join(line.strip() for line in lines[i:i + n])
        ratio = difflib.SequenceMatcher(None, window, target, autojunk=False).quick_ratio()
        if ratio > best:
            best, best_at = ratio, i
    if best < 0.5:
        return "Nothing in the file is similar; copy the SEARCH lines exactly from the file."
    excerpt = "\n".join(lines[best_at:best_at + n])
    return (f"The most similar lines are {best_at + 1}-{best_at + n}; copy them exactly:\n"
            f"{excerpt}")
