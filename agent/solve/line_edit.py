"""The `symbols` format for a planned file without sections (a template, a configuration
file): the line the change is about is the one that shares the most of the request's and
the plan's words, and the model rewrites that one line, which may become several.

Shown a template's text and asked for the new lines, the embedded 1.5B copied the text back
(all three datasette templates of datasette-192 at 0fa2542 and in probes at 2574b04, whether
shown the file's start or only the lines near the change). Shown one line with two lines
around it and asked how it reads after the change, it rewrote the `.jsono` link of
table.html and row.html the way the reference change does, in about 450 tokens.
"""

from __future__ import annotations

import re
import textwrap

from sleepcoder.agent.solve import grammars
from sleepcoder.agent.solve.context import SolveContext, prompt
from sleepcoder.agent.solve.edit import FileResult, other_files
from sleepcoder.agent.solve.plan import Plan, Step
from sleepcoder.agent.solve.syntax import EditRejected
from sleepcoder.agent.solve.units import code_blocks
from sleepcoder.tools.search import tokenize

TRIED = 2  # lines tried, best first: an unchanged answer moves on to the next line
AROUND = 2  # lines shown on each side of the line
LINE_TOKENS = 300
MAX_NEW_LINES = 20
ELISION = re.compile(r"^\s*(\.{3,}|\u2026|\[\.\.\.\]|\[\u2026\])\s*$")
LONGEST = 400  # a longer line (minified markup) would have to be copied whole to be rewritten


def line_scores(lines: list[str], focus: str) -> list[float]:
    """How much each line shares `focus`'s words; a word weighs less the more lines have it
    (a template repeats `div` and `endif` everywhere)."""
    wanted = set(tokenize(focus))
    words = [set(tokenize(line)) & wanted for line in lines]
    spread: dict[str, int] = {}
    for found in words:
        for word in found:
            spread[word] = spread.get(word, 0) + 1
    return [sum(1 / spread[word] for word in found) for found in words]


def focus_lines(lines: list[str], focus: str, count: int = TRIED) -> list[int]:
    """The 0-based indexes of up to `count` lines that share a word with `focus`, the best
    first (the earlier of equals); none longer than LONGEST characters."""
    score = line_scores(lines, focus)
    ranked = sorted((n for n in range(len(lines)) if score[n] > 0 and
                     len(lines[n].rstrip("\r")) <= LONGEST), key=lambda n: -score[n])
    return ranked[:count]


def rewritten(answer: str, lines: list[str], index: int) -> list[str]:
    """The lines that replace `lines[index]`, from the model's answer: the first code block,
    less copied context (the lines shown before and after the line), given the line's
    indentation. EditRejected for no code block, or an answer that leaves the line as it was
    (whitespace aside) or only repeats lines of the file."""
    blocks = code_blocks(answer)
    if not blocks:
        raise EditRejected("no code block with the line after the change")
    existing = {line.strip() for line in lines if line.strip()}
    # an elision mark (`...`) for lines the model did not copy is not a line of the change
    new = [line.rstrip("\r") for line in blocks[0].split("\n")
           if not ELISION.match(line) or line.strip() in existing]
    while new and not new[-1].strip():
        new.pop()
    # and a fence opening a block inside the block (```html after ```): not a line of the file
    while new and (not new[0].strip() or new[0].lstrip().startswith("```")):
        new.pop(0)
    new = _without_context(new, lines, index)
    if not new:
        raise EditRejected("the code block has no line of the change")
    old = lines[index]
    if _squeezed("\n".join(new)) == _squeezed(old):
        raise EditRejected("the line is unchanged")
    if all(line.strip() in existing for line in new if line.strip()):
        raise EditRejected("the answer only repeats lines that are in the file")
    indent = old[: len(old) - len(old.lstrip())].rstrip("\r")
    block = textwrap.dedent("\n".join(new)).split("\n")
    return [indent + line if line.strip() else "" for line in block]


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _without_context(new: list[str], lines: list[str], index: int) -> list[str]:
    """`new` less leading lines that copy the lines just before `lines[index]` and trailing
    lines that copy those just after it (a model that answers with the whole excerpt). A copy
    is those lines in their order (blank lines aside): a line of the rewrite that only reads
    like one of them (the `</div>` closing an element the rewrite opens) is the rewrite's."""
    line = lines[index].strip()
    before = [x.strip() for x in lines[max(0, index - AROUND):index] if x.strip()]
    after = [x.strip() for x in lines[index + 1:index + 1 + AROUND] if x.strip()]
    filled = [n for n, x in enumerate(new) if x.strip()]  # indexes of the non-blank lines
    said = [new[n].strip() for n in filled]
    head = next((k for k in range(min(len(before), len(said)), 0, -1)
                 if said[:k] == before[-k:] and line not in said[:k]), 0)
    tail = next((k for k in range(min(len(after), len(said) - head), 0, -1)
                 if said[-k:] == after[:k] and line not in said[-k:]), 0)
    start = filled[head - 1] + 1 if head else 0
    end = filled[len(said) - tail] if tail else len(new)
    return new[start:end]


def _unclosed(answer: str) -> bool:
    """Whether the first code block of `answer` has no closing fence."""
    opened = re.search(r"```[^\n]*\n", answer)
    return opened is not None and "\n```" not in answer[opened.end() - 1:]


def replace_line(content: str, index: int, new: list[str]) -> str:
    """`content` with its line `index` (0-based) replaced by `new`, in the file's line ending;
    every other line stays byte for byte."""
    kept = content.split("\n")
    tail = "\r" if kept[index].endswith("\r") else ""
    # the new lines end as the line did (a file may mix endings: a pasted CRLF block); after
    # a last line that has no line ending, as the line before it
    ended = index < len(kept) - 1
    carriage = tail if ended else ("\r" if index and kept[index - 1].endswith("\r") else "")
    if index == 0 and kept[0].startswith("\ufeff") and not new[0].startswith("\ufeff"):
        new = ["\ufeff" + new[0], *new[1:]]  # a byte order mark is the file's, not the line's
    kept[index] = "\n".join([line + carriage for line in new[:-1]] + [new[-1] + tail])
    return "\n".join(kept)


def edit_line(ctx: SolveContext, step: Step, plan: Plan, path: str, original: str,
              lines: list[str], candidates: list[int], result: FileResult) -> str | None:
    """Ask the model to rewrite the first of `candidates` (0-based line indexes) whose answer
    changes it; the file's new content, or None (with `result.error` set) when none did."""
    others_text = other_files(plan, path)
    errors: list[str] = []
    # the model cannot see a byte order mark: its answer is compared with the line without it
    # (replace_line keeps the mark)
    lines = [lines[0].removeprefix("\ufeff"), *lines[1:]] if lines else lines
    for attempt, index in enumerate(candidates, 1):
        result.attempts = attempt
        around = "\n".join(line.rstrip("\r") for line in
                           lines[max(0, index - AROUND):index + AROUND + 1])
        user = prompt("text_line").format(
            path=path, request=ctx.task.text[:3000], what=step.what, others=others_text,
            number=index + 1, around=around, line=lines[index].rstrip("\r"),
            status=ctx.budget.status_line())
        messages = ctx.messages(user)
        if attempt > 1:
            refused = ctx.start_refused(ctx.estimate(messages, LINE_TOKENS),
                                        after=ctx.reserved_first)
            if refused:
                errors.append(f"not tried: {refused}")
                break
        answer = ctx.ask("edit", messages, max_tokens=LINE_TOKENS,
                         grammar=grammars.code_block("", max_lines=MAX_NEW_LINES))
        try:
            if answer.truncated and _unclosed(answer.text):
                # the rewrite replaces the line: cut off, it would splice its incomplete
                # last line, or lose the part of the line it had not copied yet
                raise EditRejected("the rewrite is incomplete")
            new = rewritten(answer.text, lines, index)
        except EditRejected as exc:
            error = f"line {index + 1}: {exc}" + (" (cut off by the length limit)"
                                                  if answer.truncated else "")
            errors.append(error)
            ctx.trajectory.outcome("edit", f"rejected: {error}")
            continue
        result.units.append({"unit": f"line {index + 1}", "status": "done",
                             "what": f"line {index + 1} rewritten as {len(new)} line(s)"})
        ctx.trajectory.outcome("edit", f"rewrote line {index + 1} of {path} as "
                                       f"{len(new)} line(s)")
        return replace_line(original, index, new)
    result.error = "; ".join(errors)
    return None
