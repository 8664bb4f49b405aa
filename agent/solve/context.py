"""What every solve node shares at run time: the task, the model, the workspace (the base
commit's files, and the scratch worktree once an edit needs one), the map, the budget, and
the accounting that survives a resume (kept in the graph state)."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from sleepcoder.agent.budget import TaskBudget
from sleepcoder.agent.llm import LLM, Completion
from sleepcoder.agent.solve.trajectory import Trajectory
from sleepcoder.tasks.task import Task
from sleepcoder.tools.config import Config
from sleepcoder.tools.pathguard import PathRules
from sleepcoder.tools.store import MapStore
from sleepcoder.tools.workspace import Workspace


@dataclass(frozen=True)
class SolveOptions:
    model: str = ""
    no_map: bool = False
    no_llm: bool = False
    localize_only: bool = False
    review: bool = False
    test_cmd: str = ""
    budget: int = 0  # test-time tokens, 0 = no limit
    max_steps: int = 0  # model calls, 0 = no limit
    edit_attempts: int = 3  # tries per file (first answer + repairs)
    test_rounds: int = 2  # fix rounds after failing tests
    test_timeout: float = 600.0
    allow_ci_edits: bool = False
    allow_ci_setting: str = "[solve] allow_ci_edits = true"  # named when the rule refuses
    protected: tuple[str, ...] = ()
    test_env: tuple[str, ...] = ()  # variables passed to the test command beyond the allowlist
    test_sandbox: str = "auto"  # auto, require, off (see tools/sandbox.py)
    test_network: bool = False  # let the test command reach the network
    test_writable: tuple[str, ...] = ()  # paths the sandboxed test command may write
    edit_format: str = "auto"  # symbols, blocks, whole; auto: symbols for embedded models
    edit_protocol: str = "auto"  # rewrite, blocks, insert, decomposed; auto: per model

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: dict) -> SolveOptions:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("protected", "test_env", "test_writable"):
            values[name] = tuple(values.get(name, ()))
        return cls(**values)

    @property
    def rules(self) -> PathRules:
        return PathRules(self.allow_ci_edits, self.protected, self.allow_ci_setting)


def prompt(name: str) -> str:
    return resources.files("sleepcoder.agent.solve").joinpath("prompts", f"{name}.txt").read_text()


@dataclass
class SolveContext:
    task: Task
    options: SolveOptions
    config: Config
    llm: LLM | None
    workspace: Workspace
    store: MapStore | None  # None in the no-map condition
    progress: Any
    usage: dict[str, Any] = field(default_factory=dict)  # checkpointed with the state
    trajectory: Trajectory = field(default_factory=Trajectory)  # records nothing until opened
    # tokens kept for the planned edits not tried yet: a retry that would eat into them is
    # not asked (set by the edit node before each file and unit; 0 outside editing)
    reserved: int = 0
    # what the waiting files' first changes are priced at (in `reserved`): a second change of
    # the file being edited must leave it (the fit is breadth first)
    reserved_first: int = 0
    # how much more than priced this run's edits have cost (fit.price_ratio), and the tokens
    # kept for the fix round after failing tests: set by the edit node before each file
    price_ratio: float = 1.0
    keep: int = 0
    first_free: bool = False  # no change tried yet: the first one is tried whatever its price
    # the localizer's score of every mapped file for this request (set by the localize node;
    # the plan's map view reuses it; None after a resume, which ranks again)
    scores: dict[str, float] | None = None
    _mark: int = 0

    def account(self) -> None:
        """Move model usage since the last call into `usage` (which the state carries)."""
        if self.llm is None:
            return
        records = self.llm.ledger.records[self._mark:]
        self._mark += len(records)
        for r in records:
            self.usage["steps"] = self.usage.get("steps", 0) + (0 if r.cached else 1)
            self.usage["prompt_tokens"] = self.usage.get("prompt_tokens", 0) + r.prompt_tokens
            self.usage["completion_tokens"] = self.usage.get("completion_tokens", 0) + \
                r.completion_tokens
            self.usage["cached"] = self.usage.get("cached", 0) + (1 if r.cached else 0)
            self.usage["failed"] = self.usage.get("failed", 0) + (1 if r.error else 0)
            self.usage["model_seconds"] = round(self.usage.get("model_seconds", 0.0)
                                                + r.seconds, 3)
            if r.cost is None:
                self.usage["cost_known"] = False
            else:
                self.usage["cost"] = self.usage.get("cost", 0.0) + (0.0 if r.cached else r.cost)
            by_node = self.usage.setdefault("by_node", {})
            node = by_node.setdefault(r.node, {"calls": 0, "tokens": 0})
            node["calls"] += 1
            node["tokens"] += r.prompt_tokens + r.completion_tokens
            if r.counted:
                counted = self.usage.setdefault("token_count_calls", {})
                counted[r.counted] = counted.get(r.counted, 0) + 1
        # how requests were counted before sending (kept across a resume, like the rest)
        self.usage["budget_checks"] = sorted(set(self.usage.get("budget_checks", []))
                                             | self.llm.ledger.check_methods())

    def tokens(self) -> int:
        self.account()
        return self.usage.get("prompt_tokens", 0) + self.usage.get("completion_tokens", 0)

    def steps(self) -> int:
        self.account()
        return self.usage.get("steps", 0)

    @property
    def budget(self) -> TaskBudget:
        return TaskBudget(self.options.budget, self.options.max_steps, self.tokens, self.steps)

    def ask(self, node: str, messages: list[dict[str, str]], max_tokens: int,
            grammar: str | None = None, temperature: float = 0.0) -> Completion:
        """One model request within the budget (BudgetExhausted if it would not fit);
        `grammar` constrains the embedded model's answer (agent/solve/grammars.py)."""
        assert self.llm is not None
        self.budget.check_request(self.llm, messages, max_tokens)
        self.trajectory.sending(node, messages)
        answer = self.llm.complete(messages, phase="test", node=node, max_tokens=max_tokens,
                                   grammar=grammar, temperature=temperature)
        self.trajectory.answered(answer)
        self.account()
        return answer

    def estimate(self, messages: list[dict[str, str]], max_tokens: int) -> int:
        """Tokens a request may use: its prompt (counted by the model's tokenizer when there
        is one, agent/tokens.py) and a full answer."""
        assert self.llm is not None
        return self.llm.request_tokens(messages, max_tokens)

    def may_retry(self, messages: list[dict[str, str]], max_tokens: int,
                  also: int = 0) -> bool:
        """Whether another answer to this question (and `also` tokens of the other questions
        the retry asks again) fits in what is left and still leaves `reserved` tokens for
        the planned edits not tried yet (always, without a token budget). A retry is
        optional: one that cannot fit is not asked, rather than ending the run
        `budget_exhausted` halfway through the question (flask-307's last file)."""
        if not self.options.budget or self.llm is None:
            return True
        left = self.options.budget - self.tokens()
        return left - self.estimate(messages, max_tokens) - also >= self.reserved

    def start_refused(self, cost: int, after: int = 0) -> str:
        """Why a planned change priced at `cost` tokens is not started (empty: it may
        start): with the run's price ratio, it and the `after` tokens it must leave for
        others do not fit in what is left, minus the fix round's share when tests run. A
        change that would run out of budget half asked is worth less than the room it
        leaves (for the others, and for fixing what the tests find)."""
        if not self.options.budget or self.llm is None:
            return ""
        left = self.options.budget - self.tokens()
        priced = int(cost * self.price_ratio)
        if left >= priced + after + self.keep:
            return ""
        why = f"priced at about {priced:,} tokens"
        if self.price_ratio > 1:
            why += f" ({self.price_ratio:.1f}x the fit's price: this run's edits cost more)"
        kept = [f"{after:,} for the other planned files' first changes"] if after else []
        kept += [f"{self.keep:,} for a fix round"] if self.keep else []
        return (f"not started to stay within the token budget: {why}, {left:,} left"
                + (f", of which {' and '.join(kept)}" if kept else ""))

    def messages(self, user: str, example: str = "") -> list[dict[str, str]]:
        """System prompt, an optional worked example (`<example>.txt` and its answer, a fixed
        prefix that llama.cpp keeps cached), then the request."""
        out = [{"role": "system", "content": prompt("system").strip()}]
        if example:
            out += [{"role": "user", "content": prompt(example).strip()},
                    {"role": "assistant", "content": prompt(f"{example}_answer").strip()}]
        return [*out, {"role": "user", "content": user}]
