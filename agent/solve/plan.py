"""The plan: per file, what to change and why; new files named with their purpose.

The model may leave out a localized file or add new files, but not edit other existing files
(that is what localization decided). An answer with no usable line falls back to "edit each
localized file for the request", labelled as such in the run record.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from agent.budget import BudgetExhausted
from agent.llm import LLMError
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


def make_plan(ctx: SolveContext, files: list[str], context: str) -> Plan:
    notes = describe(ctx, files, symbols=False)
    listing = "\n".join(f"- {p}" + (f": {notes[p]}" if notes.get(p) else "") for p in files)
    user = prompt("plan").format(status=ctx.budget.status_line(), request=ctx.task.text[:6000],
                                 files=listing, context=context)
    try:
        answer = ctx.ask("plan", ctx.messages(user, example="plan_example"),
                         max_tokens=60 * len(files) + 120)
    except BudgetExhausted:
        raise
    except LLMError as exc:
        return fallback_plan(files, f"model error while planning: {exc}")
    return parse_plan(ctx, answer.text, files)


def parse_plan(ctx: SolveContext, text: str, files: list[str]) -> Plan:
    steps: list[Step] = []
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
    if not any(s.action == "edit" for s in steps) and not steps:
        return fallback_plan(files, "the model's plan had no usable line")
    note = ("dropped: " + "; ".join(dropped)) if dropped else ""
    return Plan(steps, note)


def fallback_plan(files: list[str], reason: str) -> Plan:
    return Plan([Step("edit", p, "implement the feature request") for p in files],
                f"fallback plan ({reason})")


def render(plan: Plan) -> str:
    return "\n".join(f"{s.action.upper()} {s.path}: {s.what}" for s in plan.steps)
