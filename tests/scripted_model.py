"""A deterministic model for tests: a litellm custom provider ("scripted/...") that answers
from per-test rules, matched by graph node and prompt text. It lives in tests only.

    script = Script()
    script.on(node="summarize_files", reply=script.per_file("Does {path}."))
    script.on(node="anticipate", reply="REQUEST: ...\\nFILES: a.py\\nWHY: ...")

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
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on(self, *, node: str | None = None, contains: str | None = None, reply: Reply = "",
           times: int | None = None, truncated: bool = False) -> Script:
        self.rules.append(Rule(node, contains, reply, times, truncated))
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

    def answer(self, node: str, prompt: str) -> tuple[str, bool]:
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
        return text, rule.truncated


def make_provider(script: Script) -> Any:
    import litellm

    class ScriptedProvider(litellm.CustomLLM):
        def completion(self, model: str, messages: list, *args: Any, **kwargs: Any):
            params = kwargs.get("litellm_params") or {}
            node = (params.get("metadata") or {}).get("sleepcoder_node", "")
            prompt = messages[-1]["content"]
            text, truncated = script.answer(node, prompt)
            prompt_tokens = sum(len(m["content"]) for m in messages) // 4
            return litellm.ModelResponse(
                model=model,
                choices=[{"index": 0, "message": {"role": "assistant", "content": text},
                          "finish_reason": "length" if truncated else "stop"}],
                usage={"prompt_tokens": prompt_tokens, "completion_tokens": len(text) // 4,
                       "total_tokens": prompt_tokens + len(text) // 4})

    return ScriptedProvider()
