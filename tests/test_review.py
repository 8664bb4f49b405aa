"""The plan review keeps its promise: once the user narrows the files at `--review`, no plan
(however often it is redone) touches any other file, nor creates one."""

from __future__ import annotations

from sleepcoder.agent.solve.plan import Plan, Step, restrict_plan
from sleepcoder.agent.solve.run import resume_solve, start_solve

from tests import test_solve
from tests.test_solve import REPORT_EDIT, REQUEST, options

inventory = test_solve.inventory  # the example project with history, as a fixture here too

WIDE_PLAN = ("EDIT inventory/report.py: add low_stock\n"
             "EDIT inventory/cli.py: add the low-stock command\n"
             "CREATE inventory/low.py: helpers for the report\n")


def test_a_narrowed_plan_never_gets_other_files_back(inventory, scripted):
    scripted.on(node="localize", reply="inventory/report.py: YES\ninventory/cli.py: YES")
    scripted.on(node="plan", reply=WIDE_PLAN)
    scripted.on(node="edit", contains="Plan for inventory/report.py", reply=REPORT_EDIT)
    paused = start_solve(inventory.root, REQUEST, options(review=True))
    assert {s["path"] for s in paused.interrupt["plan"]["steps"]} == {
        "inventory/report.py", "inventory/cli.py", "inventory/low.py"}
    narrowed = resume_solve(inventory.root, paused.thread,
                            {"action": "edit", "files": ["inventory/report.py"]})
    # the model plans cli.py (a runner-up of the localization now) and a new file again
    steps = narrowed.interrupt["plan"]["steps"]
    assert [(s["action"], s["path"]) for s in steps] == [("edit", "inventory/report.py")]
    assert "inventory/cli.py" in narrowed.interrupt["plan"]["note"]
    done = resume_solve(inventory.root, narrowed.thread, {"action": "approve"})
    assert done.status == "done"
    assert done.record["files"]["modified"] == ["inventory/report.py"]
    assert done.record["files"]["added"] == []


def test_a_review_list_with_no_usable_file_aborts_and_says_why(inventory, scripted):
    scripted.on(node="localize", reply="inventory/report.py: YES")
    scripted.on(node="plan", reply=WIDE_PLAN)
    paused = start_solve(inventory.root, REQUEST, options(review=True))
    result = resume_solve(inventory.root, paused.thread,
                          {"action": "edit", "files": ["../outside.py", "missing.py"]})
    assert result.status == "aborted" and result.patch == ""
    assert "none of the files given can be edited" in " ".join(result.record["events"])


def test_restrict_plan_keeps_only_edits_of_the_chosen_files():
    plan = Plan([Step("edit", "a.py", "x"), Step("create", "b.py", "y"),
                 Step("edit", "c.py", "z")], "notes: earlier")
    kept = restrict_plan(plan, ["a.py", "b.py"])
    assert [s.path for s in kept.steps] == ["a.py"]
    assert kept.note == ("notes: earlier; b.py: not in the files chosen at review; c.py: not "
                         "in the files chosen at review")
    fallback = restrict_plan(Plan([Step("edit", "c.py", "z")]), ["a.py"])
    assert [(s.action, s.path) for s in fallback.steps] == [("edit", "a.py")]
    assert fallback.note.startswith("fallback plan")


def test_review_without_a_terminal_reads_its_answer_from_standard_input(monkeypatch, capfd):
    """A pipe or CI: the choices are printed, a line of standard input answers, and none
    (end of input) aborts with a reason instead of silently."""
    import io

    from sleepcoder import solve_cli

    payload = {"plan": {"steps": [{"action": "edit", "path": "a.py", "what": "x"}]},
               "files": ["a.py"]}
    monkeypatch.setattr("sys.stdin", io.StringIO("approve\n"))
    assert solve_cli._review(payload) == {"action": "approve"}
    monkeypatch.setattr("sys.stdin", io.StringIO("e\na.py, b.py\n"))
    assert solve_cli._review(payload) == {"action": "edit", "files": ["a.py", "b.py"]}
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert solve_cli._review(payload) == {"action": "abort"}
    err = capfd.readouterr().err
    assert "(read from standard input)" in err
    assert "no answer on standard input: the plan is not approved (aborted)" in err


def test_review_says_why_an_answer_it_does_not_know_aborts(monkeypatch, capfd):
    """`yes | sleepcoder solve --review`: 'y' is not a choice; the run is not approved, and
    says so instead of ending aborted without a word."""
    import io

    from sleepcoder import solve_cli

    payload = {"plan": {"steps": [{"action": "edit", "path": "a.py", "what": "x"}]},
               "files": ["a.py"]}
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert solve_cli._review(payload) == {"action": "abort"}
    assert "'y' is not one of a, e, q: the plan is not approved (aborted)" in \
        capfd.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("q\n"))
    assert solve_cli._review(payload) == {"action": "abort"}
    assert "not approved" not in capfd.readouterr().err


def test_review_with_a_closed_or_binary_standard_input_aborts_without_a_traceback(
        monkeypatch, capfd):
    import io

    from sleepcoder import solve_cli

    payload = {"plan": {"steps": []}, "files": []}
    closed = io.StringIO("a\n")
    closed.close()
    binary = io.TextIOWrapper(io.BytesIO(b"\xff\xfe\xfa\n"), encoding="utf-8")
    for stdin in (closed, binary):
        monkeypatch.setattr("sys.stdin", stdin)
        assert solve_cli._review(payload) == {"action": "abort"}
    assert "no answer on standard input" in capfd.readouterr().err

