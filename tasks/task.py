"""A task: what to build (title and body), in which repository, from which commit.

Built from a request on the command line, from an issue file (Markdown: the first line is the
title), and later from a GitHub issue or a SWE-Features instance. The text is data for the
model, never instructions for the tool.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from sleepcoder.tools.secrets import scrub
from sleepcoder.tools.userfiles import UserFileError, read_user_text, user_file_problem

MAX_REQUEST_CHARS = 20_000


class TaskError(ValueError):
    """The task cannot be built (empty request, unreadable issue file)."""


@dataclass(frozen=True)
class Task:
    id: str
    title: str
    body: str
    repo: str  # path of the repository
    base: str  # commit the change applies to
    source: str  # request, issue-file, github-issue, swe-features
    truncated: bool = False

    @property
    def text(self) -> str:
        return f"{self.title}\n\n{self.body}".strip()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Task:
        return cls(**data)


def from_text(text: str, repo: Path, base: str, source: str = "request") -> Task:
    """A task from free text: the first non-empty line is the title, the rest the body."""
    cleaned = text.replace("\r\n", "\n").strip()
    if not cleaned:
        raise TaskError("the request is empty: say what to build, e.g. "
                        "sleepcoder solve \"add a --verbose flag to the CLI\"")
    cleaned = scrub(cleaned)  # a key pasted into a request is kept nowhere, not even in state
    truncated = len(cleaned) > MAX_REQUEST_CHARS
    if truncated:
        cleaned = cleaned[:MAX_REQUEST_CHARS]
    lines = cleaned.split("\n", 1)
    title = re.sub(r"^#+\s*", "", lines[0]).strip()[:300]
    body = lines[1].strip() if len(lines) > 1 else ""
    digest = hashlib.sha1(f"{repo}\n{base}\n{cleaned}".encode()).hexdigest()[:10]
    return Task(f"task-{digest}", title, body, str(repo), base, source, truncated)


MAX_ISSUE_FILE_BYTES = 1_000_000
ISSUE_FILE = "the issue file"


def issue_file_problem(path: Path) -> str:
    """Why `path` cannot be an issue file ('' when it can): it must be a regular file (a
    device such as /dev/zero never ends) of reasonable size."""
    return user_file_problem(path, ISSUE_FILE, MAX_ISSUE_FILE_BYTES)


def from_issue_file(path: Path, repo: Path, base: str) -> Task:
    try:  # UTF-8 or an error naming the line: a replaced byte would reach the model unseen
        text = read_user_text(path, ISSUE_FILE, MAX_ISSUE_FILE_BYTES)
    except UserFileError as exc:
        raise TaskError(str(exc)) from None
    if "\0" in text:
        raise TaskError(f"the issue file {path} is binary (it contains NUL bytes)")
    return from_text(text, repo, base, source="issue-file")
