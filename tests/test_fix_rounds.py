"""Fix rounds on definitions: the failing tests' tracebacks name the definitions this run
changed, and those are asked again as units, not the whole file as search/replace blocks."""

from __future__ import annotations

from sleepcoder.agent.solve.fixing import error_lines, failing_lines, fix_step
from sleepcoder.agent.solve.plan import Step
from sleepcoder.agent.solve.run import start_solve

from tests.test_solve import REQUEST, TESTS, inventory  # noqa: F401
from tests.test_symbol_edit import options

PYTEST = '''
=================================== FAILURES ===================================
___________________________________ test_low ___________________________________

    def test_low():
>       assert "A1" in low_stock(inv, 3)

tests/test_low.py:8:
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _

    def low_stock(inventory, threshold):
>       return "\\n".join(i.sku for i in inventory.items() if i.qty < threshold)
E       AttributeError: 'Item' object has no attribute 'qty'

inventory/report.py:30: AttributeError
_________________________________ test_words ___________________________________

    def test_words():
>       assert words() == 2
E       assert 1 == 2

tests/test_low.py:12: AssertionError
=========================== short test summary info ============================
FAILED tests/test_low.py::test_low - AttributeError: 'Item' object has no attribute 'qty'
'''

TRACEBACK = '''Traceback (most recent call last):
  File "/tmp/scratch-1/inventory/cli.py", line 44, in main
    print(low_stock(inventory, args.threshold))
  File "/tmp/scratch-1/inventory/report.py", line 31, in low_stock
    return total / count
ZeroDivisionError: division by zero
'''


def test_frames_are_read_from_pytest_and_python_tracebacks():
    assert failing_lines(PYTEST, "inventory/report.py") == [30]
    # a test that called failing code is not a fix target; one that failed itself is
    assert failing_lines(PYTEST, "tests/test_low.py") == [12]
    assert failing_lines(TRACEBACK, "inventory/report.py") == [31]
    assert failing_lines(TRACEBACK, "inventory/cli.py") == [44]
    assert failing_lines(TRACEBACK, "port.py") == []  # a path is matched by its parts
    assert error_lines(PYTEST) == ("AttributeError: 'Item' object has no attribute 'qty'; "
                                   "assert 1 == 2")
    assert error_lines(TRACEBACK) == "ZeroDivisionError: division by zero"


def test_only_definitions_the_run_changed_are_fixed():
    base = "def a():\n    return 1\n\n\ndef b():\n    return 2\n"
    current = "def a():\n    return 1\n\n\ndef b():\n    return 3\n"
    output = 'File "/x/m.py", line 2, in a\nFile "/x/m.py", line 6, in b\nValueError: no\n'
    fix = fix_step(Step("edit", "m.py", "w"), output, base, current)
    assert fix is not None and [u.name for u in fix.units] == ["b"]
    assert fix.units[0].what == "the tests fail: ValueError: no; change it so that they pass"
    unchanged = 'File "/x/m.py", line 2, in a\nValueError: no\n'
    assert fix_step(Step("edit", "m.py", "w"), unchanged, base, current) is None
    # a file the run created is all its own
    assert fix_step(Step("create", "m.py", "w"), unchanged, None, current) is not None


def test_a_failing_new_function_is_fixed_on_its_own_lines(inventory, scripted):  # noqa: F811
    """The README example at afed0ae: after the tests failed, every fix round asked for
    search/replace blocks on whole files and the 1.5B never copied a SEARCH right."""
    scripted.on(node="localize", reply="inventory/report.py: YES")
    scripted.on(node="plan", reply="EDIT inventory/report.py: low stock\n  ADD low_stock AFTER "
                                   "valuation_report: items under a threshold\n"
                                   "CREATE tests/test_low.py: test low_stock\n")
    scripted.on(node="edit", contains="the tests fail: AttributeError",
                reply="<<<<<<< SEARCH\n    return [i.sku for i in inventory.items() if i.qty < "
                      "threshold]\n=======\n    return [i.sku for i in inventory.items() if "
                      "i.quantity < threshold]\n>>>>>>> REPLACE\n")
    scripted.on(node="edit", contains="Planned new definition `low_stock`",
                reply="```python\ndef low_stock(inventory, threshold):\n    return [i.sku for i "
                      "in inventory.items() if i.qty < threshold]\n```")
    scripted.on(node="edit", contains="write the new file", reply=(
        "```python\nfrom inventory.models import Inventory, Item\nfrom inventory.report import "
        "low_stock\n\n\ndef test_low():\n    inventory = Inventory()\n    inventory.add(Item("
        "'A1', 'bolt', 2, 0.5))\n    assert low_stock(inventory, 3) == ['A1']\n```"))
    result = start_solve(inventory.root, REQUEST, options(test_cmd=TESTS))
    assert result.record["test"]["status"] == "passed", result.record["events"]
    assert "+    return [i.sku for i in inventory.items() if i.quantity < threshold]" \
        in result.patch
    report = next(e for e in result.record["edits"] if e["path"] == "inventory/report.py")
    assert [u.get("fix_round", False) for u in report["units"]] == [False, True]
    assert not [c for c in scripted.calls if "The tests failed after the last attempt" in
                c.prompt]  # no file-level fix was needed


def test_a_library_assertion_helper_is_not_the_innermost_frame():
    """From a hostile review at b4031c2: `mock.assert_called_once_with` raising in the
    standard library is the test's own failure, not a caller's."""
    output = ("___ test_x ___\ntests/test_cli.py:9: in test_x\n    sender.send.assert_called_"
              "once_with('goodbye')\n/usr/lib/python3.11/unittest/mock.py:939: in assert_"
              "called_once_with\n    raise AssertionError(msg)\nE   AssertionError: expected\n")
    assert failing_lines(output, "tests/test_cli.py") == [9]
    assert error_lines("json.decoder.JSONDecodeError: bad\nSystemExit: 2\n") == \
        "json.decoder.JSONDecodeError: bad; SystemExit: 2"


def test_module_level_code_is_not_a_caller_to_plan():
    """From a hostile review at b4031c2: a neighbour called most from module-level code (its
    scope is "") got `CHANGE ""` planned, and the real caller none."""
    import sqlite3
    from types import SimpleNamespace

    from sleepcoder.agent.solve.plan import Unit
    from sleepcoder.agent.solve.wiring import wire_additions

    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE call_edges (src TEXT, src_qname TEXT, dst TEXT, dst_qname TEXT, "
                 "how TEXT, count INTEGER)")
    conn.executemany("INSERT INTO call_edges VALUES (?, ?, ?, ?, 'x', ?)", [
        ("app.py", "", "app.py", "create_app", 3), ("app.py", "main", "app.py", "create_app", 1)])
    step = Step("edit", "app.py", "w", [Unit("add", "create_test_app", "after create_app", "w")])
    notes: list[str] = []
    assert wire_additions(SimpleNamespace(store=SimpleNamespace(conn=conn)), [step], notes) == 1
    assert [u.name for u in step.units] == ["create_test_app", "main"]


def test_a_partly_edited_file_keeps_its_edits_when_its_fix_round_fails(
        inventory, scripted):  # noqa: F811
    """The example at 5d0f372: cli.py's `main` had landed (another change of the file had
    not), the tests failed, the file-level fix failed, and cli.py left the patch."""
    import sys

    from tests.test_symbol_edit import MAIN_INSERT

    scripted.on(node="localize", reply="inventory/cli.py: YES")
    scripted.on(node="plan", reply="EDIT inventory/cli.py: low stock\n  CHANGE main: dispatch "
                                   "low-stock\n  CHANGE build_parser: the subcommand\n")
    # (the plan adds no `low_stock` here: a call of it would be refused as unbound)
    scripted.on(node="edit", contains="Planned change of `main`",
                reply=MAIN_INSERT.replace("low_stock(inventory, args.threshold)",
                                          "stock_table(inventory)"))
    scripted.on(node="edit", reply="no code here")
    failing = f"{sys.executable} -c \"print('inventory/cli.py is wrong'); raise SystemExit(1)\""
    result = start_solve(inventory.root, REQUEST, options(test_cmd=failing,
                                                          edit_protocol="insert"))
    assert result.record["test"]["status"] == "failed"
    assert result.record["test"].get("rounds", 0) >= 1
    cli = next(e for e in result.record["edits"] if e["path"] == "inventory/cli.py")
    assert cli["status"] == "partial", cli
    assert '+        elif args.command == "low-stock":' in result.patch
