"""Test-time budgets: tokens and steps (model calls). Every request is checked against what is
left before it is sent, and the model is told what is left ("step 3/12, 2,400 tokens left").
What is spent is what the provider reported; a request is counted by the model's tokenizer
before it is sent (agent/tokens.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class BudgetExhausted(Exception):
    """The next request would exceed the token budget or the step limit."""


class RequestTooLarge(BudgetExhausted):
    """This one request is larger than what is left, though smaller requests still fit: the
    caller may skip it and go on (a run with most of its budget left must not end on it)."""


ROOM_FOR_OTHERS = 3_000  # tokens left that still let another edit question through


@dataclass
class TaskBudget:
    tokens: int  # 0 = no limit
    steps: int  # 0 = no limit
    spent_tokens: Callable[[], int]
    spent_steps: Callable[[], int]

    def check(self, estimate: int) -> None:
        tokens, steps = self.spent_tokens(), self.spent_steps()
        if self.steps and steps + 1 > self.steps:
            raise BudgetExhausted(f"step limit reached ({steps} of {self.steps} steps used)")
        if self.tokens and tokens + estimate > self.tokens:
            kind = RequestTooLarge if self.tokens - tokens >= ROOM_FOR_OTHERS else \
                BudgetExhausted
            raise kind(f"token budget reached ({tokens:,} of {self.tokens:,} used; the next "
                       f"request needs about {estimate:,})")

    def check_request(self, llm: Any, messages: list[dict[str, str]], max_tokens: int) -> None:
        """Check a request to `llm` (an agent.llm.LLM): its prompt is counted only when there
        is a token budget to count it against."""
        self.check(llm.request_tokens(messages, max_tokens) if self.tokens else 0)

    def status_line(self) -> str:
        """What the model is told before each step."""
        step = self.spent_steps() + 1
        parts = [f"step {step}/{self.steps}" if self.steps else f"step {step}"]
        if self.tokens:
            parts.append(f"{max(0, self.tokens - self.spent_tokens()):,} tokens left")
        return ", ".join(parts)
