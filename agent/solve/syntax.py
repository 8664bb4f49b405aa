"""The check every edit passes: the edited file may not have more tree-sitter errors than
before (when it does, the model is told where, in terms of the lines it changed), a Python
file Python parsed must still parse, and no function whose body is only a placeholder may be
added."""

from __future__ import annotations

import ast
import difflib

from sleepcoder.tools.languages import language_for_path
from sleepcoder.tools.parse import syntax_errors
from sleepcoder.tools.symbols import new_stubs


class EditRejected(ValueError):
    """An answer that cannot be used; the message goes back to the model."""


def check_syntax(path: str, original: str, new: str) -> None:
    language = language_for_path(path)
    if language is None:
        return
    before, _ = syntax_errors(original.encode(), language)
    after, line = syntax_errors(new.encode(), language)
    if after <= before:
        if language == "python":
            _python_parses(path, original, new)
        stubs = new_stubs(original, new, language)
        if stubs:
            raise EditRejected(
                f"`{stubs[0]}` has a placeholder body (only `pass`, `...`, a docstring or "
                "comments): write the code that does what the plan says")
        return
    lines = new.splitlines()
    start, end = _changed_lines(original, new)
    if start and not start - 3 <= line <= end + 3:
        # tree-sitter often marks the start of the enclosing block (even line 1) when a bracket,
        # string or block is left open; the changed lines are where the mistake is
        raise EditRejected(
            f"the edit introduces a syntax error in {path}: the parser loses track from line "
            f"{line}, and the lines your edit changed ({start}-{end}) are the likely cause "
            f"(an unclosed bracket or string, a missing colon, a bad indent):\n"
            f"{_numbered(lines, start - 1, end + 1)}")
    raise EditRejected(f"the edit introduces a syntax error near line {line} of {path}:\n"
                       f"{_numbered(lines, line - 2, line + 2)}")


def _python_error(source: str) -> SyntaxError | None:
    """Python's own verdict on `source` (None when it parses, or when it cannot be asked:
    nesting too deep, a NUL byte)."""
    try:
        ast.parse(source)
    except SyntaxError as exc:
        return exc
    except (ValueError, RecursionError, MemoryError):
        return None
    return None


def _python_parses(path: str, original: str, new: str) -> None:
    """tree-sitter recovers from what Python refuses: rich-65 at d2374aa landed a method with
    no body (`def render_table_with_hyperlinks(...) -> Table:` and then a blank line), which
    tree-sitter parsed without an error. A file Python parsed before must parse after (one it
    did not, such as Python 2 code, is left to tree-sitter)."""
    error = _python_error(new)
    if error is None or _python_error(original) is not None:
        return
    line = error.lineno or 1
    why = error.msg
    if why.startswith("expected an indented block"):
        # black-136 at a52809a: a new test whose body was two comments, answered three times
        # to Python's message alone
        why += " (a body of only comments is no body: write the code that does what the " \
               "plan says)"
    raise EditRejected(f"the edit makes {path} invalid Python at line {line}: {why}:\n"
                       f"{_numbered(new.splitlines(), line - 3, line + 1)}")


def changed_spans(original: str, new: str) -> list[tuple[int, int]]:
    """The runs of lines of `new` that differ from `original`, as 0-based [start, end) spans
    (an empty span where lines were only removed)."""
    matcher = difflib.SequenceMatcher(None, original.splitlines(), new.splitlines(),
                                      autojunk=False)
    return [(j1, j2) for tag, _i1, _i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]


def _changed_lines(original: str, new: str) -> tuple[int, int]:
    """First and last line (1-based) of `new` that differ from `original`; (0, 0) if none."""
    spans = changed_spans(original, new)
    if not spans:
        return 0, 0
    return spans[0][0] + 1, max(spans[-1][1], spans[-1][0] + 1)


def _numbered(lines: list[str], first: int, last: int) -> str:
    """Lines first..last (1-based, clipped), each with its number."""
    first, last = max(1, first), min(len(lines), last)
    return "\n".join(f"{n:>5} | {lines[n - 1]}" for n in range(first, last + 1))


