"""Definitions as units of editing: find one by its qualified name in a file's current text
(with its decorators or `export`), its body's statements, the import block, where a new
definition goes (after another, at the end of a class, at the end of the module), and splice
new text in with the indentation the place needs.

Everything works on the current content, parsed again with tree-sitter each time: an earlier
edit in the same run moves lines, and a line range remembered from the map would be stale.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from sleepcoder.tools import languages
from sleepcoder.tools.parse import extract_facts

_WRAPPERS = frozenset({"decorated_definition", "export_statement"})
_IMPORT_TYPES = {
    "python": frozenset({"import_statement", "import_from_statement",
                         "future_import_statement"}),
    "javascript": frozenset({"import_statement"}),
    "typescript": frozenset({"import_statement"}),
    "tsx": frozenset({"import_statement"}),
}
_CLASS_KINDS = frozenset({"class", "interface", "struct", "enum", "trait"})


class SymbolError(ValueError):
    """A definition or an anchor cannot be found in the current text; the message says so."""


@dataclass(frozen=True)
class DefinitionSpan:
    qname: str
    kind: str
    signature: str
    start_line: int  # 1-based, first line including decorators / export
    end_line: int  # 1-based, inclusive
    header_line: int  # the line of `def`/`class`/`function` itself
    indent: str  # indentation of the header line

    @property
    def lines(self) -> int:
        return self.end_line - self.start_line + 1


@dataclass(frozen=True)
class Statement:
    start_line: int
    end_line: int
    first: str  # its first line, stripped


def _lines(content: str) -> list[str]:
    """The lines of `content` as tree-sitter counts them: split at `\n` only (a form feed, a
    U+2028 or a `\x1c` inside a line is not a line break there, and the rows of the
    definitions found must index these lines)."""
    parts = content.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _tree(content: str, language: str):
    return languages.parser(language).parse(content.encode("utf-8", "surrogateescape"))


def definitions(content: str, language: str) -> list[DefinitionSpan]:
    """Every definition of `content`, in order, with spans widened to their decorators."""
    facts = extract_facts(content.encode("utf-8", "surrogateescape"), language)
    starts = _wrapper_starts(content, language)
    lines = _lines(content)
    out = []
    for d in facts.definitions:
        start = starts.get(d.start_line, d.start_line)
        header = lines[d.start_line - 1] if d.start_line <= len(lines) else ""
        out.append(DefinitionSpan(d.qname, d.kind, d.signature, start, d.end_line, d.start_line,
                                  _indent_of(header)))
    return out


def _wrapper_starts(content: str, language: str) -> dict[int, int]:
    """Header line -> first line of its decorators or `export` (only where they differ)."""
    out: dict[int, int] = {}
    stack = [_tree(content, language).root_node]
    while stack:
        node = stack.pop()
        if node.type in _WRAPPERS:
            inner = node.child_by_field_name("definition") or node.child_by_field_name(
                "declaration") or (node.named_children[-1] if node.named_children else None)
            if inner is not None and inner.start_point[0] != node.start_point[0]:
                out[inner.start_point[0] + 1] = node.start_point[0] + 1
        if node.type in _WRAPPERS or node.child_count and node.start_point[0] != \
                node.end_point[0]:
            stack.extend(node.children)
    return out


def locate(content: str, language: str, qname: str) -> DefinitionSpan:
    """The definition named `qname` (exactly; else a unique match on its last part)."""
    found = definitions(content, language)
    exact = [d for d in found if d.qname == qname]
    if not exact:
        tail = qname.rsplit(".", 1)[-1]
        exact = [d for d in found if d.qname.rsplit(".", 1)[-1] == tail]
    if len(exact) == 1:
        return exact[0]
    if not exact:
        raise SymbolError(f"no definition named {qname!r}")
    if len({d.qname for d in exact}) == 1:
        # the same name defined again (typing overloads, a conditional redefinition, a test
        # data file): the last one is what the name is bound to when the module has run
        return exact[-1]
    raise SymbolError(f"{qname!r} names {len(exact)} definitions: "
                      + ", ".join(f"{d.qname} (line {d.header_line})" for d in exact[:5]))


def text_of(content: str, span: DefinitionSpan) -> str:
    return "".join(_lines(content)[span.start_line - 1: span.end_line])


def body_statements(content: str, language: str, span: DefinitionSpan) -> list[Statement]:
    """The top-level statements of a definition's body (a docstring counts as one)."""
    tree = _tree(content, language)
    node = _node_at_line(tree.root_node, span.header_line)
    body = node.child_by_field_name("body") if node is not None else None
    if body is None:
        return []
    return [statement for statement, _node in _statements(body, content)]


def _statements(parent, content: str) -> list[tuple[Statement, object]]:
    """The named children of `parent` but comments, each as a Statement with its node."""
    lines = _lines(content)
    out = []
    for child in parent.named_children:
        if child.type in _COMMENTS:
            continue
        start, end = child.start_point[0] + 1, child.end_point[0] + 1
        first = lines[start - 1].strip() if start <= len(lines) else ""
        out.append((Statement(start, end, first), child))
    return out


_DEFINITION_NODES = ("function_definition", "class_definition", "decorated_definition",
                     "function_declaration", "class_declaration", "export_statement",
                     "generator_function_declaration", "abstract_class_declaration",
                     "interface_declaration")


def top_level_statements(content: str, language: str) -> list[tuple[Statement, bool]]:
    """The file's top-level statements (comments left out), each with whether it is a
    definition (a function or class, decorated or exported)."""
    return [(statement, node.type in _DEFINITION_NODES)
            for statement, node in _statements(_tree(content, language).root_node, content)]


def elif_place(content: str, language: str, span: DefinitionSpan, answer: str
               ) -> tuple[int, str] | None:
    """Where new lines that open with an `elif` clause go in a Python definition: after the
    last `elif` (before an `else`) of an `if` chain in its body, at the `if`'s indentation, as
    (line after which they go, indentation). An `elif` fits nowhere else, and the small
    model, asked after which numbered statement it goes, picks one where it breaks the
    syntax (the README example's `elif args.command == "low-stock":`, put after
    `args = ...` at 2b96bed). The chain is the one with the most branches, ties broken by
    the words its conditions share with the new one's. None when the lines do not open
    with `elif` or the body has no `if`."""
    first = next((line.strip() for line in answer.splitlines() if line.strip()), "")
    if language != "python" or not first.startswith("elif ") or not first.endswith(":"):
        return None
    node = _node_at_line(_tree(content, language).root_node, span.header_line)
    body = node.child_by_field_name("body") if node is not None else None
    if body is None:
        return None
    chains = []
    stack = list(body.named_children)
    while stack:
        item = stack.pop()
        if item.type in ("function_definition", "class_definition", "decorated_definition"):
            continue  # a nested definition's chains are its own
        if item.type == "if_statement":
            chains.append(item)
        stack.extend(item.named_children)
    if not chains:
        return None
    words = set(re.findall(r"\w+", first))

    def rank(chain) -> tuple[int, int]:
        branches = [c for c in chain.named_children if c.type == "elif_clause"]
        condition = chain.child_by_field_name("condition")
        said = " ".join(n.text.decode("utf-8", "replace") for n in
                        [condition, *[c.child_by_field_name("condition") for c in branches]]
                        if n is not None)
        return len(branches), len(words & set(re.findall(r"\w+", said)))

    chain = max(chains, key=rank)
    lines = _lines(content)
    clauses = [c for c in chain.named_children if c.type in ("elif_clause", "else_clause")]
    closing = next((c for c in clauses if c.type == "else_clause"), None)
    if closing is not None:
        after = closing.start_point[0]  # the line before `else:`
    else:
        after = (clauses[-1] if clauses else chain).end_point[0] + 1
    header = lines[chain.start_point[0]]
    return after, header[: len(header) - len(header.lstrip())]


_COMMENTS = frozenset({"comment", "line_comment", "block_comment"})
_NO_OPS = frozenset({"pass_statement", "empty_statement", "ellipsis", "string"})


def _placeholder(body) -> bool:
    """Whether a function body holds nothing but `pass`, `...`, a docstring or comments."""
    if body is None or body.type not in ("block", "statement_block") or \
            not body.named_children:
        # an arrow function's expression body, a declaration without a body, or `{}`: an
        # empty body is how a no-op is written in the brace languages (a comment in it,
        # "// TODO", makes it a placeholder)
        return False
    for child in body.named_children:
        if child.type in _COMMENTS or child.type in _NO_OPS:
            continue
        if child.type == "expression_statement" and all(
                grand.type in _NO_OPS or grand.type in _COMMENTS
                for grand in child.named_children):
            continue
        return False
    return True


# decorators under which a body of `...` or a docstring is the definition's whole point
_STUB_DECORATORS = re.compile(r"abstract|overload|hookspec|\bspec\b|interface", re.IGNORECASE)


_OVERLOAD = re.compile(r"@(?:\w+\.)*overload\b")


def _implemented(wrapper, node) -> bool:
    """Whether an `@overload` stub has its implementation: a definition of the same name, in
    the same block, that is not an overload itself (a lone `@overload` is a placeholder)."""
    name = node.child_by_field_name("name")
    block = wrapper.parent
    if name is None or block is None:
        return True
    for sibling in block.named_children:
        inner = sibling.child_by_field_name("definition") if sibling.type in _WRAPPERS else \
            sibling
        if inner is None or inner is node or inner.child_by_field_name("name") is None:
            continue
        if inner.child_by_field_name("name").text != name.text:
            continue
        if sibling.type not in _WRAPPERS or not _OVERLOAD.search(
                sibling.text[:inner.start_byte - sibling.start_byte].decode("utf-8", "replace")):
            return True
    return False


def _stub_headers(content: str, language: str) -> set[int]:
    """Header lines (1-based) of the functions whose body is a placeholder. Classes are
    never stubs here (`class Error(Exception): pass` is complete), nor is a function under
    `@abstractmethod`, `@overload` or a plugin's `@hookspec`; any other decorator does not
    make one complete (datasette-192 at d2374aa: a `@pytest.mark.parametrize` test that was
    `# Your test implementation here` and `pass`)."""
    out: set[int] = set()
    stack = [_tree(content, language).root_node]
    while stack:
        node = stack.pop()
        if node.child_by_field_name("name") is not None and "class" not in node.type and \
                "interface" not in node.type and \
                _placeholder(node.child_by_field_name("body")):
            parent = node.parent
            wrapper = parent.text[:node.start_byte - parent.start_byte].decode(
                "utf-8", "replace") if parent is not None and parent.type in _WRAPPERS else ""
            if not _STUB_DECORATORS.search(wrapper) or (
                    _OVERLOAD.search(wrapper) and not _implemented(parent, node)):
                out.add(node.start_point[0] + 1)
        stack.extend(node.named_children)
    return out


def new_stubs(original: str, new: str, language: str) -> list[str]:
    """The functions of `new` whose body is only `pass`, `...`, a docstring or comments (a
    stub saying "implementation here", not an implementation), when `original` has none: a
    file that holds such stubs by design (a protocol, plugin hook specifications, a `.pyi`)
    may get more."""
    headers = _stub_headers(new, language)
    if not headers or _stub_headers(original, language):
        return []
    return [d.qname for d in definitions(new, language)
            if d.header_line in headers and d.kind not in _CLASS_KINDS]


def _node_at_line(root, line: int):
    """The definition node whose header starts on `line` (1-based)."""
    stack = [root]
    best = None
    while stack:
        node = stack.pop()
        if node.start_point[0] + 1 == line and node.child_by_field_name("body") is not None \
                and node.child_by_field_name("name") is not None:
            best = node
            break
        if node.start_point[0] + 1 <= line <= node.end_point[0] + 1:
            stack.extend(node.children)
    return best


def import_block(content: str, language: str) -> tuple[int, int]:
    """(first, last) line of the top-of-file imports; (n, n - 1) for an empty block whose
    insertion point is line n (after a module docstring or a `__future__` import)."""
    kinds = _IMPORT_TYPES.get(language, frozenset())
    root = _tree(content, language).root_node
    first = last = 0
    after = 1
    for child in root.named_children:
        if child.type in kinds:
            first = first or child.start_point[0] + 1
            last = child.end_point[0] + 1
            continue
        if first:
            if child.type in ("comment", "if_statement", "try_statement") and _holds_import(
                    child, kinds):
                last = child.end_point[0] + 1
                continue
            break
        if child.type in ("comment",) or _is_docstring(child):
            after = child.end_point[0] + 2
            continue
        break
    if first:
        return first, last
    return after, after - 1


def _holds_import(node, kinds) -> bool:
    stack = list(node.children)
    while stack:
        child = stack.pop()
        if child.type in kinds:
            return True
        stack.extend(child.children)
    return node.type == "comment"


def _is_docstring(node) -> bool:
    return node.type == "expression_statement" and node.named_child_count == 1 and \
        node.named_children[0].type == "string"


@dataclass(frozen=True)
class Anchor:
    where: str  # "after", "in", "end"
    qname: str = ""  # the definition it follows, or the class it goes into


def insertion(content: str, language: str, anchor: Anchor) -> tuple[int, str, int]:
    """Where a new definition goes: (the line it is inserted before, 1-based; its header's
    indentation; blank lines to put around it)."""
    lines = _lines(content)
    if anchor.where == "end":
        end = len(lines)
        if language == "python":  # before the script's entry point, which runs at once
            end = (main_guard(content) or end + 1) - 1
        while end and not lines[end - 1].strip():
            end -= 1
        return end + 1, "", _blank_lines(language, "")
    target = locate(content, language, anchor.qname)
    if anchor.where == "after":
        return target.end_line + 1, target.indent, _blank_lines(language, target.indent)
    if target.kind not in _CLASS_KINDS:
        raise SymbolError(f"{anchor.qname!r} is a {target.kind}, not a class: a definition "
                          "cannot be added inside it")
    members = [d for d in definitions(content, language)
               if d.qname.startswith(target.qname + ".") and d.qname.count(".") ==
               target.qname.count(".") + 1]
    indent = members[0].indent if members else target.indent + "    "
    return target.end_line + 1, indent, _blank_lines(language, indent)


_MAIN_GUARD = re.compile(r"""if\s+__name__\s*==\s*['"]__main__['"]\s*:""")


def main_guard(content: str) -> int:
    """The 1-based line of a Python file's closing `if __name__ == "__main__":` block (only
    its body, blank lines and comments after it), or 0. The end of such a file is above it:
    a test added after `unittest.main()` is never run (black-136 at a52809a)."""
    lines = content.split("\n")  # counted as _lines and tree-sitter count (not splitlines)
    for number in range(len(lines), 0, -1):
        line = lines[number - 1].rstrip("\r")
        if not line.strip() or line[0] in " \t#":
            continue
        return number if _MAIN_GUARD.match(line) else 0
    return 0


def _blank_lines(language: str, indent: str) -> int:
    return 2 if language == "python" and not indent else 1


def indent_unit(text: str, default: int = 4) -> int:
    """The indentation step of `text` in spaces: its smallest non-zero indentation."""
    widths = [len(line) - len(line.lstrip(" ")) for line in text.splitlines()
              if line.strip() and line.startswith(" ")]
    base = min((len(line) - len(line.lstrip(" ")) for line in text.splitlines()
                if line.strip()), default=0)
    steps = [w - base for w in widths if w > base]
    return min(steps) if steps else default


def normalise(text: str, indent: str, unit: int | None = None) -> list[str]:
    """`text` re-indented so its least indented line starts at `indent` (tabs kept), and its
    indentation step changed to `unit` spaces when given (a model writing 2-space code into a
    4-space file)."""
    body = textwrap.dedent(text.expandtabs(4) if "\t" in text and " " in indent else text)
    lines = body.strip("\n").splitlines()
    own = indent_unit(body)
    if unit and own != unit and "\t" not in body:
        lines = [_rescale(line, own, unit) for line in lines]
    return [(indent + line if line.strip() else "") + "\n" for line in lines]


def _rescale(line: str, own: int, unit: int) -> str:
    width = len(line) - len(line.lstrip(" "))
    return " " * ((width // own) * unit + width % own) + line.lstrip(" ")


def replace_definition(content: str, span: DefinitionSpan, new_text: str) -> str:
    """`content` with the definition at `span` replaced by `new_text` (re-indented)."""
    lines = _lines(content)
    new = normalise(new_text, span.indent, indent_unit(content))
    tail = lines[span.end_line:]
    if span.end_line <= len(lines) and not lines[span.end_line - 1].endswith("\n") and not tail:
        new[-1] = new[-1].rstrip("\n")  # the file had no final newline
    return "".join(lines[: span.start_line - 1] + new + tail)


def insert_definition(content: str, language: str, anchor: Anchor, new_text: str) -> str:
    """`content` with `new_text` inserted at `anchor`, with the blank lines the place needs
    before it and before what follows."""
    lines = _lines(content)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    before, indent, blanks = insertion("".join(lines), language, anchor)
    head, tail = lines[: before - 1], lines[before - 1:]
    while head and not head[-1].strip():
        head.pop()
    while tail and not tail[0].strip():
        tail.pop(0)
    after = _blank_lines(language, _indent_of(tail[0])) if tail else 0
    if tail and len(_indent_of(tail[0])) < len(indent):
        after = max(after, blanks)
    return "".join(head + ["\n"] * (blanks if head else 0)
                   + normalise(new_text, indent, indent_unit(content))
                   + ["\n"] * after + tail)


def insert_lines(content: str, after_line: int, new_text: str, indent: str,
                 apart: bool = False) -> str:
    """`content` with `new_text` (re-indented to `indent`) after line `after_line`; `apart`:
    set off by a blank line from non-blank lines next to it (a method among methods)."""
    lines = _lines(content)
    if after_line and after_line <= len(lines) and not lines[after_line - 1].endswith("\n"):
        lines[after_line - 1] += "\n"
    before, after = lines[:after_line], lines[after_line:]
    new = normalise(new_text, indent, indent_unit(content))
    # (not right under the line that opens the block: `class X:`)
    if apart and before and before[-1].strip() and not before[-1].rstrip().endswith(":"):
        new = ["\n", *new]
    if apart and after and after[0].strip():
        new = [*new, "\n"]
    return "".join(before + new + after)


def replace_lines(content: str, first: int, last: int, new_text: str, indent: str) -> str:
    """`content` with lines first..last (1-based, inclusive) replaced by `new_text`."""
    lines = _lines(content)
    new = normalise(new_text, indent) if new_text.strip() else []
    return "".join(lines[: first - 1] + new + lines[last:])
