"""Resolve import statements to repository files: the import graph, and per-file name bindings.

Python absolute and relative imports and JS/TS relative imports are resolved exactly; Go
(via go.mod), Java (package paths), Rust (`mod`, `crate::`) and C/C++ (`#include "..."`) are
resolved on a best-effort basis. Anything that is not a repository file (stdlib, third-party)
stays unresolved.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from sleepcoder.tools.facts import Import

_JS_EXTENSIONS = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".d.ts")
_JS_INDEX = tuple(f"index{ext}" for ext in (".ts", ".tsx", ".js", ".jsx", ".mjs"))
_MAX_FANOUT = 30  # a Go package or Java wildcard import links to at most this many files


@dataclass(frozen=True)
class Binding:
    """A local name bound by an import: the file it comes from and its name there.

    `name` is None when the local name is the module itself (`import numpy as np`).
    """

    path: str
    name: str | None


@dataclass
class FileImports:
    """Resolution result for one file."""

    edges: list[tuple[str, int, str]] = field(default_factory=list)  # (dst, line, module)
    bindings: dict[str, Binding] = field(default_factory=dict)
    # every lookup the resolution made in the index (see ModuleIndex): when the mapped paths
    # change, a file is resolved again only when one of its lookups would answer differently
    probes: set[str] = field(default_factory=set)


class ModuleIndex:
    """Lookup tables over the mapped paths, built once per refresh.

    Resolvers ask it only through the methods below, each of which records a probe key
    ("p:" path, "m:" Python module, "b:" basename, "d:" directory, "w:" directory suffix);
    `changed_probes` says which keys a change of the path set answers differently.
    """

    def __init__(self, paths: Iterable[str], go_module: str | None = None) -> None:
        self.probes: set[str] = set()
        self.paths = set(paths)
        self.go_module = go_module
        self._modules: dict[str, list[str]] = {}

    # The tables are built on first use: a refresh resolves a few files, often of one language.

    @cached_property
    def _sorted(self) -> list[str]:
        return sorted(self.paths)

    @cached_property
    def by_basename(self) -> dict[str, list[str]]:
        table: dict[str, list[str]] = defaultdict(list)
        for path in self._sorted:
            table[path.rpartition("/")[2]].append(path)
        return table

    @cached_property
    def by_dir(self) -> dict[str, list[str]]:
        table: dict[str, list[str]] = defaultdict(list)
        for path in self._sorted:
            table[path.rpartition("/")[0]].append(path)
        return table

    @cached_property
    def _package_dirs(self) -> set[str]:
        return {p.rpartition("/")[0] for p in self.paths
                if p == "__init__.py" or p.endswith("/__init__.py")}

    @cached_property
    def _by_module_tail(self) -> dict[str, list[str]]:
        """Python files by the last part of their module name: every dotted name a file can
        be imported under ends with it (see python_module_names)."""
        table: dict[str, list[str]] = defaultdict(list)
        for path in self._sorted:
            if path.endswith((".py", ".pyi")):
                head, _, tail = path.rpartition(".")[0].rpartition("/")
                if tail == "__init__":
                    tail = head.rpartition("/")[2]
                if tail:
                    table[tail].append(path)
        return table

    def _python_candidates(self, dotted: str) -> list[str]:
        found = self._modules.get(dotted)
        if found is None:
            found = self._modules[dotted] = [
                path for path in self._by_module_tail.get(dotted.rpartition(".")[2], ())
                if dotted in python_module_names(path, self._package_dirs)]
        return found

    # --- Python ----------------------------------------------------------------------------

    def has(self, path: str) -> bool:
        self.probes.add("p:" + path)
        return path in self.paths

    def named(self, base: str) -> list[str]:
        """Mapped paths with this file name, sorted."""
        self.probes.add("b:" + base)
        return self.by_basename.get(base, [])

    def in_dir(self, directory: str) -> list[str]:
        """Mapped paths directly in `directory`, sorted."""
        self.probes.add("d:" + directory)
        return self.by_dir.get(directory, [])

    def dirs_ending(self, suffix: str) -> list[str]:
        """Directories whose "/"-prefixed path ends with `suffix` (itself "/"-prefixed)."""
        self.probes.add("w:" + suffix)
        return [d for d in self.by_dir if ("/" + d).endswith(suffix)]

    def python_module(self, dotted: str, near: str) -> str | None:
        self.probes.add("m:" + dotted)
        candidates = self._python_candidates(dotted)
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0]
        here = posixpath.dirname(near)
        same_dir = [c for c in candidates if posixpath.dirname(c) == here]
        return (same_dir or sorted(candidates, key=lambda c: (c.count("/"), c)))[0]

    def python_package_dir_file(self, directory: str) -> str | None:
        for candidate in (
            f"{directory}.py",
            f"{directory}/__init__.py",
            f"{directory}.pyi",
            f"{directory}/__init__.pyi",
        ):
            candidate = candidate.lstrip("/")
            if self.has(candidate):
                return candidate
        return None


def python_module_names(path: str, package_dirs: set[str]) -> list[str]:
    """Dotted names under which `path` can be imported: from its package root, from the
    repository root, and from a `src/` or `lib/` layout root."""
    stem = path.rsplit(".", 1)[0]
    parts = stem.split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
        if not parts:
            return []
    names = [".".join(parts)]
    # walk up while the directory is a package: the first non-package dir is the import root
    directory = posixpath.dirname(path)
    while directory and directory in package_dirs:
        directory = posixpath.dirname(directory)
    root_parts = directory.split("/") if directory else []
    rooted = parts[len(root_parts) :] if parts[: len(root_parts)] == root_parts else parts
    if rooted and rooted != parts:
        names.insert(0, ".".join(rooted))
    for prefix in ("src", "lib", "python"):
        if parts[0] == prefix and len(parts) > 1:
            names.append(".".join(parts[1:]))
    return list(dict.fromkeys(names))


def resolve_file_imports(
    path: str, language: str, imports: list[Import], index: ModuleIndex
) -> FileImports:
    resolver = _RESOLVERS.get(language)
    result = FileImports()
    if resolver is None:
        return result
    index.probes = result.probes
    for imp in imports:
        resolver(path, imp, index, result)
    seen = set()
    unique = []
    for edge in result.edges:
        if edge[0] != path and edge[0] not in seen:
            seen.add(edge[0])
            unique.append(edge)
    result.edges = unique
    return result


# --- Python ------------------------------------------------------------------------------------


def _python(path: str, imp: Import, index: ModuleIndex, out: FileImports) -> None:
    if imp.kind == "import":
        parts = imp.module.split(".")
        for size in range(len(parts), 0, -1):
            target = index.python_module(".".join(parts[:size]), path)
            if target:
                out.edges.append((target, imp.line, imp.module))
                if imp.alias:
                    out.bindings[imp.alias] = Binding(target, None)
                elif size == len(parts):
                    out.bindings[imp.module] = Binding(target, None)
                    if size > 1:  # `import a.b` also binds `a`
                        top = index.python_module(parts[0], path)
                        if top:
                            out.bindings.setdefault(parts[0], Binding(top, None))
                break
        return
    module = imp.module
    if module.startswith("."):
        level = len(module) - len(module.lstrip("."))
        rest = module[level:]
        directory = posixpath.dirname(path)
        for _ in range(level - 1):
            directory = posixpath.dirname(directory)
        base_dir = posixpath.join(directory, *rest.split(".")) if rest else directory
        module_file = (
            index.python_package_dir_file(base_dir)
            if rest
            else index.python_package_dir_file(directory)
        )
        submodule = lambda name: index.python_package_dir_file(  # noqa: E731
            posixpath.join(base_dir, name)
        )
    else:
        module_file = index.python_module(module, path)
        submodule = lambda name: index.python_module(f"{module}.{name}", path)  # noqa: E731
    for name, alias in imp.names:
        local = alias or name
        sub = submodule(name) if name != "*" else None
        if sub:
            label = f"{module}{name}" if module.endswith(".") else f"{module}.{name}"
            out.edges.append((sub, imp.line, label))
            out.bindings[local] = Binding(sub, None)
        elif module_file:
            out.edges.append((module_file, imp.line, module))
            if name != "*":
                out.bindings[local] = Binding(module_file, name)
    if not imp.names and module_file:
        out.edges.append((module_file, imp.line, module))


# --- JavaScript / TypeScript -------------------------------------------------------------------


def _javascript(path: str, imp: Import, index: ModuleIndex, out: FileImports) -> None:
    spec = imp.module
    if spec.startswith("."):
        base = posixpath.normpath(posixpath.join(posixpath.dirname(path), spec))
    elif "/" in spec and not spec.startswith("@"):
        base = posixpath.normpath(spec)  # a repository-rooted specifier ("src/util")
    else:
        return
    target = _js_file(base, index)
    if target is None:
        return
    out.edges.append((target, imp.line, spec))
    if imp.alias:
        out.bindings[imp.alias] = Binding(target, None)
    for name, alias in imp.names:
        if name != "*":
            out.bindings[alias or name] = Binding(target, None if name == "default" else name)


def _js_file(base: str, index: ModuleIndex) -> str | None:
    if base.startswith(".."):
        return None
    if index.has(base):
        return base
    stem = base
    for ext in (".js", ".jsx", ".mjs", ".cjs"):
        if base.endswith(ext):  # TypeScript ESM imports name the compiled .js file
            stem = base[: -len(ext)]
            break
    for ext in _JS_EXTENSIONS:
        if index.has(stem + ext):
            return stem + ext
    for name in _JS_INDEX:
        candidate = posixpath.join(base, name)
        if index.has(candidate):
            return candidate
    return None


# --- Go ----------------------------------------------------------------------------------------


def _go(path: str, imp: Import, index: ModuleIndex, out: FileImports) -> None:
    module = index.go_module
    if not module or not (imp.module == module or imp.module.startswith(module + "/")):
        return
    directory = imp.module[len(module) + 1 :]
    files = [
        p
        for p in index.in_dir(directory)
        if p.endswith(".go") and not p.endswith("_test.go")
    ][:_MAX_FANOUT]
    out.edges.extend((f, imp.line, imp.module) for f in files)
    local = imp.alias or imp.module.rsplit("/", 1)[-1]
    if files and local not in (".", "_"):  # dot and blank imports bind no package name
        # a Go package spans its directory: the resolver looks beside this file too
        out.bindings[local] = Binding(files[0], None)


# --- Java --------------------------------------------------------------------------------------


def _java(path: str, imp: Import, index: ModuleIndex, out: FileImports) -> None:
    for name, _alias in imp.names:
        if name == "*":
            directory_suffix = "/" + imp.module.replace(".", "/")
            dirs = index.dirs_ending(directory_suffix)
            for directory in dirs[:1]:
                files = [p for p in index.in_dir(directory) if p.endswith(".java")]
                out.edges.extend((f, imp.line, imp.module) for f in files[:_MAX_FANOUT])
            continue
        if imp.kind == "static":  # import static a.b.C.m: the class is the module's last part
            class_path = imp.module.replace(".", "/") + ".java"
            member = name
        else:
            class_path = f"{imp.module.replace('.', '/')}/{name}.java"
            member = None
        base = class_path.rsplit("/", 1)[-1]
        for candidate in index.named(base):
            if ("/" + candidate).endswith("/" + class_path):
                out.edges.append((candidate, imp.line, imp.module))
                if member:
                    out.bindings[member] = Binding(candidate, member)
                else:
                    out.bindings[name] = Binding(candidate, name)
                break


# --- Rust --------------------------------------------------------------------------------------


def _rust(path: str, imp: Import, index: ModuleIndex, out: FileImports) -> None:
    directory, base = posixpath.split(path)
    module_dir = (
        directory
        if base in ("lib.rs", "main.rs", "mod.rs")
        else posixpath.join(directory, base[:-3])
    )
    if imp.kind == "mod":
        for candidate in (f"{module_dir}/{imp.module}.rs", f"{module_dir}/{imp.module}/mod.rs"):
            candidate = candidate.lstrip("/")
            if index.has(candidate):
                out.edges.append((candidate, imp.line, imp.module))
                out.bindings[imp.module] = Binding(candidate, None)
                return
        return
    segments = imp.module.split("::") if imp.module else []
    if not segments:
        return
    if segments[0] == "crate":
        start = _crate_root(path, index)
        segments = segments[1:]
    elif segments[0] == "self":
        start, segments = module_dir, segments[1:]
    elif segments[0] == "super":
        start = posixpath.dirname(module_dir)
        segments = segments[1:]
        while segments and segments[0] == "super":
            start, segments = posixpath.dirname(start), segments[1:]
    else:
        return  # an external crate
    for name, alias in imp.names:
        full = [*segments, name] if name != "*" else segments
        for size in range(len(full), 0, -1):
            stem = posixpath.join(start, *full[:size]) if start else posixpath.join(*full[:size])
            target = next((c for c in (f"{stem}.rs", f"{stem}/mod.rs") if index.has(c)), None)
            if target:
                out.edges.append((target, imp.line, imp.module))
                if name != "*":
                    inner = name if size < len(full) else None
                    out.bindings[alias or name] = Binding(target, inner)
                break


def _crate_root(path: str, index: ModuleIndex) -> str:
    directory = posixpath.dirname(path)
    while True:
        if index.has(f"{directory}/lib.rs".lstrip("/")) or index.has(
            f"{directory}/main.rs".lstrip("/")
        ):
            return directory
        if not directory:
            return ""
        directory = posixpath.dirname(directory)


# --- C / C++ -----------------------------------------------------------------------------------


def _c(path: str, imp: Import, index: ModuleIndex, out: FileImports) -> None:
    if imp.kind != "include":
        return
    local = posixpath.normpath(posixpath.join(posixpath.dirname(path), imp.module))
    if index.has(local):
        out.edges.append((local, imp.line, imp.module))
        return
    base = posixpath.basename(imp.module)
    matches = [
        c
        for c in index.named(base)
        if c == imp.module or c.endswith("/" + imp.module)
    ]
    for candidate in matches[:3]:
        out.edges.append((candidate, imp.line, imp.module))


_RESOLVERS = {
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


def read_go_module(go_mod_text: str) -> str | None:
    for line in go_mod_text.splitlines():
        line = line.strip()
        if line.startswith("module "):
            return line.split(None, 1)[1].strip().strip('"')
    return None
