"""The trajectory of a solve run: every model request as it was sent (scrubbed), its answer,
tokens, time and outcome, one JSON line each in `runs/<run>/trajectory.jsonl` under the store.

Lines are written as the run goes, so an interrupted run keeps what it did, and a resumed run
appends (with the next `session` number). A small model's failures are debugged from this
file, not by running the request again.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sleepcoder.tools.secrets import scrub

FILE_NAME = "trajectory.jsonl"


def run_dir(store_dir: Path, run: str) -> Path:
    """The folder of a run's files besides its record (`runs/<run>.json`)."""
    return store_dir / "runs" / run


def relative_path(run: str) -> str:
    """Where a run's trajectory is, relative to the store directory (as the record says)."""
    return f"runs/{run}/{FILE_NAME}"


@dataclass
class Step:
    """One model request of a run."""

    step: int  # 1-based over the whole run, resumed sessions included
    session: int  # 1 for the run's start, 2 for its first resume, ...
    node: str
    messages: list[dict[str, str]]  # as sent: after the secret scrubber
    answer: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    cached: bool
    error: str = ""  # the request failed (then there is no answer)
    outcome: str | None = None  # what became of the answer, filled in by the step that used it
    counted: str = ""  # how its tokens were counted (agent/tokens.py)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Step:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Trajectory:
    """Writes a run's trajectory; with no path (tests, tools that build a context by hand) it
    records nothing."""

    path: Path | None = None
    ledger: Any = None  # agent.llm.Ledger: the failed requests' errors and the cache flags
    session: int = 1
    _step: int = 0
    _pending: tuple[str, list[dict[str, str]], float, int] | None = None
    _last: Step | None = None
    _last_offset: int = 0

    @classmethod
    def open(cls, store_dir: Path, run: str, ledger: Any = None) -> Trajectory:
        """The writer of `run`'s trajectory, continuing the numbering of an earlier session."""
        path = run_dir(store_dir, run) / FILE_NAME
        steps, _bad = read_trajectory(path)
        session = max((s.session for s in steps), default=0) + 1
        return cls(path, ledger, session, max((s.step for s in steps), default=0))

    def sending(self, node: str, messages: list[dict[str, str]]) -> None:
        """A request is about to go to the model (call `answered` with its answer)."""
        if self.path is None:
            return
        if self._pending is not None:  # the previous request raised and its caller went on
            self.abandon("the request failed")
        mark = len(self.ledger.records) if self.ledger is not None else 0
        sent = [{**m, "content": scrub(m["content"])} for m in messages]  # as LLM.complete
        self._pending = (node, sent, time.perf_counter(), mark)

    def answered(self, answer: Any) -> None:
        """Write the pending request with its answer (an agent.llm.Completion)."""
        if self.path is None or self._pending is None:
            return
        node, sent, started, mark = self._pending
        self._pending = None
        records = self.ledger.records[mark:] if self.ledger is not None else []
        counted = next((r.counted for r in records if r.counted), "")
        self._write(Step(self._step + 1, self.session, node, sent, scrub(answer.text),
                         answer.finish_reason, answer.prompt_tokens, answer.completion_tokens,
                         round(time.perf_counter() - started, 3), answer.cached,
                         counted=counted))

    def abandon(self, reason: str) -> None:
        """Write the pending request, if any, as failed: its error from the model's ledger when
        it has one, else `reason` (an interruption, an error elsewhere)."""
        if self.path is None or self._pending is None:
            return
        node, sent, started, mark = self._pending
        self._pending = None
        records = self.ledger.records[mark:] if self.ledger is not None else []
        error = next((r.error for r in records if r.error), "") or reason
        self._write(Step(self._step + 1, self.session, node, sent, "", "", 0, 0,
                         round(time.perf_counter() - started, 3), False, scrub(error)))

    def outcome(self, node: str, text: str) -> None:
        """Say what became of the last answer, if it came from `node` in this session and has
        no outcome yet (the line is rewritten in place: it is the file's last)."""
        if self._pending is not None:  # the request raised and its caller went on
            self.abandon("the request failed")
        last = self._last
        if self.path is None or last is None or last.node != node or last.outcome is not None:
            return
        last.outcome = scrub(text)
        with self.path.open("r+b") as handle:
            handle.seek(self._last_offset)
            handle.truncate()
            handle.write(_line(last))

    def _write(self, step: Step) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as handle:
            self._last_offset = handle.tell()
            handle.write(_line(step))
        self._step, self._last = step.step, step


def _line(step: Step) -> bytes:
    return (json.dumps(step.to_dict(), ensure_ascii=False) + "\n").encode("utf-8")


def read_trajectory(path: Path) -> tuple[list[Step], int]:
    """The steps of a trajectory file and how many of its lines could not be read (a line cut
    off by a killed process); no file gives no steps."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    steps, bad = [], 0
    for line in raw.decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            steps.append(Step.from_dict(json.loads(line)))
        except (ValueError, TypeError):
            bad += 1
    return steps, bad
