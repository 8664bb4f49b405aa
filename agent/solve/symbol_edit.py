"""The `symbols` edit format for one planned file: each planned definition is a unit, asked
for with the chosen protocol (agent/solve/protocols.py) and spliced by its range in the file as
it is now; new definitions go to their anchor; for Python the imports the new code needs are
added without a model (tools/pyimports.py). Each unit lands or fails on its own: the file is
`done` when all landed, `partial` when some did."""

from __future__ import annotations

from sleepcoder.agent.budget import BudgetExhausted, RequestTooLarge
from sleepcoder.agent.solve import grammars, top_level
from sleepcoder.agent.solve.context import SolveContext
from sleepcoder.agent.solve.edit import FileResult
from sleepcoder.agent.solve.fit import definition_tokens, unit_cost
from sleepcoder.agent.solve.names import module_imports, repository_names
from sleepcoder.agent.solve.plan import Plan, Step, Unit
from sleepcoder.agent.solve.protocols import UnitOutcome, edit_unit
from sleepcoder.agent.solve.syntax import EditRejected, check_syntax
from sleepcoder.agent.solve.units import UnitRejected, UnitWork, one_block, prepare
from sleepcoder.tools import pyimports
from sleepcoder.tools.languages import language_for_path
from sleepcoder.tools.parse import syntax_errors
from sleepcoder.tools.symbols import SymbolError, definitions, import_block, replace_lines

# The protocol each model is asked with when `[solve] edit_protocol = "auto"`: measured with
# benchmarks/bench_edit.py (docs/benchmarks.md, "Edit benchmark"). For the 1.5B on 12 real
# edit tasks, decomposed then blocks landed 0.83 (blocks alone 0.75, decomposed 0.67, rewrite
# 0.40 and insert 0.20 on their first 5), the whole-file blocks of before 0.23. The 0.5B and
# API models were not measured: the 0.5B gets the 1.5B's choice, API models the complete
# definition, the form the issue found strong models good at.
LOCAL_PROTOCOL = "decomposed+blocks"
DEFAULT_PROTOCOLS = {"local/qwen2.5-coder-1.5b": LOCAL_PROTOCOL,
                     "local/qwen2.5-coder-0.5b": LOCAL_PROTOCOL}
API_PROTOCOL = "rewrite"
# a fix round's question: the wrong lines replaced (search/replace on the definition), else the
# definition rewritten; new lines alone (the decomposed protocol) rarely fix a failing line
FIX_PROTOCOL = "blocks+rewrite"


def protocol_for(ctx: SolveContext) -> str:
    chosen = ctx.options.edit_protocol
    if chosen != "auto":
        return chosen
    model = ctx.llm.model if ctx.llm else ""
    return DEFAULT_PROTOCOLS.get(model,
                                 LOCAL_PROTOCOL if model.startswith("local/") else API_PROTOCOL)


def edit_symbols(ctx: SolveContext, step: Step, plan: Plan, added: list[str],
                 protocol: str = "") -> FileResult:
    """Edit `step`'s file unit by unit. `added` holds the signatures of definitions earlier
    files of this run added (shown to the model, so calls to them are right); `protocol`
    overrides the run's (a fix round asks for replacements, not new lines)."""
    path, target = ctx.workspace.editable(step.path, ctx.options.rules)
    language = language_for_path(path) or ""
    original = target.read_text(encoding="utf-8", errors="replace")
    content = original
    protocol_given = bool(protocol)
    protocol = protocol or protocol_for(ctx)
    result = FileResult(path, step.action, "failed", 0, method=f"symbols/{protocol}")
    errors = syntax_errors(original.encode(), language)[0] if language else 0
    if errors:
        result.units.append({"unit": "FILE", "status": "note", "what": f"the file had {errors} "
                             "syntax error(s) before the edit: only definitions that parse "
                             "are edited"})
    units = [u for u in step.units if u.kind != "imports"]
    waiting = ctx.reserved  # kept for the planned files after this one
    own = definition_tokens(original, language) if language else {}  # as the fit priced them
    for index, unit in enumerate(units):
        record: dict = {"unit": unit.describe(), "what": unit.what, "status": "failed"}
        result.units.append(record)
        # and for this file's changes after this one, priced as the fit priced them
        ctx.reserved = waiting + int(ctx.price_ratio * sum(unit_cost(u, own)
                                                           for u in units[index + 1:]))
        cost = unit_cost(unit, own)
        # a second change leaves room for the waiting files' first ones (breadth first); the
        # run's very first change is always tried, as the fit always keeps it
        first_of_run = ctx.first_free and index == 0
        refused = "" if first_of_run else ctx.start_refused(
            cost, after=ctx.reserved_first if index else 0)
        if refused:
            record["status"], record["error"] = "not attempted", f"{unit.name}: {refused}"
            continue
        result.priced += cost
        try:
            work = prepare(ctx, step, plan, unit, content, language, added + result.added)
            outcome = edit_unit(ctx, work, protocol, ctx.options.edit_attempts)
        except SymbolError as exc:
            record["error"] = f"{unit.name}: {exc}"
            continue
        except RequestTooLarge as exc:  # this question alone: the others may still fit
            record["status"] = "not attempted"
            record["error"] = f"{unit.name}: too large for what is left of the budget ({exc})"
            continue
        except BudgetExhausted as exc:
            record["status"], record["error"] = "not attempted", str(exc)
            result.stopped = str(exc)
            break
        record["attempts"] = outcome.attempts
        result.attempts += outcome.attempts
        if outcome.content is None:
            record["error"] = outcome.error
            continue
        content = outcome.content
        target.write_text(content, encoding="utf-8")  # landed: kept whatever happens next
        record["status"] = "done"
        if unit.kind == "add":
            result.added += _signatures(content, language, unit, path)
    ctx.reserved = waiting
    if not protocol_given and top_level.wanted(result, language):  # not in a fix round
        new = top_level.add_top_level(ctx, step, plan, language, content, result)
        if new is not None:
            content = new
            target.write_text(content, encoding="utf-8")
    if content != original:
        content = _imports(ctx, step, plan, path, language, original, content, result)
        target.write_text(content, encoding="utf-8")
    planned = [r for r in result.units if not r.get("automatic") and r["status"] != "note"]
    landed = sum(r["status"] == "done" for r in planned)
    result.status = "done" if landed == len(planned) and landed else \
        "partial" if landed else "failed"
    if not landed:
        result.error = "; ".join(r.get("error", "") for r in planned if r.get("error"))[:600]
    return result


def _signatures(content: str, language: str, unit: Unit, path: str) -> list[str]:
    found = [d for d in definitions(content, language) if d.qname.rsplit(".", 1)[-1] ==
             unit.name]
    return [f"{path}: {d.signature}" for d in found[:1]]


def _imports(ctx: SolveContext, step: Step, plan: Plan, path: str, language: str,
             original: str, content: str, result: FileResult) -> str:
    """Python: add the imports the new code needs (no model). Other languages: the plan's
    IMPORTS unit, asked for as the new import block."""
    if language == "python":
        before = pyimports.unresolved(original) or set()
        after = pyimports.unresolved(content)
        if not after:
            return content
        missing = after - before
        new_names = {u.name: s.path for s in plan.steps for u in s.units
                     if u.kind == "add" and s.path != path}
        imported_as, defined_in = repository_names(ctx, missing)
        wanted = pyimports.providers(missing, path, new_names, imported_as, defined_in)
        wanted.update(module_imports(ctx, content, missing - set(wanted)))
        if wanted:
            updated = pyimports.add_imports(content, wanted)
            try:
                check_syntax(path, content, updated)
                content = updated
                result.units.append({"unit": "IMPORTS", "status": "done", "what": ", ".join(
                    m if m.startswith("import ") else f"{n} from {m}"
                    for n, m in sorted(wanted.items())),
                    "automatic": True})
            except EditRejected:
                pass
        unknown = sorted(missing - set(wanted))
        if unknown:
            result.units.append({"unit": "IMPORTS", "status": "note", "what": "names used "
                                 "but not defined or imported: " + ", ".join(unknown[:10])})
        return content
    unit = next((u for u in step.units if u.kind == "imports"), None)
    if unit is None:
        return content
    record = {"unit": "IMPORTS", "what": unit.what, "status": "failed"}
    result.units.append(record)
    try:
        updated = _import_block(ctx, step, plan, unit, path, language, content)
    except BudgetExhausted as exc:
        record["status"], record["error"] = "not attempted", str(exc)
        return content
    if updated is None:
        record["error"] = "no usable import block"
        return content
    record["status"] = "done"
    return updated


def _import_block(ctx: SolveContext, step: Step, plan: Plan, unit: Unit, path: str,
                  language: str, content: str) -> str | None:
    first, last = import_block(content, language)
    block = "".join(content.splitlines(True)[first - 1:last]) if last >= first else ""
    work = UnitWork(path, language, unit, step, content, None, block, "")
    question = (f"Plan for {path}: {step.what}\nImports: {unit.what}\nCurrent import block:\n"
                f"```{work.fence}\n{block}```\nTask: reply with the complete new import block "
                "in one code block.")
    answer = ctx.ask("edit", ctx.messages(question), max_tokens=len(block) // 3 + 200,
                     grammar=grammars.code_block(work.fence))
    try:
        new_block = one_block(answer.text, "the import block")
    except UnitRejected:
        return None
    updated = replace_lines(content, first, last, new_block, "") if last >= first else \
        replace_lines(content, first, first - 1, new_block, "")
    try:
        check_syntax(path, content, updated)
    except EditRejected:
        return None
    return updated


__all__ = ["edit_symbols", "protocol_for", "UnitOutcome"]
