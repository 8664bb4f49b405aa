"""The hooks never land where git would not run them, never overwrite or lose a hook someone
edited, change nothing when a saved original cannot be put back, and the background job never
writes through a symbolic link the repository committed."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sleepcoder.tools import hooks as hooks_module
from sleepcoder.tools.hook_templates import TEMPLATE_1
from sleepcoder.tools.hooks import (
    CHANGED,
    EMPTY_HOOKS_PATH,
    HOOK_NAMES,
    LOG_LINES,
    MARKER,
    ORIG_SUFFIX,
    HookError,
    check_hooks_location,
    hooks_dir,
    install_hooks,
    is_as_written,
    render_hook,
    uninstall_hooks,
)
from sleepcoder.tools.repomap import build_map

from sleepcoder.hooks_cli import run_hook_job
from tests.conftest import git, run_cli

USER_LINE = "echo user-added-line\n"


def put_hook(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    path.chmod(0o755)
    return path


# -- 1. where the hooks go ------------------------------------------------------------------

def test_an_empty_core_hooks_path_is_refused_and_nothing_is_written(repo):
    repo.commit("first", {"a.py": "x = 1\n"})
    repo.git("config", "core.hooksPath", "")
    result = run_cli("hooks", "install", "--repo", str(repo.root))
    assert result.returncode == 2
    assert result.stderr == f"sleepcoder: {EMPTY_HOOKS_PATH}\n"
    assert "git config --unset core.hooksPath" in result.stderr
    assert repo.git("status", "--porcelain", "--untracked-files=all") == ""
    assert not any((repo.root / ".git" / "hooks" / n).exists() for n in HOOK_NAMES)


def test_uninstall_with_an_empty_core_hooks_path_is_refused_too(repo):
    repo.commit("first", {"a.py": "x = 1\n"})
    repo.git("config", "core.hooksPath", "")
    result = run_cli("hooks", "uninstall", "--repo", str(repo.root))
    assert (result.returncode, result.stderr) == (2, f"sleepcoder: {EMPTY_HOOKS_PATH}\n")


def test_a_hooks_directory_in_the_work_tree_that_nobody_named_is_refused(tmp_path):
    work = tmp_path / "work"
    with pytest.raises(HookError, match="inside the work tree, though core.hooksPath"):
        check_hooks_location(work, work, [work / ".git"], None)
    check_hooks_location(work / ".git" / "hooks", work, [work / ".git"], None)
    check_hooks_location(work / ".husky" / "_", work, [work / ".git"], ".husky/_")
    with pytest.raises(HookError, match=r"core.hooksPath \(\./\) names the root"):
        check_hooks_location(work, work, [work / ".git"], "./")


SEGMENTS = st.sampled_from(["", ".", "hooks", ".husky", "_", "sub dir", "a"])


@settings(max_examples=25, deadline=None)
@given(up=st.booleans(), segments=st.lists(SEGMENTS, max_size=3), slash=st.booleans())
def test_hooks_go_where_git_runs_them_whatever_core_hooks_path_says(up, segments, slash):
    value = ("../" if up else "") + "/".join(segments) + ("/" if slash and segments else "")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "nest" / "repo"
        root.mkdir(parents=True)
        git(root, "init", "-q")
        git(root, "config", "core.hooksPath", value)
        try:
            directory = hooks_dir(root)
        except HookError as exc:  # refused only where git would run none, or among files
            if value == "":
                assert str(exc) == EMPTY_HOOKS_PATH
            else:
                assert "names the root of the work tree" in str(exc)
                assert (root / value).resolve() == root.resolve()
            return
        put_hook(directory, "post-commit", '#!/bin/sh\ntouch "$PWD/hook-ran"\n')
        git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
            "--allow-empty", "-m", "probe")
        assert (root / "hook-ran").exists(), f"git ran no hook from {directory} ({value!r})"


# -- 2. a hook someone edited ---------------------------------------------------------------

def test_a_hook_edited_after_install_is_left_alone_by_install_and_uninstall(repo):
    repo.commit("first", {"a.py": "x = 1\n"})
    hooks = repo.root / ".git" / "hooks"
    put_hook(hooks, "post-commit", "#!/bin/sh\necho mine\n")
    assert run_cli("hooks", "install", "--repo", str(repo.root)).returncode == 0
    with open(hooks / "post-commit", "a") as hook:
        hook.write(USER_LINE)
    edited = (hooks / "post-commit").read_text()

    again = run_cli("hooks", "install", "--repo", str(repo.root))
    assert again.returncode == 0, again.stderr
    assert f"post-commit: left alone: {CHANGED}\n" in again.stdout
    assert "post-merge: unchanged" in again.stdout
    assert (hooks / "post-commit").read_text() == edited

    removed = run_cli("hooks", "uninstall", "--repo", str(repo.root))
    assert removed.returncode == 0, removed.stderr
    assert (f"post-commit: left alone: {CHANGED}; post-commit{ORIG_SUFFIX} is kept\n"
            in removed.stdout)
    assert (hooks / "post-commit").read_text() == edited
    assert (hooks / f"post-commit{ORIG_SUFFIX}").read_text() == "#!/bin/sh\necho mine\n"
    assert not (hooks / "post-merge").exists()


@settings(max_examples=60)
@given(at=st.integers(0, 10_000), insert=st.binary(min_size=1, max_size=40),
       cut=st.integers(0, 40), python=st.sampled_from(["/usr/bin/python3", "/opt/v env/py"]))
def test_any_edit_to_our_hook_makes_install_and_uninstall_leave_it(at, insert, cut, python):
    with tempfile.TemporaryDirectory() as scratch:
        hooks = Path(scratch)
        install_hooks(hooks, python)
        written = (hooks / "post-merge").read_bytes()
        at %= len(written)
        edited = written[:at] + insert + written[at + cut:]
        if edited == written:
            return
        (hooks / "post-merge").write_bytes(edited)
        changes = {c.name: c for c in install_hooks(hooks, sys.executable)}
        if MARKER.encode() not in edited.splitlines():
            return  # no longer ours at all: chained like any other hook
        assert (changes["post-merge"].action, changes["post-merge"].detail) == (
            "left alone", CHANGED)
        assert (hooks / "post-merge").read_bytes() == edited
        uninstall_hooks(hooks)
        assert (hooks / "post-merge").read_bytes() == edited
        assert not (hooks / "post-commit").exists()


def test_a_hook_written_by_the_earlier_template_is_updated_not_left_alone(tmp_path):
    hooks = tmp_path / "hooks"
    old = hooks_module._render(TEMPLATE_1, "post-commit", "/old/venv/python")
    put_hook(hooks, "post-commit", old)
    assert is_as_written(hooks / "post-commit", "post-commit")
    changes = {c.name: c.action for c in install_hooks(hooks, sys.executable)}
    assert changes["post-commit"] == "updated"
    assert (hooks / "post-commit").read_text() == render_hook("post-commit", sys.executable)


# -- 3. a saved original that cannot be put back --------------------------------------------

def test_uninstall_changes_nothing_when_a_saved_original_is_a_directory(repo):
    repo.commit("first", {"a.py": "x = 1\n"})
    hooks = repo.root / ".git" / "hooks"
    assert run_cli("hooks", "install", "--repo", str(repo.root)).returncode == 0
    (hooks / f"post-merge{ORIG_SUFFIX}").mkdir()
    before = {p.name: p.read_bytes() for p in hooks.iterdir() if p.is_file()}
    result = run_cli("hooks", "uninstall", "--repo", str(repo.root))
    assert result.returncode == 2
    assert result.stderr == (
        f"sleepcoder: cannot restore {hooks.resolve() / 'post-merge'}: the saved original "
        f"{hooks.resolve() / ('post-merge' + ORIG_SUFFIX)} is a directory, not a hook; move "
        "it away, then uninstall again: nothing was changed\n")
    assert {p.name: p.read_bytes() for p in hooks.iterdir() if p.is_file()} == before


def test_uninstall_carries_on_when_one_hook_cannot_be_put_back(tmp_path, monkeypatch):
    hooks = tmp_path / "hooks"
    put_hook(hooks, "post-merge", "#!/bin/sh\necho mine\n")
    install_hooks(hooks, sys.executable)
    real_replace = os.replace

    def replace(source, target):  # the disk refuses this one rename, after the checks
        if Path(source).name == f"post-merge{ORIG_SUFFIX}":
            raise PermissionError(13, "Permission denied")
        real_replace(source, target)

    monkeypatch.setattr(hooks_module.os, "replace", replace)
    changes = {c.name: c for c in uninstall_hooks(hooks)}
    assert changes["post-merge"].failed
    assert changes["post-merge"].detail == (f"cannot restore {hooks / 'post-merge'}: "
                                            "Permission denied")
    assert [changes[n].action for n in ("post-commit", "post-checkout", "post-rewrite")] == \
        ["removed"] * 3
    assert sorted(p.name for p in hooks.iterdir()) == ["post-merge", f"post-merge{ORIG_SUFFIX}"]


# -- 4. no writing through committed symbolic links -----------------------------------------

STORE_FILES = ["hooks.log", "hooks.log.tmp", "hooks.pending", "hooks.lock", "hooks.lock.pid",
               "map.lock", "map.lock.pid"]


@pytest.mark.parametrize("name", STORE_FILES)
def test_the_hook_job_never_writes_through_a_link_in_the_store(py_repo, tmp_path, name):
    build_map(py_repo.root)
    store = py_repo.root / ".sleepcoder"
    if name == "hooks.log.tmp":  # written when the log is trimmed
        (store / "hooks.log").write_text("old line\n" * (LOG_LINES + 5))
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    absent = tmp_path / "absent"
    (store / name).unlink(missing_ok=True)
    (store / name).symlink_to(victim)
    (store / (name + ".2")).symlink_to(absent)  # unused name: proves nothing is created
    py_repo.commit("add extra", {"app/extra.py": "def brand_new():\n    return 1\n"})
    run_hook_job(py_repo.root, "post-commit")
    assert victim.read_text() == "precious\n"
    assert not absent.exists()
    assert (store / name).is_symlink()


def test_a_dangling_pending_link_creates_no_file_and_the_job_says_so(py_repo, tmp_path):
    build_map(py_repo.root)
    store = py_repo.root / ".sleepcoder"
    (store / "hooks.pending").symlink_to(tmp_path / "created-outside")
    run_hook_job(py_repo.root, "post-commit")
    assert not (tmp_path / "created-outside").exists()
    assert "post-commit: skipped: the map store" in (store / "hooks.log").read_text()
    assert "holds a symbolic link, hooks.pending" in (store / "hooks.log").read_text()


def test_the_hook_script_never_appends_to_a_linked_log(repo, tmp_path):
    repo.commit("first", {"a.py": "x = 1\n"})
    hooks = repo.root / ".git" / "hooks"
    install_hooks(hooks, "/nonexistent/python3")  # the script itself writes the note
    (repo.root / ".sleepcoder").mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (repo.root / ".sleepcoder" / "hooks.log").symlink_to(victim)
    result = subprocess.run([str(hooks / "post-commit")], cwd=repo.root, capture_output=True,
                            text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert victim.read_text() == "precious\n"
