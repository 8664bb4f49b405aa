"""Resolve references to definitions: the call graph, definition -> definition.

Resolution order for a reference `name` (with optional receiver) in file F, scope S:
  self/this/cls receiver -> a method of S's class in F                      how="self"
  receiver bound by an import (module or class) -> a definition in that file  how="import"
  receiver naming a class defined in F -> its method                          how="local"
  bare name defined in F and visible from S                                   how="local"
  bare name bound by an import (following re-exports)                         how="import"
  bare name defined exactly once in the repository                            how="global"
  attribute call with an unknown receiver, one candidate method               how="attr"
  two to five candidates: an edge to each                                     how="ambiguous"
More than five candidates gives no edge: the name carries no information.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from sleepcoder.tools.facts import Reference
from sleepcoder.tools.import_graph import Binding

MAX_CANDIDATES = 5
_SELF = frozenset({"self", "this", "cls", "Self"})
_CLASS_KINDS = frozenset({"class", "interface", "struct", "enum", "trait", "type"})
_TYPE_REFS = frozenset({"type", "inherit", "class", "implementation"})
# Languages where a bare call inside a class body may call a sibling method.
_IMPLICIT_THIS = frozenset({"java", "cpp"})

# Methods of builtin containers, strings and promises (Python, JS): an attribute call to one
# of these on an unknown receiver is not resolved by name alone.
COMMON_METHODS = frozenset("""
add append clear copy count discard extend get index insert items keys pop popitem remove
reverse setdefault sort update values join split strip lstrip rstrip replace startswith
endswith format encode decode lower upper find read write close open send
push shift unshift slice splice map filter reduce forEach then catch finally toString
""".split())

# how -> weight of one edge in the file ranking
EDGE_WEIGHTS = {
    "self": 1.0,
    "local": 1.0,
    "import": 1.0,
    "global": 0.7,
    "attr": 0.3,
    "ambiguous": 0.15,
}


class DefSite(NamedTuple):
    path: str
    qname: str
    kind: str


@dataclass
class SymbolTable:
    """Definitions by name, and by (path, qname), for the names a resolution needs."""

    # name -> [(path, qname, kind)]: plain tuples, made DefSites only for names looked up
    names: dict[str, list[tuple[str, str, str]]] = field(
        default_factory=lambda: defaultdict(list))
    by_site: dict[tuple[str, str], str] = field(default_factory=dict)  # -> kind
    _sites: dict[str, list[DefSite]] = field(default_factory=dict)
    _cache: dict[tuple[str, str], list[DefSite]] = field(default_factory=dict)

    def add(self, path: str, name: str, qname: str, kind: str) -> None:
        self.names[name].append((path, qname, kind))
        self.by_site[(path, qname)] = kind

    def has(self, path: str, qname: str) -> bool:
        return (path, qname) in self.by_site

    def sites(self, name: str) -> list[DefSite]:
        found = self._sites.get(name)
        if found is None:
            found = self._sites[name] = [DefSite(*raw) for raw in self.names.get(name, ())]
        return found

    def candidates(self, name: str, role: str) -> list[DefSite]:
        """Sites a reference of `role` (bare, type, attr) may mean, cached per name."""
        key = (name, role)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = _filter_sites(self.sites(name), role)
        return cached


def _filter_sites(sites: list[DefSite], role: str) -> list[DefSite]:
    if role == "attr":
        return [s for s in sites if s.kind != "declaration"] or sites
    if role == "type":
        return [s for s in sites if s.kind in _CLASS_KINDS]
    found = [s for s in sites if s.kind not in ("method", "declaration")]
    # only prototypes (C headers) define it: link to those
    return found or [s for s in sites if s.kind == "declaration"]


@dataclass(frozen=True)
class FileDefs:
    """The definitions of the file being resolved: (name, qname, kind) each."""

    items: list[tuple[str, str, str]]

    def class_qnames(self) -> set[str]:
        return {q for _n, q, k in self.items if k in _CLASS_KINDS}


def names_needed(refs: Iterable[tuple], bindings: dict[str, Binding]) -> set[str]:
    """Every definition name the resolution of these references may look up."""
    names = {r[0] for r in refs}
    names.update(b.name for b in bindings.values() if b.name)
    return names


class _Resolver:
    def __init__(
        self,
        path: str,
        language: str,
        defs: FileDefs,
        bindings: dict[str, Binding],
        all_bindings: dict[str, dict[str, Binding]],
        table: SymbolTable,
    ) -> None:
        self.path = path
        self.language = language
        self.bindings = bindings
        self.all_bindings = all_bindings
        self.table = table
        self.classes = defs.class_qnames()
        self.local_by_name: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for name, qname, kind in defs.items:
            self.local_by_name[name].append((qname, kind))

    def resolve(self, ref: Reference) -> list[tuple[str, str, str]]:
        """(dst_path, dst_qname, how) edges for one reference."""
        receiver = ref.receiver
        if receiver:
            return self._attribute(ref, receiver)
        return self._bare(ref)

    def _enclosing_class(self, scope: str) -> str:
        while scope:
            if scope in self.classes:
                return scope
            scope = scope.rpartition(".")[0]
        return ""

    def _attribute(self, ref: Reference, receiver: str) -> list[tuple[str, str, str]]:
        name = ref.name
        if receiver in _SELF:
            cls = self._enclosing_class(ref.scope)
            if cls and self.table.has(self.path, f"{cls}.{name}"):
                return [(self.path, f"{cls}.{name}", "self")]
        else:
            receiver = receiver.removesuffix("()")
            binding = self.bindings.get(receiver)
            if binding is not None:
                target = self._follow(binding)
                qname = f"{target.name}.{name}" if target.name else name
                if self.table.has(target.path, qname):
                    return [(target.path, qname, "import")]
                if self.language == "go" and target.name is None:
                    package = target.path.rpartition("/")[0]
                    sites = [s for s in self.table.sites(name)
                             if s.path.rpartition("/")[0] == package and s.qname == name]
                    if len(sites) == 1:
                        return [(sites[0].path, name, "import")]
            if receiver in self.classes and self.table.has(self.path, f"{receiver}.{name}"):
                return [(self.path, f"{receiver}.{name}", "local")]
        if name in COMMON_METHODS:
            return []  # `x.get()` with an unknown `x` is far more often a dict than our get
        return _spread(self.table.candidates(name, "attr"), "attr")

    def _bare(self, ref: Reference) -> list[tuple[str, str, str]]:
        name = ref.name
        local = self._visible_local(name, ref.scope)
        if local:
            return [(self.path, qname, "local") for qname in local]
        binding = self.bindings.get(name)
        if binding is not None:
            target = self._follow(binding)
            qname = target.name or name
            if self.table.has(target.path, qname):
                return [(target.path, qname, "import")]
        role = "type" if ref.kind in _TYPE_REFS else "bare"
        sites = self.table.candidates(name, role)
        if len(sites) <= MAX_CANDIDATES + 2:
            sites = [s for s in sites if s.path != self.path]
        return _spread(sites, "global")

    def _visible_local(self, name: str, scope: str) -> list[str]:
        found = []
        cls = self._enclosing_class(scope) if self.language in _IMPLICIT_THIS else ""
        for qname, kind in self.local_by_name.get(name, ()):
            parent = qname.rpartition(".")[0]
            if kind == "declaration" and len(self.local_by_name[name]) > 1:
                continue
            nested_in_scope = (scope + ".").startswith(parent + ".") and parent not in self.classes
            if not parent or parent == cls or nested_in_scope:
                found.append(qname)
        return found

    def _follow(self, binding: Binding) -> Binding:
        """Follow re-exports (`from .impl import thing` in an __init__) up to three hops."""
        for _ in range(3):
            if binding.name is None or self.table.has(binding.path, binding.name):
                return binding
            onward = self.all_bindings.get(binding.path, {}).get(binding.name)
            if onward is None:
                return binding
            binding = Binding(onward.path, onward.name or binding.name)
        return binding


def _spread(sites: list[DefSite], how: str) -> list[tuple[str, str, str]]:
    if not sites or len(sites) > MAX_CANDIDATES:
        return []
    if len(sites) == 1:
        return [(sites[0].path, sites[0].qname, how)]
    return [(s.path, s.qname, "ambiguous") for s in sites]


def resolve_file_calls(
    path: str,
    language: str,
    defs: FileDefs,
    refs: Iterable[tuple],
    bindings: dict[str, Binding],
    all_bindings: dict[str, dict[str, Binding]],
    table: SymbolTable,
) -> list[tuple[str, str, str, str, str, int]]:
    """Call edges (src, src_qname, dst, dst_qname, how, count) out of one file.

    `refs` are Reference tuples; identical ones (same name, kind, scope and receiver on other
    lines) are resolved once.
    """
    resolver = _Resolver(path, language, defs, bindings, all_bindings, table)
    known = table.names
    local = resolver.local_by_name
    distinct: Counter[tuple[str, str, str, str]] = Counter()
    for name, _line, kind, scope, receiver in refs:
        if name in known or name in local or name in bindings:
            distinct[(name, kind, scope, receiver)] += 1
    counts: Counter[tuple[str, str, str, str]] = Counter()
    for (name, kind, scope, receiver), times in distinct.items():
        for dst, dst_qname, how in resolver.resolve(Reference(name, 0, kind, scope, receiver)):
            if dst == path and dst_qname == scope:
                continue  # recursion says nothing about structure
            counts[(scope, dst, dst_qname, how)] += times
    return [
        (path, scope, dst, dst_qname, how, count)
        for (scope, dst, dst_qname, how), count in counts.items()
    ]
