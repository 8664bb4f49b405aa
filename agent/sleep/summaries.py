"""File and directory summaries: prompts, batching, output checks, retries, fallbacks.

The model writes only what the map cannot know (what a file is *for*); entry points and
dependencies come from the static map. Output that is malformed or truncated is retried (the
batch split into single files), then recorded as skipped with the reason: never stored as a
summary, and never a crash.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources

from sleepcoder.agent.budget import TaskBudget
from sleepcoder.agent.llm import LLM, ContextTooLong, LLMError
from sleepcoder.agent.sleep.briefs import FileBrief, fallback_summary

_LINE_PREFIX = re.compile(r"^(?:[-*•]|\d+[.)]|\[\d+\])\s*")
_SELF_REFERENCE = re.compile(r"^(?:is|this file|the file|file)\b[\s:,-]*", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"<\s*(?:sentence|path)\s*>|^task:|^answer", re.IGNORECASE)
_WORDS_PER_SENTENCE = 40


def prompt(name: str) -> str:
    return resources.files("sleepcoder.agent.sleep").joinpath("prompts", f"{name}.txt").read_text()


@dataclass(frozen=True)
class Outcome:
    path: str
    text: str
    source: str  # llm, fallback, skipped
    detail: str = ""


def messages_for(user: str) -> list[dict[str, str]]:
    # the fixed system prompt first: llama.cpp reuses its cached prefix across requests
    return [{"role": "system", "content": prompt("system").strip()},
            {"role": "user", "content": user}]


def clean_sentence(text: str) -> str | None:
    """The sentence if it is usable as a summary, else None."""
    text = text.strip().strip("`\"'*").strip()
    if not text or _PLACEHOLDER.search(text) or not re.search(r"[A-Za-z]", text):
        return None
    words = text.split()
    if len(words) < 2 or len(words) > _WORDS_PER_SENTENCE * 2:
        return None
    return text[0].upper() + text[1:]


def parse_by_path(text: str, paths: list[str]) -> dict[str, str]:
    """{path: sentence} from lines "path: sentence" (quotes, bullets and numbers tolerated).

    Matching by path, not by position, keeps a small model from attaching a summary to the
    wrong file when it skips or reorders one.
    """
    found: dict[str, str] = {}
    for line in text.splitlines():
        stripped = _LINE_PREFIX.sub("", line.strip())
        for path in sorted(paths, key=len, reverse=True):
            if path in found:
                continue
            index = stripped.find(path)
            if index < 0 or index > 6:
                continue
            rest = stripped[index + len(path):].lstrip("`'\"*] ").lstrip(":-–— ").strip()
            rest = _SELF_REFERENCE.sub("", rest)
            sentence = clean_sentence(rest)
            if sentence:
                found[path] = sentence
            break
    return found


def batch_files(briefs: list[FileBrief], max_files: int, max_tokens: int) -> list[list[FileBrief]]:
    """Consecutive files (in rank order) grouped while they fit `max_tokens` of facts."""
    batches: list[list[FileBrief]] = []
    current: list[FileBrief] = []
    size = 0
    for brief in briefs:
        cost = brief.estimated_tokens()
        if current and (len(current) >= max_files or size + cost > max_tokens):
            batches.append(current)
            current, size = [], 0
        current.append(brief)
        size += cost
    if current:
        batches.append(current)
    return batches


class FileSummarizer:
    def __init__(self, llm: LLM, repo: str, budget: TaskBudget) -> None:
        self.llm = llm
        self.repo = repo
        self.budget = budget

    def summarize(self, batch: list[FileBrief]) -> list[Outcome]:
        """Summaries for a batch; BudgetExhausted propagates (nothing is stored for it)."""
        try:
            found, detail = self._ask(batch, brief_chars=1400)
        except ContextTooLong:
            found, detail = {}, "prompt too long for the model"
        except LLMError as exc:
            found, detail = {}, f"model error: {exc}"
        outcomes = [Outcome(b.path, found[i], "llm") for i, b in enumerate(batch, 1)
                    if i in found]
        missing = [b for i, b in enumerate(batch, 1) if i not in found]
        for brief in missing:
            outcomes.append(self._single(brief, detail if len(batch) == 1 else ""))
        return outcomes

    def _single(self, brief: FileBrief, first_failure: str) -> Outcome:
        """Retry one file alone (with a smaller brief after a context error)."""
        failure = first_failure
        for chars in ((1400, 600) if not first_failure else (600,)):
            try:
                found, detail = self._ask([brief], brief_chars=chars)
            except ContextTooLong:
                failure = "prompt too long for the model, even with a shortened brief"
                continue
            except LLMError as exc:
                return Outcome(brief.path, "", "skipped", f"model error: {exc}")
            if 1 in found:
                return Outcome(brief.path, found[1], "llm")
            failure = detail
        return Outcome(brief.path, "", "skipped", failure or "no usable summary in the answer")

    def _ask(self, batch: list[FileBrief], brief_chars: int) -> tuple[dict[int, str], str]:
        count = len(batch)
        user = prompt("file_summaries").format(
            count=count, repo=self.repo,
            numbering="\n".join(f"{b.path}: <sentence>" for b in batch),
            files="\n\n".join(b.render(i, brief_chars) for i, b in enumerate(batch, 1)))
        messages = messages_for(user)
        max_tokens = 56 * count + 16
        self.budget.check_request(self.llm, messages, max_tokens)
        answer = self.llm.complete(messages, phase="sleep", node="summarize_files",
                                   max_tokens=max_tokens)
        by_path = parse_by_path(answer.text, [b.path for b in batch])
        if answer.truncated:
            last = _last_answered(answer.text, batch)
            if last is not None:
                by_path.pop(last, None)  # its line may be cut mid-sentence
        found = {i: by_path[b.path] for i, b in enumerate(batch, 1) if b.path in by_path}
        if len(found) == count:
            return found, ""
        reason = "answer truncated" if answer.truncated else "answer not in the requested format"
        return found, f"{reason}: {answer.text.strip()[:120]!r}"


def _last_answered(text: str, batch: list[FileBrief]) -> str | None:
    positions = [(text.rfind(b.path), b.path) for b in batch if b.path in text]
    return max(positions)[1] if positions else None


def fallback_outcome(brief: FileBrief) -> Outcome:
    text = fallback_summary(brief)
    return Outcome(brief.path, text, "fallback", "no model: from docstrings and signatures")


# --- directories -----------------------------------------------------------------------------

@dataclass(frozen=True)
class DirInput:
    path: str  # "" is the repository root
    files: list[tuple[str, str]]  # (file name, summary)
    subdirs: list[tuple[str, str]]  # (subdirectory name, summary)

    def content_key(self) -> str:
        payload = json.dumps([self.files, self.subdirs], sort_keys=True)
        return hashlib.sha1(payload.encode()).hexdigest()


def summarize_dir(llm: LLM | None, repo: str, item: DirInput, budget: TaskBudget) -> Outcome:
    members = len(item.files) + len(item.subdirs)
    if members == 1:  # one member: its summary says it all, no request needed
        only = (item.files or item.subdirs)[0][1]
        return Outcome(item.path, only, "llm" if llm else "fallback", "single member")
    if llm is None:
        return Outcome(item.path, _dir_fallback(item), "fallback",
                       "no model: from member summaries")
    lines = ["Files:"] + [f"- {name}: {text}" for name, text in item.files]
    if item.subdirs:
        lines += ["Subdirectories:"] + [f"- {name}/: {text}" for name, text in item.subdirs]
    user = prompt("dir_summary").format(path=item.path or "(repository root)", repo=repo,
                                        members="\n".join(lines)[:3000])
    messages = messages_for(user)
    budget.check_request(llm, messages, 96)
    try:
        answer = llm.complete(messages, phase="sleep", node="summarize_dirs", max_tokens=96)
    except LLMError as exc:
        return Outcome(item.path, "", "skipped", f"model error: {exc}")
    text = " ".join(answer.text.split())
    if answer.truncated:
        # keep whole sentences of a cut answer
        text = text[: text.rfind(".") + 1] if "." in text else ""
    sentence = clean_sentence(_first_sentences(text, 2))
    if sentence is None:
        return Outcome(item.path, "", "skipped",
                       f"answer not usable: {answer.text.strip()[:120]!r}")
    return Outcome(item.path, sentence, "llm")


def _first_sentences(text: str, count: int) -> str:
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", text)]
    return text[: ends[count - 1]] if len(ends) >= count else text


def _dir_fallback(item: DirInput) -> str:
    parts = [f"{name}: {text}" for name, text in (item.files + item.subdirs)[:3] if text]
    return " ".join(parts)[:300]
