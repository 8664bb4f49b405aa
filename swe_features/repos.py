"""Where an evaluation finds each repository, and the snapshot worktree that walks its base
commits (so the map of one repository is refreshed incrementally from task to task)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tools.worktree import git


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
    """A detached worktree of the source repository, moved from base commit to base commit."""

    def __init__(self, source: Path, path: Path) -> None:
        self.source = source
        self.path = path

    def checkout(self, commit: str) -> None:
        if not (self.path / ".git").exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            git(self.source, "worktree", "prune", check=False)
            git(self.source, "worktree", "add", "--detach", "--force", str(self.path), commit)
            return
        git(self.path, "checkout", "-q", "--detach", "--force", commit)
        git(self.path, "clean", "-qfdx", "-e", ".sleepcoder")

    def has_commit(self, commit: str) -> bool:
        result = git(self.source, "cat-file", "-e", f"{commit}^{{commit}}", check=False)
        return result.returncode == 0
