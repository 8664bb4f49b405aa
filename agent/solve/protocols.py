"""The questions a model can be asked to edit one definition, and how each answer becomes a
new file. Which one is asked is a measured choice per model (benchmarks/bench_edit.py; the
table is in docs/benchmarks.md):

- `rewrite`: the complete new definition (natural for strong models; a small one tends to
  echo the definition back unchanged, which is refused as a no-op and retried);
- `blocks`: search/replace blocks restricted to the definition;
- `insert`: only the new lines, each group after an existing line it names;
- `decomposed`: three narrow questions (new decorator/signature lines; new body lines; after
  which numbered statement they go), spliced by the tool (agent/solve/decomposed.py).

New definitions (`ADD`) are always asked for whole. Every answer is checked (right name, not a
no-op, no new syntax errors) and a refusal goes back to the model with the precise reason.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

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
from sleepcoder.agent.solve.decomposed import decomposed
from sleepcoder.agent.solve.names import check_names
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
from sleepcoder.tools.symbols import insert_lines

PROTOCOLS = ("rewrite", "blocks", "insert", "decomposed")
SEARCH_LINES = 12  # SEARCH's limit in blocks on a definition of more than twice as many lines


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
        return _loop(ctx, work, attempts, "sym_add",
                     grammars.definition_block(work.fence, work.tail),
                     min(3000, 700 + tokens_of(work.code)),
                     lambda text: apply_addition(work, one_block(text, f"`{work.tail}`")),
                     what=work.unit.what, place=place_text(work.unit))
    if protocol == "decomposed":
        return decomposed(ctx, work, attempts)
    size = tokens_of(work.code)
    if protocol == "rewrite":
        return _loop(ctx, work, attempts, "sym_rewrite", grammars.code_block(work.fence),
                     min(4000, int(size * 1.3) + 250),
                     lambda text: apply_change(work, one_block(text, f"the new `{work.tail}`")))
    if protocol == "blocks":
        # a long definition's SEARCH is held to a few lines: asked for blocks on one, the
        # 1.5B copied all of it into SEARCH until the length limit (httpx-42's 90-line class:
        # 1,442 tokens and 235 s; black-529's 36-line function: 666 tokens), an answer
        # that could never apply
        lines = work.code.count("\n") + 1
        search = SEARCH_LINES if lines > 2 * SEARCH_LINES else 60
        return _loop(ctx, work, attempts, "sym_blocks",
                     grammars.search_replace(max_search=search),
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
            looped(answer)
            new = apply(answer.text)
            check_syntax(work.path, work.content, new)
            check_names(ctx, work, new)
            ctx.trajectory.outcome("edit", f"applied to {work.unit.describe()} in {work.path}")
            return UnitOutcome(new, attempt, requests=requests)
        except (UnitRejected, EditRejected) as exc:
            error = str(exc)
            ctx.trajectory.outcome("edit", f"rejected: {error}")
        messages = [*messages, {"role": "assistant", "content": answer.text},
                    {"role": "user", "content": prompt("sym_repair").format(
                        error=error, status=ctx.budget.status_line())}]
    return UnitOutcome(None, attempts, error, requests)


COPIED_LINE = 8  # shorter lines (`return`, `)`, `else:`) repeat in any code


def _copied_elsewhere(work: UnitWork, blocks) -> None:
    """UnitRejected when a block's REPLACE adds lines the definition already has outside its
    SEARCH (three or more, at least half of what it adds): the rest of the definition copied
    on after the SEARCH text, which would land as a second copy of that code."""
    existing = {line.strip() for line in work.code.splitlines()}
    for number, block in enumerate(blocks, 1):
        searched = {line.strip() for line in block.search.splitlines()}
        added = [line.strip() for line in block.replace.splitlines()
                 if len(line.strip()) >= COPIED_LINE and line.strip() not in searched]
        copied = [line for line in added if line in existing]
        if len(copied) >= 3 and len(copied) * 2 >= len(added):
            raise UnitRejected(
                f"block {number} adds {len(copied)} lines `{work.tail}` already has elsewhere "
                f"(e.g. `{copied[0][:80]}`): SEARCH holds only the few lines that change, and "
                "REPLACE the same lines changed, not the rest of the definition")


def _apply_blocks(work: UnitWork, text: str) -> str:
    try:
        blocks = parse_blocks(text)
        if not blocks:
            raise UnitRejected("no edit blocks: use <<<<<<< SEARCH / ======= / >>>>>>> REPLACE")
        _copied_elsewhere(work, blocks)
        new_code = apply_blocks(work.code, blocks, f"`{work.tail}`")
    except (EditFormatError, ApplyError) as exc:
        raise UnitRejected(str(exc)) from None
    return apply_change(work, new_code)


def _apply_insertions(work: UnitWork, text: str) -> str:
    """Each `AFTER: <line>` + code block: the new lines go after that line of the definition,
    indented like it (one level deeper after a line that opens a block)."""
    code = work.code
    places = text.split("AFTER:")[1:]
    if not places:
        raise UnitRejected("no `AFTER:` line: name the existing line the new lines follow")
    lines = code.splitlines()
    existing = line_set(code)
    for place in places:
        anchor, _, rest = place.partition("\n")
        blocks = code_blocks(rest)
        if not blocks:
            raise UnitRejected(f"no code block after `AFTER: {anchor.strip()}`")
        new_lines = line_set(blocks[0])
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
