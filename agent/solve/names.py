"""Names a Python edit may use where the module runs them on import: a decorator, a default
value, a base class or top-level code that names something the module neither defines nor
imports fails with NameError when the module is imported, and takes every importer with it
(the 1.5B wrote `@cli.command()` and `@click.argument(...)` on a new function of the
example's `report.py`, which imports neither). The import step (symbol_edit._imports) adds
what the repository provides; what it cannot provide is refused here, while the model can
still be told."""

from __future__ import annotations

import importlib
import re
import sys
from collections import Counter

from sleepcoder.agent.solve.context import SolveContext
from sleepcoder.agent.solve.syntax import EditRejected
from sleepcoder.agent.solve.units import UnitWork
from sleepcoder.tools import pyimports


def check_import_names(ctx: SolveContext, work: UnitWork, new: str) -> None:
    if work.language != "python":
        return
    _check_stdlib_attributes(work, new)
    after = pyimports.import_time_unbound(new)
    before = pyimports.import_time_unbound(work.content)
    if after is None or before is None:
        return
    fresh = after - before - set(work.planned)
    if not fresh:
        return
    imported_as, defined_in = repository_names(ctx, fresh)
    fresh -= set(pyimports.providers(fresh, work.path, work.planned, imported_as, defined_in))
    fresh -= set(module_imports(ctx, new, fresh))  # `import json` is added for them
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


def module_imports(ctx: SolveContext, content: str, names: set[str]) -> dict[str, str]:
    """For the `names` that `content` uses as modules (`name.attribute`), the statement that
    binds them: how the repository's other Python files import a module under that name
    (`import pytest`, `import numpy as np`), else `import name` for a standard-library
    module. The small model forgets these imports more than any other."""
    used = pyimports.used_as_module(content, names)
    if not used:
        return {}
    statements: dict[str, Counter[str]] = {}
    if ctx.store is not None:
        for path, imports in ctx.store.imports_by_path().items():
            if not path.endswith((".py", ".pyi")):
                continue
            for item in imports:
                if item.kind != "import" or not item.module or item.module.startswith("."):
                    continue
                bound = item.alias or item.module.split(".")[0]
                if bound in used:
                    module = item.module if item.alias else bound
                    statements.setdefault(bound, Counter())[
                        pyimports.plain_import(bound, module)] += 1
    out = {name: counter.most_common(1)[0][0] for name, counter in statements.items()}
    for name in pyimports.stdlib_modules(content, used - set(out)):
        out[name] = pyimports.plain_import(name)
    return out


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


# standard-library modules not imported to look an attribute up: importing them does
# something (opens a browser, prints, starts a GUI) or pulls in a GUI toolkit
_NOT_IMPORTED = frozenset({"antigravity", "this", "turtle", "turtledemo", "idlelib", "tkinter",
                           "__hello__", "__phello__", "pydoc_data", "lib2to3", "ensurepip",
                           "venv", "msilib", "winreg", "winsound", "_tkinter"})


def _check_stdlib_attributes(work: UnitWork, new: str) -> None:
    """A new `module.attribute` looked up on import, on a standard-library module that has no
    such attribute: the 1.5B wrote `@argparse.arg(...)` and `@argparse.option(...)` above new
    functions of the example (AttributeError on import, every test failing). Checked against
    the running Python, so an attribute a later version added would be refused too: the
    message says which version."""
    fresh = pyimports.import_time_attributes(new) - pyimports.import_time_attributes(
        work.content)
    missing = []
    for name, attribute in sorted(fresh):
        if name not in sys.stdlib_module_names or name in _NOT_IMPORTED or \
                not _imports_module(new, name):
            continue
        try:
            module = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a module this platform lacks: not ours to judge
            continue
        if not hasattr(module, attribute):
            missing.append(f"`{name}.{attribute}`")
    if missing:
        version = ".".join(str(n) for n in sys.version_info[:2])
        raise EditRejected(
            f"{', '.join(missing[:3])} does not exist in the standard library (Python "
            f"{version}), and Python looks it up when {work.path} is imported (a decorator, a "
            "default value or a base class): the import would fail with AttributeError. Use "
            "only functions and classes that module has")


def _imports_module(content: str, name: str) -> bool:
    """Whether `content` binds `name` to the standard-library module (`import name`)."""
    return re.search(rf"^\s*import\s+(?:[\w.]+\s*,\s*)*{re.escape(name)}\b(?!\s+as\b)",
                     content, re.MULTILINE) is not None
