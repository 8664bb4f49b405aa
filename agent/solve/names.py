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
from sleepcoder.tools import pyattrs, pyimports


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
        _check_unbound_reads(ctx, work, new)
        return
    imported_as, defined_in = repository_names(ctx, fresh)
    fresh -= set(pyimports.providers(fresh, work.path, work.planned, imported_as, defined_in))
    fresh -= set(module_imports(ctx, new, fresh))  # `import json` is added for them
    if not fresh:
        _check_unbound_reads(ctx, work, new)
        return
    names = ", ".join(f"`{name}`" for name in sorted(fresh)[:5])
    raise EditRejected(
        f"{names} {'is' if len(fresh) == 1 else 'are'} used where Python runs it when the "
        f"module is imported (a decorator, a default value, a base class or top-level code), "
        f"but {work.path} neither defines nor imports {'it' if len(fresh) == 1 else 'them'} "
        f"and no file of the repository provides {'it' if len(fresh) == 1 else 'them'}: "
        f"importing {work.path} would fail with NameError. Use only names the file has, or "
        "leave out what needs another one")


def _check_unbound_reads(ctx: SolveContext, work: UnitWork, new: str) -> None:
    """A name a function of the new code reads that nothing binds: not a parameter or local
    of that function, not defined or imported by the module, and not one the import step can
    add. It fails with NameError only when the function runs, so nothing but the tests would
    see it: the README example's low-stock run at 8e788ce read `threshold` in a function that
    had no such parameter, and its tests failed."""
    after = pyimports.unresolved(new)
    before = pyimports.unresolved(work.content)
    if after is None or before is None:
        return
    fresh = after - before - set(work.planned) - {
        name.rsplit(".", 1)[-1] for name in work.planned}
    if not fresh:
        return
    imported_as, defined_in = repository_names(ctx, fresh)
    fresh -= set(pyimports.providers(fresh, work.path, work.planned, imported_as, defined_in))
    fresh -= set(module_imports(ctx, new, fresh))
    if not fresh:
        return
    scopes = pyimports.reading_scopes(new, fresh)
    name = sorted(fresh, key=lambda n: (scopes.get(n, "~"), n))[0]
    where = scopes.get(name, "<module>")
    place = "at the top level of the module" if where == "<module>" else f"in `{where}`"
    others = sorted(fresh - {name})[:4]
    also = f" (and {', '.join(f'`{n}`' for n in others)}, likewise)" if others else ""
    raise EditRejected(
        f"`{name}` is read {place}, but nothing binds it: it is not a parameter or local "
        f"variable there, {work.path} neither defines nor imports it, and no file of the "
        f"repository provides it{also}: running that code would fail with NameError. Take "
        "it as a parameter, assign it before it is read, or use a name the code has")


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
        if path is None or work.planned.get(name) == path or _pending(work, path):
            continue  # (a file the plan edits later may be given the name)
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


def check_own_attributes(ctx: SolveContext, work: UnitWork, new: str) -> None:
    """A new read of `variable.attribute` where the variable is certainly an instance of a
    class the repository defines (tools/pyattrs says when that is certain) and the class has
    no such attribute: AttributeError when the code runs. The README example's low-stock
    test at 8e788ce called `inventory.add_item(...)` on an `Inventory`, whose method is
    `add`, and failed. Not checked: a class whose file the plan still has to edit (it may be
    given that attribute), an attribute some planned addition is named after, dunders."""
    if work.language != "python":
        return
    tree = pyattrs.parse(new)
    if tree is None:
        return
    old = {(r.cls, r.attribute) for r in pyattrs.instance_reads(work.content)}
    planned = {name.rsplit(".", 1)[-1] for name in work.planned}
    classes = _Classes(ctx, work)
    missing = []
    for read in sorted(pyattrs.instance_reads(new), key=lambda r: (r.line, r.attribute)):
        if (read.cls, read.attribute) in old or read.attribute in planned or \
                read.attribute.startswith("__"):
            continue
        found = classes.members(read.cls, work.path, tree)
        if found is not None and read.attribute not in found[0] and not (
                read.how != "constructed" and classes.subclassed(read.cls, found[1], tree)):
            missing.append((read, *found))
    if not missing:
        return
    read, members, path = missing[0]
    shown = _members_to_show(members, read.attribute, inside=read.variable in ("self", "cls"))
    has = f"; what it has: {', '.join(f'`{m}`' for m in shown)}" if shown else ""
    where = "" if read.scope == "<module>" else f" (in `{read.scope}`)"
    more = sorted({f"`{r.variable}.{r.attribute}`" for r, _, _ in missing[1:]})[:3]
    also = f" ({', '.join(more)} likewise)" if more else ""
    raise EditRejected(
        f"`{read.variable}.{read.attribute}`{where}: `{read.cls}` ({path}) has no attribute "
        f"`{read.attribute}`{has}{also}. Running that code would fail with AttributeError: "
        "use what the class has, or leave that call out")


def _members_to_show(members: set[str], wanted: str, inside: bool) -> list[str]:
    """The class's own attributes worth listing to the model: the closest to the wanted name
    first, then the rest (private ones only for code inside the class), at most twelve."""
    import difflib

    own = sorted(m for m in members - set(dir(object)) if not m.startswith("__") and (
        inside or not m.startswith("_")))
    head = wanted.strip("_").split("_")[0]  # `add_item`: `add` first, then what looks alike
    close = [m for m in own if m.strip("_").split("_")[0] == head]
    close += [m for m in difflib.get_close_matches(wanted, own, n=3, cutoff=0.5)
              if m not in close]
    return (close + [m for m in own if m not in close])[:12]


class _Classes:
    """Finds the class a module binds to a name, and its attributes: in the module itself, or
    through `from module import Name` (followed through re-exports) in a file of the
    repository, as the workspace holds it now (earlier edits of this run included)."""

    def __init__(self, ctx: SolveContext, work: UnitWork) -> None:
        self.ctx, self.work = ctx, work

    def members(self, name: str, path: str, tree, depth: int = 0
                ) -> tuple[set[str], str] | None:
        if depth > 4:
            return None
        node = pyattrs.top_level_class(tree, name)
        if node is not None:
            if self._pending(path):
                return None
            bases = {}

            def base(base_name: str) -> set[str] | None:
                if base_name not in bases:
                    bases[base_name] = None  # a cycle of bases: unknown
                    found = self.members(base_name, path, tree, depth + 1)
                    bases[base_name] = found[0] if found else None
                return bases[base_name]

            found = pyattrs.class_members(node, base)
            return (found, path) if found is not None else None
        source = _imported_from(tree, name, path)
        if source is None:
            return None
        module, original = source
        file = module if module.endswith(".py") else _module_file(self.ctx, self.work, module)
        if file is not None and file.endswith(".py") and not self.ctx.workspace.exists(file):
            file = file[:-len(".py")] + "/__init__.py"  # `from .models import X`: a package
        if file is None or not self.ctx.workspace.exists(file):
            return None
        text = self.ctx.workspace.read_text(file)
        other = pyattrs.parse(text or "")
        if other is None:
            return None
        return self.members(original, file, other, depth + 1)

    def subclassed(self, name: str, path: str, tree) -> bool:
        """Whether some class may derive from `name` (defined in `path`): then `self` or a
        parameter annotated `name` can be an instance with more attributes (a base class
        whose methods read what its subclasses define). Without a map, only the two files
        are known: assumed so."""
        import ast

        def derives(module) -> bool:
            return any(isinstance(node, ast.ClassDef) and any(
                (isinstance(b, ast.Name) and b.id == name) or
                (isinstance(b, ast.Attribute) and b.attr == name) for b in node.bases)
                for node in ast.walk(module))

        defining = pyattrs.parse(self.ctx.workspace.read_text(path) or "") \
            if path != self.work.path else None
        if derives(tree) or (defining is not None and derives(defining)):
            return True
        if self.ctx.store is None:
            return True
        rows = self.ctx.store.conn.execute(
            "SELECT signature FROM defs WHERE kind = 'class' AND signature LIKE ? "
            "ESCAPE '\\'", (f"%{_like(name)}%",)).fetchall()
        return any(re.search(rf"\(.*\b{re.escape(name)}\b", row[0]) for row in rows)

    def _pending(self, path: str) -> bool:
        return _pending(self.work, path)


def _pending(work: UnitWork, path: str) -> bool:
    """Whether the plan still has to edit `path` after the file being edited now (edits go
    in plan order: a file before this one holds its edits already)."""
    if path == work.path or getattr(work, "plan", None) is None:
        return False
    steps = list(work.plan.steps)
    here = next((i for i, s in enumerate(steps) if s is work.step), None)
    if here is None:
        here = next((i for i, s in enumerate(steps) if s.path == work.path), -1)
    return any(s.path == path for s in steps[here + 1:])


def _imported_from(tree, name: str, path: str) -> tuple[str, str] | None:
    """(module, imported name) for the one `from module import name [as alias]` that binds
    `name` in the module (a relative module given as the file it names); None when none or
    several do, or the module binds the name otherwise too."""
    import ast

    sources = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    sources.add((_relative(path, node.level, node.module) if node.level
                                 else node.module or "", alias.name))
        elif isinstance(node, ast.Import) and any(
                (a.asname or a.name).split(".")[0] == name for a in node.names):
            return None
    if len(sources) != 1:
        return None
    module, original = next(iter(sources))
    return (module, original) if module else None


def _relative(path: str, level: int, module: str | None) -> str:
    """The file a relative import names from `path` (`from .models import X` in
    `inventory/cli.py` -> `inventory/models.py`); '' when it climbs above the root."""
    parts = path.split("/")[:-1]
    if level - 1 > len(parts):
        return ""
    base = parts[:len(parts) - (level - 1)]
    if module:
        base += module.split(".")
    if not base:
        return ""
    joined = "/".join(base)
    return f"{joined}.py" if module else f"{joined}/__init__.py"


def check_names(ctx: SolveContext, work: UnitWork, new: str) -> None:
    """Every check of the names a Python edit uses, in the order their errors help most."""
    check_import_names(ctx, work, new)
    check_repository_names(ctx, work, new)
    check_own_attributes(ctx, work, new)


def check_file_names(ctx: SolveContext, plan, step, path: str, language: str | None,
                     original: str, new: str) -> None:
    """check_names for a whole-file answer (a rewrite, a new file, blocks on a file)."""
    from types import SimpleNamespace

    planned = {u.name: s.path for s in plan.steps for u in s.units if u.kind == "add"} \
        if plan is not None else {}
    work = SimpleNamespace(path=path, language=language or "", content=original,
                           planned=planned, plan=plan, step=step)
    check_names(ctx, work, new)  # type: ignore[arg-type]
