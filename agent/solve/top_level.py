"""New top-level lines for a planned file whose planned definitions all came back unchanged.

A plan can only name definitions, and some changes are not inside one: flask-687 ("Flash
messages signals") needs `message_flashed = _signals.signal('message-flashed')` at the top of
flask/signals.py, and the 1.5B planned `CHANGE Namespace.signal`, then answered with that
method unchanged three times. When every planned change of a file was refused as an echo (the
definition as it was, or only lines it already has), the file gets one more question, the
form the model keeps best: the new top-level lines alone, or NONE; then where they go, as a
numbered choice among the file's top-level statements (text_edit.py's places). The lines are
checked like any edit (syntax, names Python looks up on import, repository names) and the
file's record says `TOP-LEVEL` for them, so it is `partial`, never `done`: the planned
definitions did not change.
"""

from __future__ import annotations

import textwrap

from sleepcoder.agent.budget import BudgetExhausted, RequestTooLarge
from sleepcoder.agent.solve import grammars
from sleepcoder.agent.solve.context import SolveContext, prompt
from sleepcoder.agent.solve.edit import FileResult, other_files
from sleepcoder.agent.solve.names import check_names
from sleepcoder.agent.solve.plan import Plan, Step, Unit
from sleepcoder.agent.solve.syntax import EditRejected, check_syntax
from sleepcoder.agent.solve.text_edit import (
    NEW_LINES_TOKENS,
    OUTLINE_CHARS,
    PLACE_TOKENS,
    Place,
    ask_place,
    best_places,
    insert,
    new_lines_from,
    split_lines,
)
from sleepcoder.agent.solve.units import FENCE_NAMES, UnitRejected, UnitWork
from sleepcoder.tools.symbols import top_level_statements

LANGUAGES = ("python", "javascript", "typescript", "tsx")
# what a refused echo says (units.apply_change, decomposed.py, the blocks and insert checks)
ECHOES = ("unchanged", "already in", "is the current one")


def wanted(result: FileResult, language: str) -> bool:
    """Whether the file's planned changes were all tried and all refused, at least one of
    them as an echo, and nothing stopped the run."""
    planned = [r for r in result.units if not r.get("automatic") and r["status"] != "note"]
    return language in LANGUAGES and not result.stopped and bool(planned) and all(
        r["status"] == "failed" for r in planned) and any(
        mark in r.get("error", "") for r in planned for mark in ECHOES)


def places(content: str, language: str, focus: str) -> list[Place]:
    """After each top-level statement (a definition is set off by blank lines), ranked by
    the words they share with `focus` when there are too many (text_edit.best_places);
    the end of the file always."""
    found = [Place(statement.end_line, f"after `{statement.first[:80]}`", definition or
                   statement.end_line > statement.start_line)
             for statement, definition in top_level_statements(content, language)]
    total = len(split_lines(content))
    found = [p for p in found if p.after < total]
    return [*best_places(found, focus), Place(total, "at the end of the file", True)]


def outline(content: str, path: str, language: str) -> str:
    """The file whole when it is short, else its top-level lines: each statement that is not
    a definition whole (up to three lines), each definition by its first line."""
    if len(content) <= OUTLINE_CHARS:
        return f"Current content of {path}:\n{content}"
    lines = content.split("\n")
    shown: list[str] = []
    for statement, definition in top_level_statements(content, language):
        last = statement.start_line if definition else min(statement.end_line,
                                                           statement.start_line + 2)
        shown += lines[statement.start_line - 1:last]
        if definition or last < statement.end_line:
            shown.append("    ...")
    text = "\n".join(shown)
    if len(text) > OUTLINE_CHARS:
        text = text[:OUTLINE_CHARS].rsplit("\n", 1)[0] + "\n\u2026"
    return f"The top-level lines of {path} ({len(lines):,} lines; bodies left out):\n{text}"


def add_top_level(ctx: SolveContext, step: Step, plan: Plan, language: str, content: str,
                  result: FileResult) -> str | None:
    """Ask for the new top-level lines and where they go; the file's new content, or None
    (the reason in `result`'s TOP-LEVEL record)."""
    path = step.path
    record = {"unit": "TOP-LEVEL", "what": "new top-level lines, after every planned change "
              "came back unchanged", "status": "failed"}
    result.units.append(record)
    focus = f"{step.what}\n{ctx.task.text}"
    question = prompt("top_level").format(
        request=ctx.task.text[:4000], path=path, what=step.what,
        others=other_files(plan, path), content=outline(content, path, language),
        status=ctx.budget.status_line())
    messages = ctx.messages(question)
    refused = ctx.start_refused(ctx.estimate(messages, NEW_LINES_TOKENS) + PLACE_TOKENS,
                                after=ctx.reserved_first)
    if refused:
        record["status"], record["error"] = "not attempted", refused
        return None
    fence = FENCE_NAMES.get(language, "")
    work = UnitWork(path, language, Unit("add", "", "end", step.what), step, content, None,
                    "", "", {u.name: s.path for s in plan.steps for u in s.units
                             if u.kind == "add"}, plan)
    try:
        answer = ctx.ask("edit", messages, max_tokens=NEW_LINES_TOKENS,
                         grammar=grammars.code_block_or_none(fence, max_lines=60))
        result.attempts += 1
        record["attempts"] = 1
        if answer.text.strip().upper() == "NONE":
            record["error"] = "the model wrote NONE: no new top-level lines either"
            ctx.trajectory.outcome("edit", f"top level of {path}: NONE")
            return None
        text = textwrap.dedent(new_lines_from(answer.text, content, answer.truncated))
        place = ask_place(ctx, places(content, language, focus), text)
        new = insert(content, place, text)
        check_syntax(path, content, new)
        check_names(ctx, work, new)
    except (EditRejected, UnitRejected) as exc:
        record["error"] = f"new top-level lines: {exc}"
        ctx.trajectory.outcome("edit", f"rejected: {record['error']}")
        return None
    except RequestTooLarge as exc:
        record["status"], record["error"] = "not attempted", f"too large for what is left ({exc})"
        return None
    except BudgetExhausted as exc:
        record["status"], record["error"] = "not attempted", str(exc)
        result.stopped = str(exc)
        return None
    count = len(text.strip("\n").splitlines())
    record["status"], record["what"] = "done", f"{count} new top-level line(s) {place.label}"
    ctx.trajectory.outcome("edit", f"inserted {count} top-level line(s) in {path} "
                                   f"{place.label}")
    return new
