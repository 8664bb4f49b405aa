"""Definitions as units of editing (tools/symbols.py), the imports a Python edit needs
(tools/pyimports.py), and what counts as changing code (tools/samecode.py)."""

from __future__ import annotations

import importlib.util

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sleepcoder.tools import pyimports
from sleepcoder.tools.samecode import same_code
from sleepcoder.tools.symbols import (
    Anchor,
    SymbolError,
    body_statements,
    definitions,
    import_block,
    insert_definition,
    locate,
    new_stubs,
    replace_definition,
    text_of,
)

MODULE = '''"""Doc."""

from __future__ import annotations

import os
from dataclasses import dataclass


def top(a):
    return a


@dataclass
class Item:
    """An item."""

    name: str

    def value(self) -> int:
        """Its value."""
        total = 1
        return total

    @property
    def label(self):
        return self.name


def last():
    pass
'''


def test_definitions_include_their_decorators():
    spans = {d.qname: d for d in definitions(MODULE, "python")}
    assert spans["Item"].start_line == 13 and spans["Item"].header_line == 14
    assert spans["Item.label"].start_line == 24 and spans["Item.label"].header_line == 25
    assert spans["Item.label"].indent == "    "
    assert text_of(MODULE, spans["Item.label"]).startswith("    @property\n    def label")


def test_locate_by_tail_and_ambiguity():
    assert locate(MODULE, "python", "value").qname == "Item.value"
    with pytest.raises(SymbolError, match="no definition"):
        locate(MODULE, "python", "missing")
    twice = "class A:\n    def f(self):\n        pass\n\n\nclass B:\n    def f(self):\n" \
            "        pass\n"
    with pytest.raises(SymbolError, match="2 definitions"):
        locate(twice, "python", "f")


def test_a_name_defined_again_locates_the_definition_it_is_bound_to():
    """black-136: `gen` is defined twice in tests/expression.py; the edit was not tried."""
    again = ("from typing import overload\n\n\n@overload\ndef f(x: int) -> int: ...\n\n\n"
             "def f(x):\n    return x\n")
    span = locate(again, "python", "f")
    assert span.header_line == 8 and text_of(again, span).startswith("def f(x):")


BASE = "def kept():\n    return 1\n"


@pytest.mark.parametrize("added,stubs", [
    ("def later():\n    # the implementation goes here\n    pass\n", ["later"]),
    ("def later():\n    \"\"\"Doc.\"\"\"\n    ...\n", ["later"]),
    ("class Later:\n    def run(self):\n        pass\n", ["Later.run"]),
    ("class LaterError(Exception):\n    pass\n", []),
    ("@hookspec\ndef later(x):\n    \"\"\"A plugin hook: a docstring is its body.\"\"\"\n", []),
    ("def later():\n    raise NotImplementedError\n", []),
    ("def later(parts):\n    \"\".join(parts)\n", []),
    ("@abstractmethod\ndef later(self):\n    ...\n", []),
    # an overload with its implementation is complete; a lone one is a placeholder
    ("@typing.overload\ndef later(x: int) -> int: ...\n@typing.overload\n"
     "def later(x: str) -> str: ...\ndef later(x):\n    return x\n", []),
    ("@typing.overload\ndef later(x: int) -> int: ...\n", ["later"]),
    ("class K:\n    @overload\n    def m(self, x: int) -> int: ...\n    def n(self):\n"
     "        return 1\n", ["K.m"]),
    ("@pytest.mark.parametrize('a', [1])\ndef test_later(a):\n    # Your test here\n    pass\n",
     ["test_later"]),
    ("@console.command()\ndef later():\n    pass\n", ["later"]),
])
def test_a_new_function_with_only_a_placeholder_body_is_a_stub(added, stubs):
    assert new_stubs(BASE, BASE + "\n\n" + added, "python") == stubs


def test_a_file_that_holds_stubs_by_design_may_get_more():
    protocol = "class Sink(Protocol):\n    def write(self, data: bytes) -> None: ...\n"
    assert new_stubs(protocol, protocol + "    def flush(self) -> None: ...\n",
                     "python") == []
    js = "function kept() { return 1; }\n"
    assert new_stubs(js, js + "class K { m() { /* todo */ } }\n", "javascript") == ["K.m"]
    assert new_stubs(js, js + "class K { m() {} }\n", "javascript") == []  # a no-op


@given(st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True),
       st.sampled_from(["return {v}", "x = {v}\n    return x", "print({v})"]),
       st.sampled_from(["pass", "...", '"""Doc."""', "# todo\n    pass"]))
def test_a_body_that_does_something_is_never_a_stub_and_a_bare_one_always_is(name, body,
                                                                             stub):
    added = f"\n\ndef f_{name}(v):\n    {body.format(v='v')}\n"
    assert new_stubs(BASE, BASE + added, "python") == []
    assert new_stubs(BASE, BASE + added.replace(body.format(v="v"), stub),
                     "python") == [f"f_{name}"]


def test_replace_reindents_and_keeps_the_rest():
    span = locate(MODULE, "python", "Item.value")
    new = replace_definition(MODULE, span, "def value(self) -> int:\n    return 2\n")
    assert "    def value(self) -> int:\n        return 2\n\n    @property" in new
    assert new.startswith('"""Doc."""') and new.endswith("def last():\n    pass\n")


def test_insert_after_in_class_and_at_end_with_blank_lines():
    after = insert_definition(MODULE, "python", Anchor("after", "top"), "def new():\n  pass\n")
    assert "    return a\n\n\ndef new():\n    pass\n\n\n@dataclass" in after
    inside = insert_definition(MODULE, "python", Anchor("in", "Item"),
                               "def m(self):\n    return 1\n")
    assert "        return self.name\n\n    def m(self):\n        return 1\n\n\ndef last" in inside
    end = insert_definition(MODULE, "python", Anchor("end"), "def z():\n    pass")
    assert end.endswith("def last():\n    pass\n\n\ndef z():\n    pass\n")
    with pytest.raises(SymbolError, match="not a class"):
        insert_definition(MODULE, "python", Anchor("in", "top"), "def m(self):\n    pass\n")


def test_body_statements_and_import_block():
    span = locate(MODULE, "python", "Item.value")
    assert [s.first for s in body_statements(MODULE, "python", span)] == [
        '"""Its value."""', "total = 1", "return total"]
    assert import_block(MODULE, "python") == (3, 6)
    assert import_block('"""Doc."""\n\nx = 1\n', "python") == (2, 1)


def test_javascript_definitions_with_export():
    source = "import x from './x';\n\nexport function a() {\n  return 1;\n}\n\nclass B {\n" \
             "  m() {\n    return 2;\n  }\n}\n"
    spans = {d.qname: d for d in definitions(source, "javascript")}
    assert spans["a"].start_line == 3 and spans["B.m"].indent == "  "
    new = replace_definition(source, spans["B.m"], "m() {\n  return 3;\n}")
    assert "  m() {\n    return 3;\n  }\n" in new
    assert import_block(source, "javascript") == (1, 1)


def test_unresolved_names_know_scopes():
    code = ("import os\n\n\ndef f(a, *, b=1):\n    c = [x for x in a]\n    return g(c, os, "
            "b, len(a), Missing)\n\n\nclass K:\n    def m(self):\n        return K, helper\n")
    assert pyimports.unresolved(code) == {"g", "Missing", "helper"}
    assert pyimports.unresolved("def f(:\n") is None
    assert pyimports.unresolved("from x import *\nf()\n") is None


def test_providers_prefer_the_plan_then_how_others_import_then_single_definition():
    from collections import Counter

    found = pyimports.providers(
        {"low_stock", "json", "Helper", "ambiguous", "Self"}, "pkg/cli.py",
        {"low_stock": "pkg/report.py"}, {"json": Counter({"flask.json": 3, "json": 1})},
        {"Helper": ["pkg/util.py", "tests/test_util.py"], "ambiguous": ["a.py", "b.py"],
         "Self": ["pkg/cli.py"]})
    assert found == {"low_stock": "pkg.report", "json": "flask.json", "Helper": "pkg.util"}


def test_add_imports_extends_an_existing_line_or_adds_one():
    source = "from a import b\nimport os\n\nx = 1\n"
    assert pyimports.add_imports(source, {"c": "a"}) == "from a import b, c\nimport os\n\nx = 1\n"
    assert pyimports.add_imports(source, {"d": "e.f"}) == \
        "from a import b\nimport os\nfrom e.f import d\n\nx = 1\n"
    assert pyimports.module_of("src/pkg/__init__.py") == "pkg"


def test_same_code_ignores_comments_and_layout_only():
    assert same_code("def f():\n    return 1\n", "def f():  # why\n\n    return 1\n", "python")
    assert not same_code("def f():\n    return 1\n", "def f():\n    return 2\n", "python")
    assert same_code("function f() { return 1; }", "function f() {\n  // c\n  return 1;\n}",
                     "javascript")


@given(st.lists(st.sampled_from(["x = 1", "y = x", "print(x)", "# note", "", "z = [x]"]),
                min_size=1, max_size=8))
def test_inserted_definition_is_found_where_it_was_put(body):
    code = "def fresh():\n" + "".join(f"    {line}\n" for line in body) + "    return None\n"
    for anchor in (Anchor("after", "top"), Anchor("in", "Item"), Anchor("end")):
        new = insert_definition(MODULE, "python", anchor, code)
        found = [d.qname for d in definitions(new, "python")]
        assert ("Item.fresh" if anchor.where == "in" else "fresh") in found
        assert len(found) == len(definitions(MODULE, "python")) + 1


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="no llama.cpp")
def test_every_grammar_compiles():
    from llama_cpp import LlamaGrammar
    from sleepcoder.agent.solve import grammars

    for text in (grammars.code_block("python"), grammars.code_block_or_none(),
                 grammars.choice(["0", "1"]), grammars.votes(["a.py", 'we"ird.py']),
                 grammars.search_replace(), grammars.insertions("python"),
                 grammars.plan(["a.py"], ["f", "C.m"]), grammars.plan([], []),
                 grammars.header_or_none("python", "f", 1),
                 grammars.definition_block("python", 'we"ird'),
                 grammars.header_or_none("typescript", 'we"ird', 3)):
        LlamaGrammar.from_string(text, verbose=False)


def test_a_new_python_definition_must_open_with_its_planned_name():
    """httpx-73 at a52809a: asked to add `handle_cookies` after `class URL`, the 1.5B wrote
    `class URL:` again until the length limit."""
    from sleepcoder.agent.solve import grammars

    text = grammars.definition_block("python", "handle_cookies")
    sig = next(line for line in text.splitlines() if line.startswith("sig ::="))
    assert '("def " | "class ") "handle_cookies"' in sig and '("async ")?' in sig
    # the name ends there: `handle_cookies_v2` would be a prefix match, renamed afterwards
    assert sig.split('"handle_cookies"')[1].startswith(" [(:\\[ ] ")
    assert text.startswith('root ::= "```python\\n" deco{0,8} sig code-line')
    # other languages: any one block (their definitions take many forms)
    assert grammars.definition_block("typescript", "f") == grammars.code_block("typescript")
    # a new constant is an assignment, not a def or class
    assert grammars.definition_block("python", "DEFAULT_TIMEOUT") == grammars.code_block("python")


def test_the_plan_grammar_names_each_file_once_and_in_order():
    """httpx-73: free to name any file again, the 1.5B wrote `EDIT httpcore/models.py` eight
    times and planned no other file."""
    from sleepcoder.agent.solve import grammars

    text = grammars.plan(["a.py", "b.py", "a.py", "c.py"], ["f"])
    root = text.splitlines()[0]
    assert root == ("root ::= edit0 edit1? edit2? create{0,3} | edit1 edit2? create{0,3} "
                    "| edit2 create{0,3} | create{1,3}")
    edits = [line for line in text.splitlines() if line.startswith("edit")]
    assert [line.split('"')[3] for line in edits] == ["a.py", "b.py", "c.py"]
    assert all(line.endswith("unit{0,3}") for line in edits)
    assert grammars.plan([], []).splitlines()[0] == "root ::= create{1,3}"


def test_lines_inserted_apart_get_blank_lines_but_not_under_a_block_opener():
    from sleepcoder.tools.symbols import insert_lines

    source = "class A:\n    def f(self):\n        return 1\n    def g(self):\n        pass\n"
    method = "def h(self):\n    return 2\n"
    assert insert_lines(source, 3, method, "    ", apart=True) == (
        "class A:\n    def f(self):\n        return 1\n\n    def h(self):\n        return 2\n"
        "\n    def g(self):\n        pass\n")
    assert insert_lines(source, 1, method, "    ", apart=True).startswith(
        "class A:\n    def h(self):\n        return 2\n\n    def f(self):")
    assert insert_lines(source, 3, method, "    ") == (  # not apart: as before
        "class A:\n    def f(self):\n        return 1\n    def h(self):\n        return 2\n"
        "    def g(self):\n        pass\n")


def test_the_end_of_a_script_is_above_its_entry_point():
    source = ("import unittest\n\n\nclass T(unittest.TestCase):\n    def test_a(self):\n"
              "        pass\n\n\nif __name__ == '__main__':\n    # run\n    unittest.main()\n")
    from sleepcoder.tools.symbols import main_guard

    assert main_guard(source) == 9
    new = insert_definition(source, "python", Anchor("end"), "def helper():\n    return 1\n")
    assert new.index("def helper") < new.index("if __name__")
    assert "        pass\n\n\ndef helper():\n    return 1\n\n\nif __name__" in new
    # a guard followed by more top-level code is not the end of the file
    assert main_guard(source + "x = 1\n") == 0
    assert main_guard("def f():\n    pass\n") == 0
    # a form feed earlier in the file is no line break for tree-sitter or insertion
    odd = source.replace("import unittest\n", "import unittest  # \x0c page\n")
    new = insert_definition(odd, "python", Anchor("end"), "def c():\n    return 1\n")
    assert new.index("def c") < new.index("if __name__")
