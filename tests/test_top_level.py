"""New top-level lines for a planned file whose planned definitions all came back unchanged
(agent/solve/top_level.py): asked once, placed among the file's top-level statements, checked
like any edit, and recorded as `TOP-LEVEL` in a `partial` file."""

from __future__ import annotations

import ast

from hypothesis import given, settings
from hypothesis import strategies as st
from sleepcoder.agent.solve.run import start_solve
from sleepcoder.agent.solve.text_edit import insert
from sleepcoder.agent.solve.top_level import outline, places

from tests.test_solve import inventory  # noqa: F401
from tests.test_symbol_edit import options, script_plan

PLAN = ("EDIT inventory/report.py: a currency for money amounts\n"
        "  CHANGE format_money: a currency for money amounts\n")
ECHO = '```python\ndef format_money(amount: float) -> str:\n    return f"{amount:,.2f}"\n```'
REQUEST = "A module-level currency symbol for the reports"


def _script_echoes(scripted, top_level: str, place: str = "3") -> None:
    """Every definition question answered with the definition unchanged; the top-level
    question with `top_level`, the place question with `place`."""
    script_plan(scripted, PLAN)
    scripted.on(node="edit", contains="new top-level lines", reply=top_level)
    scripted.on(node="edit", contains="After which numbered place", reply=place)
    scripted.on(node="edit", reply=ECHO)


def _edit_of(result, path: str) -> dict:
    return next(e for e in result.record["edits"] if e["path"] == path)


def test_a_file_whose_planned_changes_all_echo_gets_its_new_top_level_lines(
        inventory, scripted):  # noqa: F811
    _script_echoes(scripted, '```python\nCURRENCY = "$"\n```')
    result = start_solve(inventory.root, REQUEST, options(edit_protocol="rewrite"))
    edit = _edit_of(result, "inventory/report.py")
    assert edit["status"] == "partial", edit
    units = {u["unit"]: u for u in edit["units"]}
    assert units["CHANGE format_money"]["status"] == "failed"
    assert units["TOP-LEVEL"]["status"] == "done"
    assert "after `from inventory.models import Inventory`" in units["TOP-LEVEL"]["what"]
    assert '+CURRENCY = "$"' in result.patch
    assert "+from inventory.models import Inventory\n+\n+CURRENCY" not in result.patch
    assert '\n from inventory.models import Inventory\n+CURRENCY = "$"\n' in result.patch
    # the places offered: after each top-level statement and at the end of the file
    asked = next(c.prompt for c in scripted.calls if "After which numbered place" in c.prompt)
    assert "1: after `\"\"\"Text reports about an inventory.\"\"\"`" in asked
    assert "after `def stock_table(inventory: Inventory) -> str:`" in asked
    assert asked.count("at the end of the file") == 1


def test_none_leaves_the_file_unedited_and_says_so(inventory, scripted):  # noqa: F811
    _script_echoes(scripted, "NONE")
    result = start_solve(inventory.root, REQUEST, options(edit_protocol="rewrite"))
    edit = _edit_of(result, "inventory/report.py")
    assert edit["status"] == "failed"
    assert "NONE: no new top-level lines either" in edit["error"]
    assert not result.patch


def test_top_level_lines_that_copy_the_file_or_break_it_are_refused(inventory,  # noqa: F811
                                                                      scripted):
    for reply, reason in (
            ("```python\nfrom inventory.models import Inventory\n```", "already in the file"),
            ("```python\nCURRENCY = (\n```", "syntax error"),
            ("```python\nCURRENCY = symbols.DOLLAR\n```", "symbols")):
        scripted.rules.clear()
        _script_echoes(scripted, reply)
        result = start_solve(inventory.root, REQUEST, options(edit_protocol="rewrite"))
        edit = _edit_of(result, "inventory/report.py")
        assert edit["status"] == "failed", (reply, edit)
        assert reason in edit["error"], (reply, edit["error"])
        assert not result.patch


def test_a_file_with_a_landed_change_gets_no_top_level_question(inventory,  # noqa: F811
                                                                 scripted):
    script_plan(scripted, PLAN + "  CHANGE stock_table: a currency for money amounts\n")
    scripted.on(node="edit", contains="Planned change of `stock_table`", reply=(
        '```python\ndef stock_table(inventory: Inventory) -> str:\n    return "$"\n```'))
    scripted.on(node="edit", reply=ECHO)
    result = start_solve(inventory.root, REQUEST, options(edit_protocol="rewrite"))
    assert _edit_of(result, "inventory/report.py")["status"] == "partial"
    assert not any("new top-level lines" in c.prompt for c in scripted.calls)


def test_a_long_file_is_outlined_by_its_top_level_lines():
    body = "".join(f"def f{i}(x):\n" + "    y = x\n" * 30 + "    return y\n\n\n"
                   for i in range(20))
    content = f'"""Doc."""\nimport os\n\nLIMIT = (\n    1,\n    2,\n    3,\n    4,\n)\n\n{body}'
    shown = outline(content, "m.py", "python")
    assert "def f0(x):" in shown and "def f19(x):" in shown
    assert "y = x" not in shown and "LIMIT = (" in shown and "    3," not in shown


BLOCK = st.sampled_from([
    "X = 1\n", "import os\n", "def f():\n    return 1\n", "class C:\n    a = 1\n",
    "@staticmethod\ndef g():\n    pass\n", "if True:\n    Y = 2\nelse:\n    Y = 3\n",
    "# a comment\n", "LIST = [\n    1,\n    2,\n]\n", '"""Doc."""\n'])


@settings(max_examples=60, deadline=None)
@given(blocks=st.lists(BLOCK, min_size=1, max_size=8), gaps=st.lists(
    st.sampled_from(["", "\n", "\n\n"]), min_size=8, max_size=8), data=st.data())
def test_new_lines_at_any_offered_place_keep_the_module_parsing(blocks, gaps, data):
    content = "".join(block + gap for block, gap in zip(blocks, gaps, strict=False))
    offered = places(content, "python", "")
    assert offered[-1].label == "at the end of the file"
    assert [p.after for p in offered] == sorted(p.after for p in offered)
    place = data.draw(st.sampled_from(offered))
    new = insert(content, place, "NEW_CONSTANT = 42\n")
    tree = ast.parse(new)
    assert any(isinstance(n, ast.Assign) and n.targets[0].id == "NEW_CONSTANT"
               for n in tree.body)
