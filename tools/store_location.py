"""Where a map store may live: refuse a store path that is a symbolic link or a file, create the
directory, check that this process may write in it, and open a database read-only when not."""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from pathlib import Path

# Said whenever the store cannot be written: the map can always be kept somewhere else.
ELSEWHERE = "pass `--store DIR` to keep the map in a writable directory"


class StoreError(Exception):
    """The map database cannot be used as it is; the message says how to recover.

    Defined here so that this module needs nothing from tools.store, which re-exports it.
    """


class MapMissing(StoreError):
    pass


def check_location(store_dir: Path) -> None:
    """Refuse a store path that is a symbolic link, or that exists and is not a directory.

    A repository could commit `.sleepcoder` as a link to a directory of the user's, and the map
    (and `map --rebuild`, which deletes files) would then be written there. The command line
    resolves `--store`, so a link the user names there is followed.
    """
    if store_dir.is_symlink():
        target = store_dir.resolve()
        raise StoreError(
            f"the map store {store_dir} is a symbolic link (to {target}), which sleepcoder does "
            f"not follow: remove the link, or pass `--store {target}` to use that directory")
    if store_dir.exists() and not store_dir.is_dir():
        raise StoreError(f"the map store {store_dir} is a file, not a directory: move the file "
                         "away, or pass `--store DIR` to keep the map elsewhere")
    linked = linked_entry(store_dir)
    if linked is not None:
        raise StoreError(
            f"the map store {store_dir} holds a symbolic link, {linked.relative_to(store_dir)} "
            f"(to {os.readlink(linked)}), which sleepcoder does not follow: a link committed "
            "there would make the map, its lock or its logs write outside the repository; "
            "remove the link")


CHECKOUTS = "worktrees"  # the runs' checkouts: a repository's own links belong there


def linked_entry(store_dir: Path) -> Path | None:
    """The first symbolic link inside `store_dir` (None: none, or no such folder), apart from
    what the runs' checkouts hold (`worktrees/<run>/...`, the repository's own files, which
    may be links; the folder `worktrees` itself is checked). Links are not followed."""
    if not store_dir.is_dir():
        return None
    for folder, dirs, files in os.walk(store_dir, followlinks=False):
        here = Path(folder)
        for name in sorted(dirs + files):
            if (here / name).is_symlink():
                return here / name
        if here.parent == store_dir and here.name == CHECKOUTS:
            dirs.clear()  # each run's checkout: not ours to judge
        elif here == store_dir:
            dirs[:] = [d for d in dirs if not (here / d).is_symlink()]
    return None


def open_in_store(path: Path, flags: int) -> int:
    """Open the store file `path` (a file descriptor) without following a symbolic link at its
    name, which a repository could commit (`.sleepcoder/hooks.log -> ../../somewhere`): that
    is an OSError, as is anything but a regular file."""
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    return fd


def refuse_link(path: Path) -> None:
    """StoreError when the store file `path` is a symbolic link (see open_in_store)."""
    if path.is_symlink():
        raise StoreError(f"{path} is a symbolic link, which sleepcoder does not write "
                         "through: remove it, then try again")


def prepare_store_dir(store_dir: Path) -> None:
    """Make `store_dir` ready for a command that writes the map: create it (and any missing
    parents) and check that this process may write in it and in the files already there."""
    check_location(store_dir)
    try:
        store_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        if isinstance(exc, FileExistsError | NotADirectoryError):
            raise StoreError(f"cannot create the map store {store_dir}: a part of that path "
                             "is a file, not a directory; pass `--store DIR` to keep the map "
                             "elsewhere") from None
        raise StoreError(f"cannot create the map store {store_dir} ({reason}); "
                         f"{ELSEWHERE}") from None
    blocked = unwritable(store_dir)
    if blocked is not None:
        where = f"the map store {store_dir}" if blocked == store_dir else \
            f"{blocked} in the map store"
        raise StoreError(f"cannot write {where} ({why_unwritable(blocked)}); {ELSEWHERE}")


def unwritable(store_dir: Path) -> Path | None:
    """The store directory, or the first file in it, that this process may not write; None
    when all can be written. (As root, only a read-only file system stops a write.)"""
    if not os.access(store_dir, os.R_OK | os.W_OK | os.X_OK):
        return store_dir
    for entry in sorted(store_dir.iterdir()):
        if entry.is_file() and not os.access(entry, os.W_OK):
            return entry
    return None


def why_unwritable(path: Path) -> str:
    """'read-only file system' or 'permission denied', for a path os.access found unwritable."""
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return "read-only file system"
    except OSError:
        pass
    return "permission denied"


def connect_readonly(db: Path) -> sqlite3.Connection:
    """Open `db` for reading where its directory cannot be written (a read-only mount, a
    directory without write permission), so `map show` still works there.

    A WAL database needs its `-shm` file; when that cannot be created either, the database is
    opened as immutable, which is only correct when no write-ahead log holds transactions.
    """
    uri = db.resolve().as_uri()
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30.0, isolation_level=None)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
    wal = Path(f"{db}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise StoreError(f"cannot read the map at {db}: its write-ahead log {wal.name} holds "
                         "changes that can be read only where the directory is writable; run "
                         "the command where it is, or build a map with `--store DIR`")
    return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None)
