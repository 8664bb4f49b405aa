"""How tokens are counted: the provider's reported usage after a call; before it, the model's
own tokenizer when it is available offline; else about four characters a token, labelled so.

API models are counted by `litellm.token_counter` only where litellm holds the tokenizer
locally (tiktoken for OpenAI models, its bundled Anthropic and DeepSeek tokenizers): for other
models it would count with an unrelated encoding or download one from the Hugging Face hub.
Models served in-process (the embedded llama.cpp model, the tests' scripted model) count with
their provider's `count_prompt_tokens` / `count_text_tokens` methods.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

PROVIDER_USAGE = "provider usage"
TOKENIZER = "tokenizer"
ESTIMATE = "estimate (len/4)"
_STRENGTH = {PROVIDER_USAGE: 0, TOKENIZER: 1, ESTIMATE: 2}

# litellm ships these tokenizers; the others its token_counter selects (Cohere, Llama) are
# fetched from the Hugging Face hub
_BUNDLED_HF_TOKENIZERS = ("anthropic", "deepseek")


@dataclass(frozen=True)
class TokenCount:
    tokens: int
    method: str  # TOKENIZER or ESTIMATE


def estimate_text(text: str) -> int:
    return len(text) // 4


def estimate_messages(messages: list[dict[str, str]]) -> int:
    return sum(len(m["content"]) for m in messages) // 4


def weakest(methods: Iterable[str]) -> str:
    """The least exact of `methods` (what a total made of them can claim), "" if none."""
    known = [m for m in methods if m in _STRENGTH]
    return max(known, key=_STRENGTH.__getitem__) if known else ""


def litellm_has_tokenizer(model: str) -> bool:
    """Whether litellm counts `model` with that model's own tokenizer, without the network."""
    try:
        from litellm.litellm_core_utils.token_counter import _is_openai_or_azure_model
        from litellm.utils import huggingface_tokenizer_kind
    except ImportError:  # another litellm layout: do not guess what it would download
        return False
    try:
        kind = huggingface_tokenizer_kind(model)
        if kind is not None:
            return kind in _BUNDLED_HF_TOKENIZERS
        return bool(_is_openai_or_azure_model(model))
    except Exception:  # a model name litellm cannot classify: no tokenizer claimed
        return False


class TokenCounter:
    """Counts for one model. `handler` is the in-process litellm provider serving it, if any."""

    def __init__(self, litellm: Any, model: str, handler: Any | None) -> None:
        self.litellm = litellm
        self.model = model
        self.handler = handler
        self._litellm_counts = handler is None and litellm_has_tokenizer(model)

    def prompt(self, messages: list[dict[str, str]]) -> TokenCount:
        """The prompt's tokens, the chat template's wrapping included where it is known."""
        return self._count("count_prompt_tokens", estimate_messages(messages),
                           messages=messages)

    def text(self, text: str) -> TokenCount:
        """An answer's tokens (when the provider reported no usage)."""
        return self._count("count_text_tokens", estimate_text(text), text=text)

    def _count(self, method: str, estimate: int, **what: Any) -> TokenCount:
        """By the in-process provider's `method`, else litellm's offline tokenizer, else the
        labelled `estimate`. `what` is the one thing counted (messages= or text=)."""
        try:
            if self.handler is not None:
                count = getattr(self.handler, method, None)
                tokens = count(self.model, *what.values()) if count else None
            elif self._litellm_counts:
                tokens = int(self.litellm.token_counter(model=self.model, **what))
            else:
                tokens = None
        except Exception:  # counting must never fail a request: the estimate stands in, labelled
            tokens = None
        if tokens is None:
            return TokenCount(estimate, ESTIMATE)
        return TokenCount(tokens, TOKENIZER)


MAX_REPORTED = 100_000_000  # more tokens than any model's context and answer together


def reported_tokens(value: object) -> int | None:
    """A provider's reported token count, or None when it cannot be trusted: a negative,
    fractional, non-numeric or absurdly large value would let a run slip past its budget or
    wreck its accounting, so the call is then counted by the tokenizer or the estimate."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    number = int(value)
    return number if 0 <= number <= MAX_REPORTED else None
