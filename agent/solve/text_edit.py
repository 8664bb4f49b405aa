"""The `symbols` format for a planned file without a parser (documentation, a template, a
configuration file): the model writes only the new lines the change adds, then picks where
they go from a numbered list of the file's places (the sections of a Markdown or
reStructuredText file, else its blocks or lines); the tool inserts them.

Search/replace blocks, the file-level format, failed on six of the nineteen planned files that
did not land on the dev subset at 62b8e7e: all of them such files (docs/signals.rst,
templates/table.html, pyproject.toml, ...), either copied SEARCH text unchanged into REPLACE
or were cut off by the length limit while copying it. Asked for the new lines only, a small
model never has to reproduce old text, and the place is a grammar-constrained choice.
A file without sections that has a line the request names gets line_edit.py's question
instead (the model rewrites that line).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from sleepcoder.agent.solve import grammars
from sleepcoder.agent.solve.asking import repeats_itself
from sleepcoder.agent.solve.context import SolveContext, prompt
from sleepcoder.agent.solve.edit import FileResult, other_files
from sleepcoder.agent.solve.line_edit import ELISION, edit_line, focus_lines
from sleepcoder.agent.solve.plan import Plan, Step
from sleepcoder.agent.solve.syntax import EditRejected
from sleepcoder.agent.solve.units import code_blocks
from sleepcoder.tools.search import tokenize

MAX_PLACES = 40
OUTLINE_CHARS = 3000  # a file without sections is shown up to this much
KINDS = {".rst": " (reStructuredText)", ".md": " (Markdown)", ".html": " (an HTML template)",
         ".toml": " (TOML)", ".json": " (JSON)", ".yml": " (YAML)", ".yaml": " (YAML)",
         ".txt": " (text)", ".cfg": " (configuration)", ".ini": " (configuration)"}
NEW_LINES_TOKENS = 500
PLACE_TOKENS = 600  # the question where the new lines go
SHORT_LINE = 8  # shorter new lines do not count in telling new lines from copied ones
_RST_UNDERLINE = re.compile(r"^([=\-~^*#+`'\".:_])\1{2,}\s*$")
_MD_HEADING = re.compile(r"^#{1,6}\s+\S")
_NESTED_FENCE = re.compile(r"\A(?:\s*```[^\n]*\n)+")


@dataclass
class Place:
    after: int  # 1-based line the new lines go after (0: the start of the file)
    label: str
    blank: bool  # a section or block boundary: the new lines are set off by blank lines
    indent: str = ""  # a line of an indented file (a template): the new lines' indentation


def places(content: str, path: str, focus: str = "") -> list[Place]:
    """Where new lines may go: after each section's text (Markdown `#` headings, reST
    underlined titles), else after each blank-line separated block, else after each line;
    the end of the file always; never inside a Markdown fenced code block. Ranked by the
    words they share with `focus` when there are more than MAX_PLACES, then kept in file
    order."""
    lines = split_lines(content)
    fenced, heads = _sections(lines, path)
    found: list[Place] = []
    if heads:
        starts = [start for start, _ in heads] + [len(lines) + 1]
        for (start, title), following in zip(heads, starts[1:], strict=True):
            end = following - 1
            while end > start and not lines[end - 1].strip():
                end -= 1
            found.append(Place(end, f"end of the section \"{title[:80]}\"", True))
    else:
        blocks = _blocks(lines)
        if len(blocks) >= 3:
            # before an indented block (an reST directive's body, a nested list or mapping)
            # unindented lines would cut it off: the new lines take its indentation
            found = [Place(last, f"after the block starting \"{lines[first - 1].strip()[:80]}\"",
                           True, _indent(lines[after - 1]) if after else "")
                     for (first, last), (after, _) in zip(blocks, [*blocks[1:], (0, 0)],
                                                          strict=True)]
        else:
            found = [Place(n, f"after \"{line.strip()[:80]}\"", False, _indent(line))
                     for n, line in enumerate(lines, 1) if line.strip()]
    found = [p for p in found if p.after not in fenced]
    last = next((p for p in found if p.after >= len(lines)), None)
    found = [p for p in found if p.after < len(lines)]
    end = f"{last.label}, at the end of the file" if last else "at the end of the file"
    return [*best_places(found, focus), Place(len(lines), end, True)]


def best_places(found: list[Place], focus: str) -> list[Place]:
    """At most MAX_PLACES - 1 of `found` (room for the end of the file), those whose labels
    share the most words with `focus`, kept in file order."""
    if len(found) <= MAX_PLACES - 1:
        return found
    wanted = set(tokenize(focus))
    ranked = sorted(found, key=lambda p: -len(wanted & set(tokenize(p.label))))
    keep = {id(p) for p in ranked[:MAX_PLACES - 1]}
    return [p for p in found if id(p) in keep]


def split_lines(content: str) -> list[str]:
    """The lines of `content` as editors and git count them: ended by a newline only (not by
    the form feeds and Unicode separators `str.splitlines` also splits at); each keeps a
    carriage return of a CRLF ending."""
    lines = content.split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _sections(lines: list[str], path: str) -> tuple[set[int], list[tuple[int, str]]]:
    """The lines inside Markdown fenced code (empty for other files) and the headings."""
    fenced = _fenced(lines) if path.lower().endswith((".md", ".markdown")) else set()
    return fenced, _headings(lines, path, fenced)


def _fenced(lines: list[str]) -> set[int]:
    """The 1-based lines after which new lines would land inside a fenced code block: from
    an opening fence to the line before the fence that closes it (same character, at least
    as long; an unclosed fence runs to the end of the file)."""
    inside: set[int] = set()
    fence = ""
    for n, line in enumerate(lines, 1):
        stripped = line.strip()
        if not fence:
            # a backtick in the info string makes it inline code (```x```), not a fence
            opening = re.match(r"(`{3,})[^`]*$|(~{3,})", stripped)
            if opening:
                fence = opening.group(1) or opening.group(2)
                inside.add(n)
        elif stripped.startswith(fence) and not stripped.strip(fence[0]):
            fence = ""
        else:
            inside.add(n)
    return inside


def _headings(lines: list[str], path: str, fenced: set[int]) -> list[tuple[int, str]]:
    """(1-based line where the heading starts, its title), outside fenced code."""
    lower = path.lower()
    heads: list[tuple[int, str]] = []
    if lower.endswith((".md", ".markdown")):
        for n, line in enumerate(lines, 1):
            if n not in fenced and _MD_HEADING.match(line):
                heads.append((n, line.lstrip("#").strip()))
    elif lower.endswith((".rst", ".txt", ".rest")):
        for n in range(2, len(lines) + 1):
            title, under = lines[n - 2], lines[n - 1]
            if title.strip() and not title.startswith(" ") and _RST_UNDERLINE.match(under) \
                    and len(under.rstrip()) >= len(title.rstrip()) \
                    and not _RST_UNDERLINE.match(title):
                start = n - 1
                # an overline is the underline's twin (docutils requires it) at the start
                # of the file or after a blank line; another title's underline right above
                # is not one
                if start > 1 and lines[start - 2].rstrip() == under.rstrip() and (
                        start == 2 or not lines[start - 3].strip()):
                    start -= 1
                heads.append((start, title.strip()))
    return heads


def _blocks(lines: list[str]) -> list[tuple[int, int]]:
    """(first, last) 1-based lines of each run of non-blank lines."""
    blocks, first = [], 0
    for n, line in enumerate(lines, 1):
        if line.strip() and not first:
            first = n
        elif not line.strip() and first:
            blocks.append((first, n - 1))
            first = 0
    if first:
        blocks.append((first, len(lines)))
    return blocks


def insert(content: str, place: Place, new_lines: str) -> str:
    """`content` with `new_lines` after `place`: set off by one blank line on each side at a
    section or block boundary; given the place's indentation when the new lines have none;
    in the file's line ending (CRLF or LF). The old lines stay byte for byte, but for the
    newline a last line without one gets when lines go after it."""
    lines = [line + "\n" for line in split_lines(content)]
    if lines and not content.endswith("\n"):
        lines[-1] = lines[-1][:-1]
    ending = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    if place.after >= len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += ending
    new = [line.rstrip() for line in new_lines.strip("\n").splitlines()]
    if place.indent and all(not line or not line[0].isspace() for line in new):
        new = [place.indent + line if line else line for line in new]
    before, after = lines[:place.after], lines[place.after:]
    if place.blank:
        if before and before[-1].strip():
            new = ["", *new]
        if after and after[0].strip():
            new = [*new, ""]
    return "".join(before + [line + ending for line in new] + after)


def new_lines_from(answer: str, content: str, truncated: bool = False) -> str:
    """The new lines of an answer; EditRejected when there is no code block, or when every
    line of it is already in the file (a copy, not an addition). Of an answer the length
    limit cut off (`truncated`), the last, incomplete line is dropped."""
    if answer.strip().upper() == "NONE":
        raise EditRejected("the answer was NONE, but the plan needs this file to change")
    blocks = code_blocks(answer)
    if not blocks:
        raise EditRejected("no code block with the new lines")
    existing = {line.strip() for line in content.splitlines() if line.strip()}
    # an elision mark copied from where the shown text was cut (…) is not a new line
    # nor is a fence that opens a block inside the block (```html after ```)
    kept = [line for line in _NESTED_FENCE.sub("", blocks[0]).splitlines(keepends=True)
            if not ELISION.match(line) or line.strip() in existing]
    text = _without_copied_head("".join(kept), existing)
    if truncated:
        # datasette-192 at 2574b04: a copy of the template cut off by the limit left
        # `<select name="_filter` after its copied lines, and that was inserted
        # (lines end at a newline only: a U+2028 in the line does not end it)
        text = text[: text.rfind("\n", 0, len(text) - 1) + 1]
    if repeats_itself(text):
        text = _before_the_loop(text)
    written = [line.strip() for line in text.splitlines() if line.strip()]
    if not written:
        raise EditRejected("no complete new line before the length limit" if truncated
                           else "the code block is empty")
    # short lines (`</li>`, a fence, a bracket) a new element repeats tell nothing of a copy
    telling = [line for line in written if len(line) >= SHORT_LINE] or written
    fresh = [line for line in telling if line not in existing]
    if not fresh or len(fresh) < len(telling) / 2:
        raise EditRejected("the new lines are (mostly) already in the file: write only the "
                           "lines the change adds, not lines that are there")
    return text


def _before_the_loop(text: str) -> str:
    """`text` up to where two consecutive non-blank lines come again (flask-307 at 2574b04:
    `.. automodule:: flask.views` with `:members: route`, over and over until the length
    limit): the lines written once are kept, the loop is not."""
    lines = text.splitlines(keepends=True)
    filled = [n for n, line in enumerate(lines) if line.strip()]
    seen: set[tuple[str, str]] = set()
    for first, second in zip(filled, filled[1:], strict=False):
        pair = (lines[first].strip(), lines[second].strip())
        if pair in seen:
            return "".join(lines[:first]).rstrip("\n") + "\n"
        seen.add(pair)
    return text


def _without_copied_head(text: str, existing: set[str]) -> str:
    """`text` less its leading lines that are lines of the file (a model that starts by
    copying the file and then writes new text: the new text is kept); `text` itself when
    every line is copied. `existing`: the file's non-blank lines, stripped."""
    lines = text.splitlines(keepends=True)
    start = 0
    while start < len(lines) and (not lines[start].strip() or lines[start].strip() in existing
                                  # a copied title's underline of another length
                                  # (flask-687 at 2574b04: a lone `========` went in)
                                  or start and _RST_UNDERLINE.match(lines[start])):
        start += 1
    return "".join(lines[start:]) if start < len(lines) else text


def outline(content: str, path: str) -> str:
    """What the new-lines question shows of the file: for a file with sections, their
    titles only (shown its whole text, the 1.5B copied it back on all four reST files of
    the dev subset at 0fa2542, instead of writing new lines); for another file (one with no
    line the change names: those get line_edit.py's question), its text up to
    OUTLINE_CHARS."""
    kind = KINDS.get(Path(path).suffix.lower(), "")
    lines = split_lines(content)
    titles = [title for _, title in _sections(lines, path)[1]]
    if titles:
        # on one line: given as a list, the 1.5B answered with the list
        shown = "; ".join(f"\"{title[:100]}\"" for title in titles[:MAX_PLACES * 2])
        return (f"{path}{kind} has {len(lines):,} lines in {len(titles)} sections: {shown}. "
                "The new lines are text of their own, not a copy of these titles.")
    if len(content) <= OUTLINE_CHARS:
        return f"Current content of {path}{kind}:\n{content}"
    head = content[:OUTLINE_CHARS].rsplit("\n", 1)[0]
    return f"The start of {path}{kind} ({len(lines):,} lines):\n{head}\n\u2026"


def data_error(path: str, content: str) -> str:
    """Why `content` is not valid for a data file's format (JSON, TOML, YAML); '' when it is,
    or when the format is not checked. YAML is read with the safe loader (no tags that build
    objects), every document of a multi-document file."""
    lower = path.lower()
    try:
        if lower.endswith(".json"):
            json.loads(content)
        elif lower.endswith(".toml"):
            tomllib.loads(content)
        elif lower.endswith((".yml", ".yaml")):
            import yaml  # only for YAML files: 20 ms of import

            for _document in yaml.safe_load_all(content):
                pass
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        return str(exc).splitlines()[0][:200]
    except RecursionError:  # the parsers recurse once per nesting level
        return "nested too deeply to be read"
    except Exception as exc:  # yaml.YAMLError and its subclasses, without importing yaml
        if type(exc).__module__.startswith("yaml"):
            return " ".join(str(exc).split())[:200]
        raise
    return ""


def edit_text(ctx: SolveContext, step: Step, plan: Plan) -> FileResult:
    """Edit `step`'s file (no parser): rewrite the line the change is about (a file without
    sections), else insert new lines at a chosen place, with one retry with the precise
    error when the new lines are unusable and the budget leaves room."""
    path, target = ctx.workspace.editable(step.path, ctx.options.rules)
    result = FileResult(path, "edit", "failed", 0, method="symbols/text")
    # bytes, not text mode: CRLF endings stay, and a file in another encoding is not
    # rewritten with replacement characters
    data = target.read_bytes()
    try:
        original = "" if b"\0" in data else data.decode("utf-8")
    except UnicodeDecodeError:
        original = ""
    if data and not original:
        result.error = f"{path} is not UTF-8 text: it is left as it was"
        ctx.trajectory.outcome("edit", f"rejected: {result.error}")
        return result
    focus = f"{step.what}\n{ctx.task.text}"
    lines = split_lines(original)
    candidates = [] if _sections(lines, path)[1] else focus_lines(lines, focus)
    if candidates:  # a template or configuration file: the line the change is about
        result.method = "symbols/line"
        new = edit_line(ctx, step, plan, path, original, lines, candidates, result)
        if new is not None:
            _land(ctx, result, target, original, new, "its rewritten line")
        return result
    others_text = other_files(plan, path)
    options = places(original, path, focus)
    user = prompt("text_lines").format(path=path, request=ctx.task.text[:5000],
                                       what=step.what, others=others_text,
                                       content=outline(original, path),
                                       status=ctx.budget.status_line())
    messages = ctx.messages(user)
    attempts = min(2, ctx.options.edit_attempts)
    for attempt in range(1, attempts + 1):
        result.attempts = attempt
        answer = ctx.ask("edit", messages, max_tokens=NEW_LINES_TOKENS,
                         grammar=grammars.code_block("", max_lines=80))
        try:
            text = new_lines_from(answer.text, original, answer.truncated)
        except EditRejected as exc:
            result.error = str(exc) + (" (cut off by the length limit)" if answer.truncated
                                       else "")
            ctx.trajectory.outcome("edit", f"rejected: {result.error}")
            refused = "" if attempt == attempts else ctx.start_refused(
                ctx.estimate(messages, NEW_LINES_TOKENS) + PLACE_TOKENS,
                after=ctx.reserved_first)
            if attempt == attempts or refused:
                result.error += f" (not retried: {refused})" if refused else ""
                return result
            messages = [*messages, {"role": "assistant", "content": answer.text},
                        {"role": "user", "content": prompt("text_repair").format(
                            error=result.error, status=ctx.budget.status_line())}]
            continue
        place = ask_place(ctx, options, text)
        if _land(ctx, result, target, original, insert(original, place, text),
                 f"the new lines at {place.label}"):
            ctx.trajectory.outcome("edit", f"inserted {len(text.splitlines())} line(s) in "
                                           f"{path} {place.label}")
            result.units.append({"unit": "FILE", "status": "done",
                                 "what": f"{len(text.splitlines())} new line(s) {place.label}"})
        return result
    return result


def _land(ctx: SolveContext, result: FileResult, target: Path, original: str, new: str,
          what: str) -> bool:
    """Write `new` over the file unless it breaks a configuration file's format (JSON, TOML)
    that `original` kept (one already invalid, such as JSON with comments, is not checked):
    then the file stays as it was and `result` says why."""
    problem = data_error(result.path, new)
    if problem and not data_error(result.path, original):
        result.error = f"{what} make {result.path} invalid: {problem}"
        ctx.trajectory.outcome("edit", f"rejected: {result.error}")
        return False
    target.write_bytes(new.encode("utf-8", "replace"))  # a lone surrogate from the model
    result.status, result.error = "done", ""
    return True


def ask_place(ctx: SolveContext, options: list[Place], text: str) -> Place:
    """The place the model picks for the new lines (a grammar-constrained number); the end
    of the file when there is only that, or the answer names no option."""
    if len(options) == 1:
        return options[0]
    listing = "\n".join(f"{n}: {p.label}" for n, p in enumerate(options, 1))
    question = prompt("text_place").format(places=listing, new_lines=text.rstrip()[:1500],
                                           status=ctx.budget.status_line())
    chosen = ctx.ask("edit", ctx.messages(f"Feature request:\n{ctx.task.text[:1500]}\n\n"
                                          f"{question}"), max_tokens=4,
                     grammar=grammars.choice([str(n) for n in range(1, len(options) + 1)]))
    number = re.match(r"[0-9]{1,6}", chosen.text.strip())  # ASCII digits: int() takes them
    return options[int(number.group()) - 1] if number and 1 <= int(number.group()) <= len(
        options) else options[-1]
