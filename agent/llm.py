"""The one model wrapper every graph uses: litellm (imported lazily), model resolution,
per-call and per-phase accounting, retries with backoff, a concurrency limit and an on-disk
response cache.

Model resolution: --model, then SLEEPCODER_MODEL, then `[llm] model`, then the embedded local
model. `local/...` models run in-process (agent/local_model.py); anything else is a litellm
model string (openai/..., anthropic/..., ollama/..., openai/<name> with api_base, ...).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sleepcoder.agent.cache import ResponseCache
from sleepcoder.agent.local_model import DEFAULT_LOCAL
from sleepcoder.agent.local_model import PROVIDER as LOCAL_PROVIDER
from sleepcoder.agent.tokens import PROVIDER_USAGE, TokenCounter, weakest
from sleepcoder.tools.config import LLMConfig
from sleepcoder.tools.secrets import scrub

DEFAULT_MODEL = f"{LOCAL_PROVIDER}/{DEFAULT_LOCAL}"
PHASES = ("sleep", "test")


class LLMError(RuntimeError):
    """A request failed for good (after retries, or with a non-retryable error)."""


class ContextTooLong(LLMError):
    """The prompt does not fit the model's context window: shrink it and try again."""


def resolve_model(explicit: str | None, config: LLMConfig) -> tuple[str, str]:
    """(model, where it came from)."""
    if explicit:
        return explicit, "--model"
    if os.environ.get("SLEEPCODER_MODEL"):
        return os.environ["SLEEPCODER_MODEL"], "SLEEPCODER_MODEL"
    if config.model:
        return config.model, ".sleepcoder.toml [llm] model"
    return DEFAULT_MODEL, "default (embedded local model)"


@dataclass(frozen=True)
class CallRecord:
    phase: str
    node: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost: float | None  # None: the provider's price is unknown
    seconds: float
    cached: bool
    error: str = ""
    counted: str = ""  # how the tokens were counted (agent/tokens.py); "" when nothing was sent


@dataclass
class PhaseTotals:
    calls: int = 0  # requests sent to the model (cache hits excluded)
    cached: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    cost_known: bool = True
    seconds: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Ledger:
    """Every call made through an LLM object, for reports and budgets."""

    records: list[CallRecord] = field(default_factory=list)
    checks: set[str] = field(default_factory=set)  # how requests were counted before sending
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, record: CallRecord) -> None:
        with self._lock:
            self.records.append(record)

    def totals(self, phase: str | None = None) -> PhaseTotals:
        out = PhaseTotals()
        for r in self.records:
            if phase and r.phase != phase:
                continue
            if r.error:
                out.failed += 1
            elif r.cached:
                out.cached += 1
                continue
            else:
                out.calls += 1
            out.prompt_tokens += r.prompt_tokens
            out.completion_tokens += r.completion_tokens
            out.seconds += r.seconds
            if r.cost is None:
                out.cost_known = False
            else:
                out.cost += r.cost
        return out

    def note_check(self, method: str) -> None:
        with self._lock:
            self.checks.add(method)

    def check_methods(self) -> set[str]:
        with self._lock:
            return set(self.checks)

    def token_count(self) -> str:
        """How the tokens of the calls made so far were counted (the least exact way used)."""
        return weakest(r.counted for r in self.records)


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str  # "stop", "length" (truncated), ...
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    cached: bool

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


_PROVIDERS: dict[str, Callable[[], Any]] = {}
_INSTANCES: dict[str, Any] = {}
_litellm: Any = None
_import_lock = threading.Lock()


def register_provider(name: str, factory: Callable[[], Any]) -> None:
    """Serve models named `<name>/...` with a litellm.CustomLLM made by `factory`."""
    _PROVIDERS[name] = factory
    _INSTANCES.pop(name, None)


def _lazy_litellm() -> Any:
    global _litellm
    with _import_lock:
        if _litellm is None:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never the network
            # nor for a tokenizer: token_counter would fetch Llama/Cohere ones from the HF hub
            os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
            import litellm

            litellm.suppress_debug_info = True
            litellm.telemetry = False
            _litellm = litellm
        return _litellm


def _ensure_provider(litellm: Any, model: str) -> None:
    prefix = model.split("/", 1)[0]
    if prefix == LOCAL_PROVIDER and prefix not in _PROVIDERS:
        from sleepcoder.agent.local_model import make_provider

        _PROVIDERS[LOCAL_PROVIDER] = make_provider
    if prefix not in _PROVIDERS:
        return
    if prefix not in _INSTANCES:
        _INSTANCES[prefix] = _PROVIDERS[prefix]()
    entries = [e for e in litellm.custom_provider_map if e.get("provider") != prefix]
    entries.append({"provider": prefix, "custom_handler": _INSTANCES[prefix]})
    litellm.custom_provider_map = entries


class LLM:
    """A model plus its accounting; one per run (thread-safe)."""

    def __init__(self, model: str, config: LLMConfig | None = None, *,
                 cache_path: Path | None = None, ledger: Ledger | None = None) -> None:
        self.model = model
        self.config = config or LLMConfig()
        self.ledger = ledger or Ledger()
        self.is_local = model.startswith(f"{LOCAL_PROVIDER}/")
        concurrency = self.config.max_concurrency or (1 if self.is_local else 4)
        self._slots = threading.BoundedSemaphore(concurrency)
        self.cache: ResponseCache | None = None
        if cache_path is not None:
            self.open_cache(cache_path)
        self._counter: TokenCounter | None = None

    def open_cache(self, path: Path) -> None:
        """Keep responses in `path` from now on (unless `[llm] cache = false`)."""
        self.cache = ResponseCache(path) if self.config.cache else None

    def check_available(self) -> None:
        """The pre-flight: raise ModelUnavailable (with a hint) or WeightsMismatch now, rather
        than at the first request of a run (see agent/preflight.py)."""
        from sleepcoder.agent.preflight import preflight

        preflight(self)

    def counter(self) -> TokenCounter:
        if self._counter is None:
            litellm = _lazy_litellm()
            _ensure_provider(litellm, self.model)
            self._counter = TokenCounter(litellm, self.model,
                                         _INSTANCES.get(self.model.split("/", 1)[0]))
        return self._counter

    def request_tokens(self, messages: list[dict[str, str]], max_tokens: int) -> int:
        """The most a request may use, for the budget check before it is sent: its prompt
        (by the model's tokenizer when known, else estimated) and a full answer."""
        count = self.counter().prompt(messages)
        self.ledger.note_check(count.method)
        return count.tokens + max_tokens

    def complete(self, messages: list[dict[str, str]], *, phase: str, node: str,
                 max_tokens: int = 256, temperature: float = 0.0,
                 stop: list[str] | None = None, grammar: str | None = None) -> Completion:
        """One request. `grammar` (GBNF) constrains the embedded model's answer so it always
        parses; other models are asked in plain text (the prompt states the format)."""
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}")
        # nothing secret reaches a model, whatever the prompt was built from
        messages = [{**m, "content": scrub(m["content"])} for m in messages]
        params = {"max_tokens": max_tokens, "temperature": temperature, "stop": stop}
        grammar = grammar if self.is_local else None
        key = ResponseCache.key(self.model, messages, {**params, "grammar": grammar}) \
            if self.cache else ""
        if self.cache:
            hit = self.cache.get(key)
            if hit is not None:
                self.ledger.add(CallRecord(phase, node, self.model, hit.prompt_tokens,
                                           hit.completion_tokens, 0.0, 0.0, True))
                return Completion(hit.text, hit.finish_reason, hit.prompt_tokens,
                                  hit.completion_tokens, 0.0, True)
        started = time.perf_counter()
        try:
            with self._slots:
                response = self._send(messages, params, node, grammar=grammar)
        except LLMError as exc:
            self.ledger.add(CallRecord(phase, node, self.model, 0, 0, 0.0,
                                       time.perf_counter() - started, False, str(exc)))
            raise
        seconds = time.perf_counter() - started
        choice = response.choices[0]
        text = choice.message.content or ""
        usage = getattr(response, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        counted = PROVIDER_USAGE
        if not prompt_tokens and not completion_tokens:  # no usage reported: count it here
            prompt, answer = self.counter().prompt(messages), self.counter().text(text)
            prompt_tokens, completion_tokens = prompt.tokens, answer.tokens
            counted = weakest((prompt.method, answer.method))
        cost = 0.0 if self.is_local else (response._hidden_params or {}).get("response_cost")
        finish = choice.finish_reason or "stop"
        self.ledger.add(CallRecord(phase, node, self.model, prompt_tokens, completion_tokens,
                                   cost, seconds, False, counted=counted))
        if self.cache:
            self.cache.put(key, self.model, text, finish, prompt_tokens, completion_tokens)
        return Completion(text, finish, prompt_tokens, completion_tokens, cost, False)

    def _send(self, messages: list[dict[str, str]], params: dict, node: str,
              attempts: int = 0, grammar: str | None = None) -> Any:
        """One request, retried on transient errors (`attempts`: 0 means from the config)."""
        litellm = _lazy_litellm()
        _ensure_provider(litellm, self.model)
        retryable = tuple(getattr(litellm, name) for name in (
            "RateLimitError", "Timeout", "APIConnectionError", "ServiceUnavailableError",
            "InternalServerError") if hasattr(litellm, name))
        extra: dict[str, Any] = {"metadata": {"sleepcoder_node": node}}
        if grammar:
            extra["metadata"]["sleepcoder_grammar"] = grammar
        if self.config.api_base:
            extra["api_base"] = self.config.api_base
        if not self.is_local:
            extra["timeout"] = self.config.timeout
            extra["max_retries"] = 0  # the OpenAI client retries twice more on its own
        attempts = attempts or max(1, self.config.retries + 1)
        for attempt in range(attempts):
            try:
                response = litellm.completion(
                    model=self.model, messages=messages,
                    **{k: v for k, v in params.items() if v is not None}, **extra)
            except retryable as exc:
                if connection_refused(exc):  # nothing listens there: waiting will not help
                    raise LLMError(f"{self.model}: connection refused: {_short(exc)}") from exc
                if attempt + 1 >= attempts:
                    raise LLMError(f"{self.model}: {type(exc).__name__} after {attempts} "
                                   f"attempts: {_short(exc)}") from exc
                time.sleep(min(30.0, 2 ** attempt) * (0.5 + random.random()))
                continue
            except Exception as exc:
                if type(exc).__name__ == "ContextWindowExceededError":
                    raise ContextTooLong(f"{self.model}: prompt too long: {_short(exc)}") from exc
                if isinstance(exc, LLMError):
                    raise
                from sleepcoder.agent.local_model import ModelUnavailable, WeightsMismatch

                if isinstance(exc, ModelUnavailable | WeightsMismatch):
                    raise
                cause = exc.__cause__ or exc.__context__
                if isinstance(cause, ModelUnavailable | WeightsMismatch):
                    raise cause from exc
                raise LLMError(f"{self.model}: {type(exc).__name__}: {_short(exc)}") from exc
            if not getattr(response, "choices", None):  # a broken server: nothing to read
                raise LLMError(f"{self.model}: the server answered without any choice (an "
                               "empty `choices` list): is it an OpenAI-compatible server?")
            return response
        raise AssertionError("unreachable")


def connection_refused(exc: BaseException) -> bool:
    """Whether `exc` comes from a refused connection (litellm reports it as APIConnectionError
    for Ollama and as InternalServerError for OpenAI-compatible servers)."""
    return caused_by(exc, ConnectionRefusedError) is not None


def caused_by(exc: BaseException, kind: type | tuple[type, ...]) -> BaseException | None:
    """The first exception of `kind` in the chain of causes of `exc` (itself included)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]
