"""Likely-change notes: from history (no model) and anticipated by the model per subsystem.

Every path the model names is checked against the repository: an exact path, or a suffix that
names exactly one file, is kept (normalised to the real path); anything else is dropped and
counted, and a request left with no files is dropped too.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections import defaultdict
from dataclasses import dataclass, field

from sleepcoder.agent.budget import TaskBudget
from sleepcoder.agent.llm import LLM, LLMError
from sleepcoder.agent.sleep.summaries import messages_for, prompt
from sleepcoder.tools.history import HistoryView

_BLOCK_FIELD = re.compile(r"^\s*[-*]?\s*\**(REQUEST|FILES|WHY)\**\s*:\s*\**\s*(.*)$",
                          re.IGNORECASE)


@dataclass(frozen=True)
class Note:
    kind: str  # anticipated, cochange, recipe
    subject: str
    request: str
    files: tuple[str, ...]
    reason: str
    source: str  # llm, history
    content_key: str


def history_notes(history: HistoryView, paths: list[str], head: str,
                  recipes: int = 20) -> list[Note]:
    """Per file, the files that usually change with it; and recent multi-file recipes."""
    notes = []
    for path in paths:
        total = history.change_count(path)
        partners = [c for c in history.cochanges(path, limit=6) if c.confidence >= 0.2]
        if partners:
            reason = "; ".join(f"{c.path} in {c.count} of {total} changes" for c in partners)
            notes.append(Note("cochange", path, "", tuple(c.path for c in partners), reason,
                              "history", head))
    for recipe in history.recipes(limit=recipes):
        notes.append(Note("recipe", recipe.sha, recipe.subject, recipe.files,
                          f"commit {recipe.sha[:10]}", "history", head))
    return notes


@dataclass
class Subsystem:
    path: str
    summary: str
    files: list[tuple[str, str]]  # (path, summary), most central first
    cochange: list[tuple[str, str, int]] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)

    def content_key(self) -> str:
        payload = json.dumps([self.summary, self.files, self.cochange, self.calls])
        return hashlib.sha1(payload.encode()).hexdigest()


def choose_subsystems(ranked: list[tuple[str, float]], limit: int) -> list[str]:
    """Directories worth anticipating for: the most central ones with at least three files.

    `ranked` holds (path, rank) of the source files. A flat repository is one subsystem.
    """
    weight: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for path, rank in ranked:
        directory = posixpath.dirname(path)
        while True:
            weight[directory] += rank
            count[directory] += 1
            if not directory:
                break
            directory = posixpath.dirname(directory)
    candidates = [d for d in weight if d and count[d] >= 3 and d.count("/") < 2]
    if not candidates:
        return [""] if count.get("", 0) >= 2 else []
    chosen = sorted(candidates, key=lambda d: (-weight[d], d))[:limit]
    return sorted(chosen)


class PathChecker:
    """Maps a path the model wrote to a repository file, or None."""

    def __init__(self, paths: set[str]) -> None:
        self.paths = paths
        self.by_suffix: dict[str, list[str]] = defaultdict(list)
        for path in paths:
            parts = path.split("/")
            for i in range(len(parts)):
                self.by_suffix["/".join(parts[i:])].append(path)

    def resolve(self, written: str) -> str | None:
        text = written.strip().strip("`'\"*[]()").strip().removeprefix("./")
        if text in self.paths:
            return text
        matches = self.by_suffix.get(text, [])
        return matches[0] if len(matches) == 1 else None


@dataclass
class AnticipationResult:
    notes: list[Note]
    dropped_paths: list[str]
    dropped_requests: int
    failure: str = ""


def parse_requests(text: str) -> list[tuple[str, list[str], str]]:
    """(request, files as written, why) for each REQUEST/FILES/WHY block."""
    blocks: list[dict[str, str]] = []
    for line in text.splitlines():
        match = _BLOCK_FIELD.match(line)
        if not match:
            continue
        key, value = match.group(1).upper(), match.group(2).strip()
        if key == "REQUEST" or not blocks or key in blocks[-1]:
            blocks.append({})
        blocks[-1][key] = value
    out = []
    for block in blocks:
        if block.get("REQUEST") and block.get("FILES"):
            files = [f for f in re.split(r"[,\s]+", block["FILES"]) if f.strip()]
            out.append((block["REQUEST"], files, block.get("WHY", "")))
    return out


def anticipate(llm: LLM, repo: str, subsystem: Subsystem, checker: PathChecker, count: int,
               budget: TaskBudget) -> AnticipationResult:
    files = "\n".join(f"- {path} — {summary}" for path, summary in subsystem.files)
    cochange = "".join(f"- {a} + {b} ({n} times)\n" for a, b, n in subsystem.cochange)
    calls = "".join(f"- {a} -> {b}\n" for a, b in subsystem.calls)
    user = prompt("anticipate").format(
        count=count, repo=repo, path=subsystem.path or "(repository root)",
        summary=subsystem.summary or "no summary", files=files,
        cochange=f"Often changed together:\n{cochange}" if cochange else "",
        calls=f"Calls between files:\n{calls}" if calls else "")
    max_tokens = 90 * count + 40
    messages = messages_for(user)
    budget.check_request(llm, messages, max_tokens)
    try:
        answer = llm.complete(messages, phase="sleep", node="anticipate",
                              max_tokens=max_tokens)
    except LLMError as exc:
        return AnticipationResult([], [], 0, f"model error: {exc}")
    parsed = parse_requests(answer.text)
    if not parsed:
        return AnticipationResult([], [], 0,
                                  f"answer not in the requested format: {answer.text[:120]!r}")
    key = subsystem.content_key()
    notes, dropped_paths, dropped_requests = [], [], 0
    for request, written, why in parsed[:count]:
        real = []
        for item in written:
            path = checker.resolve(item)
            if path is None:
                dropped_paths.append(item)
            elif path not in real:
                real.append(path)
        if not real:
            dropped_requests += 1
            continue
        notes.append(Note("anticipated", subsystem.path, request, tuple(real), why, "llm", key))
    return AnticipationResult(notes, dropped_paths, dropped_requests)
