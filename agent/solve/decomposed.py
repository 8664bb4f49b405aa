"""The `decomposed` edit protocol: up to three narrow questions for one definition (new
decorator and signature lines, asked only when the plan line points at the header; new body
lines; after which numbered statement they go), spliced into the file by the tool. A header
answer that runs into the body is cut after its signature, body lines that are only
decorators go above the `def`, and new lines that repeat old ones around them replace the
lines they span."""

from __future__ import annotations

import re

from sleepcoder.agent.solve import grammars
from sleepcoder.agent.solve.asking import (
    NOT_RETRIED,
    RETRY_TEMPERATURE,
    UnitOutcome,
    ask_whole,
    line_set,
    looped,
    tokens_of,
)
from sleepcoder.agent.solve.context import SolveContext, prompt
from sleepcoder.agent.solve.names import check_names
from sleepcoder.agent.solve.plan import Unit
from sleepcoder.agent.solve.syntax import EditRejected, check_syntax
from sleepcoder.agent.solve.units import (
    UnitRejected,
    UnitWork,
    apply_change,
    code_blocks,
    defined_names,
    prepare,
)
from sleepcoder.tools.symbols import (
    SymbolError,
    body_statements,
    definitions,
    elif_place,
    insert_lines,
    locate,
    normalise,
    replace_lines,
)

PLACE_TOKENS = 4  # the answer to "after which statement"


def decomposed(ctx: SolveContext, work: UnitWork, attempts: int) -> UnitOutcome:
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
        asks_header = _header_may_change(work)
        # a retry asks every question again (header, body, place): all must fit
        # (datasette-192 at 9610816: the header was asked again, and the body question then
        # did not fit, which ended the run budget_exhausted)
        also = (ctx.estimate(base, header_tokens) if asks_header else 0) + (
            ctx.estimate(base, PLACE_TOKENS) if statements else 0)
        if attempt > 1 and not ctx.may_retry(base, body_tokens, also=also):
            return UnitOutcome(None, attempt - 1, error + NOT_RETRIED, requests)
        warmth = 0.0 if attempt == 1 else RETRY_TEMPERATURE
        header, used = "NONE", 0
        if asks_header:
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
            looped(body)
            new_header = _block_or_none(header)
            new_body = _block_or_none(body.text)
            new = _splice_decomposed(ctx, work, statements, header_last, new_header, new_body)
            check_syntax(work.path, work.content, new)
            check_names(ctx, work, new)
            ctx.trajectory.outcome("edit", f"applied to {work.unit.describe()} in {work.path}")
            return UnitOutcome(new, attempt, requests=requests + (1 if new_body else 0))
        except (UnitRejected, EditRejected) as exc:
            error = str(exc)
            ctx.trajectory.outcome("edit", f"rejected: {error}")
            method = _new_placeholder_method(work, error)
            if method:
                outcome = _ask_method_whole(ctx, work, method)
                if outcome is not None:
                    return UnitOutcome(outcome.content, attempt + outcome.attempts,
                                       outcome.error, requests + outcome.requests)
    return UnitOutcome(None, attempts, error, requests)


_PLACEHOLDER = re.compile(r"^`([^`]+)` has a placeholder body")


def _new_placeholder_method(work: UnitWork, error: str) -> str:
    """The name of the new method whose body the answer left a placeholder, when the unit is
    a class and the method is not one of it yet; '' otherwise."""
    found = _PLACEHOLDER.match(error)
    if not found or work.plan is None or _kind(work.code, work) != "class":
        return ""
    owner, _, method = found.group(1).rpartition(".")
    if owner.rsplit(".", 1)[-1] != work.tail or not method.isidentifier():
        return ""
    members = {d.qname.rsplit(".", 1)[-1] for d in definitions(work.code, work.language)}
    return "" if method in members else method


def _ask_method_whole(ctx: SolveContext, work: UnitWork, method: str) -> UnitOutcome | None:
    """The new method asked for whole, as a planned `ADD method IN Class` is (the form the
    1.5B answers best: additions landed 6 of 6 in the edit benchmark). httpx-42 at 301d805:
    `CHANGE HTTP11Connection: add a query parameter method` got `add_query_param` with `pass`
    as its body, and asked again for body lines, the class copied whole, twice. None when
    the question does not fit what is left."""
    from sleepcoder.agent.solve.protocols import edit_unit  # protocols imports this module

    assert work.plan is not None
    unit = Unit("add", method, f"in {work.unit.name}",
                f"{work.unit.what} (the body of `{method}` must be real code, not a "
                "placeholder)")
    try:
        sub = prepare(ctx, work.step, work.plan, unit, work.content, work.language, work.added)
    except SymbolError:
        return None
    if not ctx.may_retry(ctx.messages(sub.context), min(3000, 700 + tokens_of(sub.code))):
        return None
    ctx.trajectory.outcome("edit", f"asking for the new method `{method}` of `{work.tail}` "
                                   "whole")
    return edit_unit(ctx, sub, "rewrite", 1)


# words of a plan line that point at the header: without one, the decomposed protocol does not
# ask for new decorator and signature lines (the 1.5B, asked anyway, invented decorators such
# as `@typing.overload` on most definitions of the edit benchmark)
_HEADER_WORDS = re.compile(r"param|argument|\barg|option|flag|decorat|signature|keyword|"
                           r"\bkwarg|default|return type|annotat|rename|async|overload|route",
                           re.IGNORECASE)


# a class's first line changes for its bases or decorators only: "add a query parameter" to
# `class URL` asked for its header, and the 1.5B answered `def URL(self, url, ...)` twice
# (httpx-42 at 74aba87), each answer refused, and then the body unchanged
_CLASS_HEADER_WORDS = re.compile(r"decorat|\bbase|inherit|subclass|metaclass|generic|mixin",
                                 re.IGNORECASE)


def _header_may_change(work: UnitWork) -> bool:
    words = re.sub(r"`[^`]*`", " ", work.unit.what or "")  # not the names it quotes
    if _kind(work.code, work) == "class":
        return bool(_CLASS_HEADER_WORDS.search(words))
    return bool(_HEADER_WORDS.search(words))


def _block_or_none(text: str) -> str:
    blocks = code_blocks(text)
    return blocks[0] if blocks and text.strip().upper() != "NONE" else ""


def _splice_decomposed(ctx: SolveContext, work: UnitWork, statements, header_last: int,
                       new_header: str, new_body: str) -> str:
    if not new_header and not new_body:
        raise UnitRejected(f"both answers were NONE: the plan needs `{work.tail}` to change: "
                           f"{work.unit.what}")
    if new_body and work.tail in defined_names(new_body, work.language):
        # the body answer is the whole new definition, its header included (llm-613 at
        # 68ff3e4: `async def get_embedding_model(name):` and a new body, refused with the
        # header answer, which had named another function): a rewrite, checked as one
        ctx.trajectory.outcome("edit", f"the body answer is a whole new `{work.tail}`: it "
                                       "replaces the definition")
        return apply_change(work, new_body)
    content = work.content
    span = work.span
    assert span is not None
    existing = line_set(work.code)
    if new_header:
        new_header = _check_header(work, new_header, header_last - span.header_line)
    decorators = _decorator_lines(new_body) if work.language == "python" else None
    if decorators is not None:  # decorator lines given as body lines: they go on the header
        # whole decorators: a line of a new one (its closing `)`) may be in the code already;
        # and one the new header has is not added twice
        known = existing | line_set(new_header)
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
    body_lines = line_set(new_body)
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
    elif new_body and (clause := elif_place(content, work.language, span, new_body)):
        after, indent = clause  # no question: an `elif` goes at the end of an `if` chain
        content = insert_lines(content, after, new_body, indent)
        ctx.trajectory.outcome("edit", f"the new lines open with `elif`: they go after line "
                                       f"{after}, at the end of the `if` chain there")
    elif new_body:
        after = _ask_place(ctx, work, statements, new_body) if statements else header_last
        indent = work.content.splitlines()[statements[0].start_line - 1] if statements else ""
        indent = indent[: len(indent) - len(indent.lstrip())] or span.indent + "    "
        # a new method (or nested definition) among the body's: a blank line on each side
        first = next((line.strip() for line in new_body.splitlines() if line.strip()), "")
        content = insert_lines(content, after, new_body, indent,
                               apart=work.language == "python" and first.startswith(
                                   ("def ", "async def ", "class ", "@")))
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
        depth += _balance(stripped)
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
    return _balance("\n".join(lines)) > 0


def _balance(code: str, comments: bool = False) -> int:
    """Brackets opened less brackets closed in `code`, strings left out (and, with
    `comments`, a `#` comment: strings first, so that a `#` in one is not taken for one)."""
    code = re.sub(r"(\"[^\"]*\"|'[^']*')", "''", code)
    if comments:
        code = code.split("#", 1)[0]
    return sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")


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
    lead: list[str] = []  # the new lines before the first repeated one
    lead_raw: list[str] = []
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
            if not matched:
                lead.append(text)
                lead_raw.append(raw)
    if len(matched) < 2 or not fresh:
        return None
    first, last = matched[0][0], matched[-1][0]
    header = _lead_header(lines, first, lead) if work.language == "python" else None
    if header == -1:
        return None
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
    if header is None and lead and lead[-1].endswith(":") and \
            min(len(r) - len(r.lstrip()) for r in lead_raw) == least < own:
        # a new block opened around the repeated lines (`if store:` above the `insert(...)`
        # they indent further: llm-254 at a11421e): the block's first line takes the first
        # repeated line's place, and the repeated lines go one level in; kept at the file's
        # indentation, the `if` had gone to the class body, outside the method
        indent = file_indent
    if header is not None and header > header_last:  # the answer restates a nested header
        first = header
    return first, last, indent


_DEFINES = re.compile(r"(?:async\s+)?(?:def|class)\s+(\w+)")


def _lead_header(lines: list[str], first: int, lead: list[str]) -> int | None:
    """What the new lines before the repeated ones say when they define something (Python):
    -1 when they define a name other than the one whose body line `first` (1-based) is in,
    a new definition modelled on an existing one's body, not a rewrite of those lines
    (flask-687 at a11421e: `def send(...)` over the lines of `_fail`'s `raise
    RuntimeError(...)`; spliced as a rewrite of them, `def _fail` was left without a body);
    the line of that definition's own header when they restate it (a new signature: the
    rewrite starts there); None when they define nothing."""
    named = [m.group(1) for m in map(_DEFINES.match, lead) if m]
    if not named:
        return None
    depth = len(lines[first - 1]) - len(lines[first - 1].lstrip())
    for n in range(first - 1, 0, -1):
        text = lines[n - 1]
        if text.strip() and len(text) - len(text.lstrip()) < depth:
            if text.strip().startswith((")", "]")):
                continue  # the end of a signature over several lines (`) -> None:`)
            match = _DEFINES.match(text.strip())
            if match and named == [match.group(1)]:
                return n
            return -1
    return -1


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
    was, now = _kind(work.code, work), _kind(lines[found[0]], work)
    if was and now and was != now:
        # httpx-42 at 2574b04: `class URL:` answered as `def URL(self, url, ...)`, which
        # parses, and would have turned the class into a function around its methods
        raise UnitRejected(f"`{work.tail}` is a {was}: its new first line must still define "
                           f"a {was}, not a {now}")
    if work.language == "python":
        end = _signature_end(lines, found[0])
        if end is None:
            raise refused
        return "\n".join(raw[:end + 1]) + "\n"
    if len(lines) - found[0] - 1 > continuation + 2 or any(
            line.startswith(opens + ("return",)) for line in lines[found[0] + 1:]):
        raise refused
    return header


def _kind(code: str, work: UnitWork) -> str:
    """'class' or 'function' for the first line of `code` that defines `work`'s unit; ''
    when no line does."""
    for line in code.splitlines():
        if work.tail not in line:
            continue
        if work.language == "python":
            found = re.match(rf"\s*(?:async\s+)?(def|class)\s+{re.escape(work.tail)}\b", line)
            if found:
                return "class" if found.group(1) == "class" else "function"
        elif re.search(rf"\bclass\s+{re.escape(work.tail)}\b", line):
            return "class"
        elif re.search(rf"\bfunction\b|=>|\b{re.escape(work.tail)}\s*\(", line):
            return "function"
    return ""


def _signature_end(lines: list[str], start: int) -> int | None:
    """The index of the line that ends the Python signature starting at `start`: brackets
    closed and the line ending with `:` (None when there is none)."""
    depth = 0
    for index in range(start, len(lines)):
        depth += _balance(lines[index], comments=True)
        code = re.sub(r"(\"[^\"]*\"|'[^']*')", "''", lines[index]).split("#", 1)[0]
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
    answer = ctx.ask("edit", ctx.messages(f"{work.context}\n{question}"),
                     max_tokens=PLACE_TOKENS,
                     grammar=grammars.choice([str(n) for n, _l, _t in options]))
    chosen = answer.text.strip().split()[0] if answer.text.strip() else "0"
    by_number = {str(n): line for n, line, _t in options}
    return by_number.get(chosen, options[-1][1])
