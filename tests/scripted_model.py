"""A deterministic model for tests: a litellm custom provider ("scripted/...") that answers
from per-test rules, matched by graph node and prompt text. It lives in tests only.

    script = Script()
    script.on(node="summarize_files", reply=script.per_file("Does {path}."))
    script.on(node="anticipate", reply="REQUEST: ...\\nFILES: a.py\\nWHY: ...")

The provider reports usage as a real one does: by default a quarter of the characters, or what
a rule says (`usage=(prompt, completion)`), or nothing (`Script(report_usage=False)`). With
`Script(tokenizer=...)` the model also has a tokenizer, which budgets count requests with.

Every request is recorded (`script.calls`); a request no rule matches is recorded in
`script.unmatched` and fails the request, and the `scripted` fixture fails the test.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Reply = str | Callable[[str], str] | BaseException


@dataclass
class Rule:
    node: str | None
    contains: str | None
    reply: Reply
    times: int | None  # None: unlimited
    truncated: bool = False
    usage: tuple[int, int] | None = None  # (prompt, completion) tokens the provider reports
    used: int = 0


@dataclass
class Call:
    node: str
    prompt: str
    reply: str


@dataclass
class Script:
    rules: list[Rule] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    unmatched: list[Call] = field(default_factory=list)
    tokenizer: Callable[[str], int] | None = None  # the model's token count of a text
    report_usage: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on(self, *, node: str | None = None, contains: str | None = None, reply: Reply = "",
           times: int | None = None, truncated: bool = False,
           usage: tuple[int, int] | None = None) -> Script:
        self.rules.append(Rule(node, contains, reply, times, truncated, usage))
        return self

    def nodes(self) -> list[str]:
        return [c.node for c in self.calls]

    @staticmethod
    def per_file(template: str) -> Callable[[str], str]:
        """Answer a file-summary prompt: a `path: sentence` line per `[i] path` in it."""
        def answer(prompt: str) -> str:
            files = re.findall(r"^\[\d+\] (\S+)", prompt, re.MULTILINE)
            return "\n".join(f"{path}: {template.format(path=path)}" for path in files)
        return answer

    def answer(self, node: str, prompt: str) -> tuple[str, Rule]:
        with self._lock:
            rule = next((r for r in self.rules
                         if (r.node is None or r.node == node)
                         and (r.contains is None or r.contains in prompt)
                         and (r.times is None or r.used < r.times)), None)
            if rule is None:
                self.unmatched.append(Call(node, prompt, ""))
                raise RuntimeError(f"scripted model: no rule for node {node!r}")
            rule.used += 1
        if isinstance(rule.reply, BaseException):
            with self._lock:
                self.calls.append(Call(node, prompt, f"<raised {rule.reply!r}>"))
            raise rule.reply
        text = rule.reply(prompt) if callable(rule.reply) else rule.reply
        with self._lock:
            self.calls.append(Call(node, prompt, text))
        return text, rule


def make_provider(script: Script) -> Any:
    import litellm

    class ScriptedProvider(litellm.CustomLLM):
        def completion(self, model: str, messages: list, *args: Any, **kwargs: Any):
            params = kwargs.get("litellm_params") or {}
            node = (params.get("metadata") or {}).get("sleepcoder_node", "")
            prompt = messages[-1]["content"]
            text, rule = script.answer(node, prompt)
            prompt_tokens, completion_tokens = rule.usage or (
                sum(len(m["content"]) for m in messages) // 4, len(text) // 4)
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                     "total_tokens": prompt_tokens + completion_tokens}
            return litellm.ModelResponse(
                model=model,
                choices=[{"index": 0, "message": {"role": "assistant", "content": text},
                          "finish_reason": "length" if rule.truncated else "stop"}],
                **({"usage": usage} if script.report_usage else {}))

        def count_prompt_tokens(self, model: str, messages: list) -> int | None:
            if script.tokenizer is None:
                return None
            return sum(script.tokenizer(m["content"]) for m in messages)

        def count_text_tokens(self, model: str, text: str) -> int | None:
            return None if script.tokenizer is None else script.tokenizer(text)

    return ScriptedProvider()
