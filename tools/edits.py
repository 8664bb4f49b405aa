"""Search/replace edit blocks: parsing a model's answer and applying it to a file's text.

Small models write these far more reliably than unified diffs with line numbers; the diff is
derived afterwards by git. A SEARCH matches whole lines only: exactly first, then ignoring
indentation and trailing spaces (the REPLACE is then shifted by the indentation the model got
wrong; a REPLACE that repeats the SEARCH's first line at another indentation is first shifted
to agree with its SEARCH); a single partial line is accepted only as a last resort, when it is
unique and starts and ends on a word boundary. Every failure comes back with a precise,
model-readable reason.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass

_SEARCH = re.compile(r"^\s*<{5,9}\s*SEARCH\s*$")
_DIVIDER = re.compile(r"^\s*={5,9}\s*$")
_REPLACE = re.compile(r"^\s*>{5,9}\s*REPLACE\s*$")
_FENCE = re.compile(r"^\s*```")
_WORD = re.compile(r"\w")
DEFAULT_TAB = 4  # columns a tab stands for when nothing in the block says otherwise


class EditFormatError(ValueError):
    """The answer is not a well-formed set of edit blocks."""


@dataclass(frozen=True)
class EditBlock:
    path: str  # "" when the answer did not name one
    search: str
    replace: str


def parse_blocks(text: str) -> list[EditBlock]:
    """SEARCH/REPLACE blocks in `text`, each with the path named on the line before it."""
    lines = _split(text)[0]
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


# --- lines ---------------------------------------------------------------------------------

def _split(text: str) -> tuple[list[str], list[str]]:
    """Lines without their ends, and each line's end ("\\n", "\\r\\n", or "" for a last line
    without one). Only \\n ends a line: a form feed or U+2028 inside a line is content."""
    parts = text.split("\n")
    lines, ends = [], []
    for part in parts[:-1]:
        if part.endswith("\r"):
            lines.append(part[:-1])
            ends.append("\r\n")
        else:
            lines.append(part)
            ends.append("\n")
    if parts[-1]:
        lines.append(parts[-1].removesuffix("\r"))
        ends.append("")
    return lines, ends


def _block_lines(text: str) -> list[str]:
    return _split(text)[0]


def _usual_end(ends: list[str]) -> str:
    crlf = ends.count("\r\n")
    return "\r\n" if crlf and crlf >= ends.count("\n") else "\n"


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


# --- applying one block ---------------------------------------------------------------------

def apply_block(content: str, block: EditBlock, path: str, number: int) -> str:
    """Apply one block (see the module docstring for the matching order)."""
    if block.replace == block.search:
        return content  # changes nothing: the caller refuses an answer that changes nothing
    lines, ends = _split(content)
    search, replace = _block_lines(block.search), _block_lines(block.replace)
    replace = _align_replace(search, replace)
    if not any(line.strip() for line in search):
        if content.strip():
            raise ApplyError(
                f"block {number}: the SEARCH part is empty, which only works for a new or "
                f"empty file; to add code to {path}, put in SEARCH the existing lines next to "
                "where it goes and repeat them in REPLACE with the new code added")
        return "".join(line + _usual_end(ends) for line in replace)
    for exact in (True, False):
        if not exact:
            search, replace = _trim_blank_edges(search, replace)
        spans = _runs(lines, search, exact)
        if len(spans) > 1:
            raise _ambiguous(number, path, spans, "" if exact else " (ignoring indentation)")
        if spans:
            start = spans[0]
            # even an exact match may come with a REPLACE indented in the other style
            shifted = _reindent(search, lines[start:start + len(search)], replace, lines)
            return _splice(lines, ends, start, len(search), shifted)
    partial = _partial_line(lines, ends, search, replace)
    if partial is not None:
        return partial
    raise ApplyError(f"block {number}: the SEARCH text was not found in {path}. "
                     + _closest_hint(lines, search))


def _runs(lines: list[str], search: list[str], exact: bool) -> list[int]:
    """Start indexes of the runs of consecutive lines equal to `search` (exactly, or ignoring
    leading and trailing whitespace)."""
    key = search if exact else [s.strip() for s in search]
    have = lines if exact else [line.strip() for line in lines]
    n = len(key)
    first = key[0]
    return [i for i in range(len(have) - n + 1) if have[i] == first and have[i:i + n] == key]


def _ambiguous(number: int, path: str, spans: list[int], how: str) -> ApplyError:
    where = ", ".join(str(s + 1) for s in spans[:6]) + (" …" if len(spans) > 6 else "")
    return ApplyError(f"block {number}: the SEARCH text occurs {len(spans)} times in {path}"
                      f"{how}, at lines {where}; include more surrounding lines so it matches "
                      "exactly once")


def _trim_blank_edges(search: list[str], replace: list[str]) -> tuple[list[str], list[str]]:
    """Drop blank lines around the SEARCH, and as many blank lines around the REPLACE: a
    model's blank first line must neither prevent the match nor add a line."""
    head = next(i for i, line in enumerate(search) if line.strip())
    tail = next(i for i, line in enumerate(reversed(search)) if line.strip())
    search = search[head:len(search) - tail]
    while head and replace and not replace[0].strip():
        replace, head = replace[1:], head - 1
    while tail and replace and not replace[-1].strip():
        replace, tail = replace[:-1], tail - 1
    return search, replace


def _splice(lines: list[str], ends: list[str], start: int, count: int,
            new: list[str]) -> str:
    """The text with lines[start:start+count] replaced by `new`; new lines end like the first
    replaced one, and a file without a final newline keeps lacking it."""
    end = ends[start] or _usual_end(ends)
    last = start + count == len(lines) and ends[-1] == ""
    new_ends = [end] * len(new)
    before_ends = ends[:start]
    if last:
        if new_ends:
            new_ends[-1] = ""
        elif before_ends:
            before_ends = [*before_ends[:-1], ""]
    out = [line + e for line, e in zip(lines[:start], before_ends, strict=True)]
    out += [line + e for line, e in zip(new, new_ends, strict=True)]
    out += [line + e for line, e in zip(lines[start + count:], ends[start + count:],
                                        strict=True)]
    return "".join(out)


def _partial_line(lines: list[str], ends: list[str], search: list[str],
                  replace: list[str]) -> str | None:
    """The last resort: a one-line SEARCH that is part of a line, found exactly once in the
    file and starting and ending on a word boundary (`x = 1` never matches inside `xx = 10`),
    replaced by a one-line REPLACE. None when that does not hold."""
    if len(search) != 1 or len(replace) != 1:
        return None
    needle, new = search[0].strip(), replace[0].strip()
    found = []
    for i, line in enumerate(lines):
        at = line.find(needle)
        while at != -1:
            found.append((i, at))
            at = line.find(needle, at + 1)
    if len(found) != 1:
        return None
    i, at = found[0]
    line = lines[i]
    after = at + len(needle)
    if (at > 0 and _WORD.match(needle[0]) and _WORD.match(line[at - 1])) or \
            (after < len(line) and _WORD.match(needle[-1]) and _WORD.match(line[after])):
        return None
    return _splice(lines, ends, i, 1, [line[:at] + new + line[after:]])


# --- indentation ----------------------------------------------------------------------------

def _align_replace(search: list[str], replace: list[str]) -> list[str]:
    """A REPLACE that starts with the SEARCH's first line at another indentation, and has no
    line indented less than that copy, was shifted as a whole by the model (httpx-73 at
    a11421e: a method's SEARCH at its class's 4 spaces, the REPLACE at 8, which left the
    method's old body under-indented): it is shifted back to start where the SEARCH does."""
    first_search = next((line for line in search if line.strip()), None)
    first_replace = next((line for line in replace if line.strip()), None)
    if first_search is None or first_replace is None or \
            first_search.strip() != first_replace.strip():
        return replace
    have, wanted = _indent(first_replace), _indent(first_search)
    if have == wanted or not all(line.startswith(have) for line in replace if line.strip()):
        return replace
    return [wanted + line[len(have):] if line.strip() else line for line in replace]


def _reindent(search: list[str], found: list[str], replace: list[str],
              file_lines: list[str]) -> list[str]:
    """The REPLACE lines with the indentation the model got wrong corrected: each model
    indentation width seen in the SEARCH maps to the file's width at that line; widths in
    between or beyond keep their distance to the nearest mapped one below (so the REPLACE's
    relative indentation is kept). Spaces become tabs in a tab-indented file and back."""
    pairs = [(_indent(m), _indent(f)) for m, f in zip(search, found, strict=True) if m.strip()]
    file_tabs = _uses_tabs([f for _m, f in pairs]) if any(f for _m, f in pairs) else \
        _uses_tabs([_indent(line) for line in file_lines])
    model_indents = [m for m, _f in pairs if m] or [_indent(r) for r in replace if r.strip()]
    model_tabs = _uses_tabs(model_indents) if any(model_indents) else file_tabs
    if model_tabs == file_tabs and all(m == f for m, f in pairs):
        return replace
    tab = _tab_width(pairs, model_tabs, file_tabs)

    def width(indent: str) -> int:
        return len(indent.expandtabs(tab))

    mapping: dict[int, int] = {}
    for m, f in pairs:
        mapping.setdefault(width(m), width(f))
    keys = sorted(mapping)
    out = []
    for line in replace:
        if not line.strip():
            out.append("")
            continue
        have = width(_indent(line))
        below = [k for k in keys if k <= have]
        anchor = below[-1] if below else keys[0]
        wanted = max(0, mapping[anchor] + have - anchor)
        indent = "\t" * (wanted // tab) + " " * (wanted % tab) if file_tabs else " " * wanted
        out.append(indent + line.lstrip(" \t"))
    return out


def _uses_tabs(indents: list[str]) -> bool:
    """Whether these indentations are mostly tabs (ties: spaces)."""
    counts = Counter(i[0] for i in indents if i)
    return counts["\t"] > counts[" "]


def _tab_width(pairs: list[tuple[str, str]], model_tabs: bool, file_tabs: bool) -> int:
    """Columns per tab: when one side indents with tabs and the other with spaces, how many
    spaces stand for a tab in the matched lines (DEFAULT_TAB when they do not say)."""
    if model_tabs == file_tabs:
        return DEFAULT_TAB
    ratios = []
    for m, f in pairs:
        tabs, spaces = (m, f) if model_tabs else (f, m)
        if tabs and set(tabs) == {"\t"} and spaces and set(spaces) == {" "}:
            ratios.append((len(tabs), len(spaces)))
    levels = sorted(set(ratios))
    if len(levels) >= 2 and levels[-1][0] != levels[0][0]:
        step = (levels[-1][1] - levels[0][1]) / (levels[-1][0] - levels[0][0])
        if step.is_integer() and step > 0:
            return int(step)
    if levels and levels[0][1] % levels[0][0] == 0:
        return levels[0][1] // levels[0][0]
    return DEFAULT_TAB


def _closest_hint(lines: list[str], search: list[str]) -> str:
    if not lines:
        return "The file is empty."
    n = len(search)
    best, best_at = 0.0, 0
    target = "\n".join(w.strip() for w in search)
    for i in range(0, max(1, len(lines) - n + 1)):
        window = "\n".join(line.strip() for line in lines[i:i + n])
        ratio = difflib.SequenceMatcher(None, window, target, autojunk=False).quick_ratio()
        if ratio > best:
            best, best_at = ratio, i
    if best < 0.5:
        return "Nothing in the file is similar; copy the SEARCH lines exactly from the file."
    last = min(len(lines), best_at + n)
    excerpt = "\n".join(lines[best_at:last])
    return f"The most similar lines are {best_at + 1}-{last}; copy them exactly:\n{excerpt}"
