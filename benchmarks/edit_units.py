"""A Python file cut into the units an edit is judged by: functions, methods, classes (their own
lines, without their methods) and module constants, each with its text (decorators included) and
a token stream that ignores whitespace and comments, so "changed" means the code changed."""

from __future__ import annotations

import io
import textwrap
import tokenize
from dataclasses import dataclass, field
from functools import cached_property

from sleepcoder.tools import languages
from sleepcoder.tools.parse import extract_facts

MODULE = "<module>"  # the lines outside every unit: imports, module docstring, statements
_IGNORED = frozenset({tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                      tokenize.DEDENT, tokenize.ENDMARKER})
_DEFINITIONS = frozenset({"function_definition", "class_definition"})
_IMPORTS = frozenset({"import_statement", "import_from_statement", "future_import_statement"})
_FUNCTION_KINDS = frozenset({"function", "method"})


@dataclass(frozen=True)
class Unit:
    qname: str
    kind: str  # function, method, class, constant
    start: int  # first line (1-based), decorators included
    end: int  # last line
    nested: bool  # defined inside a function: part of that function, not a unit of its own
    parent: str  # the enclosing definition's qname, "" at module level
    text: str  # lines start..end
    own_text: str  # what is compared: the text, for a class without its definitions
    bare_text: str  # the same without the docstring
    header: str = ""  # a class: its decorators and `class ...:` line(s)

    @property
    def lines(self) -> int:
        return self.end - self.start + 1

    # tokenizing is most of the cost of a file: only done for texts that differ
    @cached_property
    def key(self) -> tuple[str, ...]:
        return code_tokens(self.own_text)

    @cached_property
    def bare_key(self) -> tuple[str, ...]:
        return self.key if self.bare_text == self.own_text else code_tokens(self.bare_text)


@dataclass
class ParsedFile:
    content: str
    units: list[Unit]  # not nested, in file order
    nested: list[Unit]
    errors: int  # syntax errors (tree-sitter ERROR/MISSING nodes)
    imports: str  # the import block: first to last top-level import before any definition
    module_text: str  # the lines outside every unit
    by_qname: dict[str, list[Unit]] = field(default_factory=dict)

    def unique(self, qname: str) -> Unit | None:
        """The unit named `qname` when exactly one has that name."""
        found = self.by_qname.get(qname, [])
        return found[0] if len(found) == 1 else None


def code_tokens(text: str) -> tuple[str, ...]:
    """Python tokens of `text` without comments, blank lines and indentation; tree-sitter's
    leaves (comments left out) when the tokenizer refuses the text."""
    try:
        return _python_tokens(text)
    except (tokenize.TokenError, SyntaxError):
        return _leaf_tokens(text)


def same_code(a: str, b: str) -> bool:
    """Whether two texts hold the same code up to whitespace and comments. Both sides are read
    the same way: tree-sitter's leaves for both when the tokenizer refuses either."""
    if a == b:
        return True
    try:
        return _python_tokens(a) == _python_tokens(b)
    except (tokenize.TokenError, SyntaxError):
        return _leaf_tokens(a) == _leaf_tokens(b)


def _python_tokens(text: str) -> tuple[str, ...]:
    readline = io.StringIO(textwrap.dedent(text)).readline
    return tuple(t.string for t in tokenize.generate_tokens(readline) if t.type not in _IGNORED)


def _leaf_tokens(text: str) -> tuple[str, ...]:
    root = languages.parser("python").parse(text.encode("utf-8", "replace")).root_node
    out: list[str] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type == "comment":
            continue
        if node.child_count == 0:
            leaf = node.text.decode("utf-8", "replace").strip()
            if leaf:
                out.append(leaf)
        else:
            stack.extend(reversed(node.children))
    return tuple(out)


def split_lines(text: str) -> list[str]:
    """Lines with their ends, split at "\n" only: tree-sitter's rows (str.splitlines would
    also split at form feeds and other separators some source files hold)."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    return [*out, lines[-1]] if lines[-1] else out


def parse_units(content: str) -> ParsedFile:
    """The units of a Python file's content."""
    data = content.encode("utf-8", "replace")
    facts = extract_facts(data, "python")
    root = languages.parser("python").parse(data).root_node
    lines = split_lines(content)
    kinds: dict[str, str] = {}
    raw: list[tuple[str, str, int, int, bool, object]] = []
    for d in facts.definitions:
        start, end, nested, node = d.start_line, d.end_line, False, None
        if d.kind != "constant":
            node = _definition_node(root, lines, d.start_line)
        if node is not None:
            nested = _inside_function(node)
            if node.parent is not None and node.parent.type == "decorated_definition":
                start = node.parent.start_point[0] + 1
        parent = d.qname.rpartition(".")[0]
        # a constant inside a function is nested too (the query may not reach it; be sure)
        nested = nested or kinds.get(parent) in _FUNCTION_KINDS
        kinds.setdefault(d.qname, d.kind)
        raw.append((d.qname, d.kind, start, end, nested, node))
    units: list[Unit] = []
    nested_units: list[Unit] = []
    for qname, kind, start, end, nested, node in raw:
        parent = qname.rpartition(".")[0]
        text = "".join(lines[start - 1:end])
        holes, header = [], ""
        if kind == "class":
            holes = [(s, e) for q, _k, s, e, n, _ in raw
                     if not n and q.rpartition(".")[0] == qname]
            header = _class_header(lines, start, node)
        own = _without(lines, start, end, holes) if holes else text
        doc = _docstring_lines(node)
        bare = _without(lines, start, end, [*holes, doc]) if doc else own
        unit = Unit(qname, kind, start, end, nested, parent, text, own, bare, header)
        (nested_units if nested else units).append(unit)
    by_qname: dict[str, list[Unit]] = {}
    for unit in units:
        by_qname.setdefault(unit.qname, []).append(unit)
    top = [(u.start, u.end) for u in units if not u.parent]
    return ParsedFile(content, units, nested_units, facts.parse_errors,
                      _import_block(root, lines), _without(lines, 1, len(lines), top), by_qname)


def _definition_node(root, lines: list[str], line: int):
    """The function_definition/class_definition starting at `line` (1-based), or None."""
    if not 0 < line <= len(lines):
        return None
    text = lines[line - 1]
    column = len(text.encode("utf-8", "replace")) - len(text.lstrip().encode("utf-8", "replace"))
    node = root.descendant_for_point_range((line - 1, column), (line - 1, column))
    while node is not None and node.type not in _DEFINITIONS:
        node = node.parent
    return node


def _inside_function(node) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.type == "function_definition":
            return True
        parent = parent.parent
    return False


def _docstring_lines(node) -> tuple[int, int] | None:
    """First and last line of a definition's docstring, when it has one on lines of its own."""
    body = node.child_by_field_name("body") if node is not None else None
    if body is None or body.named_child_count == 0:
        return None
    first = body.named_child(0)
    if first.type != "expression_statement" or first.named_child_count != 1 or \
            first.named_child(0).type != "string" or first.start_point[0] == node.start_point[0]:
        return None
    return first.start_point[0] + 1, first.end_point[0] + 1


def _without(lines: list[str], start: int, end: int, holes: list[tuple[int, int]]) -> str:
    """Lines start..end except those inside any of the (start, end) `holes`."""
    covered: set[int] = set()
    for first, last in holes:
        covered.update(range(first, last + 1))
    return "".join(lines[n - 1] for n in range(start, end + 1) if n not in covered)


def _class_header(lines: list[str], start: int, node) -> str:
    """Decorators and the `class ...:` line(s), up to the colon."""
    end = start
    if node is not None:
        colons = [c for c in node.children if c.type == ":"]
        end = colons[0].start_point[0] + 1 if colons else node.start_point[0] + 1
    return "".join(lines[start - 1:end])


def _import_block(root, lines: list[str]) -> str:
    """From the first top-level import to the last one before the first definition (so a
    `try: import x / except ImportError:` or `if TYPE_CHECKING:` between them is included)."""
    first = last = -1
    for child in root.children:
        if child.type in _DEFINITIONS or child.type == "decorated_definition":
            break
        if child.type in _IMPORTS or _holds_import(child, 3):
            if first < 0:
                first = child.start_point[0]
            last = child.end_point[0]
    return "".join(lines[first:last + 1]) if first >= 0 else ""


def _holds_import(node, depth: int) -> bool:
    if depth == 0 or node.type in _DEFINITIONS:
        return False
    return any(c.type in _IMPORTS or _holds_import(c, depth - 1) for c in node.children)


@dataclass(frozen=True)
class UnitChanges:
    """How one version of a file differs from another, unit by unit."""

    changed: frozenset[str]  # in both, code differs
    added: frozenset[str]
    removed: frozenset[str]
    module: bool  # the lines outside every unit (imports, ...) changed

    @property
    def touched(self) -> frozenset[str]:
        return self.changed | self.added | self.removed


def unit_changes(before: ParsedFile, after: ParsedFile) -> UnitChanges:
    """Units whose code differs between `before` and `after`. A name defined several times
    (a property and its setter) compares all its definitions together."""
    old, new = before.by_qname, after.by_qname
    changed = frozenset(q for q in old.keys() & new.keys() if _differ(old[q], new[q]))
    return UnitChanges(changed, frozenset(new.keys() - old.keys()),
                       frozenset(old.keys() - new.keys()),
                       not same_code(before.module_text, after.module_text))


def _differ(old: list[Unit], new: list[Unit]) -> bool:
    if [u.own_text for u in old] == [u.own_text for u in new]:
        return False
    return [u.key for u in old] != [u.key for u in new]


def within(qname: str, target: str) -> bool:
    """Whether `qname` is `target` or defined inside it (a method of a target class)."""
    return qname == target or qname.startswith(target + ".")
