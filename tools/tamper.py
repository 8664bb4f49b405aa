"""Without namespaces a test command can write anywhere its user can: the files where a
command could be planted for later (git configuration and hooks, shell start-up files,
package-manager configuration) are fingerprinted before it runs and compared after, so a
change is reported, and the bot stops before running git again."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

HOME_FILES = (".gitconfig", ".config/git/config", ".config/git/attributes", ".bashrc",
              ".bash_profile", ".bash_login", ".profile", ".zshrc", ".zprofile", ".zshenv",
              ".ssh/config", ".ssh/authorized_keys", ".ssh/rc", ".npmrc", ".yarnrc", ".pypirc",
              ".netrc", ".git-credentials", ".config/pip/pip.conf", ".pip/pip.conf",
              ".condarc", ".config/gh/hosts.yml")
GIT_FILES = ("config", "hooks", "info/attributes", "info/exclude")


def watched(hidden: list[Path], home: str | None = None) -> list[Path]:
    """The files to watch: the home folder's, the system git configuration, and, for each
    git folder among `hidden`, its configuration and hooks."""
    home = home if home is not None else os.environ.get("HOME", "")
    paths = [Path(home) / name for name in HOME_FILES] if home else []
    paths.append(Path("/etc/gitconfig"))
    for place in hidden:
        if place.name == ".git" or (place / "HEAD").is_file():
            paths += [place / name for name in GIT_FILES]
    return paths


def _fingerprint(path: Path) -> str:
    try:
        if path.is_dir():
            entries = sorted(os.listdir(path))
            return "dir:" + hashlib.sha256("\0".join(
                f"{e}:{_fingerprint(path / e)}" for e in entries).encode()).hexdigest()
        info = path.stat()
        if info.st_size > 4_000_000:
            return f"file:{info.st_size}:{info.st_mtime_ns}"
        return "file:" + hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return "absent"
    except OSError as exc:
        return f"unreadable:{exc.errno}"


def snapshot(paths: list[Path]) -> dict[Path, str]:
    return {path: _fingerprint(path) for path in paths}


def changes(before: dict[Path, str]) -> list[str]:
    """The watched paths whose content (or presence) changed since `before`."""
    return [str(path) for path, mark in before.items() if _fingerprint(path) != mark]
