"""An exclusive lock per map store, so two `sleepcoder map` runs never write one map at once."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sleepcoder.tools.store_location import prepare_store_dir

LOCK_NAME = "map.lock"


class MapBusy(Exception):
    """Another process holds the map lock and did not release it in time."""


def _holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        return "another process"
    return f"process {pid}" if pid else "another process"


@contextmanager
def map_lock(
    store_dir: Path, timeout: float, on_wait: Callable[[str], None] | None = None,
    name: str = LOCK_NAME, what: str = "map",
) -> Iterator[None]:
    """Hold the store's lock `name`; wait up to `timeout` seconds (0 = do not wait) for it.

    Raises tools.store_location.StoreError when the store directory cannot be written."""
    prepare_store_dir(store_dir)
    path = store_dir / name
    handle = open(path, "a+")  # noqa: SIM115 - held for the duration of the context
    try:
        deadline = time.monotonic() + timeout
        warned = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise MapBusy(
                        f"the {what} at {store_dir} is busy: {_holder(path)} is updating it "
                        f"(waited {timeout:.0f} s); try again when it has finished"
                    ) from None
                if not warned and on_wait is not None:
                    on_wait(f"the {what} is being updated by {_holder(path)}; waiting for it")
                    warned = True
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the flock
