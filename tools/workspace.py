"""Where a solve reads and edits: the base commit's files read from the object database
(tools/basetree.py) until the first edit, then a scratch worktree holding only the files the
edits need, written from their blobs. Nothing is checked out that no step reads.

The worktree is a `git worktree` made with `--no-checkout` (its index starts empty); a file is
written into it the first time an edit asks for it, and `worktree_diff` names the edited paths,
so the files left out never count as deleted. The no-map explorer, whose tools list and grep
the whole tree, asks for a full checkout instead (`full`).
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

from sleepcoder.tools.basetree import BaseTree
from sleepcoder.tools.pathguard import PathRules, check_edit_path
from sleepcoder.tools.worktree import Worktree


@dataclass
class Workspace:
    repo: Path  # the user's repository
    base: str  # the commit every read and diff starts from
    path: Path  # the scratch worktree's folder (made when the first edit needs it)
    full: bool = False  # check out every file (the no-map explorer reads the whole tree)
    tree: BaseTree = field(init=False)
    worktree: Worktree | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.tree = BaseTree(self.repo, self.base)
        if (self.path / ".git").exists():  # a resumed run: its edits are in there
            self.worktree = Worktree.create(self.repo, self.base, self.path,
                                            checkout=self.full)

    # --- reads: the edited file where there is one, else the base commit's -----------------

    def _written(self, path: str) -> Path | None:
        if self.worktree is None:
            return None
        target = self.worktree.path / path
        return target if os.path.lexists(target) else None

    def is_file(self, path: str) -> bool:
        written = self._written(path)
        if written is not None:
            return written.is_file() and not written.is_symlink()
        return self.tree.is_file(path)

    def exists(self, path: str) -> bool:
        """A file (with readable content) or a folder at `path`."""
        written = self._written(path)
        if written is not None:
            return written.exists()
        found = self.tree.entry(path)
        return found is not None and (found.is_tree or self.tree.read(path) is not None)

    def read_text(self, path: str) -> str | None:
        """The file's text as the edits left it (the base commit's when not yet edited);
        None when there is no such file."""
        written = self._written(path)
        if written is not None:
            if not written.is_file() or written.is_symlink():
                return None
            return written.read_text(encoding="utf-8", errors="replace")
        return self.tree.read_text(path)

    def check(self, relative: str, rules: PathRules) -> str:
        """The clean path if an edit may touch it (rules, and no symbolic link on the way in
        the base commit), else EditRefused. Reads no file content."""
        return self.tree.check_edit_path(relative, rules)

    # --- edits ----------------------------------------------------------------------------

    def editable(self, relative: str, rules: PathRules) -> tuple[str, Path]:
        """The clean path and where to write it: checked against the base commit and the
        worktree on disk, with the base version written there first (if it has one)."""
        normal = self.check(relative, rules)
        blocked = self.tree.file_on_the_way(normal)
        if blocked is not None:  # not written out yet: refuse as a full checkout would
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), blocked)
        root = self.root()
        check_edit_path(root, normal, allow_ci=rules.allow_ci, protected=rules.protected)
        target = root / normal
        if not os.path.lexists(target):
            self._write_base(normal, target)
        return normal, target

    def root(self) -> Path:
        """The worktree's folder, made now if this is the first edit."""
        if self.worktree is None:
            self.worktree = Worktree.create(self.repo, self.base, self.path,
                                            checkout=self.full)
        return self.worktree.path

    def written(self, paths: list[str]) -> list[str]:
        """Those of `paths` present in the worktree: a file never written (its blob missing
        from the repository, say) must not reach a diff as deleted."""
        return [p for p in paths if self._written(p) is not None]

    def _write_base(self, path: str, target: Path) -> None:
        found = self.tree.entry(path)
        data = self.tree.read(path)
        if found is None or data is None:  # a new file, or content the repository lacks
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        if found.mode == "100755":
            target.chmod(0o755)

    def close(self) -> None:
        """Stop the object reader and remove the worktree (and any left from before)."""
        self.tree.close()
        if self.worktree is not None:
            self.worktree.remove()
            self.worktree = None
        elif os.path.lexists(self.path):
            Worktree(self.repo, self.path, self.base).remove()
