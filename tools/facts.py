"""Record types for the per-file facts the parser extracts and the map stores.

Named tuples, not dataclasses: hundreds of thousands cross the worker-process boundary per map,
and tuples pickle and allocate several times faster.
"""

from __future__ import annotations

import marshal
from dataclasses import dataclass, field
from typing import NamedTuple


class Definition(NamedTuple):
    kind: str  # class, function, method, constant, interface, type, enum, module, macro, ...
    name: str
    qname: str  # qualified within the file, e.g. "Class.method"
    signature: str
    doc: str  # first line of the docstring or leading comment, "" if none
    start_line: int  # 1-based, inclusive
    end_line: int


class Reference(NamedTuple):
    name: str
    line: int
    kind: str  # call, class, type, inherit, decorator, implementation
    scope: str  # qname of the innermost enclosing definition, "" at module level
    receiver: str  # "self", "this", "np", "a.b" for attribute calls; "" for bare names


class Import(NamedTuple):
    module: str  # as written: "a.b", "..pkg", "./util", "fmt", "crate::x", "stdio.h"
    names: tuple[tuple[str, str | None], ...]  # imported names with their aliases
    alias: str | None  # alias of the module itself ("import numpy as np")
    line: int
    kind: str  # import, from, require, export, include, system, use, mod, static


@dataclass(slots=True)
class FileFacts:
    """Everything the map knows about one file's content (keyed by blob, not by path)."""

    language: str | None
    lines: int = 0
    doc: str = ""  # module docstring or header comment, first line
    definitions: list[Definition] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    parse_errors: int = 0  # ERROR/MISSING nodes in the syntax tree (partial facts are kept)
    first_error_line: int = 0
    decode_replaced: bool = False  # content was not valid UTF-8; text decoded with U+FFFD
    failure: str = ""  # set when extraction itself failed; facts gathered before it are kept


class PackedFacts(NamedTuple):
    """FileFacts in the shape the store writes, built in the parser worker.

    References are the bulk of the facts and are only ever read per file, so they travel and
    are stored as one marshalled value per blob (plus the set of names, for "who refers to X").
    """

    language: str | None
    lines: int
    doc: str
    parse_errors: int
    first_error_line: int
    decode_replaced: bool
    failure: str
    definitions: bytes  # marshalled Definition tuples
    refs: bytes
    ref_count: int
    ref_names: bytes
    imports: list[tuple[str, bytes, str | None, int, str]]  # names marshalled


def pack(facts: FileFacts) -> PackedFacts:
    refs = [tuple(r) for r in facts.references]
    return PackedFacts(
        facts.language, facts.lines, facts.doc, facts.parse_errors, facts.first_error_line,
        facts.decode_replaced, facts.failure, marshal.dumps([tuple(d) for d in facts.definitions]),
        marshal.dumps(refs), len(refs), marshal.dumps(sorted({r[0] for r in refs})),
        [(i.module, marshal.dumps(i.names), i.alias, i.line, i.kind) for i in facts.imports])


def unpack_refs(raw: bytes) -> list[Reference]:
    return [Reference(*r) for r in marshal.loads(raw)] if raw else []


def unpack_names(raw: bytes) -> list[str]:
    return marshal.loads(raw) if raw else []
