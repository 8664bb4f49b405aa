"""Which languages the map parses, and how: file extensions, tree-sitter grammars, and queries.

Each language's query is the `tags.scm` its grammar wheel ships plus our additions in
`tools/queries/<language>.scm` (imports, inheritance, scopes), compiled once per process.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LanguageSpec:
    """How to load one tree-sitter grammar and the queries that run on it."""

    name: str
    module: str  # the grammar wheel's Python module
    loader: str  # the function in that module that returns the language pointer
    tag_modules: tuple[str, ...]  # wheels whose queries/tags.scm are combined, in order
    extensions: tuple[str, ...]


LANGUAGES: dict[str, LanguageSpec] = {
    spec.name: spec
    for spec in (
        LanguageSpec(
            "python", "tree_sitter_python", "language", ("tree_sitter_python",), (".py", ".pyi")
        ),
        LanguageSpec(
            "javascript",
            "tree_sitter_javascript",
            "language",
            ("tree_sitter_javascript",),
            (".js", ".jsx", ".mjs", ".cjs"),
        ),
        LanguageSpec(
            "typescript",
            "tree_sitter_typescript",
            "language_typescript",
            ("tree_sitter_javascript", "tree_sitter_typescript"),
            (".ts", ".mts", ".cts"),
        ),
        LanguageSpec(
            "tsx",
            "tree_sitter_typescript",
            "language_tsx",
            ("tree_sitter_javascript", "tree_sitter_typescript"),
            (".tsx",),
        ),
        LanguageSpec("go", "tree_sitter_go", "language", ("tree_sitter_go",), (".go",)),
        LanguageSpec("java", "tree_sitter_java", "language", ("tree_sitter_java",), (".java",)),
        LanguageSpec("rust", "tree_sitter_rust", "language", ("tree_sitter_rust",), (".rs",)),
        LanguageSpec("c", "tree_sitter_c", "language", ("tree_sitter_c",), (".c", ".h")),
        LanguageSpec(
            "cpp",
            "tree_sitter_cpp",
            "language",
            ("tree_sitter_cpp",),
            (".cc", ".cpp", ".cxx", ".c++", ".hh", ".hpp", ".hxx", ".h++", ".ipp"),
        ),
    )
}

# Our additions for TSX are the TypeScript ones: the node types they use are shared.
_EXTRA_QUERY_FILE = {"tsx": "typescript"}

_BY_EXTENSION: dict[str, str] = {
    ext: spec.name for spec in LANGUAGES.values() for ext in spec.extensions
}


def language_for_path(path: str) -> str | None:
    """The parseable language of a repository path, or None for files the map only lists."""
    name = path.rpartition("/")[2]
    dot = name.rfind(".")  # PurePosixPath(path).suffix, without building a path per file
    suffix = name[dot:].lower() if 0 < dot < len(name) - 1 else ""
    return language_for_suffix(path, suffix)


def language_for_suffix(path: str, suffix: str) -> str | None:
    """`language_for_path(path)` when the path's lowercased suffix is known already (a scan
    has computed it for every file)."""
    if path.endswith(".d.ts"):
        return "typescript"
    return _BY_EXTENSION.get(suffix)


@cache
def grammar(name: str) -> Any:
    """The tree-sitter Language for `name` (imported lazily: each grammar is a C extension)."""
    import tree_sitter

    spec = LANGUAGES[name]
    module = importlib.import_module(spec.module)
    return tree_sitter.Language(getattr(module, spec.loader)())


def query_source(name: str) -> str:
    """The combined query text: the shipped tags.scm files, then our additions."""
    spec = LANGUAGES[name]
    parts = []
    for module in spec.tag_modules:
        parts.append(_package_text(module, "queries", "tags.scm"))
    extra = _EXTRA_QUERY_FILE.get(name, name)
    parts.append(_package_text("sleepcoder.tools", "queries", f"{extra}.scm"))
    return "\n".join(parts)


def _package_text(package: str, *parts: str) -> str:
    """A data file shipped in `package`, read next to its `__init__.py` where it is one (every
    install from a wheel or a checkout); through importlib.resources otherwise (a zip import).
    importlib.resources costs 7 ms to import, paid by every map refresh that parses a file."""
    module = importlib.import_module(package)
    where = getattr(module, "__file__", None)
    if where:
        path = Path(where).parent.joinpath(*parts)
        if path.is_file():
            return path.read_text(encoding="utf-8")
    from importlib import resources

    return resources.files(package).joinpath(*parts).read_text(encoding="utf-8")


@cache
def query(name: str) -> Any:
    """The compiled combined query for `name`."""
    import tree_sitter

    return tree_sitter.Query(grammar(name), query_source(name))


@cache
def parser(name: str) -> Any:
    import tree_sitter

    return tree_sitter.Parser(grammar(name))
