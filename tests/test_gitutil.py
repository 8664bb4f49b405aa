"""The map's own git layer (tools/gitutil.Repo): which folder is a repository, its work tree,
HEAD, and git's failures as errors with git's words, never a plain folder by mistake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sleepcoder.tools import gitutil

from tests.conftest import Repo, git, run_cli


def test_a_checkout_opened_from_a_subfolder_has_its_top_level_and_head(repo):
    sha = repo.commit("start", {"pkg/mod.py": "x = 1\n"}).strip()
    opened = gitutil.open_repo(repo.root / "pkg")
    assert gitutil.toplevel(opened) == repo.root.resolve()
    assert gitutil.head_commit(opened) == sha
    assert Path(opened.git_dir) == (repo.root / ".git").resolve()
    assert Path(opened.common_dir).resolve() == (repo.root / ".git").resolve()
    assert opened.index_path.resolve() == (repo.root / ".git" / "index").resolve()


def test_a_plain_folder_is_not_a_repository(tmp_path, monkeypatch):
    folder = tmp_path / "plain"
    folder.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    with pytest.raises(gitutil.NotARepository):
        gitutil.open_repo(folder)


def test_a_bare_repository_has_no_work_tree_and_says_how_to_get_one(repo, tmp_path):
    repo.commit("start", {"a.py": "x = 1\n"})
    bare = tmp_path / "mirror.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo.root), str(bare))
    opened = gitutil.open_repo(bare)
    assert opened.working_tree_dir is None
    assert gitutil.head_commit(opened) == gitutil.head_commit(gitutil.open_repo(repo.root))
    with pytest.raises(gitutil.NotARepository, match="bare repository.*worktree add"):
        gitutil.toplevel(opened)


def test_a_repository_with_no_commit_has_no_head(tmp_path):
    git(tmp_path, "init", "-q", "fresh")
    assert gitutil.head_commit(gitutil.open_repo(tmp_path / "fresh")) is None


def test_a_linked_worktree_shares_the_common_dir_and_has_its_own_index(repo, tmp_path):
    repo.commit("start", {"a.py": "x = 1\n"})
    git(repo.root, "worktree", "add", "-q", "--detach", str(tmp_path / "wt"))
    opened = gitutil.open_repo(tmp_path / "wt")
    assert gitutil.toplevel(opened) == (tmp_path / "wt").resolve()
    assert Path(opened.common_dir).resolve() == (repo.root / ".git").resolve()
    assert opened.index_path.resolve().parent != (repo.root / ".git").resolve()
    assert opened.index_path.exists()


def test_commits_resolve_by_any_name_and_an_unknown_one_is_git_s_error(repo):
    repo.commit("start", {"a.py": "x = 1\n"})
    repo.commit("next", {"a.py": "x = 2\n"})
    opened = gitutil.open_repo(repo.root)
    head = gitutil.head_commit(opened)
    assert opened.resolve_commit("HEAD") == head
    assert opened.resolve_commit(head[:8]) == head
    parent = opened.resolve_commit("HEAD~1")
    assert parent != head and gitutil.is_ancestor(opened, parent, head)
    assert not gitutil.is_ancestor(opened, head, parent)
    for bad in ("no-such-branch", "--help", "HEAD~9"):
        with pytest.raises(gitutil.GitCommandError) as caught:
            opened.resolve_commit(bad)
        assert caught.value.status != 0 and caught.value.stderr


def test_a_repository_git_cannot_read_is_git_s_error_not_a_plain_folder(repo):
    repo.commit("start", {"a.py": "x = 1\n"})
    (repo.root / ".git" / "config").write_text("[core\n")  # unparsable
    with pytest.raises(gitutil.GitCommandError) as caught:
        gitutil.open_repo(repo.root)
    assert "config" in caught.value.stderr
    done = run_cli("map", str(repo.root))
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"git cannot open the repository at {repo.root}" in done.stderr
    assert "bad config" in done.stderr and "Traceback" not in done.stderr


def test_gitpython_is_not_imported_by_a_map_refresh(py_repo):
    """GitPython's import is ~70 ms of a one-file refresh; the map path does not need it."""
    code = ("import sys; sys.argv = ['sleepcoder', 'map', sys.argv[1]]\n"
            "from sleepcoder.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('GITPYTHON' if 'git' in sys.modules else 'NO GITPYTHON')")
    done = subprocess.run([sys.executable, "-c", code, str(py_repo.root)], capture_output=True,
                          text=True, timeout=300)
    assert done.stdout.strip().splitlines()[-1] == "NO GITPYTHON", done.stdout + done.stderr


@settings(max_examples=10, deadline=None)
@given(name=st.text(st.characters(blacklist_categories=("Cs", "Cc"),
                                  blacklist_characters="/\\\0"),
                    min_size=1, max_size=12).filter(lambda n: n not in (".", "..")))
def test_any_folder_name_round_trips_as_the_top_level(name):
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / name
        root.mkdir()
        Repo(root).commit("start", {"a.py": "x = 1\n"})
        assert gitutil.toplevel(gitutil.open_repo(root)) == root.resolve()


def test_an_exported_git_dir_does_not_choose_the_repository(repo, tmp_path, monkeypatch):
    """`git rebase -x` exports GIT_DIR; the repository is the one the path is in."""
    repo.commit("start", {"pkg/a.py": "x = 1\n"})
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    monkeypatch.chdir(repo.root)
    for name, value in (("GIT_DIR", ".git"), ("GIT_DIR", str(other / ".git")),
                        ("GIT_WORK_TREE", str(tmp_path)), ("GIT_INDEX_FILE", "/nowhere")):
        monkeypatch.setenv(name, value)
        opened = gitutil.open_repo(repo.root / "pkg")
        assert gitutil.toplevel(opened) == repo.root.resolve(), name
        assert "pkg/a.py" in gitutil.tracked_files(opened), name
        monkeypatch.delenv(name)


def test_a_path_inside_the_git_directory_opens_its_checkout(repo):
    repo.commit("start", {"a.py": "x = 1\n"})
    for inside in (repo.root / ".git", repo.root / ".git" / "objects"):
        assert gitutil.toplevel(gitutil.open_repo(inside)) == repo.root.resolve()


def test_a_git_file_pointing_nowhere_is_git_s_error(tmp_path, monkeypatch):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / ".git").write_text("gitdir: /nonexistent/x\n")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    with pytest.raises(gitutil.GitCommandError) as caught:
        gitutil.open_repo(folder)
    assert "/nonexistent/x" in caught.value.stderr


def test_git_missing_from_path_is_said_plainly(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(gitutil.GitNotFound, match="git is not installed"):
        gitutil.open_repo(tmp_path)


@settings(max_examples=10, deadline=None)
@given(name=st.text(st.sampled_from("ab \n\u2028\x85\x1c\x0cé"), min_size=1, max_size=6)
       .filter(lambda n: n.strip() and n not in (".", "..")))
def test_a_folder_name_with_line_separators_gives_whole_paths(name):
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / name
        root.mkdir()
        Repo(root).commit("start", {"a.py": "x = 1\n"})
        opened = gitutil.open_repo(root)
        assert Path(opened.git_dir) == (root / ".git").resolve()
        assert gitutil.toplevel(opened) == root.resolve()


def test_a_status_leaves_the_index_file_alone(repo):
    """No optional lock: `git status` run by a refresh does not rewrite `.git/index` under
    the user's own git commands."""
    repo.commit("start", {"a.py": "x = 1\n"})
    index = repo.root / ".git" / "index"
    (repo.root / "a.py").touch()  # stat data changed: a locking status would refresh it
    before = index.stat().st_mtime_ns
    gitutil.worktree_changes(gitutil.open_repo(repo.root))
    assert index.stat().st_mtime_ns == before


def _non_utf8_name_allowed(folder: Path) -> bool:
    try:
        (folder / b"probe\xfe".decode("utf-8", "surrogateescape")).write_text("")
    except (OSError, UnicodeEncodeError):
        return False
    (folder / b"probe\xfe".decode("utf-8", "surrogateescape")).unlink()
    return True


def test_files_whose_names_are_not_utf8_are_left_out_with_a_notice(repo):
    if not _non_utf8_name_allowed(repo.root):
        pytest.skip("this file system takes UTF-8 names only")
    name = b"f\xfe.py".decode("utf-8", "surrogateescape")
    repo.commit("start", {"ok.py": "x = 1\n", name: "y = 1\n"})
    done = run_cli("map", str(repo.root))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 files not mapped: their names are not UTF-8" in done.stdout + done.stderr
    assert "b'f\\xfe.py'" in done.stdout + done.stderr


def test_a_repository_whose_path_is_not_utf8_is_refused_plainly(tmp_path):
    if not _non_utf8_name_allowed(tmp_path):
        pytest.skip("this file system takes UTF-8 names only")
    root = tmp_path / b"r\xff".decode("utf-8", "surrogateescape")
    root.mkdir()
    Repo(root).commit("start", {"a.py": "x = 1\n"})
    done = run_cli("map", str(root))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "is not UTF-8: the map stores paths as text" in done.stderr
    assert "Traceback" not in done.stderr and "unexpected error" not in done.stderr


def test_a_head_naming_a_missing_commit_is_not_taken_for_an_empty_repository(repo):
    repo.commit("start", {"a.py": "x = 1\n"})
    branch = repo.git("symbolic-ref", "HEAD").strip()
    (repo.root / ".git" / branch).write_text("12" * 20 + "\n")
    with pytest.raises(gitutil.GitCommandError, match="HEAD points at 1212.*not a commit"):
        gitutil.head_commit(gitutil.open_repo(repo.root))
    done = run_cli("map", str(repo.root))
    assert done.returncode == 2 and "HEAD points at 1212" in done.stderr, done.stderr


def test_a_linked_worktree_s_git_directory_is_refused_as_such(repo, tmp_path):
    repo.commit("start", {"a.py": "x = 1\n"})
    git(repo.root, "worktree", "add", "-q", "--detach", str(tmp_path / "wt"))
    opened = gitutil.open_repo(repo.root / ".git" / "worktrees" / "wt")
    with pytest.raises(gitutil.NotARepository, match="git directory .* not a work tree"):
        gitutil.toplevel(opened)


def test_safe_directory_given_through_the_environment_is_kept(repo, monkeypatch):
    """`git -c` settings (GIT_CONFIG_PARAMETERS, GIT_CONFIG_COUNT) are git's own, not a
    pointer to another repository: CI images give `safe.directory` that way."""
    repo.commit("start", {"a.py": "x = 1\n"})
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "sleepcoder.probe")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "kept")
    assert gitutil.open_repo(repo.root).text("config", "sleepcoder.probe") == "kept"
