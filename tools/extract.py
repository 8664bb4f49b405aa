"""Read one file and turn it into stored facts; runs in parser worker processes.

A file is classified here by its content (binary, minified, unreadable) and, when it is a
source file in a supported language, parsed with `tools.parse`.
"""

from __future__ import annotations

import os
import signal
from typing import NamedTuple

from sleepcoder.tools.facts import FileFacts, PackedFacts, pack
from sleepcoder.tools.gitutil import blob_hash
from sleepcoder.tools.parse import count_lines, extract_facts

# Content-based reasons to skip a file (stored per blob so a refresh does not re-read it).
BINARY = "binary"
MINIFIED = "minified"
UNREADABLE = "unreadable"

_SNIFF = 8192
_MINIFIED_AVG_LINE = 300  # bytes per line; hand-written source stays far below
_MINIFIED_MIN_SIZE = 2048


class ExtractJob(NamedTuple):
    path: str
    language: str | None
    blob: str | None  # known git blob id, or None to hash the content
    # the blob id was hashed from the file before: hash what is read again, in case the file
    # changed meanwhile (facts are stored under the id of the content they come from)
    rehash: bool = False


class ExtractResult(NamedTuple):
    path: str
    language: str | None
    blob: str  # "" when unreadable
    skip_reason: str  # "", binary, minified, unreadable
    detail: str
    facts: PackedFacts | None


def extract_file(root: str, job: ExtractJob) -> ExtractResult:
    try:
        with open(os.path.join(root, job.path), "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return ExtractResult(job.path, job.language, "", UNREADABLE, exc.strerror or str(exc), None)
    blob = blob_hash(data) if job.rehash or not job.blob else job.blob
    if b"\0" in data[:_SNIFF]:
        return ExtractResult(job.path, job.language, blob, BINARY, "contains NUL bytes", None)
    lines = count_lines(data)
    if _looks_minified(job.path, data, lines):
        return ExtractResult(
            job.path,
            job.language,
            blob,
            MINIFIED,
            f"{len(data) // max(lines, 1):,} bytes per line",
            None,
        )
    if job.language is None:
        facts = FileFacts(language=None, lines=lines)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            facts.decode_replaced = True
        return ExtractResult(job.path, job.language, blob, "", "", pack(facts))
    facts = extract_facts(data, job.language)
    return ExtractResult(job.path, job.language, blob, "", "", pack(facts))


def _looks_minified(path: str, data: bytes, lines: int) -> bool:
    name = path.rsplit("/", 1)[-1]
    if ".min." in name or name.endswith((".bundle.js", "-min.js")):
        return True
    return len(data) >= _MINIFIED_MIN_SIZE and len(data) / max(lines, 1) > _MINIFIED_AVG_LINE


# --- process pool plumbing ----------------------------------------------------------------

_ROOT = ""


def init_worker(root: str) -> None:
    global _ROOT
    _ROOT = root
    # Ctrl-C is the parent's to handle: it stops the pool and keeps what was stored
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def extract_chunk(jobs: list[ExtractJob]) -> list[ExtractResult]:
    return [extract_file(_ROOT, job) for job in jobs]
