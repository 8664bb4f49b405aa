"""The last resort of the command line: an exception nothing else handled becomes one line on
stderr, and its full traceback goes to a crash log file that a bug report can attach."""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

_FIRST_LINE_CHARS = 200


def describe(exc: BaseException) -> str:
    """`Type: first line of the message`, bounded, for the one-line error."""
    lines = str(exc).strip().splitlines()
    first = lines[0].strip() if lines else ""
    if len(first) > _FIRST_LINE_CHARS:
        first = first[: _FIRST_LINE_CHARS - 1] + "…"
    name = type(exc).__name__
    return f"{name}: {first}" if first else name


def crash_dirs() -> list[Path]:
    """Where crash logs go, in order of preference: the user's cache, then the temp dir."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return [Path(cache) / "sleepcoder" / "crash",
            Path(tempfile.gettempdir()) / "sleepcoder-crash"]


def write_crash_log(exc: BaseException, argv: list[str]) -> Path | None:
    """Write the traceback of `exc` with what is needed to reproduce it; the file's path, or
    None when no directory could take it."""
    from sleepcoder import __version__
    from sleepcoder.tools.secrets import scrub

    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = "".join([
        f"sleepcoder {__version__}, Python {platform.python_version()}, {platform.platform()}\n",
        f"command: {' '.join(argv)}\n\n",
        *traceback.format_exception(exc),
    ])
    for folder in crash_dirs():
        path = folder / f"{stamp}-{os.getpid()}.log"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(scrub(text), encoding="utf-8", errors="replace")
        except OSError:
            continue
        return path
    return None


def report_crash(exc: BaseException) -> str:
    """The one-line error for an unexpected exception, after writing its crash log."""
    path = write_crash_log(exc, sys.argv)
    where = f"details in {path}" if path else "no crash log could be written"
    return f"unexpected error: {describe(exc)} ({where})"
