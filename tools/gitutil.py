"""Git, driven through its command line, for what the map and the read paths need: file
listings, HEAD, ancestry, excludes.

No GitPython here: importing it costs ~70 ms, a sixth of a one-file refresh, and these paths
only ever ran git commands through it. Code that needs GitPython's object model (the worktree
and the benchmark's repositories) imports it itself.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from functools import cached_property
from pathlib import Path


class NotARepository(Exception):
    pass


class GitCommandError(Exception):
    """A git command exited with a non-zero status; `stderr` is what git said."""

    def __init__(self, args: list[str], status: int, stderr: str) -> None:
        super().__init__(f"git {' '.join(args)} exited with status {status}: {stderr.strip()}")
        self.command = args
        self.status = status
        self.stderr = stderr


# git's own messages (the ones this module reads) in English, whatever the user's locale; no
# optional lock: `git status` would otherwise refresh `.git/index` under a user's own git
# command (a map refresh runs from hooks and editors)
_ENV = {"LANGUAGE": "C", "LC_ALL": "C", "GIT_LITERAL_PATHSPECS": "1",  # paths never patterns
        "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
# What `git rev-parse --local-env-vars` lists: variables that point git at a repository, which
# git itself clears when it enters another one. The repository is the one the path is in (as
# GitPython found it), not one an exported GIT_DIR names (`git rebase -x` exports it).
# `git -c` settings (GIT_CONFIG_PARAMETERS, GIT_CONFIG_COUNT) stay, as git keeps them:
# `safe.directory` is often given that way.
_LOCAL = ("GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_OBJECT_DIRECTORY", "GIT_DIR",
          "GIT_WORK_TREE",
          "GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE", "GIT_INDEX_FILE", "GIT_NO_REPLACE_OBJECTS",
          "GIT_REPLACE_REF_BASE", "GIT_PREFIX", "GIT_SHALLOW_FILE", "GIT_COMMON_DIR")


def environment() -> dict[str, str]:
    """The environment git commands run in: this one, less the variables that point git
    at a repository, plus _ENV."""
    return {**{k: v for k, v in os.environ.items() if k not in _LOCAL}, **_ENV}


class GitNotFound(GitCommandError):
    """No `git` executable on PATH."""


class Repo:
    """A repository with a work tree (`working_tree_dir` None when bare) and its git dir."""

    def __init__(self, git_dir: str, working_tree_dir: str | None, bare: bool = True) -> None:
        self.git_dir = git_dir
        self.working_tree_dir = working_tree_dir
        self.bare = working_tree_dir is None and bare  # else a git dir without its work tree
        self._env = environment()

    def run(self, *args: str) -> bytes:
        """Standard output of `git ARGS` run in the repository; GitCommandError on failure."""
        return _git(list(args), self.working_tree_dir or self.git_dir, self._env)

    def text(self, *args: str) -> str:
        return self.run(*args).decode("utf-8", "surrogateescape").rstrip("\n")

    @cached_property
    def common_dir(self) -> str:
        """The git directory a worktree shares with its main checkout (the git dir itself in
        a plain checkout)."""
        return self._absolute("--git-common-dir")

    @cached_property
    def index_path(self) -> Path:
        """The index file (`.git/index`, or a worktree's own)."""
        return Path(self._absolute("--git-path", "index"))

    def _absolute(self, *query: str) -> str:
        """A path `git rev-parse` gives relative to the work tree (git < 2.31 has no
        --path-format), made absolute."""
        path = self.text("rev-parse", *query)
        return os.path.join(self.working_tree_dir or self.git_dir, path)

    def resolve_commit(self, revision: str) -> str:
        """The full id of the commit `revision` names; GitCommandError if none (an option
        is never one: `--end-of-options` needs git 2.30)."""
        if not revision or revision.startswith("-"):
            raise GitCommandError(["rev-parse", revision], 128, f"not a revision: {revision!r}")
        return self.text("rev-parse", "--verify", f"{revision}^{{commit}}")


def _git(args: list[str], cwd: str, env: dict[str, str]) -> bytes:
    try:
        done = subprocess.run(["git", "-c", "core.quotepath=off", *args], cwd=cwd, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, check=False)
    except OSError as exc:  # git missing, or the folder vanished
        if shutil.which("git", path=env.get("PATH")) is None:
            raise GitNotFound(args, -1, "git is not installed (no `git` on PATH)") from None
        raise GitCommandError(args, -1, str(exc)) from None
    if done.returncode != 0:
        raise GitCommandError(args, done.returncode,
                              done.stderr.decode("utf-8", "replace"))
    return done.stdout


def _path(raw: bytes) -> str:
    """A path git printed on a line of its own (it may hold any character but NUL)."""
    return raw.decode("utf-8", "surrogateescape").removesuffix("\n")


def open_repo(path: Path) -> Repo:
    """The repository containing `path` (searching upwards), or NotARepository. A repository
    git refuses to open (unsafe ownership, a broken `.git`, a `.git` file pointing nowhere) is
    a GitCommandError with git's own words, never taken for a plain folder. A path inside a
    checkout's `.git` directory opens the checkout."""
    env = environment()
    try:
        git_dir = _path(_git(["rev-parse", "--absolute-git-dir"], str(path), env))
    except GitCommandError as exc:
        # only git's "not in any repository" (a .git file naming a missing directory also
        # says "not a git repository", followed by that directory)
        if "not a git repository (or any" in exc.stderr.lower():
            raise NotARepository(str(path)) from None
        raise
    bare, inside = _git(["rev-parse", "--is-bare-repository", "--is-inside-git-dir"],
                        str(path), env).decode("ascii", "replace").split("\n")[:2]
    if bare == "true":
        return Repo(git_dir, None)
    if inside == "true":  # in a checkout's `.git`: its work tree is the folder above
        if os.path.basename(git_dir) == ".git":
            try:
                above = open_repo(Path(os.path.dirname(git_dir)))
            except (NotARepository, GitCommandError):
                above = None
            if above is not None and above.git_dir == git_dir:
                return above
        # a linked worktree's own git dir, a separate git dir: no work tree here
        return Repo(git_dir, None, bare=False)
    return Repo(git_dir, _path(_git(["rev-parse", "--show-toplevel"], str(path), env)))


def toplevel(repo: Repo) -> Path:
    if repo.working_tree_dir is None and not repo.bare:
        raise NotARepository(
            f"{repo.git_dir} is a git directory (of a linked worktree, or kept apart from its "
            "checkout), not a work tree: map the checkout it belongs to")
    if repo.working_tree_dir is None:
        raise NotARepository(
            f"{repo.git_dir} is a bare repository (it has no working tree): map a checkout or a "
            f"worktree of it instead (`git clone {repo.git_dir} DIR`, or "
            f"`git -C {repo.git_dir} worktree add DIR`)")
    return Path(repo.working_tree_dir).resolve()


def head_commit(repo: Repo) -> str | None:
    """The commit HEAD points at, or None in a repository with no commits."""
    try:
        return repo.text("rev-parse", "--verify", "-q", "HEAD^{commit}") or None
    except GitCommandError as exc:
        if exc.status != 1:
            raise
    try:  # HEAD names an object all the same: one the repository lacks, or not a commit
        named = repo.text("rev-parse", "--verify", "-q", "HEAD")
    except GitCommandError:
        return None  # an unborn branch: no commit yet
    raise GitCommandError(["rev-parse", "HEAD"], 1, f"HEAD points at {named}, which is not a "
                          "commit the repository has (a missing or damaged object)")


def _z_paths(raw: bytes) -> list[str]:
    return [item.decode("utf-8", "surrogateescape") for item in raw.split(b"\0") if item]


def _run(repo: Repo, *args: str) -> bytes:
    return repo.run(*args)


def tracked_files(repo: Repo) -> dict[str, tuple[str, str]]:
    """Index entries, path -> (mode, blob), in the index's order; for merge conflicts the
    first stage wins. Plain tuples: a scan lists every file of the tree (33,000 objects
    cost 30 ms)."""
    out: dict[str, tuple[str, str]] = {}
    # one decode: the fields before the tab are ASCII, and a NUL or tab never falls inside
    # a UTF-8 sequence, so the paths decode as they would one by one
    for entry in _run(repo, "ls-files", "-s", "-z").decode("utf-8", "surrogateescape"
                                                           ).split("\0"):
        if entry:
            meta, _, path = entry.partition("\t")
            if path not in out:
                mode, blob, _stage = meta.split(" ")
                out[path] = (mode, blob)
    return out


def worktree_changes(repo: Repo) -> tuple[set[str], list[str]]:
    """(tracked paths whose working-tree content differs from the index, untracked files
    that .gitignore and .git/info/exclude do not ignore), from one `git status`: one pass
    over the working tree instead of one per question."""
    raw = _run(repo, "status", "--porcelain=v2", "-z", "--untracked-files=all",
               "--no-renames", "--ignore-submodules=all")
    modified: set[str] = set()
    untracked: list[str] = []
    fields = raw.split(b"\0")
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        kind = entry[:1]
        if kind == b"?":
            untracked.append(entry[2:].decode("utf-8", "surrogateescape"))
        elif kind == b"1":  # 1 XY sub mH mI mW hH hI path
            parts = entry.split(b" ", 8)
            if parts[1][1:2] != b".":
                modified.add(parts[8].decode("utf-8", "surrogateescape"))
        elif kind == b"2":  # a rename (not asked for); the original path follows
            parts = entry.split(b" ", 9)
            modified.add(parts[9].decode("utf-8", "surrogateescape"))
            i += 1
        elif kind == b"u":  # unmerged: u XY sub m1 m2 m3 mW h1 h2 h3 path
            modified.add(entry.split(b" ", 10)[10].decode("utf-8", "surrogateescape"))
    return modified, untracked


def modified_tracked(repo: Repo) -> set[str]:
    """Tracked paths whose working-tree content may differ from the index (stat-based)."""
    return set(_z_paths(_run(repo, "diff-files", "--name-only", "-z")))


def untracked_files(repo: Repo) -> list[str]:
    """Untracked files that .gitignore (and .git/info/exclude) do not ignore."""
    return _z_paths(_run(repo, "ls-files", "--others", "--exclude-standard", "-z"))


def is_ancestor(repo: Repo, older: str, newer: str) -> bool:
    try:
        repo.run("merge-base", "--is-ancestor", older, newer)
        return True
    except GitCommandError:
        return False


def exclude_file(repo: Repo) -> Path:
    """`.git/info/exclude` of the repository (shared by all its worktrees)."""
    path = Path(repo.text("rev-parse", "--git-path", "info/exclude"))  # relative to the work tree
    if not path.is_absolute():
        path = toplevel(repo) / path
    return path.resolve()


def ensure_excluded(repo: Repo, entry: str) -> bool:
    """Add `entry` to .git/info/exclude if missing (never to .gitignore). True if added."""
    path = exclude_file(repo)
    existing = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    if entry in existing or entry.rstrip("/") in existing:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = "" if not existing or path.read_text(encoding="utf-8").endswith("\n") else "\n"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"{prefix}# sleepcoder's map store\n{entry}\n")
    return True


def make_store_dir(store_dir: Path, root: Path, repo: Repo | None,
                   on_notice: Callable[[str], None] | None = None) -> Path:
    """Create sleepcoder's store directory (map, runs, checkpoints, worktrees, cache). Inside
    the work tree it is also listed in .git/info/exclude, so `git status` never shows it:
    every command that writes to the store starts here."""
    from sleepcoder.tools.store_location import prepare_store_dir

    prepare_store_dir(store_dir)  # a symlink, a file or an unwritable place: a StoreError
    resolved = store_dir.resolve()
    if repo is not None and resolved != root.resolve() and resolved.is_relative_to(root):
        entry = f"/{resolved.relative_to(root.resolve()).as_posix()}/"
        try:
            ensure_excluded(repo, entry)
        except OSError as exc:  # a read-only .git: the store still works
            if on_notice is not None:
                on_notice(f"could not add {entry} to .git/info/exclude ({exc.strerror}): git "
                          "will list the map store as untracked")
    return store_dir


def blob_hash(data: bytes) -> str:
    """The git blob id of `data`, so content outside git is keyed the same way as inside."""
    digest = hashlib.sha1(b"blob %d\0" % len(data))
    digest.update(data)
    return digest.hexdigest()


def promisor_remote(repo: Repo) -> str | None:
    """The remote a partial clone (made with --filter) fetches the objects it lacks from on
    demand, or None. Git records it in `remote.NAME.promisor` and, in newer repository
    formats, `extensions.partialclone`."""
    try:
        lines = repo.text("config", "--get-regexp",
                          r"^(extensions\.partialclone|remote\..*\.promisor)$")
    except GitCommandError:  # none set
        return None
    for line in lines.splitlines():
        key, _, value = line.partition(" ")
        if key == "extensions.partialclone" and value.strip():
            return value.strip()
        if key.endswith(".promisor") and value.strip().lower() in ("true", "yes", "on", "1"):
            return key.removeprefix("remote.").removesuffix(".promisor")
    return None


def missing_objects(repo: Repo, commit: str) -> set[str]:
    """Objects of `commit`'s tree absent from the object store (a partial clone's unfetched
    blobs, a pruned mirror's dropped ones). `--missing=print` also keeps git from fetching
    them, so this never touches the network."""
    raw = _run(repo, "rev-list", "--objects", "--missing=print", "--no-walk", commit)
    return {line[1:].strip() for line in raw.decode("ascii", "replace").splitlines()
            if line.startswith("?")}


def paths_of(repo: Repo, commit: str, objects: set[str]) -> list[str]:
    """Files of `commit` whose blob is one of `objects` (e.g. the missing ones). A missing
    directory listing (tree) cannot be worked around: git's error is raised."""
    out = []
    for entry in _run(repo, "ls-tree", "-r", "-z", "--full-tree", commit).split(b"\0"):
        meta, _, raw_path = entry.partition(b"\t")
        if raw_path and meta.split()[2].decode() in objects:
            out.append(raw_path.decode("utf-8", "surrogateescape"))
    return sorted(out)
