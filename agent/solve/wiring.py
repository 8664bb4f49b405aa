"""A new definition is only a feature once something calls it. The small model plans the new
function and forgets the call: the README example's map run at afed0ae planned
`ADD low_stock AFTER valuation_report` in report.py and no change to `main` in cli.py, which
dispatches the commands, so `inventory low-stock` did not exist after the patch.

Where the plan adds a definition after an existing one, the map's call graph says who calls
that neighbour; a caller in a file the plan already edits, not planned to change itself, gets
a planned change: call the new definition where it calls the neighbour. No file is added to
the plan (the localization chose the files), and a test file's additions are left alone
(nothing calls a test)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sleepcoder.tools.localize_features import is_test

if TYPE_CHECKING:
    from sleepcoder.agent.solve.context import SolveContext
    from sleepcoder.agent.solve.plan import Step

MAX_WIRED = 2  # changes added per plan: each costs a question or three


def wire_additions(ctx: SolveContext, steps: list[Step], notes: list[str]) -> int:
    """Add the callers' changes to `steps` (with a note each); returns how many."""
    from sleepcoder.agent.solve.plan import Unit

    if ctx.store is None:
        return 0
    edited = {s.path: s for s in steps if s.action == "edit"}
    changes = {(s.path, u.name) for s in steps for u in s.units if u.kind == "change"}
    added = 0
    for step in list(edited.values()):
        if is_test(step.path):
            continue
        for unit in list(step.units):
            where, _, neighbour = unit.anchor.partition(" ")
            if unit.kind != "add" or where != "after" or not neighbour:
                continue
            if added >= MAX_WIRED:
                return added
            caller = _caller(ctx, step.path, neighbour, edited, changes)
            if caller is None:
                continue
            path, qname = caller
            edited[path].units.append(Unit("change", qname, what=(
                f"call the new `{unit.name}` ({step.path}) where it calls `{neighbour}`, "
                "for the feature request")))
            changes.add(caller)
            notes.append(f"{path}: {qname} planned to call the new {unit.name} (it calls "
                         f"{neighbour})")
            added += 1
    return added


def _caller(ctx: SolveContext, path: str, qname: str, edited: dict, changes: set
            ) -> tuple[str, str] | None:
    """The first caller of `qname` in `path` (by call count) that sits in a planned, non-test
    file and is not planned to change already; None when there is none (or a planned
    change calls it: the wiring may be planned there)."""
    rows = ctx.store.conn.execute(
        "SELECT src, src_qname FROM call_edges WHERE dst = ? AND dst_qname = ? "
        "ORDER BY count DESC, src, src_qname", (path, qname)).fetchall()
    if any((src, src_qname) in changes for src, src_qname in rows):
        return None
    return next(((src, src_qname) for src, src_qname in rows  # ("": module-level code)
                 if src in edited and not is_test(src) and src_qname not in ("", qname)),
                None)
