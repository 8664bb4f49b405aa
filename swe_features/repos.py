"""Where an evaluation finds each repository, and the snapshot worktree that walks its base
commits (so the map of one repository is refreshed incrementally from task to task)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from sleepcoder.tools import gitutil
from sleepcoder.tools.errors import clip, git_error
from sleepcoder.tools.worktree import GitError, git

_NO_PROMPT = {"GIT_TERMINAL_PROMPT": "0"}  # a remote must not wait for a password


class RepoNotFound(RuntimeError):
    pass


def locate(repo: str, repos_dir: Path | None, repo_paths: dict[str, Path],
           cache_dir: Path) -> Path:
    """A local clone or bare mirror of `repo` ("owner/name"): --repo-path, then
    `repos_dir/owner/name`, `repos_dir/owner+name` (or its `repo/` folder), then a clone from
    GitHub kept in the cache."""
    if repo in repo_paths:
        return _checked(repo_paths[repo], repo)
    owner, name = repo.split("/", 1)
    if repos_dir is not None:
        for candidate in (repos_dir / owner / name, repos_dir / f"{owner}+{name}" / "repo",
                          repos_dir / f"{owner}+{name}", repos_dir / name):
            if _is_git(candidate):
                return candidate
    cached = cache_dir / "clones" / f"{owner}+{name}"
    if _is_git(cached):
        return cached
    cached.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["git", "clone", "--bare", "--quiet",
                             f"https://github.com/{repo}.git", str(cached)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RepoNotFound(f"{repo}: not under --repos-dir or --repo-path, and cloning from "
                           f"GitHub failed: {result.stderr.strip()[:200]}")
    return cached


def _is_git(path: Path) -> bool:
    if not path.is_dir():
        return False
    result = subprocess.run(["git", "-C", str(path), "rev-parse", "--git-dir"],
                            capture_output=True, text=True)
    return result.returncode == 0


def _checked(path: Path, repo: str) -> Path:
    if not _is_git(path):
        raise RepoNotFound(f"{repo}: {path} is not a git repository")
    return path


class Snapshot:
    """A checkout of the source repository, moved from base commit to base commit: a clone
    that shares the source's objects (`git clone --shared`), so that what it changes (its
    sparse-checkout setting, the solves' scratch worktrees) stays out of the source.

    A repository can lack objects (a partial clone, a mirror whose largest blobs were
    dropped). Those of a partial clone are first fetched from its remote, as git itself would;
    the files whose content is still missing are left out with a sparse checkout, which the
    solves' scratch worktrees inherit, and everything else is checked out."""

    def __init__(self, source: Path, path: Path) -> None:
        self.source = source
        self.path = path

    def checkout(self, commit: str) -> list[str]:
        """Check out `commit`; returns the paths left out because their content is missing."""
        self._create()
        try:
            repo = gitutil.open_repo(self.path)
            missing = gitutil.missing_objects(repo, commit)
            if missing and self._fetch(missing):
                missing = gitutil.missing_objects(repo, commit)
            left_out = gitutil.paths_of(repo, commit, missing) if missing else []
        except (gitutil.GitCommandError, gitutil.NotARepository) as exc:
            raise GitError(f"cannot list the files of {commit[:10]}: {git_error(exc)}") from None
        if left_out or self._sparse_enabled():
            self._write_patterns(left_out)
        result = git(self.path, "checkout", "-q", "--detach", "--force", commit,
                     env=_NO_PROMPT, check=False)
        if result.returncode != 0:
            raise GitError(f"git checkout {commit[:10]} failed: {clip(result.stderr)}")
        git(self.path, "clean", "-qfdx", "-e", ".sleepcoder")
        return left_out

    def _create(self) -> None:
        dot_git = self.path / ".git"
        if dot_git.is_file():  # a worktree of the source, made by an earlier version
            git(self.source, "worktree", "remove", "--force", str(self.path), check=False)
            shutil.rmtree(self.path, ignore_errors=True)
            git(self.source, "worktree", "prune", check=False)
        if not dot_git.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            git(self.path.parent, "clone", "--quiet", "--shared", "--no-checkout",
                str(self.source.resolve()), str(self.path))

    def _fetch(self, missing: set[str]) -> bool:
        """Fetch `missing` from the source's remote if it is a partial clone (what git does
        on demand, in one batch); False if it is not, or the remote cannot serve them."""
        remote = gitutil.promisor_remote(gitutil.open_repo(self.source))
        if remote is None:
            return False
        result = git(self.source, "-c", "fetch.negotiationAlgorithm=noop", "fetch", remote,
                     "--no-tags", "--no-write-fetch-head", "--recurse-submodules=no",
                     "--filter=blob:none", "--stdin", input="\n".join(sorted(missing)) + "\n",
                     env=_NO_PROMPT, check=False)
        return result.returncode == 0

    def _sparse_enabled(self) -> bool:
        result = git(self.path, "config", "--get", "core.sparseCheckout", check=False)
        return result.stdout.strip() == "true"

    def _write_patterns(self, left_out: list[str]) -> None:
        """Every path but `left_out`, as the snapshot's sparse-checkout patterns (`git
        worktree add` copies them into each scratch worktree)."""
        where = self.path / ".git" / "info" / "sparse-checkout"
        where.parent.mkdir(parents=True, exist_ok=True)
        lines = ["/*"] + [f"!/{_escape(path)}" for path in left_out]
        where.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
        git(self.path, "config", "core.sparseCheckout", "true")

    def has_commit(self, commit: str) -> bool:
        result = git(self.source, "cat-file", "-e", f"{commit}^{{commit}}", check=False)
        return result.returncode == 0


def _escape(path: str) -> str:
    """A path as a literal gitignore-style pattern."""
    out = "".join("\\" + c if c in "*?[\\" else c for c in path)
    return out[:-1] + "\\ " if out.endswith(" ") else out
