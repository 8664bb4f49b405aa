"""The edit step for one planned file: the model answers with search/replace blocks (or the
whole content of a new file); they are applied in the scratch worktree, and a block that does
not apply, an edit of another file, or new syntax errors go back to the model with the precise
reason, a bounded number of times. A file that never gets a valid edit is left untouched."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from sleepcoder.agent.solve import grammars
from sleepcoder.agent.solve.context import SolveContext, prompt
from sleepcoder.agent.solve.names import check_file_names
from sleepcoder.agent.solve.plan import Plan, Step
from sleepcoder.agent.solve.syntax import EditRejected, check_syntax
from sleepcoder.agent.solve.units import FENCE_NAMES
from sleepcoder.tools.edits import (
    ApplyError,
    EditFormatError,
    apply_blocks,
    parse_blocks,
    whole_file,
)
from sleepcoder.tools.languages import language_for_path
from sleepcoder.tools.parse import extract_facts
from sleepcoder.tools.search import tokenize

MAX_SHOWN_CHARS = 9000  # larger files are shown as windows around the relevant definitions
REWRITE_MAX_LINES = 150  # files this small may be rewritten whole when blocks keep failing
WINDOW_MARGIN = 4


@dataclass
class FileResult:
    path: str
    action: str
    status: str  # done, partial (some units), failed, unchanged (a fix round: nothing to fix)
    attempts: int
    error: str = ""
    units: list[dict] = field(default_factory=list)  # per definition, in the symbols format
    added: list[str] = field(default_factory=list)  # signatures of definitions it added
    method: str = "blocks"  # symbols/<protocol>, blocks, whole
    stopped: str = ""  # the budget ran out inside this file (what was landed is kept)
    priced: int = 0  # tokens the changes tried were priced at (fit.py), against what they cost

    def to_dict(self) -> dict:
        return asdict(self)


def other_files(plan: Plan, path: str) -> str:
    """The plan's other files and what each is for, as the edit questions show them."""
    others = [s for s in plan.distinct_steps() if s.path != path]
    return ("Other files in this change:\n" + "\n".join(
        f"- {s.path}: {s.what}" for s in others) + "\n") if others else ""


def edit_file(ctx: SolveContext, step: Step, plan: Plan, test_output: str = "",
              waiting: int = 0, whole: bool = False) -> FileResult:
    """Edit one planned file. In a fix round (`test_output` set) an answer that changes
    nothing means the file needs no fix: status "unchanged", not a failure. `waiting` planned
    files are still to be edited after this one: a retry that would leave too little budget for
    each of them to get a first attempt is not made (one stubborn file must not starve the
    others)."""
    path, target = ctx.workspace.editable(step.path, ctx.options.rules)
    original = target.read_text(encoding="utf-8", errors="replace") if target.exists() else ""
    others_text = other_files(plan, path)
    tests = (f"The tests failed after the last attempt; fix what concerns {path}:\n"
             f"{test_output[-2500:]}\n\n") if test_output else ""
    if step.action == "create":
        user = prompt("create").format(path=path, status=ctx.budget.status_line(),
                                       request=ctx.task.text[:5000], what=step.what,
                                       others=others_text + tests)
    else:
        shown, note = (original, "") if whole else _window(original, path,
                                                            f"{step.what}\n{ctx.task.text}")
        user = prompt("edit_whole" if whole else "edit").format(
                                     path=path, status=ctx.budget.status_line(),
                                     request=ctx.task.text[:5000], what=step.what,
                                     others=others_text, tests=tests, window_note=note,
                                     content=shown)
    messages = ctx.messages(user, example="" if step.action == "create" or whole
                            else "edit_example")
    method = "whole" if whole or step.action == "create" else "blocks"
    error = ""
    attempts = ctx.options.edit_attempts if not test_output else min(2, ctx.options.edit_attempts)
    small = original.count("\n") <= REWRITE_MAX_LINES and not test_output
    first_cost = 0
    fence = FENCE_NAMES.get(language_for_path(path) or "", "")
    for attempt in range(1, attempts + 1):
        # the last try on a small file asks for the whole new content instead of blocks
        rewrite = step.action == "edit" and (whole or (
            small and attempt == attempts and attempt > 1))
        whole_answer = step.action == "create" or rewrite
        max_tokens = min(4000, len(original) // 3 + 400) if rewrite else \
            1200 if step.action == "create" else 700
        if attempt > 1:
            follow = prompt("rewrite" if rewrite else "repair").format(
                error=error, path=path, status=ctx.budget.status_line())
            retry = [*messages, {"role": "user", "content": follow}]
            if not _retry_fits(ctx, retry, max_tokens, first_cost, waiting):
                kept = f"is kept for the {waiting} other planned file(s)" if waiting else \
                    "is too small for another answer"
                return FileResult(path, step.action, "failed", attempt - 1,
                                  f"{error} (not retried: the budget left {kept})")
            messages = retry
        spent = ctx.budget.spent_tokens()
        answer = ctx.ask("edit", messages, max_tokens=max_tokens, grammar=grammars.code_block(
            fence) if whole_answer else grammars.search_replace())
        if attempt == 1:
            first_cost = ctx.budget.spent_tokens() - spent
        try:
            new = _rewritten(answer.text, original, path) if rewrite else \
                _apply(step.action, answer.text, original, path)
            check_syntax(path, original, new)
            check_file_names(ctx, plan, step, path, language_for_path(path), original, new)
        except EditRejected as exc:
            error = str(exc)
            ctx.trajectory.outcome("edit", f"rejected: {error}")
            if test_output and error.startswith("the blocks change nothing"):
                return FileResult(path, step.action, "unchanged", attempt)
            if answer.truncated:
                error += " (your answer was cut off by the length limit: send fewer, smaller " \
                         "blocks)"
            messages = [*messages, {"role": "assistant", "content": answer.text}]
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(new, encoding="utf-8")
        ctx.trajectory.outcome("edit", f"applied to {path}")
        return FileResult(path, step.action, "done", attempt, method=method)
    return FileResult(path, step.action, "failed", attempts, error, method=method)


def _retry_fits(ctx: SolveContext, messages: list[dict[str, str]], max_tokens: int,
                first_cost: int, waiting: int) -> bool:
    """Whether a retry still leaves, for each waiting file, what a first attempt cost here
    (tokens) and one step."""
    budget = ctx.budget
    if budget.steps and budget.steps - budget.spent_steps() - 1 < waiting:
        return False
    if budget.tokens:
        left = budget.tokens - budget.spent_tokens()
        return left - ctx.estimate(messages, max_tokens) >= waiting * first_cost
    return True


def _rewritten(answer: str, original: str, path: str) -> str:
    """The whole new file from a rewrite answer, refused when it visibly drops code."""
    content = whole_file(answer)
    if not content:
        raise EditRejected(f"no code block with the new content of {path}")
    old_lines, new_lines = original.count("\n"), content.count("\n")
    if new_lines < 0.7 * old_lines or re.search(r"^\s*(#|//)\s*\.\.\.", content, re.M):
        raise EditRejected(f"the rewritten {path} leaves out parts of the file")
    if content == original:
        raise EditRejected("the rewritten file is unchanged")
    return content


def _apply(action: str, answer: str, original: str, path: str) -> str:
    if action == "create":
        content = whole_file(answer)
        if not content or not content.strip():
            raise EditRejected(f"no content for the new file {path}: reply with one code block")
        return content
    try:
        blocks = parse_blocks(answer)
    except EditFormatError as exc:
        raise EditRejected(str(exc)) from None
    if not blocks:
        raise EditRejected("no edit blocks found: use <<<<<<< SEARCH / ======= / "
                           ">>>>>>> REPLACE")
    for number, block in enumerate(blocks, 1):
        named = block.path.strip("`")
        if named and named != path and ("/" in named or named.endswith(
                (".py", ".js", ".ts", ".go", ".rs", ".java", ".c", ".h", ".cpp", ".md"))):
            raise EditRejected(f"block {number} edits {named}, but this step may only edit "
                               f"{path} (other files are edited in their own steps)")
    try:
        new = apply_blocks(original, blocks, path)
    except ApplyError as exc:
        raise EditRejected(str(exc)) from None
    if new == original:
        raise EditRejected("the blocks change nothing: the replacement must differ")
    return new


def _window(content: str, path: str, focus: str) -> tuple[str, str]:
    """The file, or for a large one its head and the definitions the plan talks about."""
    if len(content) <= MAX_SHOWN_CHARS:
        return content, ""
    lines = content.splitlines()
    language = language_for_path(path)
    spans: list[tuple[int, int]] = [(1, min(len(lines), 30))]
    if language:
        wanted = set(tokenize(focus))
        facts = extract_facts(content.encode(), language)
        scored = sorted(facts.definitions, key=lambda d: -len(wanted & set(tokenize(d.qname))))
        for d in scored[:6]:
            if wanted & set(tokenize(d.qname)):
                spans.append((max(1, d.start_line - WINDOW_MARGIN),
                              min(len(lines), d.end_line + WINDOW_MARGIN)))
    spans.sort()
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts, used = [], 0
    for start, end in merged:
        chunk = "\n".join(lines[start - 1:end])
        if used + len(chunk) > MAX_SHOWN_CHARS and parts:
            break
        parts.append(chunk)
        used += len(chunk)
    shown = "\n…\n".join(parts)
    return shown, (f" (a large file: {len(lines)} lines; shown are its start and the parts "
                   "the plan concerns, joined by … lines that are not in the file)")
