"""The `owner/name` a mined repository's records carry: from its remote URL when that names a
hosted repository, else from the `OWNER+NAME` folder convention of fetched mirrors."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

# `git@host:owner/name.git` (scp-like: no scheme, a colon before the first slash)
_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?[^/:]+:(?!//)(?P<path>.+)$")
# What GitHub (and the other hosts) allow in an owner or repository name. Anything else (`..`,
# spaces, escape sequences) would end up in file names and terminal output: not a name.
_PART = re.compile(r"^(?!\.{1,2}$)[A-Za-z0-9_.-]{1,100}$")


def _named(owner: str, name: str) -> str | None:
    return f"{owner}/{name}" if _PART.match(owner) and _PART.match(name) else None


def repo_name(repo: Path) -> str:
    """`owner/name` for the repository (a checkout or a bare mirror) at `repo`: its
    `remote.origin.url` when that is a hosted repository's URL; when the remote is a local path
    (a clone of a mirror) or absent, the folder convention `.../OWNER+NAME[/repo]` applied to
    the remote's path, then to `repo` itself; `local/FOLDER` when nothing names one."""
    url = _origin_url(repo)
    named = name_from_url(url) if url else None
    if named:
        return named
    if url and _is_local(url):
        named = name_from_folder(Path(url.removeprefix("file://")))
        if named:
            return named
    folder = repo.resolve()
    fallback = re.sub(r"[^A-Za-z0-9_.-]", "_", folder.name).strip(".") or "repository"
    return name_from_folder(folder) or f"local/{fallback}"


def name_from_url(url: str) -> str | None:
    """`owner/name` of a hosted repository's URL (https, ssh, git, scp-like `git@host:o/n`);
    None for a local path or a URL without both parts."""
    url = url.strip()
    if not url or _is_local(url):
        return None
    parts = urlsplit(url)
    if parts.scheme and parts.netloc:
        path = parts.path
    else:
        scp = _SCP_LIKE.match(url)
        if scp is None:
            return None
        path = scp.group("path")
    segments = [s for s in path.strip("/").split("/") if s]
    if len(segments) < 2:
        return None
    owner, name = segments[-2], segments[-1].removesuffix(".git")
    return _named(owner, name)


def name_from_folder(folder: Path) -> str | None:
    """`owner/name` from a fetched mirror's folder: `OWNER+NAME`, or `OWNER+NAME/repo`."""
    if folder.name == "repo":
        folder = folder.parent
    owner, plus, name = folder.name.partition("+")
    return _named(owner, name) if plus else None


def _is_local(url: str) -> bool:
    return url.startswith(("/", "./", "../", "~", "file://")) or url in (".", "..") or (
        len(url) > 2 and url[1] == ":" and url[2] in "\\/")  # C:\ or C:/


def _origin_url(repo: Path) -> str:
    # the ceiling keeps git from answering with the URL of a repository that encloses `repo`
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(repo.resolve().parent)}
    result = subprocess.run(["git", "-C", str(repo), "config", "--get", "remote.origin.url"],
                            capture_output=True, text=True, env=env)
    return result.stdout.strip()
