"""Attributes Python code reads on instances of known classes, and the attributes a class
has: what `names.check_own_attributes` compares to refuse a call to a method that does not
exist. The README example's low-stock test at 8e788ce called `inventory.add_item(...)` on an
`Inventory`, whose method is `add`: AttributeError when the test ran, and nothing before the
tests could see it.

Deliberately narrow, so that what it reports is certain: a variable counts as an instance of
`C` only when every binding of it in its own scope is `v = C(...)` or a parameter annotated
`C` (or `self`/`cls` in a plain method of a class), and a class's attributes are known only
when nothing can add any that the source does not show (no base outside the repository but
the builtins, no metaclass, no `__getattr__`, no `setattr`, no unknown decorator).
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Callable
from dataclasses import dataclass

# decorators that add no attribute a reader could call but the fields the body annotates
_PLAIN_DECORATORS = frozenset({"dataclass", "total_ordering", "final", "define", "frozen",
                               "mutable", "s", "attrs", "runtime_checkable"})
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp,
           ast.SetComp, ast.DictComp, ast.GeneratorExp)


@dataclass(frozen=True)
class Read:
    """`variable.attribute` read where `variable` is an instance of the class bound as
    `cls` in the module (`cls` itself for a read on the class); `scope` is the function."""

    cls: str
    attribute: str
    variable: str
    scope: str
    line: int
    # constructed (`v = C(...)`: certain), annotated (a parameter `v: C`) or self (`self` in
    # a method of C): for the last two, an instance of a subclass may have more attributes
    how: str = "constructed"


def parse(content: str) -> ast.Module | None:
    try:
        return ast.parse(content)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def instance_reads(content: str) -> set[Read]:
    """The attribute reads on variables of a known class (see the module's note), in every
    function and method of `content` and at its top level; empty when it does not parse."""
    tree = parse(content)
    if tree is None:
        return set()
    out: set[Read] = set()
    _scope(tree.body, None, "<module>", None, out)
    return out


def _scope(body: list[ast.stmt], args: ast.arguments | None, name: str,
           owner: str | None, out: set[Read]) -> None:
    """Reads in one scope (`owner`: the class a plain method belongs to), then in the scopes
    nested in it."""
    typed: dict[str, tuple[str, str] | None] = {}
    if args is not None:
        params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        for index, arg in enumerate(params):
            annotated = _annotated_class(arg.annotation)
            cls = (annotated, "annotated") if annotated else None
            if cls is None and index == 0 and owner and arg.arg in ("self", "cls") \
                    and arg.annotation is None:
                cls = (owner, "self")
            _bind(typed, arg.arg, cls)
        for arg in (args.vararg, args.kwarg):
            if arg is not None:
                _bind(typed, arg.arg, None)
    nested: list[ast.AST] = []
    for node in _walk_scope(body, nested):
        if isinstance(node, ast.Assign):
            made = _constructed_class(node.value)
            cls = (made, "constructed") if made else None
            for target in node.targets:
                if isinstance(target, ast.Name):
                    _bind(typed, target.id, cls)
                    target._sleepcoder_seen = True  # type: ignore[attr-defined]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            made = _constructed_class(node.value) if node.value is not None else None
            annotated = _annotated_class(node.annotation)
            _bind(typed, node.target.id, (made, "constructed") if made else
                  (annotated, "annotated") if annotated else None)
            node.target._sleepcoder_seen = True  # type: ignore[attr-defined]
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            if not getattr(node, "_sleepcoder_seen", False):
                _bind(typed, node.id, None)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            for bound in node.names:
                _bind(typed, bound, None)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                _bind(typed, (alias.asname or alias.name).split(".")[0], None)
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            _bind(typed, node.name, None)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            _bind(typed, node.rest, None)
    for node in nested:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            _bind(typed, node.name, None)
    for node in _walk_scope(body, []):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and \
                isinstance(node.value, ast.Name) and typed.get(node.value.id):
            known = typed[node.value.id]
            assert known is not None
            out.add(Read(known[0], node.attr, node.value.id, name, node.lineno, known[1]))
    for node in nested:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            _scope(node.body, node.args, _qualified(name, node.name), None, out)
        elif isinstance(node, ast.ClassDef):
            _class_scope(node, name, out)


def _qualified(outer: str, name: str) -> str:
    return name if outer == "<module>" else f"{outer}.{name}"


def _class_scope(node: ast.ClassDef, outer: str, out: set[Read]) -> None:
    """The methods of a class: `self` (`cls`) is an instance of it (the class) in a method of
    a top-level class, not of a static method, and not of a class nested in a function."""
    qualified = _qualified(outer, node.name)
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            static = any(_decorator_name(d) == "staticmethod" for d in item.decorator_list)
            owner = node.name if outer == "<module>" and not static else None
            _scope(item.body, item.args, f"{qualified}.{item.name}", owner, out)
        elif isinstance(item, ast.ClassDef):
            _class_scope(item, "<nested>", out)


def _bind(typed: dict[str, tuple[str, str] | None], name: str,
          cls: tuple[str, str] | None) -> None:
    """A binding of `name` to an instance of `cls` (None: to something else). A name keeps a
    class only while every binding agrees."""
    if name not in typed:
        typed[name] = cls
    elif typed[name] != cls:
        typed[name] = None


def _walk_scope(body: list[ast.stmt], nested: list[ast.AST]):
    """Every node of a scope's own code, not of the scopes nested in it (collected in
    `nested`; their decorators, defaults and bases are the outer scope's code)."""
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        if isinstance(node, _SCOPES):
            nested.append(node)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                stack.extend([*node.decorator_list, *node.args.defaults,
                              *(d for d in node.args.kw_defaults if d is not None)])
            elif isinstance(node, ast.ClassDef):
                stack.extend([*node.decorator_list, *node.bases,
                              *(k.value for k in node.keywords)])
            continue
        yield node
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _constructed_class(value: ast.expr) -> str | None:
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and \
            value.func.id[:1].isupper():
        return value.func.id
    return None


def _annotated_class(annotation: ast.expr | None) -> str | None:
    if isinstance(annotation, ast.Name) and annotation.id[:1].isupper():
        return annotation.id
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str) and \
            annotation.value.isidentifier() and annotation.value[:1].isupper():
        return annotation.value
    return None


def _decorator_name(decorator: ast.expr) -> str:
    if isinstance(decorator, ast.Call):
        decorator = decorator.func
    if isinstance(decorator, ast.Attribute):
        return decorator.attr
    if isinstance(decorator, ast.Name):
        return decorator.id
    return ""


def top_level_class(tree: ast.Module, name: str) -> ast.ClassDef | None:
    """The module's class `name` when the module defines it once, at the top level, and binds
    the name nowhere else at the top level (else which one runs is not certain)."""
    found = [item for item in tree.body if isinstance(item, ast.ClassDef) and item.name == name]
    if len(found) != 1:
        return None
    for item in tree.body:
        if item is found[0]:
            continue
        for node in ast.walk(item):
            if isinstance(node, ast.Name) and node.id == name and isinstance(
                    node.ctx, (ast.Store, ast.Del)):
                return None
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and \
                    node.name == name and node in tree.body:
                return None
            if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
                    (a.asname or a.name).split(".")[0] == name for a in node.names):
                return None
    return found[0]


def class_members(node: ast.ClassDef,
                  base_members: Callable[[str], set[str] | None]) -> set[str] | None:
    """Every attribute an instance of the class can have, or None when that cannot be known.
    `base_members(name)` answers for a base class named in the module (None: unknown)."""
    if node.keywords:
        return None  # a metaclass (or its arguments) can add anything
    if any(_decorator_name(d) not in _PLAIN_DECORATORS for d in node.decorator_list):
        return None
    members = set(dir(object))
    for base in node.bases:
        if isinstance(base, ast.Name) and base.id == "object":
            continue
        if isinstance(base, ast.Name) and isinstance(getattr(builtins, base.id, None), type) \
                and base.id not in ("type",):
            members |= set(dir(getattr(builtins, base.id)))
            continue
        if not isinstance(base, ast.Name):
            return None
        inherited = base_members(base.id)
        if inherited is None:
            return None
        members |= inherited
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if item.name in ("__getattr__", "__getattribute__", "__init_subclass__"):
                return None
            members.add(item.name)
            first = (item.args.posonlyargs + item.args.args)[:1]
            if first:
                assigned = _self_assignments(item, first[0].arg)
                if assigned is None:
                    return None
                members |= assigned
        elif isinstance(item, ast.ClassDef):
            members.add(item.name)
        else:
            for node_ in ast.walk(item):
                if isinstance(node_, ast.Name) and isinstance(node_.ctx, ast.Store):
                    members.add(node_.id)
                elif isinstance(node_, (ast.FunctionDef, ast.AsyncFunctionDef,
                                        ast.ClassDef)):
                    members.add(node_.name)
                elif isinstance(node_, (ast.Import, ast.ImportFrom)):
                    members |= {(a.asname or a.name).split(".")[0] for a in node_.names}
            if isinstance(item, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "__slots__" for t in item.targets):
                members |= {n.value for n in ast.walk(item.value)
                            if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return members


def _self_assignments(function: ast.FunctionDef | ast.AsyncFunctionDef,
                      self_name: str) -> set[str] | None:
    """The attributes a method sets on its first parameter (`self.x = ...`, `self.x: T`,
    `self.x += ...`, `for self.x in ...`); None when it calls `setattr` or writes `__dict__`
    (anything could then be set)."""
    out: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id == "setattr":
            return None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                node.value.id == self_name:
            if node.attr == "__dict__":
                return None
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                out.add(node.attr)
    return out


__all__ = ["Read", "class_members", "instance_reads", "parse", "top_level_class"]
