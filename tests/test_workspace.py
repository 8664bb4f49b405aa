"""No checkout until one is needed: localization and planning read the base commit's blobs,
edits get a worktree holding only the files they touch, tests still see the whole tree."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sleepcoder.agent.solve import run as solve_run
from sleepcoder.agent.solve.run import resume_solve, start_solve
from sleepcoder.tools.basetree import BaseTree, _parse_tree
from sleepcoder.tools.pathguard import EditRefused, PathRules
from sleepcoder.tools.workspace import Workspace
from sleepcoder.tools.worktree import Worktree

from tests import test_solve
from tests.test_missing_objects import drop
from tests.test_runs import git_worktrees, interrupt_second_edit
from tests.test_solve import REQUEST, TESTS, options, script_happy_path

inventory = test_solve.inventory  # the example project with history, as a fixture here too


def files_in(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")
            if p.is_file() and ".git" not in p.relative_to(folder).parts}


def tracked(root: Path) -> set[str]:
    out = subprocess.run(["git", "ls-files"], cwd=root, text=True, capture_output=True,
                         check=True).stdout
    return set(out.split())


class _FullCheckout(Workspace):
    """The workspace as every run had it before: the whole tree checked out up front."""

    def __post_init__(self) -> None:
        self.full = True
        super().__post_init__()
        self.root()


# --- localization and planning: no checkout -------------------------------------------------

def test_localize_only_creates_no_worktree_and_ranks_as_before(inventory, monkeypatch):
    created: list[Path] = []
    original = Worktree.create.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(Worktree, "create", classmethod(
        lambda cls, repo, base, path, **kw: created.append(path) or original(
            cls, repo, base, path, **kw)))
    result = start_solve(inventory.root, "show a low stock threshold in the valuation report",
                         options(localize_only=True, no_llm=True, model=""))
    assert result.status == "localized"
    assert created == []
    assert git_worktrees(inventory.root) == [str(inventory.root)]
    assert not (inventory.root / ".sleepcoder" / "worktrees").exists()
    files = result.record["localization"]["files"]
    # the ranking test_solve checks on the same request, reached without any checkout
    assert [f for f in files if not f.startswith("tests/")] == [
        "inventory/report.py", "inventory/cli.py"]
    assert result.record["repository_files"] == len(tracked(inventory.root))


def test_plan_review_pauses_without_a_worktree(inventory, scripted):
    script_happy_path(scripted)
    paused = start_solve(inventory.root, REQUEST, options(review=True))
    assert paused.status == "awaiting_review"
    assert git_worktrees(inventory.root) == [str(inventory.root)]
    done = resume_solve(inventory.root, paused.thread, {"action": "approve"})
    assert done.status == "done" and "def low_stock" in done.patch


# --- edits: only the planned files ------------------------------------------------------------

def test_edit_worktree_holds_only_planned_files_and_the_patch_is_unchanged(inventory, scripted,
                                                                         monkeypatch):
    seen: dict[str, set[str]] = {}

    def cli_edit(prompt: str) -> str:  # answered while the run is at its last file
        [folder] = (inventory.root / ".sleepcoder" / "worktrees").iterdir()
        seen["files"] = files_in(folder)
        return test_solve.CLI_EDIT

    script_happy_path(scripted)
    scripted.rules[3].reply = cli_edit
    sparse = start_solve(inventory.root, REQUEST, options(test_cmd=TESTS))
    assert sparse.status == "done", sparse.record["events"]
    assert seen["files"] == {"inventory/report.py", "inventory/cli.py"}
    assert len(tracked(inventory.root)) > 10
    # the tests ran on the whole tree, with the patch applied
    assert sparse.record["test"]["status"] == "passed"
    assert sparse.record["test"]["tree"]["files"] == len(tracked(inventory.root))
    assert git_worktrees(inventory.root) == [str(inventory.root)]

    monkeypatch.setattr(solve_run, "Workspace", _FullCheckout)
    full = start_solve(inventory.root, REQUEST, options(test_cmd=TESTS))
    assert full.status == "done"
    assert sparse.patch == full.patch
    assert sparse.record["files"]["touched"] == full.record["files"]["touched"]


def test_interrupted_sparse_run_resumes_to_the_same_patch(inventory, scripted):
    script_happy_path(scripted)
    expected = start_solve(inventory.root, REQUEST, options()).patch
    scripted.rules.clear()
    interrupt_second_edit(scripted)
    with pytest.raises(KeyboardInterrupt):
        start_solve(inventory.root, REQUEST, options())
    [folder] = (inventory.root / ".sleepcoder" / "worktrees").iterdir()
    # the planned files only: the one edited before Ctrl-C, and the one being edited
    assert files_in(folder) == {"inventory/report.py", "inventory/cli.py"}
    assert "def low_stock" in (folder / "inventory/report.py").read_text()
    assert (folder / "inventory/cli.py").read_text() == (
        inventory.root / "inventory/cli.py").read_text()
    result = resume_solve(inventory.root, folder.name)
    assert result.status == "done"
    assert result.patch == expected
    assert git_worktrees(inventory.root) == [str(inventory.root)]


def test_new_file_in_a_new_folder_is_created_in_the_sparse_worktree(inventory, scripted):
    scripted.on(node="localize", reply="inventory/report.py: YES\ninventory/cli.py: NO")
    scripted.on(node="plan", reply="CREATE inventory/extra/low.py: the low-stock helper\n")
    scripted.on(node="edit", reply="```python\ndef low(items, n):\n"
                "    return [i for i in items if i < n]\n```\n")
    result = start_solve(inventory.root, REQUEST, options())
    assert result.status == "done", result.record["events"]
    assert "+++ b/inventory/extra/low.py" in result.patch
    assert result.record["files"]["added"] == ["inventory/extra/low.py"]


# --- the base commit's files, read from the object database --------------------------------

def test_base_tree_reads_files_modes_and_reports_missing_blobs(repo):
    repo.commit("init", {"app/core.py": "A = 1\n", "app/run.sh": "echo hi\n",
                         "app/gone.py": "G = 1\n"})
    os.chmod(repo.root / "app/run.sh", 0o755)
    os.symlink("app", repo.root / "link")
    base = repo.commit("modes and a link")
    drop(repo.root / ".git", repo.git("rev-parse", "HEAD:app/gone.py"))
    with BaseTree(repo.root, base) as tree:
        assert tree.read_text("app/core.py") == "A = 1\n"
        assert tree.entry("app/run.sh").mode == "100755"
        assert tree.entry("link").mode == "120000" and not tree.is_file("link")
        assert tree.entry("app").is_tree and not tree.is_file("app")
        assert tree.read("app/gone.py") is None  # missing: as if absent, not an error
        assert tree.entry("app/nothing.py") is None and tree.entry("app/core.py/x") is None
        assert tree.check_edit_path("app/new/thing.py", PathRules()) == "app/new/thing.py"
        assert tree.file_on_the_way("app/core.py/x.py") == "app/core.py"
        assert tree.file_on_the_way("app/new/x.py") is None
        with pytest.raises(EditRefused, match="symbolic link"):
            tree.check_edit_path("link/core.py", PathRules())
        with pytest.raises(EditRefused, match="CI configuration"):
            tree.check_edit_path(".github/workflows/x.yml", PathRules())
    workspace = Workspace(repo.root, base, repo.root / ".sleepcoder" / "worktrees" / "w")
    with pytest.raises(NotADirectoryError):  # core.py is not written out, still a file
        workspace.editable("app/core.py/x.py", PathRules())
    path, target = workspace.editable("app/run.sh", PathRules())
    assert target.read_text() == "echo hi\n" and os.access(target, os.X_OK)
    _path, gone = workspace.editable("app/gone.py", PathRules())
    assert not gone.exists() and workspace.written(["app/gone.py", path]) == [path]
    assert files_in(workspace.root()) == {"app/run.sh"}
    workspace.close()
    assert git_worktrees(repo.root) == [str(repo.root)]


def test_base_tree_of_a_partial_clone_fetches_a_blob_when_read(repo, tmp_path):
    base = repo.commit("init", {"app/core.py": "A = 1\n", "README.md": "x\n"})
    repo.git("config", "uploadpack.allowFilter", "true")
    clone = tmp_path / "partial"
    subprocess.run(["git", "clone", "-q", "--filter=blob:none", "--no-checkout",
                    f"file://{repo.root}", str(clone)], check=True)
    def missing() -> list[str]:
        return [line for line in subprocess.run(
            ["git", "rev-list", "--objects", "--missing=print", base], cwd=clone, text=True,
            capture_output=True, check=True).stdout.splitlines() if line.startswith("?")]

    assert len(missing()) == 2  # no blob fetched yet
    with BaseTree(clone, base) as tree:  # as a checkout would, git fetches what is read
        assert tree.read_text("app/core.py") == "A = 1\n"
    assert len(missing()) == 1  # that one only, not the tree's other file


_NAMES = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"),
                 min_size=1, max_size=20)


@given(st.dictionaries(_NAMES.map(lambda s: s.encode("utf-8")),
                       st.tuples(st.sampled_from(["100644", "100755", "120000", "40000",
                                                  "160000"]),
                                 st.binary(min_size=20, max_size=20)), max_size=8))
def test_tree_objects_parse_back_to_their_entries(entries):
    raw = b"".join(mode.encode() + b" " + name + b"\0" + sha
                   for name, (mode, sha) in entries.items())
    parsed = _parse_tree(raw)
    assert {n.encode("utf-8"): (e.mode, bytes.fromhex(e.sha)) for n, e in parsed.items()} \
        == entries


@pytest.fixture(scope="module")
def linked(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("linked")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    (root / "src").mkdir()
    (root / "src" / "a.py").write_text("A = 1\n")
    os.symlink("src", root / "alias")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=root, check=True, env=env)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, text=True,
                          capture_output=True, check=True).stdout.strip()
    return root, head


@settings(max_examples=60, deadline=None)
@given(st.lists(st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True).filter(
    lambda part: part.strip(".") != ""), min_size=1, max_size=4))
def test_no_path_through_a_committed_symlink_is_editable(linked, parts):
    root, head = linked
    with BaseTree(root, head) as tree, pytest.raises(EditRefused):
        tree.check_edit_path("/".join(["alias", *parts]), PathRules())
