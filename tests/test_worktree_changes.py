"""`git status` as the scan reads it: which tracked files changed, which files are untracked."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sleepcoder.tools import gitutil

from tests.conftest import Repo, write


def test_status_separates_edited_staged_deleted_untracked_and_ignored(repo):
    repo.commit("start", {"a b.py": "x = 1\n", "staged.py": "y = 1\n", "gone.py": "z = 1\n",
                          "same.py": "s = 1\n", ".gitignore": "*.log\n"})
    write(repo.root, {"a b.py": "x = 2\n", "staged.py": "y = 2\n", "new dir/n.py": "n = 1\n",
                      "debug.log": "ignored\n"})
    repo.git("add", "staged.py")
    (repo.root / "gone.py").unlink()
    modified, untracked = gitutil.worktree_changes(gitutil.open_repo(repo.root))
    assert modified == {"a b.py", "gone.py"}  # staged.py: the index holds what is on disk
    assert untracked == ["new dir/n.py"]


NAME = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
               min_size=1, max_size=12).filter(lambda n: n not in (".", "..", ".git"))


@settings(max_examples=15)
@given(tracked=st.sets(NAME, min_size=1, max_size=4), edited=st.sets(NAME, max_size=3),
       loose=st.sets(NAME, max_size=3))
def test_status_reports_any_file_name_as_it_is(tracked, edited, loose):
    loose = {f"loose/{n}" for n in loose}
    edited &= tracked
    with tempfile.TemporaryDirectory() as scratch:
        repo = Repo(Path(scratch))
        repo.commit("start", {name: "1\n" for name in tracked})
        write(repo.root, {name: "2\n" for name in edited} | {name: "3\n" for name in loose})
        modified, untracked = gitutil.worktree_changes(gitutil.open_repo(repo.root))
    assert modified == edited
    assert sorted(untracked) == sorted(loose)
