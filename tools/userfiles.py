"""Reading a file the user names (a dataset, an event file, the configuration, an issue): only
a regular file, and only up to a size limit, so /dev/zero, a FIFO or a huge file is one clear
error instead of a hang or an exhausted memory."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class UserFileError(ValueError):
    """The named file cannot be read as a text input; the message says why, naming it."""


def user_file_problem(path: Path, what: str, limit: int) -> str:
    """Why `path` cannot be read as `what` ('' when it can), from its metadata only: it must
    be a regular file (a device or a FIFO never ends, or blocks) of at most `limit` bytes."""
    try:
        info = path.stat()
    except OSError as exc:
        return f"cannot read {what} {path}: {exc.strerror or exc}"
    return _kind_problem(info, path, what, limit)


def read_user_bytes(path: Path, what: str, limit: int) -> bytes:
    """The content of `path`, at most `limit` bytes; UserFileError otherwise. Opened without
    blocking (a FIFO put there after a check must not hang) and checked on the open file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a FIFO nobody writes to, or a socket
            raise UserFileError(f"{what} {path} is not a regular file") from None
        raise UserFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        problem = _kind_problem(os.fstat(fd), path, what, limit)
        if problem:
            raise UserFileError(problem)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)  # bounded even if the file grew since
    except OSError as exc:
        raise UserFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UserFileError(f"{what} {path} has more than {limit:,} bytes; at most {limit:,}")
    return data


def read_user_text(path: Path, what: str, limit: int) -> str:
    """`read_user_bytes` decoded as UTF-8 (a byte-order mark is dropped); a byte that is not
    UTF-8 is an error naming its line, never silently replaced."""
    data = read_user_bytes(path, what, limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise UserFileError(f"{what} {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} "
                            f"on line {line})") from None


def _kind_problem(info: os.stat_result, path: Path, what: str, limit: int) -> str:
    if stat.S_ISDIR(info.st_mode):
        return f"{what} {path} is a directory, not a regular file"
    if not stat.S_ISREG(info.st_mode):
        return f"{what} {path} is not a regular file"
    if info.st_size > limit:
        return f"{what} {path} has {info.st_size:,} bytes; at most {limit:,}"
    return ""
