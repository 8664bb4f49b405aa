"""What solve runs leave behind: worktrees only while resumable, `sleepcoder runs` to list them,
`sleepcoder runs clean` to remove finished and abandoned ones, and the store kept out of git."""

from __future__ import annotations

import json
import subprocess

import pytest
from sleepcoder.agent.solve.run import SolveError, resume_solve, start_solve
from sleepcoder.agent.solve.runs import RunBusy, clean_runs, hold_run, list_runs

from tests import test_solve
from tests.conftest import run_cli
from tests.test_solve import REQUEST, options, script_happy_path

inventory = test_solve.inventory  # the example project with history, as a fixture here too


def worktrees(root) -> list[str]:
    folder = root / ".sleepcoder" / "worktrees"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def git_worktrees(root) -> list[str]:
    out = subprocess.run(["git", "worktree", "list", "--porcelain"], cwd=root, text=True,
                         capture_output=True, check=True).stdout
    return [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("worktree ")]


def by_id(root) -> dict:
    return {run.id: run for run in list_runs(root / ".sleepcoder")}


def interrupt_second_edit(scripted) -> None:
    script_happy_path(scripted)
    scripted.rules.insert(2, type(scripted.rules[0])(
        "edit", "Plan for inventory/cli.py", KeyboardInterrupt(), 1))


def test_finished_run_removes_its_worktree_and_git_forgets_it(inventory, scripted):
    script_happy_path(scripted)
    result = start_solve(inventory.root, REQUEST, options())
    assert result.status == "done"
    assert not (inventory.root / ".sleepcoder" / "worktrees").exists()  # not even empty
    assert git_worktrees(inventory.root) == [str(inventory.root)]
    run = by_id(inventory.root)[result.thread]
    assert (run.status, run.resumable, run.worktree) == ("done", False, False)
    assert run.title.startswith("Add a low-stock report") and run.started is not None


def test_error_inside_a_run_ends_it_with_a_record_and_no_worktree(inventory, scripted):
    import litellm

    scripted.on(node="localize", reply="inventory/report.py: YES")
    scripted.on(node="plan", reply=litellm.AuthenticationError("key revoked", "x", "test"))
    with pytest.raises(Exception, match="key revoked"):
        start_solve(inventory.root, REQUEST, options())
    assert worktrees(inventory.root) == []
    assert git_worktrees(inventory.root) == [str(inventory.root)]
    [run] = list_runs(inventory.root / ".sleepcoder")
    assert (run.status, run.resumable) == ("error", False)
    record = json.loads((inventory.root / ".sleepcoder" / "runs" / f"{run.id}.json").read_text())
    assert "key revoked" in record["error"]
    assert "inventory/report.py" in record["files"]["localized"]  # what it got done
    with pytest.raises(SolveError, match="has finished .status error."):
        resume_solve(inventory.root, run.id)


def test_interrupted_run_keeps_its_worktree_until_resumed(inventory, scripted):
    interrupt_second_edit(scripted)
    with pytest.raises(KeyboardInterrupt):
        start_solve(inventory.root, REQUEST, options())
    [thread] = worktrees(inventory.root)
    run = by_id(inventory.root)[thread]
    assert (run.status, run.resumable, run.worktree) == ("interrupted", True, True)
    assert run.disk_bytes > 0
    # the edit made before the interruption is in the kept worktree
    assert "def low_stock" in (inventory.root / ".sleepcoder" / "worktrees" / thread /
                               "inventory" / "report.py").read_text()
    assert resume_solve(inventory.root, thread).status == "done"
    assert worktrees(inventory.root) == []
    assert by_id(inventory.root)[thread].status == "done"


def test_run_being_worked_on_cannot_be_resumed_or_cleaned_meanwhile(inventory, scripted):
    interrupt_second_edit(scripted)
    with pytest.raises(KeyboardInterrupt):
        start_solve(inventory.root, REQUEST, options())
    [thread] = worktrees(inventory.root)
    store = inventory.root / ".sleepcoder"
    with hold_run(store, thread):  # as another process resuming it would
        assert by_id(inventory.root)[thread].status == "running"
        with pytest.raises(SolveError, match="being worked on by process"):
            resume_solve(inventory.root, thread)
        report = clean_runs(inventory.root, store, everything=True)
        assert report.kept == [thread] and report.removed == []
        with pytest.raises(RunBusy), hold_run(store, thread):
            pass
    assert by_id(inventory.root)[thread].status == "interrupted"


def test_runs_lists_every_kind_of_run(inventory, scripted):
    interrupt_second_edit(scripted)
    with pytest.raises(KeyboardInterrupt):
        start_solve(inventory.root, REQUEST, options())
    done = start_solve(inventory.root, "Add a low-stock report", options())
    paused = start_solve(inventory.root, "Add a low-stock report please", options(review=True))
    orphan = inventory.root / ".sleepcoder" / "worktrees" / "solve-1000-deadbeef"
    inventory.git("worktree", "add", "--detach", str(orphan), "HEAD")
    runs = by_id(inventory.root)
    statuses = {run_id: run.status for run_id, run in runs.items()}
    assert sorted(statuses.values()) == ["awaiting_review", "done", "interrupted", "orphaned"]
    assert statuses[done.thread] == "done" and statuses[paused.thread] == "awaiting_review"
    assert {r.id for r in runs.values() if r.resumable} == {
        paused.thread, next(i for i, s in statuses.items() if s == "interrupted")}
    assert runs["solve-1000-deadbeef"].started == 1000.0
    listed = run_cli("runs", str(inventory.root), "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    assert rows[paused.thread]["status"] == "awaiting_review"
    # a plan under review has edited nothing yet: no worktree (the first edit makes one)
    assert rows[paused.thread]["resumable"] and not rows[paused.thread]["worktree"]
    assert rows[done.thread]["finished"] and not rows[done.thread]["worktree"]
    text = run_cli("runs", str(inventory.root))
    assert "awaiting_review" in text.stdout and "Add a low-stock report" in text.stdout


def test_clean_removes_finished_runs_then_abandoned_ones_never_the_map(inventory, scripted):
    interrupt_second_edit(scripted)
    with pytest.raises(KeyboardInterrupt):
        start_solve(inventory.root, REQUEST, options())
    done = start_solve(inventory.root, "Add a low-stock report", options())
    orphan = inventory.root / ".sleepcoder" / "worktrees" / "solve-1000-deadbeef"
    inventory.git("worktree", "add", "--detach", str(orphan), "HEAD")
    store = inventory.root / ".sleepcoder"
    map_db = (store / "map.db").read_bytes()
    sleep_thread = _fake_sleep_checkpoint(store)

    first = run_cli("runs", "clean", str(inventory.root), "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert sorted(report["removed"]) == sorted([done.thread, "solve-1000-deadbeef"])
    [interrupted] = report["kept"]
    assert report["freed_bytes"] > 0
    assert not (store / "runs" / f"{done.thread}.json").exists()
    assert worktrees(inventory.root) == [interrupted]
    assert git_worktrees(inventory.root) == [str(inventory.root), str(store / "worktrees" /
                                                                       interrupted)]
    assert set(by_id(inventory.root)) == {interrupted}

    young = run_cli("runs", "clean", str(inventory.root), "--older-than", "1")
    assert young.returncode == 0 and "removed 0 runs" in young.stdout
    assert "kept 1 unfinished runs" in young.stderr
    everything = run_cli("runs", "clean", str(inventory.root), "--older-than", "0")
    assert "removed 1 runs" in everything.stdout
    assert list_runs(store) == [] and worktrees(inventory.root) == []
    assert git_worktrees(inventory.root) == [str(inventory.root)]
    with pytest.raises(SolveError, match="no solve run"):
        resume_solve(inventory.root, interrupted)
    assert (store / "map.db").read_bytes() == map_db
    assert _threads(store) == {sleep_thread}


def test_clean_with_all_removes_unfinished_runs_of_any_age(inventory, scripted):
    interrupt_second_edit(scripted)
    with pytest.raises(KeyboardInterrupt):
        start_solve(inventory.root, REQUEST, options())
    store = inventory.root / ".sleepcoder"
    assert clean_runs(inventory.root, store, older_than_days=30).removed == []
    assert len(clean_runs(inventory.root, store, everything=True).removed) == 1
    assert list_runs(store) == [] and worktrees(inventory.root) == []


def test_clean_and_list_of_a_repository_without_runs(inventory):
    listed = run_cli("runs", str(inventory.root))
    assert listed.returncode == 0 and "no solve runs" in listed.stdout
    cleaned = run_cli("runs", "clean", str(inventory.root))
    assert cleaned.returncode == 0 and "removed 0 runs" in cleaned.stdout
    assert not (inventory.root / ".sleepcoder").exists()  # listing creates nothing
    bad = run_cli("runs", "clean", str(inventory.root), "--older-than", "-1")
    assert bad.returncode == 2 and "--older-than" in bad.stderr


def test_every_command_that_creates_the_store_keeps_it_out_of_git_status(inventory, scripted):
    script_happy_path(scripted)
    scripted.on(node="explore", reply="FILES: inventory/report.py, inventory/cli.py")
    start_solve(inventory.root, REQUEST, options(no_map=True))
    assert not (inventory.root / ".sleepcoder" / "map.db").exists()  # no `map` ran
    assert "/.sleepcoder/" in (inventory.root / ".git" / "info" / "exclude").read_text()
    assert inventory.git("status", "--porcelain") == ""
    other = inventory.root.parent / "other"
    other.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=other, check=True)
    (other / "a.py").write_text("def a():\n    return 1\n")
    subprocess.run(["git", "add", "-A"], cwd=other, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a"],
                   cwd=other, check=True)
    slept = run_cli("sleep", str(other), "--no-llm")
    assert slept.returncode == 0, slept.stderr
    assert subprocess.run(["git", "status", "--porcelain"], cwd=other, text=True,
                          capture_output=True).stdout == ""


def _fake_sleep_checkpoint(store) -> str:
    """A sleep pass's checkpoint in the shared database, as agent/sleep/graph.py writes one."""
    import sqlite3

    from langgraph.checkpoint.base import empty_checkpoint
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(store / "checkpoints.db")
    try:
        thread = "sleep-1000-1"
        SqliteSaver(conn).put({"configurable": {"thread_id": thread, "checkpoint_ns": ""}},
                              empty_checkpoint(), {}, {})
    finally:
        conn.close()
    return thread


def _threads(store) -> set[str]:
    import sqlite3

    conn = sqlite3.connect(store / "checkpoints.db")
    try:
        return {row[0] for row in conn.execute("SELECT DISTINCT thread_id FROM checkpoints")}
    finally:
        conn.close()


def test_solve_while_another_process_updates_the_map_exits_4(inventory):
    from sleepcoder.tools.lock import map_lock

    (inventory.root / ".sleepcoder.toml").write_text("[map]\nlock_timeout = 0\n")
    with map_lock(inventory.root / ".sleepcoder", 0):
        result = run_cli("solve", REQUEST, "--repo", str(inventory.root), "--localize-only",
                         "--no-llm")
    assert result.returncode == 4, result.stderr
    assert "busy" in result.stderr and "Traceback" not in result.stderr


def test_same_request_twice_within_a_second_gets_two_runs(inventory, scripted, monkeypatch):
    import sleepcoder.agent.solve.run as run_module

    script_happy_path(scripted)
    monkeypatch.setattr(run_module.time, "time", lambda: 1_800_000_000.0)
    first = start_solve(inventory.root, REQUEST, options())
    second = start_solve(inventory.root, REQUEST, options(review=True))
    assert second.thread == first.thread + "-2"
    assert resume_solve(inventory.root, second.thread, {"action": "approve"}).status == "done"
    assert {r.id: r.status for r in list_runs(inventory.root / ".sleepcoder")} == {
        first.thread: "done", second.thread: "done"}
