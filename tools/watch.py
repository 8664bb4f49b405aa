"""`--watch`: look at HEAD, the index and the working tree every few seconds and refresh the map
when one of them changed; for people who do not want git hooks."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from sleepcoder.tools import gitutil


class WatchError(Exception):
    """The directory cannot be watched (not a git work tree, git failing)."""


def _git(root: Path, *args: str) -> bytes:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True,
                            env=gitutil.environment())
    if result.returncode != 0 and b"not a git repository" in result.stderr:
        raise WatchError(f"--watch needs a git repository: {root} is not in one")
    if result.returncode != 0:
        raise WatchError(f"git {args[0]} failed in {root}: "
                         f"{result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def fingerprint(root: Path) -> str:
    """A digest that changes when HEAD moves, what is staged changes, or a changed or untracked
    file of the working tree is touched. `git status` alone would not see a second edit to a
    file that is already modified, so each listed file's size and time are added. The index
    file's own time is not used: git rewrites it to refresh its stat cache, the map build
    included, which would look like a change after every refresh."""
    digest = hashlib.sha256()
    head = subprocess.run(["git", "rev-parse", "-q", "--verify", "HEAD"], cwd=root,
                          capture_output=True)
    digest.update(head.stdout)  # empty in a repository without commits
    digest.update(_git(root, "ls-files", "--stage", "-z"))
    status = _git(root, "--no-optional-locks", "status", "--porcelain=v1", "-z",
                  "--untracked-files=all")
    digest.update(status)
    for entry in status.split(b"\0"):
        if len(entry) > 3:
            digest.update(_stat(root / os.fsdecode(entry[3:])))
    return digest.hexdigest()


def _stat(path: Path) -> bytes:
    try:
        info = path.lstat()
    except OSError:
        return b"-"
    return f"{info.st_mtime_ns}:{info.st_size}:{info.st_ino}".encode()


def watch(root: Path, refresh: Callable[[], bool], interval: float, *,
          rounds: int | None = None, sleep: Callable[[float], None] = time.sleep,
          look: Callable[[Path], str] = fingerprint) -> int:
    """Refresh once, then every `interval` seconds look at the repository and refresh when it
    changed. Stops after `rounds` looks (None: never; Ctrl-C ends it). Returns the number of
    refreshes. A refresh that returns False (the map was busy) is retried at the next look."""
    refreshes = 0
    seen: str | None = None
    looked = 0
    while True:
        current = look(root)
        if current != seen and refresh():
            refreshes += 1
            seen = current
        looked += 1
        if rounds is not None and looked >= rounds:
            return refreshes
        sleep(interval)
