"""The questions a model can be asked to edit one definition, and how each answer becomes a
new file. Which one is asked is a measured choice per model (benchmarks/bench_edit.py; the
table is in docs/benchmarks.md):

- `rewrite`: the complete new definition (natural for strong models; a small one tends to
  echo the definition back unchanged, which is refused as a no-op and retried);
- `blocks`: search/replace blocks restricted to the definition;
- `insert`: only the new lines, each group after an existing line it names;
- `decomposed`: three narrow questions (new decorator/signature lines; new body lines; after
  which numbered statement they go), spliced by the tool.

New definitions (`ADD`) are always asked for whole. Every answer is checked (right name, not a
no-op, no new syntax errors) and a refusal goes back to the model with the precise reason.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

from sleepcoder.agent.llm import Completion
from sleepcoder.agent.solve import grammars
from sleepcoder.agent.solve.context import SolveContext, prompt
from sleepcoder.agent.solve.syntax import EditRejected, check_syntax
from sleepcoder.agent.solve.units import (
    UnitRejected,
    UnitWork,
    apply_addition,
    apply_change,
    code_blocks,
    one_block,
    place_text,
)
from sleepcoder.tools.edits import ApplyError, EditFormatError, apply_blocks, parse_blocks
from sleepcoder.tools.symbols import (
    SymbolError,
    body_statements,
    insert_lines,
    locate,
    normalise,
    replace_lines,
)

PROTOCOLS = ("rewrite", "blocks", "insert", "decomposed")
CONTINUATIONS = 2  # extra requests for an answer cut off by the length limit
# A small model asked again at temperature 0 tends to repeat its refused answer word for word,
# even with the reason in front of it: a retry samples (seeded, so runs stay reproducible).
RETRY_TEMPERATURE = 0.5


@dataclass
class UnitOutcome:
    content: str | None  # the new file text, None when no answer could be used
    attempts: int
    error: str = ""
    requests: int = 0


def tokens_of(text: str) -> int:
    return len(text) // 3 + 1  # code tokenizes denser than prose


NOT_RETRIED = (" (not retried: another answer would not fit in the budget left, less what the "
               "planned changes not tried yet are kept)")


def edit_unit(ctx: SolveContext, work: UnitWork, protocol: str, attempts: int) -> UnitOutcome:
    """Ask for one unit with `protocol` (additions are always asked for whole), up to
    `attempts` answers. A sequence such as `decomposed+blocks` asks with each protocol in
    turn until one lands, the attempts shared out (the first gets what does not divide)."""
    names = protocol.split("+")
    if len(names) > 1 and work.unit.kind != "add":
        share, extra = divmod(max(attempts, len(names)), len(names))
        total = UnitOutcome(None, 0)
        for index, name in enumerate(names):
            if index and not ctx.may_retry(ctx.messages(work.context), 600):
                total.error += NOT_RETRIED
                break
            outcome = edit_unit(ctx, work, name, share + (extra if index == 0 else 0))
            total = UnitOutcome(outcome.content, total.attempts + outcome.attempts,
                                outcome.error, total.requests + outcome.requests)
            if outcome.content is not None:
                break
        return total
    if work.unit.kind == "add":
        return _loop(ctx, work, attempts, "sym_add", grammars.code_block(work.fence),
                     min(3000, 700 + tokens_of(work.code)),
                     lambda text: apply_addition(work, one_block(text, f"`{work.tail}`")),
                     what=work.unit.what, place=place_text(work.unit))
    if protocol == "decomposed":
        return _decomposed(ctx, work, attempts)
    size = tokens_of(work.code)
    if protocol == "rewrite":
        return _loop(ctx, work, attempts, "sym_rewrite", grammars.code_block(work.fence),
                     min(4000, int(size * 1.3) + 250),
                     lambda text: apply_change(work, one_block(text, f"the new `{work.tail}`")))
    if protocol == "blocks":
        return _loop(ctx, work, attempts, "sym_blocks", grammars.search_replace(),
                     min(1500, size + 200), lambda text: _apply_blocks(work, text))
    if protocol == "insert":
        lines = [line.strip() for line in work.code.splitlines() if line.strip()]
        return _loop(ctx, work, attempts, "sym_insert",
                     grammars.insertions(work.fence, lines=lines),
                     min(1200, 500 + size // 4), lambda text: _apply_insertions(work, text))
    raise ValueError(f"unknown edit protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")


def _decorators(work: UnitWork) -> str:
    return " with its decorators" if work.language == "python" else ""


def _loop(ctx: SolveContext, work: UnitWork, attempts: int, template: str, grammar: str,
          max_tokens: int, apply: Callable[[str], str], **fields: str) -> UnitOutcome:
    question = prompt(template).format(name=work.unit.name, path=work.path,
                                       status=ctx.budget.status_line(),
                                       decorators=_decorators(work), **fields)
    messages = ctx.messages(f"{work.context}\n{question}")
    error, requests = "", 0
    for attempt in range(1, attempts + 1):
        if attempt > 1 and not ctx.may_retry(messages, max_tokens):
            return UnitOutcome(None, attempt - 1, error + NOT_RETRIED, requests)
        answer, used = ask_whole(ctx, messages, max_tokens, grammar,
                                 0.0 if attempt == 1 else RETRY_TEMPERATURE)
        requests += used
        try:
            _looped(answer)
            new = apply(answer.text)
            check_syntax(work.path, work.content, new)
            ctx.trajectory.outcome("edit", f"applied to {work.unit.describe()} in {work.path}")
            return UnitOutcome(new, attempt, requests=requests)
        except (UnitRejected, EditRejected) as exc:
            error = str(exc)
            ctx.trajectory.outcome("edit", f"rejected: {error}")
        messages = [*messages, {"role": "assistant", "content": answer.text},
                    {"role": "user", "content": prompt("sym_repair").format(
                        error=error, status=ctx.budget.status_line())}]
    return UnitOutcome(None, attempts, error, requests)


def ask_whole(ctx: SolveContext, messages: list[dict[str, str]], max_tokens: int,
              grammar: str | None, temperature: float = 0.0) -> tuple[Completion, int]:
    """One answer; when the length limit cuts it inside a code block, the model is asked to
    go on (without the grammar, which would start a new block) and the parts are joined."""
    answer = ctx.ask("edit", messages, max_tokens=max_tokens, grammar=grammar,
                     temperature=temperature)
    text, requests = answer.text, 1
    while answer.truncated and text.count("```") % 2 == 1 and requests <= CONTINUATIONS \
            and not repeats_itself(text):
        follow = [*messages, {"role": "assistant", "content": text},
                  {"role": "user", "content": "Your answer was cut off. Continue exactly where "
                   "it stopped, without repeating anything, and close the code block."}]
        answer = ctx.ask("edit", follow, max_tokens=max_tokens)
        requests += 1
        more = answer.text
        if more.lstrip().startswith("```"):  # a restarted block: keep its content only
            more = more.lstrip().split("\n", 1)[-1]
        text += more
    return Completion(text, answer.finish_reason, answer.prompt_tokens,
                      answer.completion_tokens, answer.cost, answer.cached), requests


LOOPING = ("the answer repeated the same lines until the length limit cut it off: write "
           "each line once, and only what the change needs")


def repeats_itself(text: str) -> bool:
    """Whether an answer is mostly the same lines over and over: on httpx-42 the 1.5B wrote
    `@typing.overload` stubs of one method until the length limit, and two continuations
    and a retry of that loop spent 11,000 of the run's 20,000 tokens."""
    lines = [line.strip() for line in text.splitlines()
             if line.strip() not in ("", "```", "...", "pass", "}", ")", "]")]
    return len(lines) >= 12 and len(set(lines)) <= len(lines) / 2


def _looped(answer: Completion) -> None:
    if answer.truncated and repeats_itself(answer.text):
        raise UnitRejected(LOOPING)


def _apply_blocks(work: UnitWork, text: str) -> str:
    try:
        blocks = parse_blocks(text)
        if not blocks:
            raise UnitRejected("no edit blocks: use <<<<<<< SEARCH / ======= / >>>>>>> REPLACE")
        new_code = apply_blocks(work.code, blocks, f"`{work.tail}`")
    except (EditFormatError, ApplyError) as exc:
        raise UnitRejected(str(exc)) from None
    return apply_change(work, new_code)


def _line_set(text: str) -> set[str]:
    """The non-blank lines of `text`, stripped: what an echo of existing code is told by."""
    return {line.strip() for line in text.splitlines() if line.strip()}


def _apply_insertions(work: UnitWork, text: str) -> str:
    """Each `AFTER: <line>` + code block: the new lines go after that line of the definition,
    indented like it (one level deeper after a line that opens a block)."""
    code = work.code
    places = text.split("AFTER:")[1:]
    if not places:
        raise UnitRejected("no `AFTER:` line: name the existing line the new lines follow")
    lines = code.splitlines()
    existing = _line_set(code)
    for place in places:
        anchor, _, rest = place.partition("\n")
        blocks = code_blocks(rest)
        if not blocks:
            raise UnitRejected(f"no code block after `AFTER: {anchor.strip()}`")
        new_lines = _line_set(blocks[0])
        if new_lines and new_lines <= existing:
            raise UnitRejected("the lines in your code blocks are already in the definition; "
                               "write only lines that are not there yet, the ones the change "
                               f"adds: {work.unit.what}")
        index = _find_line(lines, anchor.strip().strip("`"))
        code = insert_lines(code, _block_end(lines, index) + 1, blocks[0],
                            _indent_for(lines, index, blocks[0]))
        lines = code.splitlines()
    return apply_change(work, code)


_CONTINUATIONS = ("elif ", "elif(", "else:", "else ", "except", "finally:", "case ")


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _indent_for(lines: list[str], index: int, new: str) -> str:
    """The indentation new lines after line `index` need: one level deeper after a line that
    opens a block; the level of the enclosing `if`/`try` for an `elif`/`else`/`except`; else
    that line's own."""
    line = lines[index]
    own = _indent(line)
    first = new.lstrip()
    if first.startswith(_CONTINUATIONS):
        for above in range(index - 1, -1, -1):
            if lines[above].strip() and len(_indent(lines[above])) < len(own):
                return _indent(lines[above])
        return own
    if line.rstrip().endswith((":", "{", "(", "[")):
        return own + ("\t" if "\t" in own else "    ")
    return own


def _block_end(lines: list[str], index: int) -> int:
    """The last line of the statement that starts at `index` (its continuation lines and,
    for a block opener, its body are kept together only when the new lines go after the
    whole statement: an opener's own line is returned as is)."""
    depth = 0
    for i in range(index, len(lines)):
        depth += sum(lines[i].count(c) for c in "([{") - sum(lines[i].count(c) for c in ")]}")
        if depth <= 0:
            return i
    return index


def _find_line(lines: list[str], wanted: str) -> int:
    stripped = [line.strip() for line in lines]
    if wanted in stripped:
        return stripped.index(wanted)
    close = difflib.get_close_matches(wanted, stripped, n=1, cutoff=0.85)
    if close:
        return stripped.index(close[0])
    shown = "\n".join(f"  {s}" for s in stripped if s)[:1500]
    raise UnitRejected(f"`{wanted}` is not a line of the definition; copy one of these "
                       f"exactly:\n{shown}")


def _decomposed(ctx: SolveContext, work: UnitWork, attempts: int) -> UnitOutcome:
    assert work.span is not None
    statements = body_statements(work.content, work.language, work.span)
    header_last = statements[0].start_line - 1 if statements and \
        statements[0].start_line > work.span.header_line else work.span.header_line
    # answer limits sized from the definition: a header is its current size and a little
    # more (a new decorator or parameter); new body lines are at most about the body again
    header_now = "\n".join(work.content.splitlines()[work.span.start_line - 1:header_last])
    header_tokens = min(600, 2 * tokens_of(header_now) + 80)
    body_tokens = min(1500, max(300, tokens_of(work.code) + 150))
    error, requests = "", 0
    for attempt in range(1, attempts + 1):
        note = f"\n(Your previous answer could not be used: {error})" if error else ""
        base = ctx.messages(f"{work.context}\n" + prompt("sym_header").format(
            name=work.unit.name, status=ctx.budget.status_line()) + note)
        if attempt > 1 and not ctx.may_retry(base, body_tokens):
            return UnitOutcome(None, attempt - 1, error + NOT_RETRIED, requests)
        warmth = 0.0 if attempt == 1 else RETRY_TEMPERATURE
        header, used = "NONE", 0
        if _header_may_change(work):
            answer, used = ask_whole(ctx, base, header_tokens, grammars.header_or_none(
                work.fence, work.tail, header_last - work.span.header_line + 1), warmth)
            header = answer.text
        requests += used
        body_q = ctx.messages(f"{work.context}\n" + prompt("sym_body").format(
            name=work.unit.name, status=ctx.budget.status_line()) + note)
        body, used = ask_whole(ctx, body_q, body_tokens,
                               grammars.code_block_or_none(work.fence), warmth)
        requests += used
        try:
            _looped(body)
            new_header = _block_or_none(header)
            new_body = _block_or_none(body.text)
            new = _splice_decomposed(ctx, work, statements, header_last, new_header, new_body)
            check_syntax(work.path, work.content, new)
            ctx.trajectory.outcome("edit", f"applied to {work.unit.describe()} in {work.path}")
            return UnitOutcome(new, attempt, requests=requests + (1 if new_body else 0))
        except (UnitRejected, EditRejected) as exc:
            error = str(exc)
            ctx.trajectory.outcome("edit", f"rejected: {error}")
    return UnitOutcome(None, attempts, error, requests)


# words of a plan line that point at the header: without one, the decomposed protocol does not
# ask for new decorator and signature lines (the 1.5B, asked anyway, invented decorators such
# as `@typing.overload` on most definitions of the edit benchmark)
_HEADER_WORDS = re.compile(r"param|argument|\barg|option|flag|decorat|signature|keyword|"
                           r"\bkwarg|default|return type|annotat|rename|async|overload|route",
                           re.IGNORECASE)


def _header_may_change(work: UnitWork) -> bool:
    words = re.sub(r"`[^`]*`", " ", work.unit.what or "")  # not the names it quotes
    return bool(_HEADER_WORDS.search(words))


def _block_or_none(text: str) -> str:
    blocks = code_blocks(text)
    return blocks[0] if blocks and text.strip().upper() != "NONE" else ""


def _splice_decomposed(ctx: SolveContext, work: UnitWork, statements, header_last: int,
                       new_header: str, new_body: str) -> str:
    if not new_header and not new_body:
        raise UnitRejected(f"both answers were NONE: the plan needs `{work.tail}` to change: "
                           f"{work.unit.what}")
    content = work.content
    span = work.span
    assert span is not None
    existing = _line_set(work.code)
    if new_header:
        new_header = _check_header(work, new_header, header_last - span.header_line)
    decorators = _decorator_lines(new_body) if work.language == "python" else None
    if decorators is not None:  # decorator lines given as body lines: they go on the header
        # whole decorators: a line of a new one (its closing `)`) may be in the code already;
        # and one the new header has is not added twice
        known = existing | _line_set(new_header)
        fresh = [line for group in _decorator_groups(decorators)
                 if not all(line.strip() in known for line in group) for line in group]
        if not fresh and not new_header:
            raise UnitRejected(f"the new lines are decorators `{work.tail}` already has: write "
                               f"the body lines the change adds: {work.unit.what}")
        if fresh:
            ctx.trajectory.outcome("edit", "the new lines are decorators: they go above the "
                                           f"`def` line of `{work.tail}`")
            if new_header:  # a new header replaces the old one first, then takes them
                content = replace_lines(content, span.start_line, header_last, new_header,
                                        span.indent)
                span = _relocated(work, content) or span
            return insert_lines(content, span.header_line - 1, "\n".join(fresh), span.indent)
        new_body = ""  # the new header has them all: it is the change
    body_lines = _line_set(new_body)
    if body_lines and body_lines <= existing:
        raise UnitRejected(f"the new body lines are already in `{work.tail}`: write only lines "
                           f"that are not there yet, the ones the change adds: "
                           f"{work.unit.what}")
    region = _echo_region(work, header_last, new_body) if new_body else None
    if region is not None:  # old lines with new ones among them: a rewrite of those lines
        first, last, indent = region
        content = replace_lines(content, first, last, new_body, indent)
        ctx.trajectory.outcome("edit", f"the new lines repeat lines {first}-{last} of "
                                       f"`{work.tail}` with changes: they replace them")
    elif new_body:
        after = _ask_place(ctx, work, statements, new_body) if statements else header_last
        indent = work.content.splitlines()[statements[0].start_line - 1] if statements else ""
        indent = indent[: len(indent) - len(indent.lstrip())] or span.indent + "    "
        content = insert_lines(content, after, new_body, indent)
    if new_header:
        if normalise(new_header, span.indent) == content.splitlines(True)[
                span.start_line - 1:header_last]:
            if not new_body:
                raise UnitRejected("the new header is the current one and no lines were added")
        else:
            content = replace_lines(content, span.start_line, header_last, new_header,
                                    span.indent)
    return content


def _decorator_lines(text: str) -> list[str] | None:
    """The lines of `text` when it is only Python decorators (each `@...` line with the
    continuation lines of its brackets), else None."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].strip().startswith("@"):
        return None
    depth = 0
    for line in lines:
        stripped = line.strip()
        if depth <= 0 and not stripped.startswith("@"):
            return None
        code = re.sub(r"(\"[^\"]*\"|'[^']*')", "''", stripped)
        depth += sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")
    if depth != 0:
        return None
    least = min(len(line) - len(line.lstrip()) for line in lines)
    return [line[least:] for line in lines]


def _decorator_groups(lines: list[str]) -> list[list[str]]:
    """Decorator lines split into decorators: each `@` line with its continuation lines."""
    groups: list[list[str]] = []
    for line in lines:
        if line.strip().startswith("@") and not (groups and _open(groups[-1])):
            groups.append([line])
        else:
            groups[-1].append(line)
    return groups


def _open(lines: list[str]) -> bool:
    """Whether brackets opened in `lines` are still open."""
    code = re.sub(r"(\"[^\"]*\"|'[^']*')", "''", "\n".join(lines))
    return sum(code.count(c) for c in "([{") > sum(code.count(c) for c in ")]}")


def _relocated(work: UnitWork, content: str):
    """The unit's span found again in `content` (None when it cannot be)."""
    try:
        return locate(content, work.language, work.unit.name)
    except SymbolError:
        return None


def _echo_region(work: UnitWork, header_last: int, answer: str) -> tuple[int, int, str] | None:
    """Where an answer that repeats body lines of the definition (in their order, at least
    two) with new lines among them fits: the file lines from the first repeated line to the
    last, and the indentation its least indented line gets. None when the answer repeats
    fewer lines, adds none, or leaves out more than a third of the lines it spans (then it
    is not a rewrite of them but a fragment)."""
    assert work.span is not None
    lines = work.content.splitlines()
    body = range(header_last + 1, work.span.end_line + 1)  # 1-based
    matched: list[tuple[int, str]] = []  # (file line, answer line)
    fresh = 0
    position = header_last
    for raw in answer.splitlines():
        text = raw.strip()
        if not text:
            continue
        found = next((n for n in body if n > position and lines[n - 1].strip() == text), 0)
        if found:
            matched.append((found, raw))
            position = found
        else:
            fresh += 1
    if len(matched) < 2 or not fresh:
        return None
    first, last = matched[0][0], matched[-1][0]
    spanned = [n for n in range(first, last + 1) if lines[n - 1].strip()]
    if len(spanned) - len(matched) > len(spanned) // 3:
        return None
    line, raw = matched[0]
    own = len(raw) - len(raw.lstrip())
    least = min(len(r) - len(r.lstrip()) for r in answer.splitlines() if r.strip())
    file_indent = lines[line - 1][: len(lines[line - 1]) - len(lines[line - 1].lstrip())]
    shift = own - least
    indent = file_indent[: len(file_indent) - shift] if 0 < shift <= len(file_indent) \
        else file_indent
    return first, last, indent


def _check_header(work: UnitWork, header: str, continuation: int) -> str:
    """The first answer of the decomposed protocol holds decorators and the line that defines
    the unit, and no more lines after it than its current header has (plus two): not the body,
    not another definition. A Python answer that goes on past its signature into the body
    (rich-167: `Console.__init__`'s 25-line signature, then body lines) is cut after the line
    that closes the signature; the body is asked for next. Returns the header to use."""
    raw = [line for line in header.splitlines() if line.strip()]
    lines = [line.strip() for line in raw]
    opens = ("def ", "async def ", "class ", "function ", "export ")
    defines = re.compile(rf"(async\s+)?(def|class)\s+{re.escape(work.tail)}\b")
    found = [i for i, line in enumerate(lines)
             if (defines.match(line) if work.language == "python" else work.tail in line)]
    refused = UnitRejected(f"the first answer must be only the decorator lines and the "
                           f"signature line of `{work.tail}` (or NONE), not other code")
    if not found or any(line.startswith(opens) or not line.startswith(("@", ")", "]", "}"))
                        and not raw[i][:1].isspace() for i, line in enumerate(lines[:found[0]])):
        raise refused
    if work.language == "python":
        end = _signature_end(lines, found[0])
        if end is None:
            raise refused
        return "\n".join(raw[:end + 1]) + "\n"
    if len(lines) - found[0] - 1 > continuation + 2 or any(
            line.startswith(opens + ("return",)) for line in lines[found[0] + 1:]):
        raise refused
    return header


def _signature_end(lines: list[str], start: int) -> int | None:
    """The index of the line that ends the Python signature starting at `start`: brackets
    closed and the line ending with `:` (None when there is none)."""
    depth = 0
    for index in range(start, len(lines)):
        # strings first, so that a `#` in one is not taken for a comment
        code = re.sub(r"(\"[^\"]*\"|'[^']*')", "''", lines[index]).split("#", 1)[0]
        depth += sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")
        if depth <= 0 and code.rstrip().endswith(":"):
            return index
    return None


def _ask_place(ctx: SolveContext, work: UnitWork, statements, new_body: str) -> int:
    """After which line the new body lines go, chosen by the model among the statements
    (0: the start of the body, after a docstring)."""
    first_is_doc = statements[0].first.startswith(('"""', "'''", 'r"""', '"', "'"))
    options = [(0, statements[0].end_line if first_is_doc else statements[0].start_line - 1,
                "at the start of the body")]
    options += [(n, s.end_line, s.first[:90]) for n, s in enumerate(statements, 1)
                if not (n == 1 and first_is_doc)]
    listing = "\n".join(f"{n}: {text}" for n, _line, text in options)
    question = prompt("sym_place").format(name=work.unit.name, statements=listing,
                                          new_lines=new_body.rstrip()[:1500], first=0,
                                          status=ctx.budget.status_line())
    answer = ctx.ask("edit", ctx.messages(f"{work.context}\n{question}"), max_tokens=4,
                     grammar=grammars.choice([str(n) for n, _l, _t in options]))
    chosen = answer.text.strip().split()[0] if answer.text.strip() else "0"
    by_number = {str(n): line for n, line, _t in options}
    return by_number.get(chosen, options[-1][1])
