"""Thin helpers over gitpython for what the map needs: file listings, HEAD, ancestry, excludes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import git


class NotARepository(Exception):
    pass


def open_repo(path: Path) -> git.Repo:
    """The repository containing `path` (searching upwards), or NotARepository."""
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise NotARepository(str(path)) from exc
    repo.git.update_environment(GIT_LITERAL_PATHSPECS="1")  # paths are never patterns
    return repo


def toplevel(repo: git.Repo) -> Path:
    if repo.working_tree_dir is None:
        raise NotARepository(
            f"{repo.git_dir} is a bare repository (it has no working tree): map a checkout or a "
            f"worktree of it instead (`git clone {repo.git_dir} DIR`, or "
            f"`git -C {repo.git_dir} worktree add DIR`)")
    return Path(repo.working_tree_dir).resolve()


def head_commit(repo: git.Repo) -> str | None:
    """The commit HEAD points at, or None in a repository with no commits."""
    try:
        return repo.head.commit.hexsha
    except ValueError:
        return None


def _z_paths(raw: bytes) -> list[str]:
    return [item.decode("utf-8", "surrogateescape") for item in raw.split(b"\0") if item]


def _run(repo: git.Repo, *args: str) -> bytes:
    return repo.git.execute(["git", "-c", "core.quotepath=off", *args], stdout_as_string=False)


def tracked_files(repo: git.Repo) -> dict[str, tuple[str, str]]:
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


def worktree_changes(repo: git.Repo) -> tuple[set[str], list[str]]:
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


def modified_tracked(repo: git.Repo) -> set[str]:
    """Tracked paths whose working-tree content may differ from the index (stat-based)."""
    return set(_z_paths(_run(repo, "diff-files", "--name-only", "-z")))


def untracked_files(repo: git.Repo) -> list[str]:
    """Untracked files that .gitignore (and .git/info/exclude) do not ignore."""
    return _z_paths(_run(repo, "ls-files", "--others", "--exclude-standard", "-z"))


def is_ancestor(repo: git.Repo, older: str, newer: str) -> bool:
    try:
        repo.git.merge_base("--is-ancestor", older, newer)
        return True
    except git.GitCommandError:
        return False


def exclude_file(repo: git.Repo) -> Path:
    """`.git/info/exclude` of the repository (shared by all its worktrees)."""
    path = Path(repo.git.rev_parse("--git-path", "info/exclude"))  # relative to the work tree
    if not path.is_absolute():
        path = toplevel(repo) / path
    return path.resolve()


def ensure_excluded(repo: git.Repo, entry: str) -> bool:
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


def make_store_dir(store_dir: Path, root: Path, repo: git.Repo | None,
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


def promisor_remote(repo: git.Repo) -> str | None:
    """The remote a partial clone (made with --filter) fetches the objects it lacks from on
    demand, or None. Git records it in `remote.NAME.promisor` and, in newer repository
    formats, `extensions.partialclone`."""
    try:
        lines = repo.git.config("--get-regexp",
                                r"^(extensions\.partialclone|remote\..*\.promisor)$")
    except git.GitCommandError:  # none set
        return None
    for line in lines.splitlines():
        key, _, value = line.partition(" ")
        if key == "extensions.partialclone" and value.strip():
            return value.strip()
        if key.endswith(".promisor") and value.strip().lower() in ("true", "yes", "on", "1"):
            return key.removeprefix("remote.").removesuffix(".promisor")
    return None


def missing_objects(repo: git.Repo, commit: str) -> set[str]:
    """Objects of `commit`'s tree absent from the object store (a partial clone's unfetched
    blobs, a pruned mirror's dropped ones). `--missing=print` also keeps git from fetching
    them, so this never touches the network."""
    raw = _run(repo, "rev-list", "--objects", "--missing=print", "--no-walk", commit)
    return {line[1:].strip() for line in raw.decode("ascii", "replace").splitlines()
            if line.startswith("?")}


def paths_of(repo: git.Repo, commit: str, objects: set[str]) -> list[str]:
    """Files of `commit` whose blob is one of `objects` (e.g. the missing ones). A missing
    directory listing (tree) cannot be worked around: git's error is raised."""
    out = []
    for entry in _run(repo, "ls-tree", "-r", "-z", "--full-tree", commit).split(b"\0"):
        meta, _, raw_path = entry.partition(b"\t")
        if raw_path and meta.split()[2].decode() in objects:
            out.append(raw_path.decode("utf-8", "surrogateescape"))
    return sorted(out)
