"""Per-file fact extraction with tree-sitter: definitions, references and imports.

One combined query per language (shipped tags.scm + ours) runs over the tree; everything else
is a few node lookups per definition, so the cost stays close to a bare parse + tags query.
"""

from __future__ import annotations

import bisect
import builtins
import re

from sleepcoder.tools import languages
from sleepcoder.tools.facts import Definition, FileFacts, Import, Reference
from sleepcoder.tools.imports_syntax import extract_imports

_CLASS_KINDS = frozenset({"class", "interface", "struct", "enum", "trait"})
_COMMENT_TYPES = frozenset({"comment", "line_comment", "block_comment"})
# Nodes that wrap a definition, so its leading comment is a sibling of the wrapper.
_WRAPPERS = frozenset(
    {
        "export_statement",
        "lexical_declaration",
        "variable_declaration",
        "decorated_definition",
        "template_declaration",
        "function_definition",
        "declaration",
        "field_declaration",
        "ambient_declaration",
        "type_declaration",
        "const_declaration",
        "var_declaration",
    }
)
# For `obj.name(...)`: the parent node type of the name and the field that holds `obj`.
_RECEIVER_FIELD = {
    "attribute": "object",  # python
    "member_expression": "object",  # js/ts
    "selector_expression": "operand",  # go
    "field_expression": "value",  # rust (c/c++ use "argument", handled below)
    "method_invocation": "object",  # java
    "scoped_identifier": "path",  # rust Foo::new
    "qualified_identifier": "scope",  # c++ Foo::bar
}
# Bare references to these Python names always mean the builtin (a repository definition of
# `open` or `list` cannot be reached without an import), so they are not recorded.
_PY_BUILTINS = frozenset(dir(builtins)) | frozenset({"self", "cls"})
_SIG_MAX = 240
_RECEIVER_MAX = 60
_WORD = re.compile(r"[A-Za-z_$][\w$]*")
_WS = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
_BLOCK_START = re.compile(r"^(?:[-*+]\s|\d+[.)]\s|:|@|>>>|Args:|Returns:|Raises:|Example)")


_Role = tuple[str, str, str]  # (role, capture name, kind), e.g. ("ref", "reference.call", "call")


def _learn_role(captures: dict) -> _Role:
    """What a query pattern produces, from the capture names of one of its matches."""
    for key in captures:
        if key.startswith("definition."):
            return ("def", key, key[11:])
        if key.startswith("reference."):
            return ("ref", key, key[10:])
        if key == "import":
            return ("import", key, "")
        if key in ("scope.class", "scope.namespace"):
            return ("scope", key, key[6:])
    return ("skip", "", "")


# Per language, the role of each pattern index, learnt from the pattern's first match.
_ROLES: dict[str, list[_Role | None]] = {}


def count_lines(data: bytes) -> int:
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def extract_facts(data: bytes, language: str) -> FileFacts:
    """Parse `data` as `language` and return its facts. Never raises for bad source text."""
    facts = FileFacts(language=language, lines=count_lines(data))
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        facts.decode_replaced = True
    try:
        _extract_into(facts, data, language)
    except Exception as exc:  # a grammar or extraction bug must not break the whole map
        facts.failure = f"{type(exc).__name__}: {exc}"
    return facts


def _extract_into(facts: FileFacts, data: bytes, language: str) -> None:
    import tree_sitter

    tree = languages.parser(language).parse(data)
    root = tree.root_node
    if root.has_error:
        facts.parse_errors, facts.first_error_line = _count_errors(root)
    query = languages.query(language)
    roles = _ROLES.get(language)
    if roles is None:
        roles = _ROLES[language] = [None] * query.pattern_count

    raw_defs: list[tuple[int, int, str, str, object, object]] = []
    raw_scopes: list[tuple[int, int, str, str]] = []
    raw_refs: list[tuple[int, object, str]] = []
    import_nodes = []
    seen_defs: set[int] = set()
    for pattern_index, caps in tree_sitter.QueryCursor(query).matches(root):
        learnt = roles[pattern_index]
        if learnt is None:
            learnt = roles[pattern_index] = _learn_role(caps)
        role, key, kind = learnt
        if role == "ref":
            names = caps.get("name")
            if names:
                raw_refs.append((names[0].start_byte, names[0], kind))
        elif role == "def":
            names = caps.get("name")
            if not names:
                continue
            name_node = names[0]
            node = caps[key][0]
            if name_node.start_byte in seen_defs:
                continue  # e.g. a Rust method matches both the method and function patterns
            seen_defs.add(name_node.start_byte)
            span, kind = _definition_span(node, kind, language)
            docs = caps.get("doc")
            raw_defs.append(
                (
                    span.start_byte,
                    span.end_byte,
                    kind,
                    _name_text(name_node),
                    (node, span, name_node),
                    docs,
                )
            )
            scope = caps.get("local.scope")  # c++ `Foo::bar` defined outside its class
            if scope:
                raw_scopes.append((span.start_byte, span.end_byte, _name_text(scope[0]), "class"))
        elif role == "import":
            import_nodes.append(caps["import"][0])
        elif role == "scope":
            node = caps[key][0]
            name = caps.get("scope.name")
            if name:
                raw_scopes.append((node.start_byte, node.end_byte, _last_word(name[0].text), kind))

    def_name_bytes = {entry[4][2].start_byte for entry in raw_defs}
    facts.definitions, spans = _qualify(raw_defs, raw_scopes, data, language)
    facts.references = _references(raw_refs, def_name_bytes, spans,
                                   _PY_BUILTINS if language == "python" else frozenset())
    facts.imports = extract_imports(import_nodes, language)
    facts.doc = _module_doc(root, language)


def _count_errors(root) -> tuple[int, int]:
    """Count ERROR and MISSING nodes (only called for trees that have any)."""
    count, first = 0, 0
    cursor = root.walk()
    visited_children = False
    while True:
        node = cursor.node
        if not visited_children:
            if node.is_error or node.is_missing:
                count += 1
                if not first:
                    first = node.start_point[0] + 1
                # do not descend into an error node: its children are part of the same error
            elif node.has_error and cursor.goto_first_child():
                continue
        if cursor.goto_next_sibling():
            visited_children = False
            continue
        if not cursor.goto_parent():
            break
        visited_children = True
    return count, first


def _name_text(node) -> str:
    return _identifier(node.text)


def _identifier(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    if len(text) > 80 or not text.isidentifier():
        words = _WORD.findall(text)
        return words[-1] if words else text[:80]
    return text


def _last_word(raw: bytes) -> str:
    words = _WORD.findall(raw.decode("utf-8", "replace"))
    # generics and paths: `impl<T> Foo<T>` -> Foo, `a::b::C` -> C
    for word in words:
        if word[0].isupper():
            return word
    return words[-1] if words else ""


def _definition_span(node, kind: str, language: str):
    """The node whose extent is the definition, and the refined kind.

    C/C++ tags capture the function *declarator*; the definition is its function_definition
    (or a declaration, for prototypes).
    """
    if language in ("c", "cpp") and node.type == "function_declarator":
        outer = node.parent
        while outer is not None and outer.type in ("pointer_declarator", "reference_declarator"):
            outer = outer.parent
        if outer is not None and outer.type == "function_definition":
            return outer, kind
        if outer is not None and outer.type in ("declaration", "field_declaration"):
            return outer, "declaration" if kind == "function" else kind
    return node, kind


def _qualify(raw_defs, raw_scopes, data: bytes, language: str):
    """Give each definition its qualified name and kind from nesting; compute signature and doc.

    Returns the definitions and, for reference scoping, their sorted spans
    (start_byte, end_byte, qname) parallel to a list of starts.
    """
    # A scope that spans exactly a definition (c++ `Foo::bar`) must enclose it: scopes sort first.
    entries = [
        (start, -end, 1, kind, name, extra, docs)
        for start, end, kind, name, extra, docs in raw_defs
    ]
    entries.extend(
        (start, -end, 0, kind, name, None, None) for start, end, name, kind in raw_scopes
    )
    entries.sort(key=lambda item: (item[0], item[1], item[2]))
    stack: list[tuple[int, str, str]] = []  # (end_byte, qname, kind)
    definitions: list[Definition] = []
    spans: list[tuple[int, int, str]] = []
    for start, neg_end, is_definition, kind, name, extra, docs in entries:
        end = -neg_end
        while stack and stack[-1][0] <= start:
            stack.pop()
        parent_q = stack[-1][1] if stack else ""
        parent_kind = stack[-1][2] if stack else ""
        if not is_definition:
            qname = f"{parent_q}.{name}" if parent_q else name
            stack.append((end + 1, qname, kind))  # +1: still open for a definition ending here
            continue
        node, span, _name_node = extra
        if kind == "method" and language == "go":
            receiver = _go_receiver(node)
            if receiver:
                parent_q = receiver
        if kind == "function" and parent_kind in _CLASS_KINDS:
            kind = "method"
        elif kind == "method" and language == "rust" and parent_kind not in _CLASS_KINDS:
            kind = "function"  # the shipped query calls any fn in a `mod { }` body a method
        qname = f"{parent_q}.{name}" if parent_q else name
        signature, body = _signature(node, span, data, language)
        doc = _doc(node, span, body, docs, language)
        definitions.append(
            Definition(
                kind, name, qname, signature, doc, span.start_point[0] + 1, span.end_point[0] + 1
            )
        )
        spans.append((start, end, qname))
        stack.append((end, qname, kind))
    return definitions, spans


def _go_receiver(node) -> str:
    receiver = node.child_by_field_name("receiver")
    if receiver is None:
        return ""
    return _last_word(receiver.text)


def _signature(node, span, data: bytes, language: str):
    """Declaration text up to the body, whitespace-collapsed. Returns (signature, body node)."""
    body = node.child_by_field_name("body")
    if body is None and node.type == "variable_declarator":
        value = node.child_by_field_name("value")
        if value is not None:
            body = value.child_by_field_name("body")
    if body is None and span is not node and span.type == "function_definition":
        body = span.child_by_field_name("body")
    start = span.start_byte
    end = body.start_byte if body is not None else 0
    if language == "python" and body is not None and b"#" in data[start:end]:
        # a comment between the colon and the body: cut at the colon token itself
        colons = [c for c in node.children if c.type == ":" and c.end_byte <= end]
        if colons:
            end = colons[-1].start_byte
    if body is not None and end > start:
        raw = data[start:end]
    else:
        raw = data[start : min(span.end_byte, start + 400)].split(b"\n", 1)[0]
    text = raw.decode("utf-8", "replace")
    if "\n" in text or "  " in text or "\t" in text:
        # a signature spread over lines: "def f(\n    a,\n    b,\n)" -> "def f(a, b)"
        text = _WS.sub(" ", text).replace("( ", "(").replace(", )", ")").replace(" )", ")")
    text = text.strip().rstrip("{").rstrip()
    if language == "python" and body is not None:
        text = text.rstrip(":")
    if len(text) > _SIG_MAX:
        text = text[: _SIG_MAX - 1] + "…"
    return text, body


def _doc(node, span, body, docs, language: str) -> str:
    if language == "python":
        if body is None or body.named_child_count == 0:
            return ""
        first = body.named_child(0)
        if first.type == "expression_statement" and first.named_child_count:
            string = first.named_child(0)
            if string.type == "string":
                return _first_line(_strip_string(string.text.decode("utf-8", "replace")))
        return ""
    if docs:
        return _first_line(_strip_comment(docs[0].text.decode("utf-8", "replace")))
    anchor = span
    parent = anchor.parent
    while parent is not None and parent.type in _WRAPPERS:
        anchor, parent = parent, parent.parent
    prev = anchor.prev_named_sibling
    first_comment = None
    row = anchor.start_point[0]
    while prev is not None and prev.type in _COMMENT_TYPES and prev.end_point[0] >= row - 1:
        first_comment = prev
        row = prev.start_point[0]
        prev = prev.prev_named_sibling
    if first_comment is None:
        return ""
    return _first_line(_strip_comment(first_comment.text.decode("utf-8", "replace")))


def _strip_string(text: str) -> str:
    text = text.lstrip("rbuRBUfF")
    for quote in ('"""', "'''", '"', "'"):
        if text.startswith(quote):
            return text[len(quote) : -len(quote) or None]
    return text


def _strip_comment(text: str) -> str:
    lines = []
    for line in text.splitlines():
        line = line.strip()
        for prefix in ("/**", "/*!", "/*", "///", "//!", "//", "*/", "*", "#"):
            if line.startswith(prefix):
                line = line[len(prefix) :]
                break
        lines.append(line.removesuffix("*/").strip())
    return "\n".join(lines)


def _first_line(text: str) -> str:
    """The first sentence of the first paragraph (a docstring's summary), at most 200 chars.

    A summary wrapped over two lines is joined; the text stops at the first sentence end."""
    paragraph: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            if paragraph:
                break
            continue
        if paragraph and _BLOCK_START.match(line):
            break  # a list, a field (":param"), a doctest: not part of the summary sentence
        paragraph.append(line)
        if _SENTENCE_END.search(line):
            break
    joined = " ".join(paragraph)
    match = _SENTENCE_END.search(joined)
    if match:
        joined = joined[: match.start() + 1]
    return joined if len(joined) <= 200 else joined[:199] + "…"


def _references(raw_refs, def_name_bytes: set[int], spans, builtin: frozenset[str]
                ) -> list[Reference]:
    starts = [span[0] for span in spans]
    parents = _span_parents(spans)
    out: list[Reference] = []
    append = out.append
    seen: set[tuple[int, str]] = set()
    names: dict[bytes, str] = {}  # identifiers repeat: decode each once
    for start_byte, name_node, kind in raw_refs:
        key = (start_byte, kind)
        if start_byte in def_name_bytes or key in seen:
            continue
        seen.add(key)
        raw = name_node.text
        name = names.get(raw)
        if name is None:
            name = names[raw] = _identifier(raw)
        receiver = _receiver(name_node) if kind == "call" else ""
        if not receiver and name in builtin:
            continue
        index = bisect.bisect_right(starts, start_byte) - 1
        while index >= 0 and spans[index][1] <= start_byte:
            index = parents[index]
        append(Reference(name, name_node.start_point[0] + 1, kind,
                         spans[index][2] if index >= 0 else "", receiver))
    return out


def _span_parents(spans) -> list[int]:
    parents: list[int] = []
    stack: list[int] = []
    for index, (start, _end, _q) in enumerate(spans):
        while stack and spans[stack[-1]][1] <= start:
            stack.pop()
        parents.append(stack[-1] if stack else -1)
        stack.append(index)
    return parents


def _receiver(name_node) -> str:
    parent = name_node.parent
    if parent is None:
        return ""
    kind = parent.type
    field = _RECEIVER_FIELD.get(kind)
    if field is None:
        return ""
    obj = parent.child_by_field_name(field)
    if obj is None and kind == "field_expression":
        obj = parent.child_by_field_name("argument")  # c/c++
    if obj is None or obj.start_byte == name_node.start_byte:
        return ""
    if obj.end_byte - obj.start_byte > _RECEIVER_MAX:
        return "…"
    return obj.text.decode("utf-8", "replace")


def _module_doc(root, language: str) -> str:
    if root.named_child_count == 0:
        return ""
    first = root.named_children[0]
    if language == "python":
        if first.type == "expression_statement" and first.named_child_count:
            string = first.named_children[0]
            if string.type == "string":
                return _first_line(_strip_string(string.text.decode("utf-8", "replace")))
        return ""
    if first.type in _COMMENT_TYPES:
        return _first_line(_strip_comment(first.text.decode("utf-8", "replace")))
    return ""


__all__ = ["extract_facts", "count_lines", "syntax_errors", "Import"]


def syntax_errors(data: bytes, language: str) -> tuple[int, int]:
    """(number of ERROR/MISSING nodes, first error line) of `data` parsed as `language`."""
    root = languages.parser(language).parse(data).root_node
    return _count_errors(root) if root.has_error else (0, 0)
