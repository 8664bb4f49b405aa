"""Names a Python edit may use where the module runs them on import: a decorator, a default
value, a base class or top-level code that names something the module neither defines nor
imports fails with NameError when the module is imported, and takes every importer with it
(the 1.5B wrote `@cli.command()` and `@click.argument(...)` on a new function of the
example's `report.py`, which imports neither). The import step (symbol_edit._imports) adds
what the repository provides; what it cannot provide is refused here, while the model can
still be told."""

from __future__ import annotations

from collections import Counter

from sleepcoder.agent.solve.context import SolveContext
from sleepcoder.agent.solve.syntax import EditRejected
from sleepcoder.agent.solve.units import UnitWork
from sleepcoder.tools import pyimports


def check_import_names(ctx: SolveContext, work: UnitWork, new: str) -> None:
    if work.language != "python":
        return
    after = pyimports.import_time_unbound(new)
    before = pyimports.import_time_unbound(work.content)
    if after is None or before is None:
        return
    fresh = after - before - set(work.planned)
    if not fresh:
        return
    imported_as, defined_in = repository_names(ctx, fresh)
    fresh -= set(pyimports.providers(fresh, work.path, work.planned, imported_as, defined_in))
    fresh -= pyimports.stdlib_modules(new, fresh)  # `import json` is added for them
    if not fresh:
        return
    names = ", ".join(f"`{name}`" for name in sorted(fresh)[:5])
    raise EditRejected(
        f"{names} {'is' if len(fresh) == 1 else 'are'} used where Python runs it when the "
        f"module is imported (a decorator, a default value, a base class or top-level code), "
        f"but {work.path} neither defines nor imports {'it' if len(fresh) == 1 else 'them'} "
        f"and no file of the repository provides {'it' if len(fresh) == 1 else 'them'}: "
        f"importing {work.path} would fail with NameError. Use only names the file has, or "
        "leave out what needs another one")


def repository_names(ctx: SolveContext, names: set[str]
                     ) -> tuple[dict[str, Counter[str]], dict[str, list[str]]]:
    """For each name, the modules other files import it from (`from m import name`) and the
    files that define it at the top level: what pyimports.providers chooses among."""
    imported_as: dict[str, Counter[str]] = {}
    defined_in: dict[str, list[str]] = {}
    if ctx.store is None or not names:
        return imported_as, defined_in
    for imports in ctx.store.imports_by_path().values():
        for item in imports:
            for name, alias in item.names:
                if name in names and alias is None and item.kind == "from":
                    imported_as.setdefault(name, Counter())[item.module] += 1
    for name in names:
        defined_in[name] = [row[0] for row in ctx.store.conn.execute(
            "SELECT f.path FROM defs d JOIN files f ON f.fid = d.fid WHERE d.qname = ? AND "
            "f.status = 'ok'", (name,))]
    return imported_as, defined_in
