"""New lines that open with `elif` go at the end of an `if` chain of the definition, without
asking the model where (it put the README example's new `elif` after `args = ...`)."""

from __future__ import annotations

import ast

from hypothesis import given, settings
from hypothesis import strategies as st
from sleepcoder.tools.symbols import elif_place, insert_lines, locate

DISPATCH = '''def main(argv=None):
    args = parse(argv)
    if args.verbose:
        print("verbose")
    try:
        if args.command == "add":
            add(args)
        elif args.command == "list":
            show(args)
    except KeyError:
        return 1
    return 0
'''

NEW = 'elif args.command == "low":\n    low(args)\n'


def place(source: str, answer: str = NEW, name: str = "main"):
    return elif_place(source, "python", locate(source, "python", name), answer)


def test_the_chain_with_most_branches_takes_the_elif_at_its_indentation():
    after, indent = place(DISPATCH)
    assert (after, indent) == (9, "        ")
    new = insert_lines(DISPATCH, after, NEW, indent)
    ast.parse(new)
    assert '            show(args)\n        elif args.command == "low":\n            low(args)\n' \
           '    except KeyError:' in new


def test_an_elif_goes_before_the_else_and_ties_go_to_the_shared_words():
    source = ('def f(mode, level):\n    if level > 3:\n        a()\n    if mode == "x":\n'
              '        b()\n    else:\n        c()\n')
    after, indent = place(source, 'elif mode == "y":\n    d()\n', "f")
    assert (after, indent) == (5, "    ")
    new = insert_lines(source, after, 'elif mode == "y":\n    d()\n', indent)
    ast.parse(new)
    assert '        b()\n    elif mode == "y":\n        d()\n    else:\n' in new


def test_no_elif_no_chain_or_another_language_is_left_to_the_model():
    assert place(DISPATCH, "print('x')\n") is None
    assert place("def f():\n    return 1\n", NEW, "f") is None
    assert place("def f():\n    def g(x):\n        if x:\n            pass\n    return g\n",
                 NEW, "f") is None  # a nested definition's chain is not this one's
    js = "function f(a) {\n  if (a) { b(); }\n}\n"
    assert elif_place(js, "javascript", locate(js, "javascript", "f"), NEW) is None


@settings(max_examples=60, deadline=None)
@given(branches=st.integers(0, 4), has_else=st.booleans(), depth=st.integers(0, 2),
       after_chain=st.booleans())
def test_the_elif_placed_always_parses(branches, has_else, depth, after_chain):
    pad = "    " * (depth + 1)
    lines = ["def f(x):"]
    for level in range(depth):
        lines.append("    " * (level + 1) + "for _ in range(2):")
    lines += [f"{pad}if x == 0:", f"{pad}    a = 0"]
    for n in range(branches):
        lines += [f"{pad}elif x == {n + 1}:", f"{pad}    a = {n + 1}"]
    if has_else:
        lines += [f"{pad}else:", f"{pad}    a = -1"]
    if after_chain:
        lines.append(f"{pad}a += 1")
    lines.append("    return 0")
    source = "\n".join(lines) + "\n"
    where = place(source, "elif x == 99:\n    a = 99\n", "f")
    assert where is not None and where[1] == pad
    new = insert_lines(source, where[0], "elif x == 99:\n    a = 99\n", where[1])
    tree = ast.parse(new)
    chain = [n for n in ast.walk(tree) if isinstance(n, ast.If)]
    assert any(isinstance(n.test, ast.Compare) and getattr(n.test.comparators[0], "value", 0)
               == 99 for n in chain)


def test_line_breaks_other_than_newline_do_not_shift_the_place():
    """From a hostile review at b4031c2: a form feed (a page break in old code) or a U+2028 in
    a string counted as a line break for the splice but not for tree-sitter."""
    for odd in ("\x0c\n", 'X = "a\u2028b"\n'):
        source = ("import os\n" + odd + 'def main(cmd):\n    if cmd == "a":\n        a()\n'
                  '    elif cmd == "b":\n        b()\n    return 1\n')
        after, indent = place(source)
        new = insert_lines(source, after, NEW, indent)
        ast.parse(new)
        assert '        b()\n    elif args.command == "low":\n        low(args)\n' in new
