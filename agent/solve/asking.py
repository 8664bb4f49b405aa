"""Asking the model for one unit's answer: continuations of an answer the length limit cut
off (unless it is looping), the outcome of a unit's questions, and the budget notes shared by
the protocols (agent/solve/protocols.py, agent/solve/decomposed.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sleepcoder.agent.llm import Completion
from sleepcoder.agent.repetition import ends_in_loop
from sleepcoder.agent.solve.context import SolveContext
from sleepcoder.agent.solve.units import UnitRejected

CONTINUATIONS = 2  # extra requests for an answer cut off by the length limit
_DIGITS = re.compile(r"\d{4,}")  # long numbers: a list of small ones is a table
# A small model asked again at temperature 0 tends to repeat its refused answer word for word,
# even with the reason in front of it: a retry samples (seeded, so runs stay reproducible).
RETRY_TEMPERATURE = 0.5


@dataclass
class UnitOutcome:
    content: str | None  # the new file text, None when no answer could be used
    attempts: int
    error: str = ""
    requests: int = 0


def tokens_of(text: str) -> int:
    return len(text) // 3 + 1  # code tokenizes denser than prose


NOT_RETRIED = (" (not retried: another answer would not fit in the budget left, less what the "
               "planned changes not tried yet are kept)")


def ask_whole(ctx: SolveContext, messages: list[dict[str, str]], max_tokens: int,
              grammar: str | None, temperature: float = 0.0) -> tuple[Completion, int]:
    """One answer; when the length limit cuts it inside a code block, the model is asked to
    go on (without the grammar, which would start a new block) and the parts are joined."""
    answer = ctx.ask("edit", messages, max_tokens=max_tokens, grammar=grammar,
                     temperature=temperature)
    text, requests = answer.text, 1
    while answer.truncated and text.count("```") % 2 == 1 and requests <= CONTINUATIONS \
            and not repeats_itself(text):
        follow = [*messages, {"role": "assistant", "content": text},
                  {"role": "user", "content": "Your answer was cut off. Continue exactly where "
                   "it stopped, without repeating anything, and close the code block."}]
        answer = ctx.ask("edit", follow, max_tokens=max_tokens)
        requests += 1
        more = answer.text
        if more.lstrip().startswith("```"):  # a restarted block: keep its content only
            more = more.lstrip().split("\n", 1)[-1]
        text += more
    return Completion(text, answer.finish_reason, answer.prompt_tokens,
                      answer.completion_tokens, answer.cost, answer.cached), requests


LOOPING = ("the answer repeated the same lines until the length limit cut it off: write "
           "each line once, and only what the change needs")


def repeats_itself(text: str) -> bool:
    """Whether an answer is mostly the same lines over and over: on httpx-42 the 1.5B wrote
    `@typing.overload` stubs of one method until the length limit, and two continuations
    and a retry of that loop spent 11,000 of the run's 20,000 tokens."""
    lines = [line.strip() for line in text.splitlines()
             if line.strip() not in ("", "```", "...", "pass", "}", ")", "]")]
    # lines alike but for their long numbers count too, here and not in the stream's cut (a
    # table of cases is code): black-529 at a52809a wrote `assertEqual(f(1234...), "1234...")`
    # one digit longer each line, 701 tokens and two continuations (5,600 tokens) for an
    # answer that never closed
    shapes = {_DIGITS.sub("0", line) for line in lines}
    return len(lines) >= 12 and len(shapes) <= len(lines) / 2 or ends_in_loop(text)


def looped(answer: Completion) -> None:
    if answer.truncated and repeats_itself(answer.text):
        raise UnitRejected(LOOPING)


def line_set(text: str) -> set[str]:
    """The non-blank lines of `text`, stripped: what an echo of existing code is told by."""
    return {line.strip() for line in text.splitlines() if line.strip()}
