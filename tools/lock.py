"""An exclusive lock per map store, so two `sleepcoder map` runs never write one map at once."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout
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


def _holder_file(lock_path: Path) -> Path:
    # Who holds the lock is written beside it, not into it: a waiter may truncate the lock
    # file when it opens it (filelock on Unix), and Windows forbids writing a locked range.
    return lock_path.with_name(lock_path.name + ".pid")


def _holder(lock_path: Path) -> str:
    try:
        pid = _holder_file(lock_path).read_text().strip()
    except OSError:
        return "another process"
    return f"process {pid}" if pid else "another process"


def _acquire(lock: FileLock, path: Path, timeout: float,
             on_wait: Callable[[str], None] | None, where: str, what: str) -> None:
    """Take `lock` at once, or tell `on_wait` and wait up to `timeout` seconds; MapBusy when it
    stays held."""
    try:
        lock.acquire(timeout=0)
        return
    except Timeout:
        pass
    if timeout > 0:
        if on_wait is not None:
            on_wait(f"the {what} is being updated by {_holder(path)}; waiting for it")
        try:
            lock.acquire(timeout=timeout, poll_interval=POLL_SECONDS)
            return
        except Timeout:
            pass
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
    # filelock opens (and truncates) the lock file by name: never through a committed link
    for link in (path, holder):
        refuse_link(link)
    lock = FileLock(str(path))
    _acquire(lock, path, timeout, on_wait, f"the {what} at {store_dir}", what)
    try:
        _write_holder(holder)
        yield
    finally:
        holder.unlink(missing_ok=True)  # while still held: no other holder has written it
        lock.release()
