"""One planned definition as the unit of editing: what the model is shown (the definition's
current source, the file's imports, the enclosing class header, the signatures of what it
calls, what this change added elsewhere), and how an answer is checked and spliced into the
file (by the definition's range, found again in the current text)."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

from sleepcoder.agent.solve.context import SolveContext, prompt
from sleepcoder.agent.solve.plan import Plan, Step, Unit
from sleepcoder.tools.parse import syntax_errors
from sleepcoder.tools.samecode import same_code
from sleepcoder.tools.symbols import (
    Anchor,
    DefinitionSpan,
    SymbolError,
    definitions,
    import_block,
    insert_definition,
    locate,
    main_guard,
    normalise,
    replace_definition,
    text_of,
)

_FENCE = re.compile(r"```[^\n]*\n(.*?)(?:\n```|\Z)", re.DOTALL)
FENCE_NAMES = {"python": "python", "javascript": "javascript", "typescript": "typescript",
               "tsx": "tsx", "go": "go", "rust": "rust", "java": "java", "c": "c", "cpp": "cpp"}


class UnitRejected(ValueError):
    """An answer that cannot be used for this unit; the message goes back to the model."""


@dataclass
class UnitWork:
    path: str
    language: str
    unit: Unit
    step: Step
    content: str  # the file now
    span: DefinitionSpan | None  # the definition being changed (None for an addition)
    code: str  # its current text ('' for an addition)
    context: str  # the shared part of every question about this unit
    # the names the plan adds, with the file each goes to (an edit may use them)
    planned: dict[str, str] = field(default_factory=dict)
    # what prepare() was given, so a follow-up question about the same file can be prepared
    plan: Plan | None = None
    added: list[str] = field(default_factory=list)

    @property
    def fence(self) -> str:
        return FENCE_NAMES.get(self.language, "")

    @property
    def tail(self) -> str:
        return self.unit.name.rsplit(".", 1)[-1]


def prepare(ctx: SolveContext, step: Step, plan: Plan, unit: Unit, content: str,
            language: str, added: list[str]) -> UnitWork:
    """Locate the unit's definition in the current `content` and render its context.
    Raises SymbolError when a CHANGE's definition is no longer there."""
    span = locate(content, language, unit.name) if unit.kind == "change" else None
    code = text_of(content, span) if span else ""
    if code and syntax_errors("".join(normalise(code, "")).encode(), language)[0]:
        raise SymbolError(f"`{unit.name}` does not parse as it is (the file has syntax "
                          "errors there): it is left alone")
    parts = []
    first, last = import_block(content, language)
    if last >= first:
        parts.append("Imports of the file:\n" + "".join(content.splitlines(True)[first - 1:last]))
    if span is not None and "." in span.qname:
        parts.append(_class_header(content, language, span.qname.rsplit(".", 1)[0]))
    if span is not None:
        called = _callees(ctx, step.path, span.qname)
        if called:
            parts.append("It calls:\n" + "\n".join(f"  {c}" for c in called))
    if unit.kind == "add":
        parts.append(_neighbourhood(content, language, unit))
    others = [f"  {u.describe()}: {u.what}" for u in step.units if u is not unit]
    other_files = [f"- {s.action.upper()} {s.path}: {s.what}" for s in plan.distinct_steps()
                   if s.path != step.path]
    text = ""
    if others:
        text += f"Other planned changes in {step.path}:\n" + "\n".join(others) + "\n"
    if other_files:
        text += "Other files in this change:\n" + "\n".join(other_files) + "\n"
    if added:
        text += "Already added by this change:\n" + "\n".join(f"  {a}" for a in added) + "\n"
    where = f"lines {span.start_line}-{span.end_line} of {step.path}" if span else ""
    current = (f"\nCurrent `{unit.name}` ({where}):\n```{FENCE_NAMES.get(language, '')}\n"
               f"{code.rstrip()}\n```\n") if span else ""
    unit_line = (f"Planned change of `{unit.name}`: {unit.what}" if unit.kind == "change"
                 else f"Planned new definition `{unit.name}`: {unit.what}")
    rendered = prompt("sym_context").format(
        request=ctx.task.text[:4000], path=step.path, file_what=step.what, unit_line=unit_line,
        others=text, context="".join(p.rstrip() + "\n" for p in parts if p), current=current)
    planned = {u.name: s.path for s in plan.steps for u in s.units if u.kind == "add"}
    return UnitWork(step.path, language, unit, step, content, span, code, rendered, planned,
                    plan, list(added))


def _class_header(content: str, language: str, qname: str) -> str:
    try:
        span = locate(content, language, qname)
    except SymbolError:
        return ""
    lines = content.splitlines()[span.start_line - 1: span.header_line + 2]
    return f"It is a method of `{qname}`:\n" + "\n".join(lines) + "\n    ..."


def _callees(ctx: SolveContext, path: str, qname: str, limit: int = 8) -> list[str]:
    if ctx.store is None:
        return []
    rows = ctx.store.conn.execute(
        "SELECT DISTINCT c.dst, c.dst_qname, d.signature FROM call_edges c "
        "JOIN files f ON f.path = c.dst JOIN defs d ON d.fid = f.fid AND d.qname = c.dst_qname "
        "WHERE c.src = ? AND c.src_qname = ? LIMIT ?", (path, qname, limit)).fetchall()
    return [f"{signature}  ({dst})" for dst, _q, signature in rows]


def _neighbourhood(content: str, language: str, unit: Unit) -> str:
    where, _, target = unit.anchor.partition(" ")
    if where == "in":
        members = [d for d in definitions(content, language)
                   if d.qname.startswith(target + ".") and d.qname.count(".") ==
                   target.count(".") + 1]
        head = _class_header(content, language, target)
        return head + "".join(f"\n    {d.signature}" for d in members)
    try:
        near = locate(content, language, target) if where == "after" else \
            definitions(content, language)[-1]
    except (SymbolError, IndexError):
        return ""
    return (f"The definition it follows:\n```{FENCE_NAMES.get(language, '')}\n"
            f"{text_of(content, near).rstrip()}\n```")


def place_text(unit: Unit) -> str:
    where, _, target = unit.anchor.partition(" ")
    return {"after": f"right after `{target}`", "in": f"at the end of class `{target}`"}.get(
        where, "at the end of the file")


def code_blocks(answer: str) -> list[str]:
    return [block for block in _FENCE.findall(answer) if block.strip()]


def one_block(answer: str, what: str) -> str:
    blocks = code_blocks(answer)
    if not blocks:
        raise UnitRejected(f"no code block: reply with {what} in one ``` code block")
    if len(blocks) > 1:
        raise UnitRejected(f"{len(blocks)} code blocks: reply with {what} in exactly one "
                           "code block")
    return blocks[0]


def defined_names(code: str, language: str) -> list[str]:
    return [d.qname for d in definitions("".join(normalise(code, "")), language)
            if "." not in d.qname]


def _unwrapped(work: UnitWork, new_code: str) -> str:
    """The planned definition alone, when the answer wraps it in its class (rich-65: `class
    Table:` with an elision comment and the new method): the model's way of saying where it
    goes, which the unit already knows."""
    if work.tail in defined_names(new_code, work.language):
        return new_code
    code = "".join(normalise(new_code, ""))
    nested = [d for d in definitions(code, work.language)
              if "." in d.qname and d.qname.rsplit(".", 1)[-1] == work.tail]
    if len(nested) != 1:
        return new_code
    return textwrap.dedent(text_of(code, nested[0]))


def apply_change(work: UnitWork, new_code: str) -> str:
    """The file with the definition replaced by `new_code`, or UnitRejected saying why not."""
    new_code = _unwrapped(work, new_code)
    names = defined_names(new_code, work.language)
    if not names:
        raise UnitRejected(f"the code block defines nothing: it must be the complete new "
                           f"`{work.tail}`")
    if work.tail not in names:
        raise UnitRejected(f"the code block defines `{names[0]}`, not `{work.tail}`: reply "
                           f"with the new version of `{work.tail}`")
    if same_code("".join(normalise(work.code, "")), "".join(normalise(new_code, "")),
                 work.language):
        raise UnitRejected(f"that is the current `{work.tail}` unchanged; the new version "
                           f"must do what the plan says: {work.unit.what}")
    assert work.span is not None
    return replace_definition(work.content, work.span, new_code)


def _named(name: str, work: UnitWork) -> bool:
    """Whether the file uses `name` already (a definition, an import, a variable, a call) or
    the plan has a unit of that name in it: a definition renamed to it would shadow or
    duplicate that."""
    planned = {u.name.rsplit(".", 1)[-1] for u in work.step.units}
    return name in planned or re.search(rf"\b{re.escape(name)}\b",
                                        work.content) is not None


_FIRST_PARAMETER = re.compile(r"\s*(?:async\s+)?def\s+\w+\s*\(\s*(self|cls)\b")


def _method_home(work: UnitWork, new_code: str) -> Anchor | None:
    """A new function planned at the end of the file whose first parameter is `self` (or
    `cls`) is a method: it goes at the end of the class that ends the file, if one does
    (black-136 at a52809a: `test_format_file_with_cache(self, ...)` planned AT END of
    tests/test_black.py, whose tests are methods of `BlackTestCase`; spliced at module
    level)."""
    first = next((line for line in new_code.splitlines()
                  if line.strip() and not line.strip().startswith("@")), "")
    if not _FIRST_PARAMETER.match(first):
        return None
    top = [d for d in definitions(work.content, "python") if "." not in d.qname]
    if not top:
        return None
    last = max(top, key=lambda d: d.end_line)
    guard = main_guard(work.content)
    trailing = work.content.split("\n")[last.end_line:(guard - 1 if guard else None)]
    if last.kind != "class" or any(line.strip() and not line.startswith((" ", "\t", "#"))
                                   for line in trailing):
        return None  # the file ends with a function or top-level code: no class to join
    return Anchor("in", last.qname)


def apply_addition(work: UnitWork, new_code: str) -> str:
    new_code = _unwrapped(work, new_code)
    names = defined_names(new_code, work.language)
    if work.tail not in names and len(names) == 1 and not _named(names[0], work):
        # one new definition under another name (rich-65: `Hyperlink` for the planned
        # `render_hyperlink`): what the plan asked for, named by the model; it keeps its name
        work.unit.name = work.unit.name[: len(work.unit.name) - len(work.tail)] + names[0]
    if work.tail not in names:
        raise UnitRejected(f"the code block must define `{work.tail}`"
                           + (f", it defines `{names[0]}`" if names else ""))
    where, _, target = work.unit.anchor.partition(" ")
    anchor = Anchor("end") if where == "end" else Anchor(where, target)
    if where == "end" and work.language == "python":
        anchor = _method_home(work, new_code) or anchor
    try:
        return insert_definition(work.content, work.language, anchor, new_code)
    except SymbolError:  # the anchor went away since the plan: the end of the file
        return insert_definition(work.content, work.language, Anchor("end"), new_code)
