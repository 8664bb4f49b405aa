"""The solve graph (LangGraph, checkpointed in SQLite):

    localize | explore (no map) -> plan -> [approve] -> edit (one file per step) -> check
        -> [test -> edit again, bounded] -> emit

Localization uses the map (deterministic ranking, then narrow model decisions); without the
map (`--no-map`) the model explores with read-only tools. Edits happen in a scratch worktree;
the patch is derived by git and checked against the base. A budget or step limit stops the
run cleanly: what was validated is still emitted, with status `budget_exhausted`.
"""

from __future__ import annotations

import copy
from typing import Any, TypedDict

from sleepcoder.agent.budget import BudgetExhausted, RequestTooLarge
from sleepcoder.agent.solve import localize as model_localize
from sleepcoder.agent.solve.context import SolveContext
from sleepcoder.agent.solve.edit import REWRITE_MAX_LINES, FileResult, edit_file
from sleepcoder.agent.solve.explore import explore
from sleepcoder.agent.solve.fit import (
    RESERVE,
    by_units,
    fit_plan,
    measure,
    price_ratio,
    reserve_for,
    step_cost,
)
from sleepcoder.agent.solve.fixing import fix_step, only_a_caller
from sleepcoder.agent.solve.plan import Plan, fallback_plan, make_plan, restrict_plan
from sleepcoder.agent.solve.plan import render as render_plan
from sleepcoder.agent.solve.symbol_edit import FIX_PROTOCOL, edit_symbols
from sleepcoder.agent.solve.testing import run_tests
from sleepcoder.agent.solve.text_edit import edit_text
from sleepcoder.tools.diffs import check_applies, parse_patch, worktree_diff
from sleepcoder.tools.languages import language_for_path
from sleepcoder.tools.localize import localize as rank_files
from sleepcoder.tools.patch_check import check_patch
from sleepcoder.tools.render import render_map
from sleepcoder.tools.sandbox import Isolation
from sleepcoder.tools.worktree import EditRefused


class SolveState(TypedDict, total=False):
    task: dict
    options: dict
    base: str
    worktree: str
    localization: dict
    exploration: dict
    files: list[str]
    plan: dict
    held: dict  # planned changes left out to fit the budget, not tried yet (fit.Fitted.held)
    review: dict
    queue: list[int]
    results: list[dict]
    test: dict
    check: dict
    patch: str
    status: str
    usage: dict
    events: list[str]
    started: float


def _node(ctx: SolveContext, fn):
    """A graph node around `fn(state, events)`: usage carried in the state, a spent budget
    turned into a clean stop, events said as they happen."""
    def node(state: SolveState) -> SolveState:
        ctx.usage = copy.deepcopy(state.get("usage", {}))
        events: list[str] = []
        try:
            update = fn(state, events) or {}
        except BudgetExhausted as exc:
            update = {"status": "budget_exhausted", "queue": []}
            events.append(f"stopped: {exc}")
            ctx.progress.notice(f"budget reached: {exc}")
        ctx.account()
        for event in events:
            ctx.progress.notice(event)
        return {**update, "usage": ctx.usage,
                "events": [*state.get("events", []), *events]}
    node.__name__ = getattr(fn, "__name__", "node")
    return node


def run_localize_only(ctx: SolveContext, initial: SolveState) -> dict:
    """`--localize-only`: the localize and emit nodes called in order, without LangGraph.
    Importing LangGraph alone takes seconds, more than the localization; a run that edits
    nothing has nothing to checkpoint or resume, so the graph buys it nothing."""
    state: dict = dict(initial)
    for fn in (_localize, _emit):
        state.update(_node(ctx, lambda s, e, fn=fn: fn(ctx, s, e))(state))
        if fn is _localize and _after_localize(state) != "emit":
            raise AssertionError("--localize-only went on past localization")
    return state


def build_graph(ctx: SolveContext):
    from langgraph.graph import END, START, StateGraph

    def step(fn):
        return _node(ctx, fn)

    graph = StateGraph(SolveState)
    graph.add_node("localize", step(lambda s, e: _localize(ctx, s, e)))
    graph.add_node("explore", step(lambda s, e: _explore(ctx, s, e)))
    graph.add_node("plan", step(lambda s, e: _plan(ctx, s, e)))
    graph.add_node("approve", step(lambda s, e: _approve(ctx, s, e)))
    graph.add_node("edit", step(lambda s, e: _edit(ctx, s, e)))
    graph.add_node("check", step(lambda s, e: _check(ctx, s, e)))
    graph.add_node("test", step(lambda s, e: _test(ctx, s, e)))
    graph.add_node("emit", step(lambda s, e: _emit(ctx, s, e)))

    graph.add_conditional_edges(START, lambda s: "explore" if ctx.options.no_map else "localize",
                                ["explore", "localize"])
    for source in ("localize", "explore"):
        graph.add_conditional_edges(source, _after_localize, ["plan", "emit"])
    graph.add_conditional_edges("plan", lambda s: "emit" if _stopped(s) else (
        "approve" if ctx.options.review else "edit"), ["approve", "edit", "emit"])
    graph.add_conditional_edges("approve", lambda s: {
        "approve": "edit", "edit": "plan"}.get(s.get("review", {}).get("action"), "emit"),
        ["edit", "plan", "emit"])
    graph.add_conditional_edges("edit", lambda s: "edit" if s.get("queue") and not _stopped(s)
                                else "check", ["edit", "check"])
    # a spent budget still gets its tests run (they cost no tokens): the user learns whether
    # the validated part passes; only the fix rounds need budget
    graph.add_conditional_edges("check", lambda s: "test" if ctx.options.test_cmd and
                                s.get("status") not in ("aborted", "failed") and s.get("patch")
                                else "emit", ["test", "emit"])
    graph.add_conditional_edges("test", lambda s: "edit" if s.get("queue") and not _stopped(s)
                                else "emit", ["edit", "emit"])
    graph.add_edge("emit", END)
    return graph


def _stopped(state: SolveState) -> bool:
    return state.get("status") in ("budget_exhausted", "aborted", "failed")


def _after_localize(state: SolveState) -> str:
    if _stopped(state) or state.get("status") == "localized" or not state.get("files"):
        return "emit"
    return "plan"


# --- nodes -----------------------------------------------------------------------------------

def _editable(ctx: SolveContext, path: str) -> bool:
    try:
        ctx.workspace.check(path, ctx.options.rules)
    except EditRefused:
        return False
    return True


def _localize(ctx: SolveContext, state: SolveState, events: list[str]) -> SolveState:
    assert ctx.store is not None
    ranking = rank_files(ctx.store, ctx.workspace.repo, ctx.task.text)
    ctx.scores = ranking.scores
    refused = [c.path for c in ranking.candidates if not _editable(ctx, c.path)]
    if refused:  # files the edit rules protect are never proposed
        ranking.candidates = [c for c in ranking.candidates if c.path not in refused]
        ranking.chosen = [p for p in ranking.chosen if p not in refused]
        if not ranking.chosen and ranking.candidates:
            ranking.chosen = [ranking.candidates[0].path]
    data = ranking.to_json()
    files = list(ranking.chosen)
    if ctx.llm is not None and not ctx.options.no_llm:
        decision = model_localize.refine(ctx, ranking)
        data["model"] = {"votes": decision.votes, "dropped": decision.dropped,
                         "added": decision.added, "note": decision.note}
        files = decision.files
        ctx.trajectory.outcome("localize", f"files to change: {', '.join(files) or '(none)'}")
        if decision.note:
            events.append(f"localization: {decision.note}")
    data["files"] = files
    update: SolveState = {"localization": data, "files": files}
    if ctx.options.localize_only:
        update["status"] = "localized"
    elif not files:
        update["status"] = "failed"
        events.append("localization found no file to change")
    return update


def _explore(ctx: SolveContext, state: SolveState, events: list[str]) -> SolveState:
    result = explore(ctx, state.get("exploration"))
    if result.note:
        events.append(result.note)
    update: SolveState = {"exploration": {"transcript": result.transcript,
                                          "files": result.files, "note": result.note},
                          "files": result.files,
                          "localization": {"files": result.files, "candidates": [],
                                           "chosen": result.files}}
    if ctx.options.localize_only:
        update["status"] = "localized"
    elif not result.files:
        update["status"] = "failed"
        events.append("exploration found no file to change")
    return update


def _plan(ctx: SolveContext, state: SolveState, events: list[str]) -> SolveState:
    files = state["files"]
    if ctx.store is not None:
        # without the anticipated requests: the 1.5B planned those instead of the task
        context = "\nRepository map (most relevant first):\n" + render_map(
            ctx.store, budget=900, focus=ctx.task.text, likely_changes=False,
            scores=ctx.scores, root_name_only=True).text
    else:
        seen = [item["action"] for item in state.get("exploration", {}).get("transcript", [])]
        context = ("\nWhat you looked at while exploring: " + "; ".join(seen[-8:])) if seen \
            else ""
    candidates = [c["path"] for c in state.get("localization", {}).get("candidates", [])]
    narrowed = state.get("review", {}).get("files")  # the user's list at review: binding
    runners_up = [] if narrowed is not None else [p for p in candidates if p not in files][:10]
    plan = make_plan(ctx, files, context, runners_up,
                     symbols=edit_format(ctx) == "symbols") if ctx.llm else \
        fallback_plan(files, "no model")
    if narrowed is not None:
        plan = restrict_plan(plan, narrowed)
    # files that add definitions first: later files then call what really exists
    order = sorted(range(len(plan.steps)), key=lambda i: not any(
        u.kind == "add" for u in plan.steps[i].units))
    if ctx.llm is not None and ctx.options.budget:
        sizes, file_tokens = measure(ctx.workspace, plan)
        available = ctx.options.budget - ctx.tokens() - int(RESERVE * ctx.options.budget)
        fitted = fit_plan(plan, order, available, sizes, file_tokens,
                          edit_format(ctx) == "symbols")
        plan, order = fitted.plan, fitted.queue
        held = fitted.held.to_dict() if fitted.held else {}
    else:
        held = {}
    ctx.trajectory.outcome("plan", "; ".join(filter(None, [render_plan(plan), plan.note])))
    if plan.note:
        events.append(f"plan: {plan.note}")
    return {"plan": plan.to_dict(), "queue": order, "results": [], "held": held}


def edit_format(ctx: SolveContext) -> str:
    """symbols, blocks or whole; `auto` is symbols for the embedded models, blocks for
    others (docs/solve.md, "Edit formats")."""
    chosen = ctx.options.edit_format
    if chosen != "auto":
        return chosen
    return "symbols" if ctx.llm is not None and ctx.llm.is_local else "blocks"


def _approve(ctx: SolveContext, state: SolveState, events: list[str]) -> SolveState:
    from langgraph.types import interrupt

    answer = interrupt({"plan": state["plan"], "files": state["files"]})
    action = (answer or {}).get("action", "abort")
    if action == "edit":
        files = []
        for raw in answer.get("files", []):
            try:
                path = ctx.workspace.check(str(raw), ctx.options.rules)
            except EditRefused as exc:
                events.append(f"review: {exc}")
                continue
            if ctx.workspace.is_file(path) and path not in files:
                files.append(path)
        if not files:
            events.append("aborted at plan review: none of the files given can be edited")
            return {"review": {"action": "abort"}, "status": "aborted", "queue": []}
        events.append(f"plan revised by the user: files {', '.join(files)}")
        return {"review": {"action": "edit", "files": files}, "files": files}
    if action == "approve":  # an earlier narrowing stays in force
        return {"review": {**state.get("review", {}), "action": "approve"}}
    events.append("aborted by the user at plan review")
    return {"review": {"action": "abort"}, "status": "aborted", "queue": []}


def _edit(ctx: SolveContext, state: SolveState, events: list[str]) -> SolveState:
    plan = Plan.from_dict(state["plan"])
    queue = list(state.get("queue", []))
    results = list(state.get("results", []))
    if not queue:
        return {}
    index = queue.pop(0)
    step = plan.steps[index]
    ctx.progress.notice(f"editing {step.path} ({ctx.budget.status_line()})")
    test = state.get("test", {})
    fixing = test.get("output", "") if test.get("status") == "failed" else ""
    pricing = dict(ctx.usage.get("edit_pricing", {}))
    ctx.price_ratio = price_ratio(pricing)
    waiting, first = reserve_for(ctx.workspace, [plan.steps[i] for i in queue],  # files waiting
                                 edit_format(ctx) == "symbols")
    ctx.reserved = int(waiting * ctx.price_ratio)
    ctx.reserved_first = int(first * ctx.price_ratio)
    # the fix round's share of the budget is kept once an edit has been tried (the fit kept it
    # too, and always kept the first change)
    started = bool(results) or pricing.get("priced", 0) > 0
    ctx.keep = int(RESERVE * ctx.options.budget) if ctx.options.test_cmd and started and \
        not fixing else 0
    ctx.first_free = not started
    before = ctx.tokens()
    # the file-level price, read and parsed once for the start check and the record
    price = _file_price(ctx, step) if not fixing and ctx.options.budget else 0
    try:
        result = _start_refused(ctx, step, fixing, started, price) or \
            _edit_one(ctx, step, plan, fixing, len(queue), results, price)
    except (EditRefused, OSError) as exc:  # a path the rules or the file system refuse
        reason = str(exc) if isinstance(exc, EditRefused) else \
            f"{step.path}: {exc.strerror or exc}"
        result = FileResult(step.path, step.action, "failed", 0, reason)
    except RequestTooLarge as exc:  # this file's question alone: the next files may fit
        result = FileResult(step.path, step.action, "failed", 0,
                            f"too large for what is left of the budget ({exc})")
    finally:
        ctx.reserved = ctx.reserved_first = ctx.keep = 0
        ctx.first_free = False
    if not fixing and result.priced:  # what the edits cost against what they were priced at
        ctx.usage["edit_pricing"] = {"spent": pricing.get("spent", 0) + ctx.tokens() - before,
                                     "priced": pricing.get("priced", 0) + result.priced}
    previous = next((r for r in results if r["path"] == result.path), None)
    if previous and not fixing:  # more of the file's planned changes, after a refill
        result = _merged(FileResult(**previous), result)
    elif previous and previous["status"] in ("done", "partial") and \
            result.status not in ("done", "partial"):
        # a fix round that could not improve the file keeps its earlier, applied edit (a
        # partly edited file too: the example's cli.py, whose `main` had landed, left the
        # patch when its file-level fix failed, at 5d0f372)
        result.status = previous["status"]
        result.units = [*previous.get("units", []), *result.units]
    results = [r for r in results if r["path"] != result.path] + [result.to_dict()]
    if result.status == "failed":
        events.append(f"could not edit {result.path}: {result.error}")
    elif result.status == "partial":
        missed = [u["unit"] for u in result.units if u["status"] not in ("done", "note")]
        # (a refill that could not start has no unit of its own: its error says why)
        events.append(f"could not make every planned change in {result.path}: "
                      + (", ".join(missed) or result.error or "see the file's units"))
    if result.stopped:
        events.append(f"stopped: {result.stopped}")
        return {"queue": [], "results": results, "status": "budget_exhausted"}
    if not queue and not fixing and state.get("held") and ctx.options.budget:
        plan, queue, held = _refill(ctx, plan, Plan.from_dict(state["held"]), events)
        return {"queue": queue, "results": results, "plan": plan.to_dict(), "held": held}
    return {"queue": queue, "results": results}


def _refill(ctx: SolveContext, plan: Plan, held: Plan, events: list[str]
            ) -> tuple[Plan, list[int], dict]:
    """After the kept changes: the ones left out at planning that what is left of the budget
    (less the same reserve) can now pay for, at this run's prices, appended to the plan and
    queued. The fit priced the plan before any edit; the dev runs at a11421e ended with 7,000
    to 12,000 of their 20,000 tokens unused while changes the localizer had found were left
    out (flask-307's test files). Returns the plan, the queue, and what is still held."""
    available = ctx.options.budget - ctx.tokens() - int(RESERVE * ctx.options.budget)
    ratio = price_ratio(ctx.usage.get("edit_pricing", {}))
    sizes, file_tokens = measure(ctx.workspace, held)
    fitted = fit_plan(held, list(range(len(held.steps))), int(available / ratio), sizes,
                      file_tokens, edit_format(ctx) == "symbols", keep_first=False)
    if not fitted.plan.steps:
        return plan, [], {}  # the budget only shrinks: what does not fit now never will
    start = len(plan.steps)
    taken = [f"{s.path}: {', '.join(u.describe() for u in s.units)}" if by_units(s) else s.path
             for s in fitted.plan.steps]
    plan = Plan([*plan.steps, *fitted.plan.steps], plan.note, plan.dropped_units,
                fitted.left_out)
    text = ("the budget left room for changes left out at planning, edited now: "
            + "; ".join(taken))
    events.append(text)
    ctx.trajectory.outcome("plan", text)
    return plan, list(range(start, len(plan.steps))), \
        fitted.held.to_dict() if fitted.held else {}


def _merged(previous: FileResult, result: FileResult) -> FileResult:
    """One file's result from its first edit and the later one of its changes that were
    left out at planning (refill): the units of both, partial unless both are done."""
    landed = [r.status in ("done", "partial") for r in (previous, result)]
    status = "done" if previous.status == result.status == "done" else \
        "partial" if any(landed) else "failed"
    return FileResult(result.path, previous.action, status,
                      previous.attempts + result.attempts, result.error or previous.error,
                      [*previous.units, *result.units], [*previous.added, *result.added],
                      previous.method if previous.method == result.method or not landed[1]
                      else f"{previous.method}+{result.method}",
                      result.stopped, previous.priced + result.priced)


def _by_units(ctx: SolveContext, step, fixing: str) -> bool:
    """Whether the step is edited definition by definition (symbol_edit.py), which prices
    and starts each change itself; else at file level."""
    return edit_format(ctx) == "symbols" and step.action == "edit" and not fixing and \
        by_units(step)


def _file_price(ctx: SolveContext, step) -> int:
    """What the fit priced the step's edits at (fit.step_cost), from the file as it is now."""
    sizes, files = measure(ctx.workspace, Plan([step]))
    return step_cost(step, sizes.get(step.path, {}), files.get(step.path, 0),
                     edit_format(ctx) == "symbols")


def _start_refused(ctx: SolveContext, step, fixing: str, started: bool,
                   price: int) -> FileResult | None:
    """A file-level edit that the budget left cannot pay for (`price`), at this run's
    prices, is not started (the first change of a run always is; a fix round is never
    refused here)."""
    if fixing or not started or _by_units(ctx, step, fixing):
        return None
    why = ctx.start_refused(price)
    return FileResult(step.path, step.action, "failed", 0, why) if why else None


def _edit_one(ctx: SolveContext, step, plan: Plan, fixing: str, waiting: int,
              results: list[dict], price: int) -> FileResult:
    """The edit of one planned file in the run's edit format: definition by definition where
    the plan names definitions; a small or new file whole; else search/replace blocks. A fix
    round after failing tests always uses the file-level format, with the test output.
    `price` is what the step was priced at (0 when not priced), kept in the result."""
    fmt = edit_format(ctx)
    if fixing and fmt == "symbols":
        fixed = _fix_by_units(ctx, step, plan, fixing, results)
        if fixed is not None:
            return fixed
    if _by_units(ctx, step, fixing):
        added = [a for r in results for a in r.get("added", [])]
        result = edit_symbols(ctx, step, plan, added)
        located = any("no definition named" not in u.get("error", "") for u in result.units)
        if result.status != "failed" or located or result.stopped:
            return result
        fallback = edit_file(ctx, step, plan, waiting=waiting)
        fallback.error = (f"the planned definitions were not found ({result.error}); "
                          f"edited with blocks instead: {fallback.error}").rstrip(": ")
        fallback.priced = result.priced + price
        return fallback
    # a file without a parser (a template, a README) has no definitions to edit one by one:
    # its new lines are inserted at a place the model picks (text_edit.py)
    if fmt == "symbols" and step.action == "edit" and not fixing and \
            language_for_path(step.path) is None and ctx.workspace.exists(step.path):
        result = edit_text(ctx, step, plan)
    elif fmt == "symbols" and step.action == "edit" and not fixing and \
            language_for_path(step.path) is not None:
        current = ctx.workspace.read_text(step.path)
        small = current is not None and current.count("\n") <= REWRITE_MAX_LINES
        result = edit_file(ctx, step, plan, waiting=waiting, whole=small)
    else:
        result = edit_file(ctx, step, plan, fixing, waiting=waiting, whole=fmt == "whole")
    result.priced = price
    return result


def _fix_by_units(ctx: SolveContext, step, plan: Plan, fixing: str,
                  results: list[dict]) -> FileResult | None:
    """A fix round on the definitions the failure points at (agent/solve/fixing.py), asked
    as search/replace on the definition, then as its complete new text; None when the output
    points at none this run changed, or when none of them could be fixed (the file-level fix
    is tried then)."""
    previous = next((r for r in results if r["path"] == step.path), None)
    if previous is not None and only_a_caller(fixing, step.path):
        ctx.trajectory.outcome("edit", f"fix round: {step.path} only calls the failing code "
                                       "(the failures are raised elsewhere): left as it is")
        return FileResult(step.path, step.action, previous["status"], 0, previous["error"],
                          previous["units"], previous["added"], previous["method"])
    current = ctx.workspace.read_text(step.path)
    fix = fix_step(step, fixing, ctx.workspace.tree.read_text(step.path), current or "")
    if fix is None:
        return None
    ctx.trajectory.outcome("edit", f"fix round: the failure points at "
                                   f"{', '.join(u.name for u in fix.units)} in {step.path}")
    added = [a for r in results for a in r.get("added", [])]
    result = edit_symbols(ctx, fix, plan, added, protocol=FIX_PROTOCOL)
    if result.status == "failed" and not result.stopped:
        return None
    for unit in result.units:
        unit["fix_round"] = True
    result.units = [*(previous or {}).get("units", []), *result.units]
    result.action = step.action
    return result


def _edited(state: SolveState) -> list[str]:
    return [r["path"] for r in state.get("results", [])
            if r["status"] in ("done", "unchanged", "partial")]


def _check(ctx: SolveContext, state: SolveState, events: list[str]) -> SolveState:
    text, check = final_patch(ctx, state, events)
    return {"patch": text, "check": check}


def final_patch(ctx: SolveContext, state: SolveState, events: list[str]) -> tuple[str, dict]:
    """The patch of the validated edits, every entry checked again against the path rules and
    the plan (tools/patch_check.py); refused entries are dropped, and what is left is kept only
    if it still applies to the base commit on its own."""
    planned = {s["path"] for s in state.get("plan", {}).get("steps", [])}
    workspace = ctx.workspace
    if workspace.worktree is None:  # no edit was ever made
        return "", {"applies": True, "error": "", "refused": [], "files": []}
    paths = workspace.written(_edited(state))
    patch = worktree_diff(workspace.worktree.path, workspace.base, paths)
    _entries, refused = check_patch(patch.text, ctx.options.rules, planned)
    for refusal in refused:
        events.append(f"refused from the patch: {refusal.path}: {refusal.reason}")
    if refused:
        bad = {r.path for r in refused}
        patch = worktree_diff(workspace.worktree.path, workspace.base,
                              [p for p in paths if p not in bad])
        _entries, again = check_patch(patch.text, ctx.options.rules, planned)
        if again:
            events.append("the patch was refused as a whole: " + again[0].reason)
            patch = parse_patch("")
    problem = check_applies(workspace.repo, workspace.base, patch)
    if problem:
        events.append(f"the patch does not apply to the base commit: {problem}")
    return ("" if problem else patch.text), {
        "applies": not problem, "error": problem,
        "refused": [{"path": r.path, "reason": r.reason} for r in refused],
        "files": [f.__dict__ for f in patch.files]}


def _test(ctx: SolveContext, state: SolveState, events: list[str]) -> SolveState:
    test = {**state.get("test", {}), **run_tests(ctx, state.get("patch", ""))}
    rounds = test.get("rounds", 0)
    isolation = test.get("isolation")
    if isolation and not state.get("test"):
        events.append("tests run in a scratch clone: " + Isolation(**{
            **isolation, "hidden": tuple(isolation["hidden"]),
            "tools": tuple(isolation.get("tools", ()))}).describe())
    if test.get("tampered"):
        # a test that plants something outside its scratch folder is not run again
        test["status"] = "error"
        events.append("the test command changed files outside its scratch folder: "
                      + ", ".join(test["tampered"][:5]) + " (check them before running git)")
        return {"test": test}
    if test["status"] == "passed":
        return {"test": test}
    if test["status"] == "error":
        events.append(f"tests could not run: {test['output'][:300]}")
        return {"test": test}
    if state.get("status") == "budget_exhausted":
        events.append("tests fail with the part of the plan that was made; no fix round: the "
                      "budget is spent")
        return {"test": test}
    if rounds >= ctx.options.test_rounds or ctx.llm is None:
        events.append(f"tests still fail after {rounds} fix round(s)")
        return {"test": test}
    test["rounds"] = rounds + 1
    events.append(f"tests failed: fix round {rounds + 1} of {ctx.options.test_rounds}")
    plan = Plan.from_dict(state["plan"])
    output = test["output"]
    # fix the files the failure output names; all planned files when it names none
    first = {}  # one fix round per file, also when a refill planned it twice
    for i, s in enumerate(plan.steps):
        first.setdefault(s.path, i)
    named = [i for path, i in first.items() if path in output]
    return {"test": test, "queue": named or list(first.values())}


def _emit(ctx: SolveContext, state: SolveState, events: list[str]) -> SolveState:
    status = state.get("status", "")
    if status in ("localized", "aborted"):
        return {"status": status, "patch": ""}
    text, _check = final_patch(ctx, state, events)
    if status in ("budget_exhausted", "failed"):
        return {"status": status, "patch": text}
    if not text:
        events.append("no valid patch was produced")
        return {"status": "failed", "patch": ""}
    if state.get("test", {}).get("status") in ("failed", "error"):
        return {"status": "tests_failed", "patch": text}
    if any(r["status"] in ("failed", "partial") for r in state.get("results", [])):
        return {"status": "partial", "patch": text}
    return {"status": "done", "patch": text}


def run_graph(ctx: SolveContext, thread: str, initial: SolveState | None, resume: Any = None,
              checkpointer: Any = None) -> dict:
    """Invoke (or resume) the graph; returns the final state, or the state with
    `__interrupt__` when the plan waits for review."""
    from langgraph.types import Command

    app = build_graph(ctx).compile(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": thread}, "recursion_limit": 10_000}
    if resume is not None:
        return app.invoke(Command(resume=resume), config)
    return app.invoke(initial, config)
