"""Diffs of task-time edits: produced by git from the scratch worktree, parsed with unidiff,
checked with `git apply --check` against a clean index of the base commit, and applied to the
user's working tree only when asked."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sleepcoder.tools.worktree import git

STORE_DIR_NAME = ".sleepcoder"


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str  # modified, added, removed, renamed
    added: int
    removed: int


@dataclass(frozen=True)
class Patch:
    text: str
    files: list[FileChange]

    @property
    def empty(self) -> bool:
        return not self.text.strip()

    @property
    def modified_files(self) -> list[str]:
        return [f.path for f in self.files if f.status == "modified"]


def worktree_diff(worktree: Path, base: str, paths: list[str] | None = None) -> Patch:
    """What the worktree changed since `base` (in `paths` only, when given: files a test run
    leaves behind are not part of the change), new files included, as a unified diff."""
    spec = ["--", *paths] if paths is not None else []
    if paths is not None and not paths:
        return Patch("", [])
    # -f: a planned path the repository's ignore rules cover (`build/`, `*.log`) is still
    # part of the change; only the planned paths are given, so nothing else comes in
    git(worktree, "add", "-A", *(["-f"] if paths else []), *spec)
    text = git(worktree, "diff", "--cached", "--binary", "--no-color", "--no-ext-diff",
               base, *spec, exact=True).stdout
    git(worktree, "reset", "-q")
    return parse_patch(text)


def parse_patch(text: str) -> Patch:
    if not text.strip():
        return Patch("", [])
    from unidiff import PatchSet

    files = []
    for item in PatchSet(text):
        if item.is_added_file:
            status = "added"
        elif item.is_removed_file:
            status = "removed"
        elif item.is_rename:
            status = "renamed"
        else:
            status = "modified"
        path = item.target_file[2:] if item.target_file.startswith("b/") else item.path
        if status == "removed":
            path = item.source_file[2:] if item.source_file.startswith("a/") else item.path
        files.append(FileChange(path, status, item.added, item.removed))
    return Patch(text, files)


def check_applies(repo: Path, base: str, patch: Patch) -> str:
    """'' if `patch` applies cleanly to `base` (checked in a throwaway index), else git's
    message."""
    if patch.empty:
        return ""
    with tempfile.TemporaryDirectory() as tmp:
        index = os.path.join(tmp, "index")
        env = {"GIT_INDEX_FILE": index}
        git(repo, "read-tree", base, env=env)
        result = git(repo, "apply", "--check", "--cached", "-", input=patch.text, env=env,
                     check=False)
    return "" if result.returncode == 0 else result.stderr.strip()


def dirty_paths(repo: Path) -> list[str]:
    """Uncommitted changes in the user's working tree (sleepcoder's own store excluded)."""
    out = git(repo, "status", "--porcelain", "--untracked-files=normal").stdout
    paths = [line[3:] for line in out.splitlines() if line.strip()]
    return [p for p in paths if not p.startswith(STORE_DIR_NAME)]


def apply_to_tree(repo: Path, patch: Patch) -> None:
    """Apply `patch` to the user's working tree (after a --check)."""
    result = git(repo, "apply", "--check", "-", input=patch.text, check=False)
    if result.returncode != 0:
        raise ValueError(f"the patch does not apply to your working tree: {result.stderr}")
    git(repo, "apply", "-", input=patch.text)
