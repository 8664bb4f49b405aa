"""Imports a Python edit needs: names the new code uses that the module neither defines nor
imports (found with the standard library's symtable, which knows scopes, parameters and
comprehensions), and the `from module import name` lines that provide them.

A small model forgets imports more often than anything else, and deciding them needs no
model: the plan says which file defines a new name, and the repository's other files say how
they import an existing one.
"""

from __future__ import annotations

import ast
import builtins
import re
import symtable
import sys
from collections import Counter
from pathlib import PurePosixPath

from sleepcoder.tools.symbols import import_block

_BUILTINS = frozenset(dir(builtins)) | {"__file__", "__name__", "__doc__", "__spec__",
                                         "__package__", "__loader__", "__builtins__",
                                         "__path__", "__annotations__", "__dict__",
                                         "__class__", "__module__", "__qualname__"}
_FROM = re.compile(r"^from\s+([\w.]+)\s+import\s+(.+)$")


def module_of(path: str) -> str:
    """`pkg/sub/mod.py` -> `pkg.sub.mod` (`src/` layouts and `__init__.py` handled)."""
    parts = list(PurePosixPath(path).with_suffix("").parts)
    if parts and parts[0] in ("src", "lib") and len(parts) > 1:
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def unresolved(content: str) -> set[str] | None:
    """Names used and never bound anywhere in the module (None: the text does not compile, or
    a `from x import *` makes the question unanswerable)."""
    if re.search(r"^\s*from\s+\S+\s+import\s+\*", content, re.M):
        return None
    try:
        top = symtable.symtable(content, "<edit>", "exec")
    except (SyntaxError, ValueError, RecursionError):
        return None
    bound = {s.get_name() for s in top.get_symbols()
             if s.is_assigned() or s.is_imported() or s.is_namespace() or s.is_parameter()}
    used: set[str] = set()
    stack = [top]
    while stack:
        table = stack.pop()
        for symbol in table.get_symbols():
            name = symbol.get_name()
            if not symbol.is_referenced():
                continue
            at_top = table is top and not (symbol.is_assigned() or symbol.is_imported() or
                                           symbol.is_namespace())
            implicit = table is not top and symbol.is_global() and \
                not symbol.is_declared_global()
            if at_top or implicit:
                used.add(name)
        stack.extend(table.get_children())
    return {n for n in used - bound - _BUILTINS if not n.startswith("__")}


def reading_scopes(content: str, names: set[str]) -> dict[str, str]:
    """For each of `names` that `content` reads as a global, the first function (qualified,
    in source order) that reads it; '<module>' for a read at the top level."""
    try:
        top = symtable.symtable(content, "<edit>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    found: dict[str, tuple[int, str]] = {}
    stack: list[tuple[symtable.SymbolTable, str]] = [(top, "")]
    hidden = ("listcomp", "setcomp", "dictcomp", "genexpr", "lambda")
    while stack:
        table, prefix = stack.pop()
        # a comprehension or lambda is read as part of the function it is in
        own = "<module>" if table is top else prefix.rstrip(".") or "<module>" \
            if table.get_name() in hidden else prefix + table.get_name()
        for symbol in table.get_symbols():
            name = symbol.get_name()
            if name in names and symbol.is_referenced() and (
                    table is top or (symbol.is_global() and not symbol.is_declared_global())):
                line = table.get_lineno()
                if name not in found or line < found[name][0]:
                    found[name] = (line, own)
        child_prefix = "" if own == "<module>" else f"{own}."
        stack.extend((child, child_prefix) for child in table.get_children())
    return {name: scope for name, (_, scope) in found.items()}


def providers(names: set[str], path: str, new_names: dict[str, str],
              imported_as: dict[str, Counter[str]], defined_in: dict[str, list[str]]
              ) -> dict[str, str]:
    """For each name, the module to import it from: a file the plan adds it to
    (`new_names`: name -> path), else the module other files most often import it from
    (`imported_as`: name -> Counter of modules), else the one non-test file that defines it at
    the top level (`defined_in`: name -> paths). Names with no single answer are left out."""
    own = module_of(path)
    out = {}
    for name in sorted(names):
        module = ""
        if name in new_names:
            module = module_of(new_names[name])
        elif imported_as.get(name):
            module = imported_as[name].most_common(1)[0][0]
        else:
            homes = [p for p in defined_in.get(name, []) if not _is_test(p)]
            if len(homes) == 1:
                module = module_of(homes[0])
        if module and module != own and not module.startswith("."):
            out[name] = module
    return out


def _is_test(path: str) -> bool:
    name = PurePosixPath(path).name
    return name.startswith("test_") or name.endswith("_test.py") or "/tests/" in f"/{path}"


# standard-library modules never imported by sleepcoder to look into them, nor added to a
# file: importing them does something (opens a browser, prints, starts a GUI)
NOT_IMPORTED = frozenset({"antigravity", "this", "turtle", "turtledemo", "idlelib", "tkinter",
                          "__hello__", "__phello__", "pydoc_data", "lib2to3", "ensurepip",
                          "venv", "msilib", "winreg", "winsound", "_tkinter"})


def attribute_chains(content: str, name: str) -> set[str]:
    """The dotted paths `content` reads starting at `name`: `unittest.mock.patch(...)` gives
    "unittest.mock.patch"."""
    try:
        tree = ast.parse(content)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    chains = set()
    for node in ast.walk(tree):
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if parts and isinstance(node, ast.Name) and node.id == name:
            chains.add(".".join([name, *reversed(parts)]))
    return chains


def stdlib_import(content: str, name: str) -> str:
    """The `import` statements a standard-library module `name` needs for the paths `content`
    reads from it: the longest importable module of each (`import unittest.mock` for
    `unittest.mock.patch`, `import xml.etree.ElementTree` for `xml.etree.ElementTree.parse`),
    one statement per line."""
    import importlib.util

    modules = set()
    for chain in attribute_chains(content, name) or {name}:
        parts = chain.split(".")
        found = name
        for end in range(len(parts), 1, -1):
            dotted = ".".join(parts[:end])
            try:
                if importlib.util.find_spec(dotted) is not None:
                    found = dotted
                    break
            except (ImportError, ValueError):
                continue
        modules.add(found)
    # a submodule's import binds the package too: `import xml` beside `import xml.dom` is moot
    kept = {m for m in modules if not any(o != m and o.startswith(m + ".") for o in modules)}
    return "\n".join(f"import {module}" for module in sorted(kept))


def used_as_module(content: str, names: set[str]) -> set[str]:
    """Those of `names` that `content` uses as a module would be used: `name.attribute`."""
    if not names:
        return set()
    try:
        tree = ast.parse(content)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    return {node.value.id for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and
            node.value.id in names}


def stdlib_modules(content: str, names: set[str]) -> set[str]:
    """The `names` that are standard-library modules and that `content` uses as one
    (`json.dumps(...)`, `@functools.cache`): the model forgot `import json`. A name used
    otherwise (`select(...)`) is not taken for the module of the same name."""
    return used_as_module(content, (names & set(sys.stdlib_module_names)) - NOT_IMPORTED)


def add_imports(content: str, wanted: dict[str, str]) -> str:
    """`content` with `from module import name` for each of `wanted` (name -> module), added
    to an existing `from module import ...` line when it is a one-line import; a "module"
    that is a whole `import ...` statement (`import json`, `import numpy as np`, see
    stdlib_import) is added as it is, one line each."""
    if not wanted:
        return content
    lines = content.splitlines(keepends=True)
    first, last = import_block(content, "python")
    by_module: dict[str, list[str]] = {}
    plain = sorted({line for module in wanted.values() if module.startswith("import ")
                    for line in module.splitlines()})
    for name, module in sorted(wanted.items()):
        if not module.startswith("import "):
            by_module.setdefault(module, []).append(name)
    for index in range(first - 1, min(last, len(lines))):
        match = _FROM.match(lines[index].rstrip("\n"))
        if not match or match.group(1) not in by_module or "(" in match.group(2) or \
                match.group(2).rstrip().endswith("\\"):
            continue
        names = [n.strip() for n in match.group(2).split(",") if n.strip()]
        names = sorted(set(names) | set(by_module.pop(match.group(1))),
                       key=lambda n: (n.lower(), n))
        lines[index] = f"from {match.group(1)} import {', '.join(names)}\n"
    new = [f"{statement}\n" for statement in plain]
    new += [f"from {module} import {', '.join(names)}\n"
            for module, names in sorted(by_module.items())]
    if not new:
        return "".join(lines)
    at = last if last >= first else first - 1  # after the block, or where an empty one goes
    ending = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    new = [line[:-1] + ending for line in new]
    if 0 < at <= len(lines) and not lines[at - 1].endswith("\n"):
        lines[at - 1] += ending  # a last line without its line break
    block = new if last >= first else ["\n", *new] if at > 0 and lines[at - 1].strip() else new
    if at < len(lines) and lines[at].strip() and last < first:
        block = [*block, "\n"]
    return "".join(lines[:at] + block + lines[at:])


def top_level_bound(top: symtable.SymbolTable) -> set[str]:
    """The names a module's symbol table binds at the top level, `global x` then `x = ...`
    in a function (at any depth) included."""
    bound = {s.get_name() for s in top.get_symbols()
             if s.is_assigned() or s.is_imported() or s.is_namespace()}
    stack = list(top.get_children())
    while stack:
        table = stack.pop()
        bound |= {s.get_name() for s in table.get_symbols()
                  if s.is_declared_global() and s.is_assigned()}
        stack.extend(table.get_children())
    return bound


def import_time_unbound(content: str) -> set[str] | None:
    """Names the module looks up while it is imported — in decorators, default values,
    evaluated annotations, class bases, keywords and bodies, and top-level statements (not
    under `if TYPE_CHECKING:`) — that it never binds at the top level and that are not
    builtins: each is a NameError the moment the module is imported, which breaks every
    importer, where a name unbound inside a function body fails only when it runs. (None:
    the text does not compile, or a `from x import *` makes the question unanswerable.)
    Order is not checked: a name bound further down counts as bound."""
    if re.search(r"^\s*from\s+\S+\s+import\s+\*", content, re.M):
        return None
    try:
        tree = ast.parse(content)
        top = symtable.symtable(content, "<edit>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    bound = top_level_bound(top)
    lazy = any(isinstance(node, ast.ImportFrom) and node.module == "__future__" and
               any(alias.name == "annotations" for alias in node.names)
               for node in tree.body)
    used: set[str] = set()
    _scope_loads(tree.body, lazy, set(), used)
    return used - bound - _BUILTINS


def decorated_before_bound(content: str) -> set[tuple[str, str]]:
    """(definition, name) for each top-level definition whose decorators read a name the
    module binds only at that definition or below it: `@main.command` above `def main` is a
    NameError on import (a decorator runs before its function's name is bound). Names the
    module never binds are import_time_unbound's; a `global` elsewhere is not followed."""
    try:
        tree = ast.parse(content)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    out: set[tuple[str, str]] = set()
    everywhere = _bound_names(tree.body)
    for index, item in enumerate(tree.body):
        if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or \
                not item.decorator_list:
            continue
        read: set[str] = set()
        _expression_loads(item.decorator_list, set(), read)
        late = (read & everywhere) - _bound_names(tree.body[:index]) - _BUILTINS
        out |= {(item.name, name) for name in late}
    return out


def module_attributes(content: str) -> set[tuple[str, str]]:
    """(name, attribute) for each `name.attribute` read anywhere in the module where `name` is
    only ever bound by an import (never a parameter, an assignment, a loop or `with` target,
    a definition, an `except ... as` or a `match` capture, in any scope):
    `argparse.add_argument(...)` in a function body is ("argparse", "add_argument")."""
    try:
        tree = ast.parse(content)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    rebound = {node.arg for node in ast.walk(tree) if isinstance(node, ast.arg)}
    rebound |= {name for node in ast.walk(tree) if hasattr(node, "body") and
                isinstance(node.body, list) for name in _bound_names(node.body)
                if not _only_imported(node.body, name)}
    return {(node.value.id, node.attr) for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and
            isinstance(node.ctx, ast.Load) and node.value.id not in rebound}


def _only_imported(body: list[ast.stmt], name: str) -> bool:
    """Whether every binding of `name` among `body`'s own statements is an import."""
    for item in body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if item.name == name:
                return False
            continue
        for node in ast.walk(item):
            if isinstance(node, ast.Name) and node.id == name and isinstance(
                    node.ctx, (ast.Store, ast.Del)):
                return False
            if isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and \
                    node.name == name:
                return False
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and \
                    node.name == name:
                return False
    return True


def _scope_loads(body: list[ast.stmt], lazy: bool, local: set[str], used: set[str]) -> None:
    """Add to `used` the names the statements of a module or class body load when they run,
    less those the class body binds itself (`local`)."""
    for statement in body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = statement.args
            parts: list[ast.AST | None] = [*statement.decorator_list, *args.defaults,
                                           *args.kw_defaults]
            if not lazy:
                parts += [a.annotation for a in (*args.posonlyargs, *args.args,
                                                 *args.kwonlyargs, args.vararg, args.kwarg)
                          if a is not None]
                parts.append(statement.returns)
            _expression_loads(parts, local, used)
        elif isinstance(statement, ast.ClassDef):
            _expression_loads([*statement.decorator_list, *statement.bases,
                               *(k.value for k in statement.keywords)], local, used)
            own = _bound_names(statement.body)
            _scope_loads(statement.body, lazy, local | own, used)
        elif isinstance(statement, ast.If) and _type_checking(statement.test):
            _scope_loads(statement.orelse, lazy, local, used)  # the `if` body never runs
        elif isinstance(statement, ast.AnnAssign):
            _expression_loads([statement.value, None if lazy else statement.annotation],
                              local, used)
        elif isinstance(statement, (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With,
                                    ast.AsyncWith, ast.Try, ast.Match)) or (
                hasattr(ast, "TryStar") and isinstance(statement, ast.TryStar)):
            for name, value in ast.iter_fields(statement):
                if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                    _scope_loads(value, lazy, local, used)
                elif name == "handlers":
                    for handler in value:
                        _expression_loads([handler.type], local, used)
                        _scope_loads(handler.body, lazy, local, used)
                elif name == "cases":
                    for case in value:
                        _expression_loads([case.guard], local, used)
                        _scope_loads(case.body, lazy, local, used)
                elif isinstance(value, ast.AST):
                    _expression_loads([value], local, used)
                elif isinstance(value, list):
                    _expression_loads([v for v in value if isinstance(v, ast.AST)], local,
                                      used)
        else:
            _expression_loads([statement], local, used)


def _bound_names(body: list[ast.stmt]) -> set[str]:
    """The names statements bind in their own scope (a class body's): assignments, loop and
    `with` targets, walrus, imports, definitions, `except ... as`, `match` captures."""
    out: set[str] = set()
    for item in body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(item.name)
            continue
        for node in ast.walk(item):
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                out.add(node.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                out |= {(a.asname or a.name).split(".")[0] for a in node.names}
            elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
                out.add(node.name)
            elif isinstance(node, ast.MatchMapping) and node.rest:
                out.add(node.rest)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out.add(node.name)
    return out


def _expression_loads(nodes: list, local: set[str], used: set[str]) -> None:
    """The names `nodes` load when evaluated: not inside a lambda (it runs later), and not the
    names a comprehension binds for itself."""
    stack = [(node, frozenset()) for node in nodes if node is not None]
    while stack:
        node, own = stack.pop()
        if isinstance(node, ast.Lambda):
            _expression_loads([*node.args.defaults, *node.args.kw_defaults], local, used)
            continue
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            own = own | {n.id for g in node.generators for n in ast.walk(g.target)
                         if isinstance(n, ast.Name)}
        if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            local = local | {node.target.id}
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and \
                node.id not in own and node.id not in local:
            used.add(node.id)
        stack.extend((child, own) for child in ast.iter_child_nodes(node))


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
