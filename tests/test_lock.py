"""The map store's lock between processes: held while a process lives, gone when it dies
(however it dies), never taken through a link a repository committed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sleepcoder.tools.lock import MapBusy, map_lock
from sleepcoder.tools.store_location import StoreError

HOLD = ("import sys, time\n"
        "from pathlib import Path\n"
        "from sleepcoder.tools.lock import map_lock\n"
        "with map_lock(Path(sys.argv[1]), timeout=0):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(float(sys.argv[2]))\n")


def _holder(store_dir, seconds: float) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(store_dir), str(seconds)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_lock_held_by_another_process_is_busy_and_names_it(tmp_path):
    store_dir = tmp_path / ".sleepcoder"
    holder = _holder(store_dir, 60)
    try:
        with pytest.raises(MapBusy, match=f"process {holder.pid} is updating it"), \
                map_lock(store_dir, timeout=0):
            pass
    finally:
        holder.kill()
        holder.wait()


def test_a_waiter_gets_the_lock_when_the_holder_finishes(tmp_path):
    store_dir = tmp_path / ".sleepcoder"
    holder = _holder(store_dir, 0.5)
    waits: list[str] = []
    started = time.monotonic()
    with map_lock(store_dir, timeout=30, on_wait=waits.append):
        assert time.monotonic() - started < 30
    holder.wait()
    assert len(waits) == 1 and "waiting for it" in waits[0]


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    store_dir = tmp_path / ".sleepcoder"
    holder = _holder(store_dir, 60)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with map_lock(store_dir, timeout=0):  # no wait: the kernel dropped the lock
        pass


def test_the_lock_is_never_taken_through_a_link(tmp_path):
    store_dir = tmp_path / ".sleepcoder"
    store_dir.mkdir()
    target = tmp_path / "elsewhere"
    target.write_text("keep me\n")
    (store_dir / "map.lock").symlink_to(target)
    with pytest.raises(StoreError, match="symbolic link"), map_lock(store_dir, timeout=0):
        pass
    assert target.read_text() == "keep me\n"


def test_the_lock_excludes_the_filelock_package_used_by_earlier_versions(tmp_path):
    filelock = pytest.importorskip("filelock")
    store_dir = tmp_path / ".sleepcoder"
    store_dir.mkdir()
    older = filelock.FileLock(str(store_dir / "map.lock"))
    older.acquire(timeout=0)
    try:
        with pytest.raises(MapBusy), map_lock(store_dir, timeout=0):
            pass
    finally:
        older.release()
    with map_lock(store_dir, timeout=0), pytest.raises(filelock.Timeout):
        filelock.FileLock(str(store_dir / "map.lock")).acquire(timeout=0)
