"""The plan: per file, what to change and why; new files named with their purpose.

The model may leave out a localized file or add new files, but not edit other existing files
(that is what localization decided). An answer with no usable line falls back to "edit each
localized file for the request", labelled as such in the run record.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from agent.solve.context import SolveContext, prompt
from agent.solve.localize import describe
from tools.worktree import EditRefused, check_edit_path

_LINE = re.compile(r"^\s*[-*]?\s*\**(EDIT|CREATE)\**\s+`?([^\s:`]+)`?\s*:?\s*(.*)$",
                   re.IGNORECASE)
MAX_NEW_FILES = 3


@dataclass
class Step:
    action: str  # edit or create
    path: str
    what: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Plan:
    steps: list[Step]
    note: str = ""  # why the plan is a fallback, or what was dropped

    def to_dict(self) -> dict:
        return {"steps": [s.to_dict() for s in self.steps], "note": self.note}

    @classmethod
    def from_dict(cls, data: dict) -> Plan:
        return cls([Step(**s) for s in data.get("steps", [])], data.get("note", ""))


MAX_EXTRA_FILES = 1  # existing files the plan may add beyond the localization's choice


def make_plan(ctx: SolveContext, files: list[str], context: str,
              runners_up: list[str] | None = None) -> Plan:
    notes = describe(ctx, files, symbols=False)
    listing = "\n".join(f"- {p}" + (f": {notes[p]}" if notes.get(p) else "") for p in files)
    user = prompt("plan").format(status=ctx.budget.status_line(), request=ctx.task.text[:6000],
                                 files=listing, context=context)
    answer = ctx.ask("plan", ctx.messages(user, example="plan_example"),
                     max_tokens=60 * len(files) + 120)
    return parse_plan(ctx, answer.text, files, runners_up or [])


def parse_plan(ctx: SolveContext, text: str, files: list[str],
               runners_up: list[str] | None = None) -> Plan:
    """Plan steps from the answer: edits of localized files, at most MAX_EXTRA_FILES edits of
    other candidates the localization ranked high (`runners_up`), and new files."""
    steps: list[Step] = []
    extra = 0
    dropped: list[str] = []
    seen: set[str] = set()
    for line in text.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        action, raw, what = match.group(1).lower(), match.group(2), match.group(3).strip()
        try:
            path = check_edit_path(ctx.root, raw, allow_ci=ctx.options.allow_ci_edits,
                                   protected=ctx.options.protected)
        except EditRefused as exc:
            dropped.append(str(exc))
            continue
        if path in seen:
            continue
        exists = (ctx.root / path).exists()
        if action == "edit" and path not in files:
            if path in (runners_up or []) and extra < MAX_EXTRA_FILES:
                extra += 1
                dropped.append(f"{path}: added to the files to change by the plan")
            else:
                dropped.append(f"{path}: not among the files to change")
                continue
        if action == "create" and exists:
            action = "edit" if path in files else ""
            if not action:
                dropped.append(f"{path}: already exists and is not among the files to change")
                continue
        if action == "create" and sum(s.action == "create" for s in steps) >= MAX_NEW_FILES:
            dropped.append(f"{path}: too many new files")
            continue
        seen.add(path)
        steps.append(Step(action, path, what or "implement the feature request"))
    if not steps:
        return fallback_plan(files, "the model's plan had no usable line")
    note = ("notes: " + "; ".join(dropped)) if dropped else ""
    return Plan(steps, note)


def fallback_plan(files: list[str], reason: str) -> Plan:
    return Plan([Step("edit", p, "implement the feature request") for p in files],
                f"fallback plan ({reason})")


def restrict_plan(plan: Plan, files: list[str]) -> Plan:
    """The plan cut down to the files the user chose at review: no other file, and no new
    one (the user's list is a promise about what the patch touches). If nothing is left, edit
    each of the user's files."""
    kept = [s for s in plan.steps if s.action == "edit" and s.path in files]
    dropped = [f"{s.path}: not in the files chosen at review" for s in plan.steps
               if s not in kept]
    if not kept:
        return fallback_plan(files, "no planned step was among the files chosen at review")
    notes = [plan.note] if plan.note else []
    if dropped:
        notes.append("; ".join(dropped))
    return Plan(kept, "; ".join(notes))


def render(plan: Plan) -> str:
    return "\n".join(f"{s.action.upper()} {s.path}: {s.what}" for s in plan.steps)
