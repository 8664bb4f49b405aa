"""Whether two versions of source text are the same code: equal once comments, blank lines and
layout are set aside. An edit that only moves whitespace or rewords a comment, or that echoes
the original back, changes no code and must not count as an edit."""

from __future__ import annotations

import io
import tokenize

from sleepcoder.tools import languages

_LAYOUT = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
           tokenize.ENCODING, tokenize.ENDMARKER}
_COMMENTS = frozenset({"comment", "line_comment", "block_comment"})


def code_tokens(text: str, language: str | None) -> list[str] | None:
    """The code's tokens without comments and layout; None when they cannot be read."""
    if language == "python":
        try:
            tokens = tokenize.generate_tokens(io.StringIO(text).readline)
            return [t.string for t in tokens if t.type not in _LAYOUT]
        except (tokenize.TokenError, IndentationError, SyntaxError):
            pass  # a fragment (a method without its class): the tree-sitter leaves below
    if language is None:
        return text.split()
    root = languages.parser(language).parse(text.encode("utf-8", "surrogateescape")).root_node
    out: list[str] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type in _COMMENTS:
            continue
        if node.child_count == 0:
            out.append(node.text.decode("utf-8", "replace"))
        else:
            stack.extend(reversed(node.children))
    return out


def same_code(before: str, after: str, language: str | None) -> bool:
    """True when `after` changes no code of `before` (only comments or layout, or nothing)."""
    if before == after:
        return True
    left, right = code_tokens(before, language), code_tokens(after, language)
    return left is not None and left == right
