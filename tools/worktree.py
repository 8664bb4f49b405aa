"""Scratch git worktrees at a base commit: where task-time edits are made, never in the
user's working tree; and the one `git` runner, which reads every path as a literal path
(never a pathspec pattern: a model-chosen `[.]github/x` must not mean `.github/x`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sleepcoder.tools.pathguard import EditRefused, check_edit_path

__all__ = ["EditRefused", "GitError", "Worktree", "check_edit_path", "git", "LITERAL"]

# pathspec magic (globs, `:(top)`, `:!x`) off for every path git is given
LITERAL = {"GIT_LITERAL_PATHSPECS": "1"}


class GitError(RuntimeError):
    pass


def git(cwd: Path, *args: str, input: str | None = None, env: dict | None = None,
        check: bool = True, exact: bool = False) -> subprocess.CompletedProcess:
    """Run git; `exact`: its output with carriage returns kept (text mode turns a CRLF file's
    diff into one that no longer applies) and bytes that are not UTF-8 replaced, not raised."""
    command = ["git", "-c", "core.quotepath=off", "-c", "commit.gpgsign=false", *args]
    environment = {**os.environ, **LITERAL, **(env or {})}
    if exact:
        raw = subprocess.run(command, cwd=cwd, capture_output=True, env=environment,
                             input=None if input is None else input.encode("utf-8"))
        result = subprocess.CompletedProcess(raw.args, raw.returncode,
                                             raw.stdout.decode("utf-8", "replace"),
                                             raw.stderr.decode("utf-8", "replace"))
    else:
        result = subprocess.run(command, cwd=cwd, input=input, capture_output=True,
                                text=True, env=environment)
    if check and result.returncode != 0:
        # git's last lines say what went wrong ("Preparing worktree" comes first)
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        raise GitError(f"git {' '.join(args[:3])} failed: {' / '.join(lines[-3:])[-500:]}")
    return result


@dataclass(frozen=True)
class Worktree:
    repo: Path  # the user's repository (main working tree)
    path: Path  # the scratch worktree
    base: str  # commit sha

    @classmethod
    def create(cls, repo: Path, base: str, path: Path, *, checkout: bool = True) -> Worktree:
        """A detached worktree of `repo` at `base` in `path` (reused if already there).
        Without `checkout`, no file is written and the index is empty: the caller writes the
        files it needs (tools/workspace.py), and diffs name their paths."""
        if (path / ".git").exists():
            head = git(path, "rev-parse", "HEAD").stdout.strip()
            if head == base:
                return cls(repo, path, base)
            cls(repo, path, head).remove()
        path.parent.mkdir(parents=True, exist_ok=True)
        git(repo, "worktree", "add", "--detach", "--force",
            *([] if checkout else ["--no-checkout"]), str(path), base)
        return cls(repo, path, base)

    def remove(self) -> None:
        """Remove the worktree, git's record of it, and the folder holding the worktrees when
        this was the last one in it (no empty `worktrees/` is left behind)."""
        git(self.repo, "worktree", "remove", "--force", str(self.path), check=False)
        if self.path.is_dir() and not self.path.is_symlink():
            shutil.rmtree(self.path, ignore_errors=True)
        elif self.path.exists() or self.path.is_symlink():
            self.path.unlink(missing_ok=True)
        git(self.repo, "worktree", "prune", check=False)
        with contextlib.suppress(OSError):  # not empty (other runs' worktrees): kept
            self.path.parent.rmdir()

    def reset(self) -> None:
        """Back to the base commit, discarding every edit."""
        git(self.path, "reset", "-q", "--hard", self.base)
        git(self.path, "clean", "-qfd")
