"""Bad input to `sleepcoder solve` ends in one clear line and the documented exit code,
before any token is spent; paths the model or the user names that the rules or the file
system refuse end a file's edit, not the run."""

from __future__ import annotations

import os
import sys

import pytest
from sleepcoder.agent.solve.context import SolveOptions
from sleepcoder.agent.solve.run import resume_solve, start_solve

from tests.conftest import run_cli
from tests.test_solve import MODEL, PLAN, REPORT_EDIT, REQUEST, inventory  # noqa: F401


def _solve(repo, *args: str):
    result = run_cli("solve", REQUEST, "--repo", str(repo.root), "--model", "scripted/none",
                     *args)
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.mark.parametrize("args,message", [
    (("--budget", "-5"), "--budget must be between 0"),
    (("--budget", str(10**12)), "--budget must be between 0"),
    (("--max-steps", "-1"), "--max-steps must be between 0"),
    (("--issue-file", "/dev/zero"), "is not a regular file"),
    (("--issue-file", "/nonexistent/issue.md"), "cannot read the issue file"),
    (("--out", "/nonexistent-dir/x.patch"), "does not exist"),
    (("--out", "/"), "is a directory"),
    (("--resume", ""), "--resume needs the id of a run"),
    (("--resume", " \t"), "--resume needs the id of a run"),
])
def test_bad_options_are_refused_before_any_model_call(inventory, args, message):  # noqa: F811
    result = _solve(inventory, *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_huge_binary_or_non_utf8_issue_files_are_refused(inventory, tmp_path):  # noqa: F811
    huge = tmp_path / "huge.md"
    with huge.open("wb") as handle:
        handle.truncate(5_000_000)
    binary = tmp_path / "binary.md"
    binary.write_bytes(b"Title\n\0\0\0")
    latin1 = tmp_path / "latin1.md"
    latin1.write_bytes("Title\nCaf\u00e9 cr\u00e8me".encode("latin-1"))
    for path, message in ((huge, "has 5,000,000 bytes; at most 1,000,000"),
                          (binary, "contains NUL bytes"),
                          (latin1, "is not UTF-8 text (byte 0xe9 on line 2)")):
        result = run_cli("solve", "--issue-file", str(path), "--repo", str(inventory.root),
                         "--localize-only", "--no-llm")
        assert result.returncode == 2 and message in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_out_is_refused(inventory, tmp_path):  # noqa: F811
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    result = _solve(inventory, "--out", str(locked / "x.patch"))
    assert result.returncode == 2 and "not writable" in result.stderr


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_out_that_cannot_be_created_is_refused_before_any_model_call_even_for_root(
        inventory):  # noqa: F811
    # access() says yes to root for /proc; only opening the file tells
    result = _solve(inventory, "--out", "/proc/sleepcoder-x.patch")
    assert result.returncode == 2 and "cannot be written" in result.stderr, result.stderr


def test_patch_that_cannot_be_written_after_the_run_exits_non_zero(inventory, scripted,  # noqa: F811
                                                                    tmp_path):
    from sleepcoder.solve_cli import run_solve_command

    folder = tmp_path / "out"
    folder.mkdir()

    def edit_and_remove_the_folder(prompt: str) -> str:
        if folder.exists():
            folder.rmdir()
        return REPORT_EDIT

    scripted.on(node="localize", reply="inventory/report.py: YES")
    scripted.on(node="plan", reply=PLAN.splitlines()[0] + "\n")
    scripted.on(node="edit", reply=edit_and_remove_the_folder)
    code = run_solve_command(
        request=REQUEST, repo=inventory.root, issue_file=None, model=MODEL, budget=0,
        max_steps=0, no_map=False, localize_only=False, no_llm=False, review=False,
        test_cmd=None, out=folder / "x.patch", apply=False, force=False, resume=None,
        as_json=True)
    assert code == 2 and not (folder / "x.patch").exists()


def test_plan_paths_with_nul_or_huge_names_are_dropped(inventory, scripted):  # noqa: F811
    scripted.on(node="localize", reply="inventory/report.py: YES")
    scripted.on(node="plan", reply=PLAN.splitlines()[0] + "\nCREATE a\x00b.py: nul\n"
                f"CREATE {'x' * 300}.py: long\nEDIT .GIT/config: git\n")
    scripted.on(node="edit", contains="Plan for inventory/report.py", reply=REPORT_EDIT)
    result = start_solve(inventory.root, REQUEST, SolveOptions(model=MODEL))
    note = result.record["plan"]["note"]
    assert "control characters" in note and "longer than 255" in note and ".git/" in note
    assert result.status == "done"


def test_a_file_system_refusal_fails_one_file_not_the_run(inventory, scripted):  # noqa: F811
    scripted.on(node="localize", reply="inventory/report.py: YES")
    scripted.on(node="plan", reply=PLAN.splitlines()[0] + "\nCREATE inventory/report.py/x.py:"
                " a file inside a file\n")
    scripted.on(node="edit", contains="Plan for inventory/report.py", reply=REPORT_EDIT)
    scripted.on(node="edit", contains="x.py", reply="```python\nx = 1\n```\n")
    result = start_solve(inventory.root, REQUEST, SolveOptions(model=MODEL))
    failed = [e for e in result.record["edits"] if e["status"] == "failed"]
    assert result.status == "partial" and failed
    assert failed[0]["path"] == "inventory/report.py/x.py"
    assert "File exists" in failed[0]["error"] or "Not a directory" in failed[0]["error"]


def test_review_answer_with_hostile_paths_keeps_only_safe_ones(inventory, scripted):  # noqa: F811
    scripted.on(node="localize", reply="inventory/report.py: YES")
    scripted.on(node="plan", reply=PLAN)
    result = start_solve(inventory.root, REQUEST, SolveOptions(model=MODEL, review=True))
    assert result.status == "awaiting_review"
    scripted.on(node="edit", reply=REPORT_EDIT)
    result = resume_solve(inventory.root, result.thread, {"action": "edit", "files": [
        "inventory/report.py", "../../etc/passwd", "a\0b", ".git/config", 7]})
    assert result.status == "awaiting_review"  # the narrowed plan is shown again
    result = resume_solve(inventory.root, result.thread, {"action": "approve"})
    events = " ".join(result.record["events"])
    assert "outside the repository" in events and "control characters" in events
    assert result.record["files"]["localized"] == ["inventory/report.py"]


def test_require_sandbox_without_namespaces_fails_before_spending(inventory, monkeypatch,  # noqa: F811
                                                                  scripted):
    from sleepcoder.tools import sandbox

    monkeypatch.setattr(sandbox, "available_backend", lambda: "none")
    from sleepcoder.agent.solve.run import SolveError

    with pytest.raises(SolveError, match="must run isolated"):
        start_solve(inventory.root, REQUEST, SolveOptions(
            model=MODEL, test_cmd=f"{sys.executable} -c pass", test_sandbox="require"))
    assert scripted.calls == []


def test_a_planned_file_under_an_ignored_folder_still_lands(inventory, scripted):  # noqa: F811
    (inventory.root / ".gitignore").write_text("build/\n*.log\n")
    inventory.commit("ignore build output")
    scripted.on(node="localize", reply="inventory/report.py: YES")
    scripted.on(node="plan", reply=PLAN.splitlines()[0] + "\nCREATE build/gen.py: generated\n")
    scripted.on(node="edit", contains="Plan for inventory/report.py", reply=REPORT_EDIT)
    scripted.on(node="edit", contains="build/gen.py", reply="```python\nX = 1\n```\n")
    result = start_solve(inventory.root, REQUEST, SolveOptions(model=MODEL))
    assert result.status == "done" and "+++ b/build/gen.py" in result.patch


def test_a_key_pasted_into_a_request_is_not_kept(inventory, monkeypatch):  # noqa: F811
    from sleepcoder.tasks.task import from_text

    monkeypatch.setenv("SOME_API_KEY", "sk-pasted-Key0123456789abcdef")
    task = from_text("Use sk-pasted-Key0123456789abcdef for the client", inventory.root, "x")
    assert "sk-pasted" not in task.title and "REDACTED" in task.title
