"""Scratch clones for running tests: the base commit's tree written out of the repository's
objects into a fresh folder outside it, made a new git repository with no remote, no config
of the user's and no credentials, with the patch applied to its working tree.

Model-written code runs here, never in a worktree of the user's (or CI's) repository, whose
`.git/config` may hold a push token. Blobs missing from the repository (partial clones,
mirrors without their largest files) are left out and counted, not fatal.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from sleepcoder.tools.worktree import GitError

_IDENTITY = {"GIT_AUTHOR_NAME": "sleepcoder", "GIT_AUTHOR_EMAIL": "sleepcoder@localhost",
             "GIT_COMMITTER_NAME": "sleepcoder", "GIT_COMMITTER_EMAIL": "sleepcoder@localhost"}


@dataclass
class ScratchClone:
    path: Path  # the working tree the tests run in
    home: Path  # HOME and TMPDIR of the test command live under here, outside the tree
    files: int = 0
    missing: list[str] | None = None  # paths whose blob the repository lacks
    unsafe: list[str] | None = None  # paths a checkout must not create (.git, ..)

    def remove(self) -> None:
        shutil.rmtree(self.path.parent, ignore_errors=True)

    def summary(self) -> dict:
        return {"files": self.files, "missing_blobs": len(self.missing or []),
                "skipped_paths": len(self.unsafe or [])}


def _clean_env(home: Path) -> dict[str, str]:
    """git's environment for the scratch repository: nothing from the user's configuration."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0", "LANG": "C.UTF-8", **_IDENTITY}


def _run(cwd: Path, args: list[str], env: dict[str, str], data: bytes | None = None) -> bytes:
    result = subprocess.run(["git", *args], cwd=cwd, env=env, input=data, capture_output=True)
    if result.returncode != 0:
        raise GitError(f"git {' '.join(args[:2])} failed in the scratch clone: "
                       f"{result.stderr.decode('utf-8', 'replace').strip()[:300]}")
    return result.stdout


OWNER_FILE = "sleepcoder-owner"
STALE_SECONDS = 3600


def scratch_root() -> Path:
    """Where scratch clones are made: `$SLEEPCODER_SCRATCH_DIR`, else sleepcoder's cache
    folder, else the system temp folder. Not under /tmp by default: the sandbox replaces /tmp
    with an empty folder (other processes' sockets live there)."""
    for candidate in (os.environ.get("SLEEPCODER_SCRATCH_DIR"),
                      os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                   os.path.join(os.path.expanduser("~"), ".cache"),
                                   "sleepcoder", "scratch"),
                      tempfile.gettempdir()):
        if not candidate:
            continue
        path = Path(candidate)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(path, os.W_OK | os.X_OK):
            return path.resolve()
    raise OSError("no writable folder for scratch clones (set SLEEPCODER_SCRATCH_DIR)")


def remove_stale(root: Path | None = None, older_than: float = STALE_SECONDS) -> list[Path]:
    """Scratch folders whose process is gone (killed before it could clean up), older than
    `older_than` seconds; removed, and returned."""
    import time

    root = root or scratch_root()
    removed = []
    for top in root.glob("sleepcoder-test-*"):
        try:
            pid = int((top / OWNER_FILE).read_text().split()[0])
            age = time.time() - top.stat().st_mtime
        except (OSError, ValueError, IndexError):
            continue
        if age > older_than and not _alive(pid):
            shutil.rmtree(top, ignore_errors=True)
            removed.append(top)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def create(repo: Path, base: str, patch: str) -> ScratchClone:
    """A scratch clone of `repo` at `base` with `patch` applied, in a new scratch folder."""
    root = scratch_root()
    remove_stale(root)
    top = Path(tempfile.mkdtemp(prefix="sleepcoder-test-", dir=root))
    (top / OWNER_FILE).write_text(f"{os.getpid()}\n")
    clone = ScratchClone(top / "tree", top / "home")
    try:
        clone.path.mkdir()
        clone.home.mkdir()
        (clone.home / "tmp").mkdir()
        clone.files, clone.missing, clone.unsafe = write_tree(repo, base, clone.path)
        env = _clean_env(clone.home)
        _run(clone.path, ["init", "-q"], env)
        _run(clone.path, ["add", "-A"], env)
        _run(clone.path, ["-c", "commit.gpgsign=false", "commit", "-q", "--no-verify",
                          "--allow-empty", "-m", f"base {base}"], env)
        if patch.strip():
            _run(clone.path, ["apply", "--whitespace=nowarn", "-"], env, patch.encode())
    except BaseException:
        clone.remove()
        raise
    return clone


def _safe(path: bytes) -> bool:
    parts = path.split(b"/")
    return all(p and p not in (b".", b"..") and p.lower() != b".git" for p in parts)


def write_tree(repo: Path, commit: str, dest: Path) -> tuple[int, list[str], list[str]]:
    """Write the files of `commit` into `dest` straight from the object database (no checkout,
    no index of the repository touched). Returns (files written, missing, unsafe paths)."""
    listing = subprocess.run(["git", "ls-tree", "-r", "-z", "--full-tree", commit], cwd=repo,
                             capture_output=True)
    if listing.returncode != 0:
        raise GitError(f"cannot list the files of {commit[:12]}: "
                       f"{listing.stderr.decode('utf-8', 'replace').strip()[:300]}")
    entries = []
    unsafe: list[str] = []
    for raw in listing.stdout.split(b"\0"):
        if not raw:
            continue
        meta, _, path = raw.partition(b"\t")
        mode, kind, sha = meta.split(b" ")
        if not _safe(path):
            unsafe.append(path.decode("utf-8", "replace"))
        elif kind == b"commit":  # a submodule: an empty folder, as a plain checkout leaves it
            (dest / os.fsdecode(path)).mkdir(parents=True, exist_ok=True)
        elif kind == b"blob":
            entries.append((mode, sha, path))
    missing: list[str] = []
    written = 0
    reader = subprocess.Popen(["git", "cat-file", "--batch"], cwd=repo, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert reader.stdin is not None and reader.stdout is not None
    feeder = threading.Thread(target=_feed, args=(reader.stdin, [e[1] for e in entries]),
                              daemon=True)
    feeder.start()
    try:
        for mode, _sha, path in entries:
            header = reader.stdout.readline().split()
            if len(header) < 3 or header[1] != b"blob":
                missing.append(path.decode("utf-8", "replace"))
                continue
            data = reader.stdout.read(int(header[2]))
            reader.stdout.read(1)  # the newline after each object
            _write(dest / os.fsdecode(path), mode, data)
            written += 1
    finally:
        feeder.join()
        reader.stdout.close()
        reader.wait()
    return written, missing, unsafe


def _feed(stdin, shas: list[bytes]) -> None:
    with contextlib.suppress(BrokenPipeError):
        try:
            for sha in shas:
                stdin.write(sha + b"\n")
        finally:
            stdin.close()


def _write(target: Path, mode: bytes, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if mode == b"120000":
        os.symlink(os.fsdecode(data), target)
        return
    target.write_bytes(data)
    if mode == b"100755":
        target.chmod(0o755)
