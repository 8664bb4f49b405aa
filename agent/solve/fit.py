"""Fitting the plan to the token budget before any edit is asked.

A plan of five files with two definitions each needs about 25,000 tokens of edit questions with
the embedded model; at a 20,000-token budget the run used to spend the budget on the first
files and end `budget_exhausted` with the rest unedited and no room left for a fix round. The
cost of each planned change is estimated from what it will send (the definition's size plus the
fixed part of an edit question), and the changes that cannot fit are left out before editing
starts, in the order the edits will be made, keeping a reserve for retries and a fix round.
What is left out is said in the plan's note and in the run record: it is the agent's decision,
not a failure to edit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sleepcoder.agent.solve.plan import Plan, Step, Unit
from sleepcoder.tools.languages import language_for_path
from sleepcoder.tools.symbols import definitions

# The fixed part of one edit question (system prompt, instructions, surrounding lines): 900 to
# 1,300 tokens on the dev-set runs of the embedded model for definitions of 100 to 400 tokens.
EDIT_OVERHEAD = 1_000
# Questions per change: the decomposed protocol asks for the header when the plan speaks of it,
# then the body, and retries a rejected answer once; 1 to 3 were seen, 2 on average.
CALLS = {"change": 2, "add": 1, "imports": 1}
NEW_CODE = 300  # tokens of an added definition's answer
FILE_WINDOW = 2_300  # a file-level edit shows at most about this much of the file
FILE_ANSWER = 700
# A new file: its question shows no file (230 to 450 prompt tokens on the dev runs at
# a11421e, where 2,400 were priced).
CREATE_QUESTION = 500
# A file without a parser in the `symbols` format (text_edit.py): the new lines (the file's
# outline shown, up to OUTLINE_CHARS), then where they go. 360 to 1,530 tokens on the dev
# runs at 301d805 and a11421e (about 1,000 on average), where the file-level price was 2,000
# to 4,000 and left planned files out of 20,000-token runs that then used 7,700.
TEXT_QUESTIONS = 2 * 400
TEXT_OUTLINE = 750  # text_edit.OUTLINE_CHARS // 4
MAX_DEFINITION = 2_500  # a CHANGE of a larger one is dropped at planning (plan.MAX_CHANGE_CHARS)
RESERVE = 0.15  # of the budget, kept for retries and the fix round after failing tests
MAX_RATIO = 4.0  # price_ratio's ceiling: a run's first stubborn change does not end editing


@dataclass
class Fitted:
    plan: Plan
    queue: list[int]
    left_out: list[str]  # "path: CHANGE x" or "path" for whole steps
    needed: int  # estimated tokens of the whole plan's edits
    available: int  # tokens the edits may use
    # what was left out, as steps in edit order (each with its left-out units): edited later
    # if the kept ones leave room (graph._refill); None when nothing was left out
    held: Plan | None = None


def unit_cost(unit: Unit, definition_tokens: dict[str, int]) -> int:
    if unit.kind == "change":
        size = min(definition_tokens.get(unit.name, 200), MAX_DEFINITION)
        return CALLS["change"] * (EDIT_OVERHEAD + size + size // 2)
    if unit.kind == "add":
        return CALLS["add"] * (EDIT_OVERHEAD + NEW_CODE)
    return CALLS["imports"] * (EDIT_OVERHEAD + 200)


def by_units(step: Step) -> bool:
    """Whether the step is edited definition by definition: it names definitions and the
    file has a parser (a README or a template with units is edited at file level)."""
    return bool(step.units) and language_for_path(step.path) is not None


def reserve_for(workspace, steps: list[Step], text_by_lines: bool = False
                ) -> tuple[int, int]:
    """What the planned `steps` not tried yet are priced at, as the fit priced them: the
    tokens a retry elsewhere must leave for them (SolveContext.reserved), and the part of
    it that is each step's first change (what a second change of the file being edited must
    leave: the fit is breadth first)."""
    if not steps:
        return 0, 0
    sizes, files = measure(workspace, Plan(list(steps)))
    whole = sum(step_cost(s, sizes.get(s.path, {}), files.get(s.path, 0), text_by_lines)
                for s in steps)
    first = sum(first_cost(s, sizes.get(s.path, {}), files.get(s.path, 0), text_by_lines)
                for s in steps)
    return whole, first


def first_cost(step: Step, definition_tokens: dict[str, int], file_tokens: int,
               text_by_lines: bool = False) -> int:
    """Estimated tokens of the step's first change (the whole file-level edit if it has no
    definition by definition edits)."""
    if by_units(step):
        return unit_cost(step.units[0], definition_tokens)
    return step_cost(step, definition_tokens, file_tokens, text_by_lines)


def step_cost(step: Step, definition_tokens: dict[str, int], file_tokens: int,
              text_by_lines: bool = False) -> int:
    """Estimated tokens of one planned file's edits (a step with no named definitions, or a
    file without a parser, is edited at file level). `text_by_lines`: the `symbols` format,
    where a file without a parser gets text_edit.py's two short questions instead."""
    if by_units(step):
        return sum(unit_cost(u, definition_tokens) for u in step.units)
    if step.action == "create":
        return CREATE_QUESTION + FILE_ANSWER
    if text_by_lines and language_for_path(step.path) is None:
        return TEXT_QUESTIONS + min(file_tokens, TEXT_OUTLINE)
    return EDIT_OVERHEAD + min(file_tokens, FILE_WINDOW) + FILE_ANSWER


def fit_plan(plan: Plan, queue: list[int], available: int, sizes: dict[str, dict[str, int]],
             file_tokens: dict[str, int], text_by_lines: bool = False,
             keep_first: bool = True) -> Fitted:
    """The plan cut to what `available` tokens can edit. Breadth first: every planned file's
    first change is considered (in `queue` order) before any file's second one, since a
    feature whose files are all touched once is closer to done than one file changed twice
    and the rest untouched (on httpx-42 at 20,000 tokens, the two changes of one large class
    left no room for the tests the request needed). Whole units are kept while they fit; the
    first unit is always kept (a run that tries nothing learns nothing). `sizes[path][qname]`
    are definition sizes in tokens; `text_by_lines` as in `step_cost`. Without `keep_first`
    (a refill after the kept changes were made), nothing is kept that does not fit."""
    spent, needed = 0, 0
    kept_any = False
    kept: set[tuple[int, int]] = set()  # (step, unit index; -1: a step without units)
    left: list[tuple[int, int, str]] = []  # (queue position, unit index, description)
    rounds = max((len(plan.steps[i].units) for i in queue), default=0)
    for depth in range(max(rounds, 1)):
        for position, index in enumerate(queue):
            step = plan.steps[index]
            defs = sizes.get(step.path, {})
            if not by_units(step):
                if depth:
                    continue
                cost, unit_index, what = (step_cost(step, defs, file_tokens.get(step.path, 0),
                                                    text_by_lines), -1, step.path)
            elif depth < len(step.units):
                unit = step.units[depth]
                cost, unit_index, what = (unit_cost(unit, defs), depth,
                                          f"{step.path}: {unit.describe()}")
            else:
                continue
            needed += cost
            if (kept_any or not keep_first) and spent + cost > available:
                left.append((position, unit_index, what))
                continue
            spent, kept_any = spent + cost, True
            kept.add((index, unit_index))
    if not left:
        return Fitted(plan, queue, [], needed, available)
    left_out = [what for _p, _u, what in sorted(left)]  # in edit order
    steps, held = [], []
    for index in queue:
        step = plan.steps[index]
        if not by_units(step):
            (steps if (index, -1) in kept else held).append(step)
            continue
        units = [u for n, u in enumerate(step.units) if (index, n) in kept]
        if units:
            steps.append(Step(step.action, step.path, step.what, units))
        rest = [u for n, u in enumerate(step.units) if (index, n) not in kept]
        if rest:
            held.append(Step(step.action, step.path, step.what, rest))
    note = (f"left out to fit the token budget (about {needed:,} tokens of edits planned, "
            f"{max(available, 0):,} available; edited after the others if what is left "
            f"of the budget then pays for them): " + "; ".join(left_out))
    fitted = Plan(steps, "; ".join(filter(None, [plan.note, note])), plan.dropped_units,
                  left_out)
    # the kept steps are already in edit order
    return Fitted(fitted, list(range(len(steps))), left_out, needed, available, Plan(held))


def measure(workspace, plan: Plan) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Definition sizes and file sizes (tokens, about 4 characters each) of the planned
    files as they are now (`workspace`: tools/workspace.py, read without a checkout)."""
    sizes, files = {}, {}
    for step in plan.steps:
        if step.action != "edit":
            continue
        try:
            content = workspace.read_text(step.path)
        except OSError:
            continue
        if content is None:
            continue
        files[step.path] = len(content) // 4
        language = language_for_path(step.path)
        if language is None or not step.units:
            continue
        sizes[step.path] = definition_tokens(content, language)
    return sizes, files


def definition_tokens(content: str, language: str) -> dict[str, int]:
    """Each definition's size in tokens (about 4 characters each), by qualified name."""
    lines = content.splitlines(keepends=True)
    return {d.qname: sum(len(line) for line in lines[d.start_line - 1:d.end_line]) // 4
            for d in definitions(content, language)}


def price_ratio(pricing: dict) -> float:
    """How far this run's edits have cost more than the fit priced them (`pricing`: the
    tokens spent on the files edited so far and what those edits were priced at), between
    1 and MAX_RATIO. The prices are averages over the dev runs; one run's model may need
    three questions where two were priced (flask-307 at 20,000 tokens spent 4,100 tokens on
    a change priced at 2,500 and ran out of budget in its last file)."""
    spent, priced = pricing.get("spent", 0), pricing.get("priced", 0)
    if priced <= 0:
        return 1.0
    return round(min(MAX_RATIO, max(1.0, spent / priced)), 2)
