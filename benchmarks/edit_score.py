"""Scores of one model edit against its edit task: whether it applied and parses, whether it
changes code, whether it changed the target definition and nothing else, and how close the
lines it added are to the lines the reference added."""

from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass, field

from sleepcoder.tools.parse import syntax_errors

from benchmarks.edit_tasks import EditTask
from benchmarks.edit_units import parse_units, same_code, unit_changes, within

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class EditScore:
    applied: bool  # the protocol produced an edited file
    parses: bool  # no syntax errors beyond those the base file already has
    changes_code: bool  # more than whitespace or comments changed
    touches_target: bool  # the target definition changed (for an add: now exists)
    touches_only_target: bool  # ... and no other definition changed, appeared or went away
    reference_overlap: float  # Jaccard of the words on added lines, model vs reference
    others: list[str] = field(default_factory=list)  # other units touched: name, +added, -gone
    module_changed: bool = False  # lines outside every definition (imports, ...) changed

    def to_dict(self) -> dict:
        return asdict(self)


NOT_APPLIED = EditScore(False, False, False, False, False, 0.0)


def score_edit(task: EditTask, new_content: str | None) -> EditScore:
    """Score `new_content` (the model-edited file; None when no edit was produced)."""
    if new_content is None:
        return NOT_APPLIED
    base = task.base_content
    parses = syntax_errors(new_content.encode("utf-8", "replace"), "python")[0] <= \
        syntax_errors(base.encode("utf-8", "replace"), "python")[0]
    similarity = reference_overlap(task, new_content)
    if same_code(base, new_content):
        return EditScore(True, parses, False, False, False, similarity)
    changes = unit_changes(parse_units(base), parse_units(new_content))
    if task.kind == "add":
        hit = task.qname in changes.added
    else:
        hit = any(within(q, task.qname) for q in changes.changed | changes.added)
    # deleting the target itself is not an edit of it: it is listed with the other damage
    others = sorted(
        [q for q in changes.changed if not within(q, task.qname)]
        + [f"+{q}" for q in changes.added if not within(q, task.qname)]
        + [f"-{q}" for q in changes.removed if q == task.qname or not within(q, task.qname)])
    return EditScore(True, parses, True, hit, hit and not others, similarity, others,
                     changes.module)


def added_lines(before: str, after: str) -> list[str]:
    """Lines of `after` that a line diff from `before` marks as added."""
    matcher = difflib.SequenceMatcher(None, before.splitlines(), after.splitlines(),
                                      autojunk=False)
    new = after.splitlines()
    return [line for tag, _i1, _i2, j1, j2 in matcher.get_opcodes() if tag != "equal"
            for line in new[j1:j2] if line.strip()]


def reference_overlap(task: EditTask, new_content: str) -> float:
    """How close the lines the model added are to those the reference added to the target.
    When the reference only deletes lines, the deleted lines are compared instead."""
    reference = added_lines(task.base_text, task.reference_text)
    if reference or task.kind == "add":
        return overlap(added_lines(task.base_content, new_content), reference)
    return overlap(added_lines(new_content, task.base_content),
                   added_lines(task.reference_text, task.base_text))


def overlap(model: list[str], reference: list[str]) -> float:
    """Jaccard similarity of the sets of words (identifiers, keywords, numbers) on two sets of
    lines; 1.0 when both are empty."""
    a = {w for line in model for w in _WORD.findall(line)}
    b = {w for line in reference for w in _WORD.findall(line)}
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)

