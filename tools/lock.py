"""An exclusive lock per map store, so two `sleepcoder map` runs never write one map at once."""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sleepcoder.tools.store_location import (
    StoreError,
    open_in_store,
    prepare_store_dir,
    refuse_link,
)

LOCK_NAME = "map.lock"
POLL_SECONDS = 0.2


class MapBusy(Exception):
    """Another process holds the map lock and did not release it in time."""


class _Flock:
    """An exclusive `flock` on a store file, held by this object's descriptor. (The package
    filelock does the same on POSIX, and the two exclude each other; its import cost 20 to 40
    ms of every map refresh.) The file is opened without following a link at its name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def try_acquire(self) -> bool:
        try:
            fd = open_in_store(self.path, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise StoreError(f"cannot open the lock file {self.path}: "
                             f"{exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise StoreError(f"cannot lock {self.path}: {exc.strerror or exc}") from None
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)  # closing the only descriptor drops the lock


def _holder_file(lock_path: Path) -> Path:
    # Who holds the lock is written beside it, not into it: the lock file is opened by every
    # waiter (and truncated by older versions, which used the filelock package).
    return lock_path.with_name(lock_path.name + ".pid")


def _holder(lock_path: Path) -> str:
    try:
        pid = _holder_file(lock_path).read_text().strip()
    except OSError:
        return "another process"
    return f"process {pid}" if pid else "another process"


def _acquire(lock: _Flock, path: Path, timeout: float,
             on_wait: Callable[[str], None] | None, where: str, what: str) -> None:
    """Take `lock` at once, or tell `on_wait` and wait up to `timeout` seconds; MapBusy when it
    stays held."""
    if lock.try_acquire():
        return
    if timeout > 0:
        if on_wait is not None:
            on_wait(f"the {what} is being updated by {_holder(path)}; waiting for it")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
            if lock.try_acquire():
                return
    raise MapBusy(f"{where} is busy: {_holder(path)} is updating it (waited {timeout:.0f} s); "
                  "try again when it has finished")


def _write_holder(holder: Path) -> None:
    try:
        fd = open_in_store(holder, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    except OSError as exc:
        raise StoreError(f"cannot write {holder}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(str(os.getpid()))


@contextmanager
def map_lock(
    store_dir: Path, timeout: float, on_wait: Callable[[str], None] | None = None,
    name: str = LOCK_NAME, what: str = "map",
) -> Iterator[None]:
    """Hold the store's lock `name`; wait up to `timeout` seconds (0 = do not wait) for it.

    Raises tools.store_location.StoreError when the store directory cannot be written."""
    prepare_store_dir(store_dir)
    path = store_dir / name
    holder = _holder_file(path)
    for link in (path, holder):  # said plainly; the opens below refuse links too
        refuse_link(link)
    lock = _Flock(path)
    _acquire(lock, path, timeout, on_wait, f"the {what} at {store_dir}", what)
    try:
        _write_holder(holder)
        yield
    finally:
        holder.unlink(missing_ok=True)  # while still held: no other holder has written it
        lock.release()
