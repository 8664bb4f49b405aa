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
    _check_stdlib_attributes(ctx, work, new)
    late = sorted(pyimports.decorated_before_bound(new) -
                  pyimports.decorated_before_bound(work.content))
    if late:
        # the example's fix round at 9bd36d2 put `@main.command` above `def main`: the
        # module then failed to import, and every test with it
        definition, name = late[0]
        raise EditRejected(
            f"a decorator of `{definition}` reads `{name}`, which {work.path} binds only "
            f"{'by that very definition' if name == definition else 'further down'}: "
            "decorators run before the name is bound, so importing the module would fail "
            "with NameError. Leave that decorator out")
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
    (`import pytest`, `import numpy as np`, `import unittest.mock` where `unittest.mock.patch`
    is used), else the standard library's modules the paths need (`import json`). The small
    model forgets these imports more than any other."""
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
                    statement = f"import {item.module}" + (f" as {item.alias}" if item.alias
                                                           else "")
                    statements.setdefault(bound, Counter())[statement] += 1
    out = {}
    for name, counter in statements.items():
        chains = pyimports.attribute_chains(content, name)
        # a plain `import a.b` serves the paths under a.b; the longest that some path needs
        fitting = [s for s in counter if " as " in s or any(
            chain.startswith(s[len("import "):] + ".") or chain == s[len("import "):]
            for chain in chains)]
        out[name] = max(fitting or list(counter), key=lambda s: (len(s.split(".")), counter[s]))
    for name in pyimports.stdlib_modules(content, used - set(out)):
        out[name] = pyimports.stdlib_import(content, name)
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


def _check_stdlib_attributes(ctx: SolveContext, work: UnitWork, new: str) -> None:
    """A new `module.attribute` on a standard-library module that has no such attribute: the
    1.5B wrote `@argparse.arg(...)` above a new function of the example (AttributeError on
    import, every test failing) and `argparse.add_argument(...)` in `main` (AttributeError
    when it runs, and three fix rounds that echoed `main` back). Checked against the running
    Python, so an attribute a later version added would be refused too: the message says
    which version. Not checked: a name the module rebinds (a parameter called `json`, an
    assignment), a name a file of the repository also defines as a module (its own
    `secrets.py`), and a submodule (`logging.handlers`)."""
    fresh = pyimports.module_attributes(new) - pyimports.module_attributes(work.content)
    unbound = pyimports.unresolved(new) or set()
    missing = []
    for name, attribute in sorted(fresh):
        if name not in sys.stdlib_module_names or name in pyimports.NOT_IMPORTED or not (
                _imports_module(new, name) or name in unbound) or _own_module(ctx, work, name):
            continue  # (an unbound one gets `import name` from the import step)
        try:
            module = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a module this platform lacks: not ours to judge
            continue
        if hasattr(module, attribute) or _submodule(f"{name}.{attribute}"):
            continue
        missing.append(f"`{name}.{attribute}`")
    if missing:
        version = ".".join(str(n) for n in sys.version_info[:2])
        raise EditRejected(
            f"{', '.join(missing[:3])} does not exist in the standard library (Python "
            f"{version}): the code would fail with AttributeError there. Use only functions "
            "and classes that module has")


def _submodule(dotted: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(dotted) is not None
    except (ImportError, ValueError):
        return False


def _own_module(ctx: SolveContext, work: UnitWork, name: str) -> bool:
    """Whether the repository has a module or package called `name` (next to the edited file
    or anywhere, with a map): `import secrets` may be its own."""
    here = work.path.rpartition("/")[0]
    candidates = [f"{name}.py", f"{name}/__init__.py"]
    if here:
        candidates += [f"{here}/{name}.py", f"{here}/{name}/__init__.py"]
    if any(ctx.workspace.exists(c) for c in candidates):
        return True
    if ctx.store is None:
        return False
    return ctx.store.conn.execute(
        "SELECT 1 FROM files WHERE path IN (?, ?) OR path LIKE ? ESCAPE '\\' OR "
        "path LIKE ? ESCAPE '\\' LIMIT 1",
        (f"{name}.py", f"{name}/__init__.py", f"%/{_like(name)}.py",
         f"%/{_like(name)}/__init__.py")).fetchone() is not None


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _imports_module(content: str, name: str) -> bool:
    """Whether `content` binds `name` to the standard-library module (`import name`)."""
    return re.search(rf"^\s*import\s+(?:[\w.]+\s*,\s*)*{re.escape(name)}\b(?!\s+as\b)",
                     content, re.MULTILINE) is not None


def check_repository_names(ctx: SolveContext, work: UnitWork, new: str) -> None:
    """A new `from pkg.mod import name` or `mod.name` where `pkg.mod` is a module of this
    repository that has no top-level `name` (and no submodule of that name, and the plan
    does not add it there): ImportError or AttributeError when it runs. The 1.5B decorated
    the example's `main` with `@storage.save_decorator`, which `inventory/storage.py` never
    had, and every test failed to import; it called `storage.export_csv(...)` the same way."""
    if work.language != "python":
        return
    wanted = _repository_references(new) - _repository_references(work.content)
    missing = []
    for module, name in sorted(wanted):
        path = _module_file(ctx, work, module)
        if path is None or work.planned.get(name) == path:
            continue
        bound = _top_level_names(ctx.workspace.read_text(path) or "")
        if bound is None or name in bound or _module_file(ctx, work, f"{module}.{name}"):
            continue
        missing.append(f"`{name}` in `{module}` ({path})")
    if missing:
        raise EditRejected(
            f"{', '.join(missing[:3])} does not exist: that module defines no such name, so "
            "the code would fail with ImportError or AttributeError. Use only names it has "
            "(or the ones this change adds)")


def _repository_references(content: str) -> set[tuple[str, str]]:
    """(module, name) pairs `content` relies on: `from module import name`, and
    `alias.name` for `import module as alias` / `from package import module`. Relative
    imports are left out here (resolved against the file, not the root)."""
    import ast

    try:
        tree = ast.parse(content)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    out: set[tuple[str, str]] = set()
    aliases: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name != "*":
                    out.add((node.module, alias.name))
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
    for name, attribute in pyimports.module_attributes(content):
        if name in aliases:
            out.add((aliases[name], attribute))
    return out


def _module_file(ctx: SolveContext, work: UnitWork, module: str) -> str | None:
    """The repository file of the dotted `module` (`pkg/mod.py`, `pkg/mod/__init__.py`, under
    `src/` too); None when it is not one of the repository's (a library's, or a name)."""
    base = module.replace(".", "/")
    for candidate in (f"{base}.py", f"{base}/__init__.py", f"src/{base}.py",
                      f"src/{base}/__init__.py"):
        if ctx.workspace.exists(candidate):
            return candidate
    return None


def _top_level_names(content: str) -> set[str] | None:
    """What a module binds at the top level; None when that cannot be known (it does not
    compile, has a `from x import *` or a module `__getattr__`)."""
    import symtable

    if re.search(r"^\s*from\s+\S+\s+import\s+\*|^def __getattr__\b", content, re.M):
        return None
    try:
        top = symtable.symtable(content, "<module>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return pyimports.top_level_bound(top)
