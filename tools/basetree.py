"""The files of one commit read straight from the object database, with no checkout: what a
solve reads before it edits anything (localization, planning), whatever the repository's size.

One long-lived `git cat-file --batch` answers every read; trees are walked one level at a time
and cached, so a lookup costs the depth of its path, not the size of the repository. A blob
the repository lacks (a partial clone, a mirror without its largest files) reads as no file,
as the sparse checkout of such a repository leaves it out.
"""

from __future__ import annotations

import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sleepcoder.tools.pathguard import EditRefused, PathRules, check_path
from sleepcoder.tools.worktree import GitError

SYMLINK = "120000"
SUBMODULE = "160000"


@dataclass(frozen=True)
class Entry:
    mode: str  # git's file mode: 100644, 100755, 120000 (symbolic link), 40000, 160000
    sha: str

    @property
    def is_tree(self) -> bool:
        return self.mode == "40000"

    @property
    def is_file(self) -> bool:
        """A regular file (a symbolic link or a submodule is not one)."""
        return self.mode in ("100644", "100755", "100664")


class BaseTree:
    """Read-only view of `commit` in `repo`: entries, file contents, and the edit rules checked
    against it. Not thread-safe beyond its own lock; close it (or use `with`) when done."""

    def __init__(self, repo: Path, commit: str) -> None:
        self.repo = repo
        self.commit = commit
        self._oid_bytes = 32 if len(commit) == 64 else 20  # SHA-256 repositories
        self._trees: dict[str, dict[str, Entry]] = {}
        self._blobs: dict[str, bytes | None] = {}
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> BaseTree:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.close()
            process.stdout.close()
            process.wait()

    # --- lookups -------------------------------------------------------------------------

    def entry(self, path: str) -> Entry | None:
        """The entry at `path` (a clean relative path), None when the commit has none."""
        parts = PurePosixPath(path).parts
        if not parts:
            return None
        listing = self._tree("")
        for depth, part in enumerate(parts):
            found = listing.get(part) if listing is not None else None
            if found is None or depth == len(parts) - 1:
                return found
            if not found.is_tree:
                return None
            listing = self._tree("/".join(parts[:depth + 1]), found.sha)
        return None

    def read(self, path: str) -> bytes | None:
        """The content of the regular file at `path`; None when there is none, or its blob is
        missing from the repository."""
        found = self.entry(path)
        if found is None or not found.is_file:
            return None
        if found.sha not in self._blobs:
            self._blobs[found.sha] = self._object(found.sha, "blob")
        return self._blobs[found.sha]

    def is_file(self, path: str) -> bool:
        return self.read(path) is not None

    def read_text(self, path: str) -> str | None:
        data = self.read(path)
        return None if data is None else data.decode("utf-8", "replace")

    def check_edit_path(self, relative: str, rules: PathRules) -> str:
        """The path rules (tools/pathguard.py), and in the commit: no symbolic link on the
        way to the path, and not a symbolic link or submodule itself. (A file where a folder
        is needed is left to the edit, as the file system refuses it: `file_on_the_way`.)"""
        normal = check_path(relative, rules)
        parts = PurePosixPath(normal).parts
        for depth in range(len(parts)):
            found = self.entry("/".join(parts[:depth + 1]))
            if found is None:
                break  # a new file or folder from here on
            if found.mode == SYMLINK:
                raise EditRefused(f"{normal}: goes through a symbolic link")
            if found.mode == SUBMODULE:
                raise EditRefused(f"{normal}: inside a submodule")
        return normal

    def file_on_the_way(self, path: str) -> str | None:
        """The first folder of `path` that is a file (or link) in the commit, if any."""
        parts = PurePosixPath(path).parts
        for depth in range(len(parts) - 1):
            prefix = "/".join(parts[:depth + 1])
            found = self.entry(prefix)
            if found is None:
                return None
            if not found.is_tree:
                return prefix
        return None

    # --- the object reader ---------------------------------------------------------------

    def _tree(self, path: str, sha: str | None = None) -> dict[str, Entry] | None:
        if path not in self._trees:
            raw = self._object(sha or f"{self.commit}^{{tree}}", "tree")
            if raw is None:  # a tree the repository lacks: nothing below it can be read
                return None
            self._trees[path] = _parse_tree(raw, self._oid_bytes)
        return self._trees[path]

    def _object(self, name: str, kind: str) -> bytes | None:
        with self._lock:
            process = self._start()
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(name.encode() + b"\n")
            process.stdin.flush()
            header = process.stdout.readline()
            if not header:
                self.close()
                raise GitError(f"git cat-file stopped while reading {name} in {self.repo}")
            fields = header.split()
            if len(fields) < 3:  # "<name> missing"
                return None
            data = process.stdout.read(int(fields[2]))
            process.stdout.read(1)  # the newline after each object
            return data if fields[1].decode() == kind else None

    def _start(self) -> subprocess.Popen:
        if self._process is None:
            self._process = subprocess.Popen(
                ["git", "cat-file", "--batch"], cwd=self.repo, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
        return self._process


def _parse_tree(raw: bytes, oid_bytes: int = 20) -> dict[str, Entry]:
    """A raw tree object: entries `<mode> <name>\\0<binary object id>`."""
    entries: dict[str, Entry] = {}
    at = 0
    while at < len(raw):
        space = raw.index(b" ", at)
        nul = raw.index(b"\0", space)
        mode = raw[at:space].decode()
        name = os.fsdecode(raw[space + 1:nul])
        entries[name] = Entry(mode, raw[nul + 1:nul + 1 + oid_bytes].hex())
        at = nul + 1 + oid_bytes
    return entries
