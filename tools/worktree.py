"""Scratch git worktrees at a base commit: where task-time edits are made, never in the
user's working tree. And the path rules every edit must pass before it touches a file."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


class EditRefused(ValueError):
    """An edit names a path it may not touch; the message says which rule."""


class GitError(RuntimeError):
    pass


def git(cwd: Path, *args: str, input: str | None = None, env: dict | None = None,
        check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["git", "-c", "core.quotepath=off", "-c", "commit.gpgsign=false",
                             *args], cwd=cwd, input=input, capture_output=True, text=True,
                            env={**os.environ, **(env or {})})
    if check and result.returncode != 0:
        raise GitError(f"git {' '.join(args[:3])} failed: {result.stderr.strip()[:500]}")
    return result


@dataclass(frozen=True)
class Worktree:
    repo: Path  # the user's repository (main working tree)
    path: Path  # the scratch worktree
    base: str  # commit sha

    @classmethod
    def create(cls, repo: Path, base: str, path: Path) -> Worktree:
        """A detached worktree of `repo` at `base` in `path` (reused if already there)."""
        if (path / ".git").exists():
            head = git(path, "rev-parse", "HEAD").stdout.strip()
            if head == base:
                return cls(repo, path, base)
            cls(repo, path, head).remove()
        path.parent.mkdir(parents=True, exist_ok=True)
        git(repo, "worktree", "add", "--detach", "--force", str(path), base)
        return cls(repo, path, base)

    def remove(self) -> None:
        git(self.repo, "worktree", "remove", "--force", str(self.path), check=False)
        if self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)
        git(self.repo, "worktree", "prune", check=False)

    def reset(self) -> None:
        """Back to the base commit, discarding every edit."""
        git(self.path, "reset", "-q", "--hard", self.base)
        git(self.path, "clean", "-qfd")


def check_edit_path(root: Path, relative: str, *, allow_ci: bool = False,
                    protected: tuple[str, ...] = ()) -> str:
    """Normalise `relative` and refuse paths outside `root`, inside .git/, through a symlink,
    under CI workflow folders (unless allowed), or matching `protected` prefixes."""
    text = relative.strip().strip("`'\"").replace("\\", "/")
    if not text:
        raise EditRefused("empty path")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise EditRefused(f"{relative}: absolute paths are not allowed")
    normal = os.path.normpath(text).replace(os.sep, "/")
    parts = PurePosixPath(normal).parts
    if normal in (".", "") or parts[0] == "..":
        raise EditRefused(f"{relative}: outside the repository")
    if ".git" in parts:
        raise EditRefused(f"{relative}: inside .git/")
    if not allow_ci and (normal.startswith(".github/workflows/") or
                         normal.startswith(".gitlab-ci") or normal.startswith(".circleci/")
                         or normal == ".sleepcoder.toml"):
        raise EditRefused(f"{relative}: CI workflow files and sleepcoder's configuration may "
                          "not be edited (allow with [solve] allow_ci_edits = true)")
    for prefix in protected:
        if normal == prefix.rstrip("/") or normal.startswith(prefix.rstrip("/") + "/"):
            raise EditRefused(f"{relative}: protected by the configuration")
    current = root
    for part in parts:
        current = current / part
        if current.is_symlink():
            raise EditRefused(f"{relative}: goes through a symbolic link")
    resolved = (root / normal).resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise EditRefused(f"{relative}: outside the repository")
    return normal
