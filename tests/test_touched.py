"""Which definitions a change touched (tools/touched.py), and how the per-file outcome of a run
is told to the user (sleepcoder/progress.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from sleepcoder.tools.parse import extract_facts
from sleepcoder.tools.touched import touched_definitions

from sleepcoder.progress import file_outcomes, model_hint

PY = '''import os


class Shelf:
    """A shelf."""

    def count(self):
        return 1

    def empty(self):
        return 2


def total():
    return 3
'''


def test_a_change_inside_a_method_names_the_method():
    assert touched_definitions(PY, PY.replace("return 1", "return 10"), "python") == \
        ["Shelf.count"]


def test_changes_in_several_places_are_listed_in_file_order():
    new = PY.replace("return 3", "return 30").replace("return 1", "return 10")
    assert touched_definitions(PY, new, "python") == ["Shelf.count", "total"]


def test_a_new_method_is_named_itself_not_its_class_nor_its_inner_functions():
    new = PY.replace("    def empty(self):", "    def fill(self):\n        def inner():\n"
                     "            pass\n        return inner\n\n    def empty(self):")
    assert touched_definitions(PY, new, "python") == ["Shelf.fill"]


def test_a_new_file_names_its_top_level_definitions():
    assert touched_definitions("", PY, "python") == ["Shelf", "total"]


def test_removed_lines_count_for_the_definition_they_were_in():
    assert touched_definitions(PY, PY.replace("        return 2\n", "        pass\n"),
                               "python") == ["Shelf.empty"]
    assert touched_definitions(PY, PY.replace("        return 2\n", ""), "python") == \
        ["Shelf.empty"]


def test_top_level_lines_and_unknown_languages_touch_no_definition():
    assert touched_definitions(PY, PY.replace("import os", "import os\nimport sys"),
                               "python") == []
    assert touched_definitions("a\n", "b\n", None) == []
    assert touched_definitions(PY, PY, "python") == []


def test_javascript_methods_are_found_too():
    old = "class Cart {\n  add(item) {\n    return 1;\n  }\n}\n"
    new = old.replace("return 1;", "return 2;")
    assert touched_definitions(old, new, "javascript") == ["Cart.add"]


body = st.lists(st.sampled_from(["x = 1", "return x", "pass", "", "y = [", "]"]), max_size=4)


@given(changes=st.lists(st.tuples(st.integers(0, 15), body), max_size=3))
def test_touched_names_are_definitions_of_the_new_content(changes):
    lines = PY.splitlines()
    for at, inserted in changes:
        indent = "        " if 6 <= at <= 11 else ""
        lines[at:at] = [indent + line if line else "" for line in inserted]
    new = "\n".join(lines) + "\n"
    names = touched_definitions(PY, new, "python")
    defined = {d.qname for d in extract_facts(new.encode(), "python").definitions}
    assert set(names) <= defined and len(names) == len(set(names))


RECORD = {
    "status": "partial", "model": "local/qwen2.5-coder-1.5b", "repository_files": 51,
    "plan": {"steps": [{"action": "edit", "path": "a.py", "what": "x"},
                       {"action": "edit", "path": "b.py", "what": "y"},
                       {"action": "create", "path": "c.py", "what": "z"},
                       {"action": "edit", "path": "d.py", "what": "w"}]},
    "edits": [{"path": "a.py", "action": "edit", "status": "done", "attempts": 1, "error": ""},
              {"path": "b.py", "action": "edit", "status": "failed", "attempts": 3,
               "error": "block 1: the SEARCH text was not found in b.py. The most similar\n"
                        "lines are ..."},
              {"path": "c.py", "action": "create", "status": "done", "attempts": 1,
               "error": ""}],
    "files": {"modified": ["a.py"], "added": [], "touched": {"a.py": ["f", "A.g"]}},
    "events": ["refused from the patch: c.py: a file the plan did not name"],
}


def test_each_planned_file_says_whether_it_was_changed_and_why_not():
    assert file_outcomes(RECORD) == [
        "a.py: edited; touches f, A.g",
        "b.py: not edited (after 3 attempts): block 1: the SEARCH text was not found in b.py. "
        "The most similar",
        "c.py: created, but left out of the patch: a file the plan did not name",
        "d.py: not edited: not attempted",
    ]
    stopped = {**RECORD, "status": "budget_exhausted"}
    assert file_outcomes(stopped)[-1] == "d.py: not edited: the budget ran out before this file"


def test_the_embedded_model_on_a_large_repository_gets_a_stronger_model_hint():
    assert "use a stronger one with --model" in model_hint(RECORD)
    assert model_hint({**RECORD, "repository_files": 50}) == ""
    assert model_hint({**RECORD, "model": "anthropic/claude"}) == ""
