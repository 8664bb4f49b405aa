"""Turn import statement nodes into `Import` records, one reader per language.

Only the syntax lives here; resolving a module string to a repository file is in
`tools/import_graph.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from sleepcoder.tools.facts import Import

Names = tuple[tuple[str, str | None], ...]


def extract_imports(nodes: Iterable, language: str) -> list[Import]:
    reader = _READERS.get(language)
    if reader is None:
        return []
    out: list[Import] = []
    for node in nodes:
        try:
            out.extend(reader(node))
        except (AttributeError, IndexError, ValueError):
            continue  # a statement broken by a syntax error: its import is not knowable
    return out


def _text(node) -> str:
    return node.text.decode("utf-8", "replace") if node is not None else ""


def _line(node) -> int:
    return node.start_point[0] + 1


# --- Python -------------------------------------------------------------------------------


def _python(node) -> list[Import]:
    line = _line(node)
    if node.type == "import_statement":
        out = []
        for child in node.children_by_field_name("name"):
            if child.type == "aliased_import":
                out.append(
                    Import(
                        _text(child.child_by_field_name("name")),
                        (),
                        _text(child.child_by_field_name("alias")),
                        line,
                        "import",
                    )
                )
            else:
                out.append(Import(_text(child), (), None, line, "import"))
        return out
    module = _text(node.child_by_field_name("module_name")).replace(" ", "")
    names: list[tuple[str, str | None]] = []
    for child in node.children_by_field_name("name"):
        if child.type == "aliased_import":
            names.append(
                (
                    _text(child.child_by_field_name("name")),
                    _text(child.child_by_field_name("alias")),
                )
            )
        else:
            names.append((_text(child), None))
    if any(child.type == "wildcard_import" for child in node.children):
        names.append(("*", None))
    return [Import(module, tuple(names), None, line, "from")]


# --- JavaScript / TypeScript --------------------------------------------------------------


def _string_value(node) -> str:
    text = _text(node)
    return text[1:-1] if len(text) >= 2 and text[0] in "'\"`" else text


def _javascript(node) -> list[Import]:
    line = _line(node)
    if node.type == "call_expression":  # require("x") / import("x")
        args = node.child_by_field_name("arguments")
        module = _string_value(args.named_children[0])
        alias, names = None, []
        parent = node.parent
        if parent is not None and parent.type == "variable_declarator":
            target = parent.child_by_field_name("name")
            if target is not None and target.type == "identifier":
                alias = _text(target)
            elif target is not None and target.type == "object_pattern":
                names = _object_pattern_names(target)
        return [Import(module, tuple(names), alias, line, "require")]
    source = node.child_by_field_name("source")
    module = _string_value(source)
    names: list[tuple[str, str | None]] = []
    alias = None
    kind = "import" if node.type == "import_statement" else "export"
    for child in node.named_children:
        if child.type == "import_clause":
            for part in child.named_children:
                if part.type == "identifier":
                    names.append(("default", _text(part)))
                elif part.type == "namespace_import":
                    ids = [c for c in part.named_children if c.type == "identifier"]
                    alias = _text(ids[-1]) if ids else None
                elif part.type == "named_imports":
                    names.extend(_specifiers(part, "import_specifier"))
        elif child.type == "export_clause":
            names.extend(_specifiers(child, "export_specifier"))
    if kind == "export" and not names and any(c.type == "*" for c in node.children):
        names.append(("*", None))
    return [Import(module, tuple(names), alias, line, kind)]


def _specifiers(node, kind: str) -> list[tuple[str, str | None]]:
    out = []
    for spec in node.named_children:
        if spec.type != kind:
            continue
        alias = spec.child_by_field_name("alias")
        out.append((_text(spec.child_by_field_name("name")), _text(alias) if alias else None))
    return out


def _object_pattern_names(node) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for part in node.named_children:
        if part.type == "shorthand_property_identifier_pattern":
            out.append((_text(part), None))
        elif part.type == "pair_pattern":
            out.append(
                (_text(part.child_by_field_name("key")), _text(part.child_by_field_name("value")))
            )
    return out


# --- Go -------------------------------------------------------------------------------------


def _go(node) -> list[Import]:
    path = _string_value(node.child_by_field_name("path"))
    name = node.child_by_field_name("name")
    return [Import(path, (), _text(name) if name is not None else None, _line(node), "import")]


# --- Java -----------------------------------------------------------------------------------


def _java(node) -> list[Import]:
    text = _text(node).strip().removeprefix("import").strip().rstrip(";").strip()
    kind = "import"
    if text.startswith("static "):
        kind, text = "static", text[len("static ") :].strip()
    text = text.replace(" ", "")
    module, _, name = text.rpartition(".")
    return [Import(module, ((name, None),), None, _line(node), kind)]


# --- Rust -----------------------------------------------------------------------------------


def _rust(node) -> list[Import]:
    line = _line(node)
    if node.type == "mod_item":
        return [Import(_text(node.child_by_field_name("name")), (), None, line, "mod")]
    argument = node.child_by_field_name("argument")
    text = re.sub(r"\s*(::|[{},])\s*", r"\1", re.sub(r"\s+", " ", _text(argument)).strip())
    out = []
    for path, alias in _expand_use(text):
        module, _, name = path.rpartition("::")
        if name == "self":
            module, _, name = module.rpartition("::")
        out.append(Import(module, ((name, alias),), None, line, "use"))
    return out


def _expand_use(text: str) -> list[tuple[str, str | None]]:
    """`a::{b::C, d as e}` -> [("a::b::C", None), ("a::d", "e")]."""
    brace = text.find("{")
    if brace < 0:
        path, sep, alias = text.partition(" as ")
        return [(path, alias if sep else None)]
    prefix = text[:brace]
    inner = text[brace + 1 : text.rfind("}")]
    out = []
    for part in _split_top_level(inner):
        for path, alias in _expand_use(part):
            out.append((prefix + path, alias))
    return out


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in text:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if current:
        parts.append("".join(current))
    return [part for part in parts if part]


# --- C / C++ --------------------------------------------------------------------------------


def _c(node) -> list[Import]:
    path = node.child_by_field_name("path")
    text = _text(path)
    if not text:
        return []
    kind = "system" if text.startswith("<") else "include"
    return [Import(text.strip('<>"'), (), None, _line(node), kind)]


_READERS: dict[str, Callable[[object], list[Import]]] = {
    "python": _python,
    "javascript": _javascript,
    "typescript": _javascript,
    "tsx": _javascript,
    "go": _go,
    "java": _java,
    "rust": _rust,
    "c": _c,
    "cpp": _c,
}
