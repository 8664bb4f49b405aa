"""Error texts a user sees: one bounded line, however long the failure's own text is (a failed
`git log` carries everything it printed before it stopped)."""

from __future__ import annotations

import re

ERROR_CHARS = 300

_STDERR = re.compile(r"^\s*stderr:\s*'(.*)'\s*$", re.DOTALL)


def clip(text: str, limit: int = ERROR_CHARS) -> str:
    """`text` on one line, at most `limit` characters; a cut is marked with an ellipsis."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def git_error(exc: BaseException, limit: int = ERROR_CHARS) -> str:
    """What git said when a command failed: its stderr (never its output), clipped."""
    stderr = getattr(exc, "stderr", None)
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", "replace")
    if isinstance(stderr, str) and stderr.strip():
        match = _STDERR.match(stderr)  # GitPython wraps it as "\n  stderr: '...'"
        return clip(match.group(1) if match else stderr, limit)
    status = getattr(exc, "status", None)
    return clip(f"git exited with status {status}" if status is not None else str(exc), limit)
