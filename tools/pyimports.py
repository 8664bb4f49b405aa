"""Imports a Python edit needs: names the new code uses that the module neither defines nor
imports (found with the standard library's symtable, which knows scopes, parameters and
comprehensions), and the `from module import name` lines that provide them.

A small model forgets imports more often than anything else, and deciding them needs no
model: the plan says which file defines a new name, and the repository's other files say how
they import an existing one.
"""

from __future__ import annotations

import builtins
import re
import symtable
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


def add_imports(content: str, wanted: dict[str, str]) -> str:
    """`content` with `from module import name` for each of `wanted` (name -> module), added
    to an existing `from module import ...` line when it is a one-line import."""
    if not wanted:
        return content
    lines = content.splitlines(keepends=True)
    first, last = import_block(content, "python")
    by_module: dict[str, list[str]] = {}
    for name, module in sorted(wanted.items()):
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
    new = [f"from {module} import {', '.join(names)}\n"
           for module, names in sorted(by_module.items())]
    if not new:
        return "".join(lines)
    at = last if last >= first else first - 1  # after the block, or where an empty one goes
    block = new if last >= first else ["\n", *new] if at > 0 and lines[at - 1].strip() else new
    if at < len(lines) and lines[at].strip() and last < first:
        block = [*block, "\n"]
    return "".join(lines[:at] + block + lines[at:])
