"""The pre-flight of a model: before a sleep pass or a solve spends any work, check that the model
can answer at all and, when it cannot, say how to fix it (exit code 5, "no usable model").

- The embedded local model (`local/...`): its weights verify and llama.cpp loads them
  (agent/local_model.engine, which keeps the loaded engine for the run).
- A provider registered in-process with `agent.llm.register_provider` (the tests' `scripted/`):
  nothing to check, since it is code in this process; its first request is the run's first.
- Anything else is a litellm model: litellm's `validate_environment` names missing API keys,
  then a one-token request finds a server that cannot be reached, refuses the credentials, does
  not know the model, does not answer or fails otherwise; only a rate limit or an overloaded
  server (busy, not unusable) lets it pass. That request is sent once, without retries, and is
  not counted in the run's usage (it is a check, not work).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from sleepcoder.agent.local_model import ModelUnavailable

if TYPE_CHECKING:
    from sleepcoder.agent.llm import LLM

_PROBE = [{"role": "user", "content": "Reply with OK."}]
_PASSED: set[tuple[str, str]] = set()  # (model, api_base) that answered in this process
_DEFAULT_BASES = {"ollama": "http://localhost:11434", "ollama_chat": "http://localhost:11434"}


def preflight(llm: LLM) -> None:
    """Raise ModelUnavailable (or WeightsMismatch) with a hint when `llm` cannot answer."""
    from sleepcoder.agent import llm as llm_module

    if llm.is_local:
        from sleepcoder.agent.local_model import engine

        engine(llm.model)
        return
    if llm.model.split("/", 1)[0] in llm_module._PROVIDERS:
        return
    key = (llm.model, llm.config.api_base)
    if key in _PASSED:
        return
    litellm = llm_module._lazy_litellm()
    provider, base = _provider(litellm, llm)
    _check_environment(litellm, llm, provider)
    try:
        llm._send(_PROBE, {"max_tokens": 1, "temperature": 0.0}, "preflight", attempts=1)
    except llm_module.LLMError as exc:
        problem = _diagnose(litellm, llm, provider, base, exc.__cause__ or exc)
        if problem:
            raise ModelUnavailable(f"{llm.model}: {problem}") from None
    _PASSED.add(key)


def _provider(litellm: Any, llm: LLM) -> tuple[str, str]:
    """(litellm provider, the base URL requests go to, '' when the provider's own)."""
    try:
        _name, provider, _key, base = litellm.get_llm_provider(
            llm.model, api_base=llm.config.api_base or None)
    except Exception:
        raise ModelUnavailable(
            f"{llm.model}: unknown model: litellm does not know the provider "
            f"{llm.model.split('/', 1)[0]!r}; use a litellm model string such as "
            "openai/gpt-4o-mini, anthropic/claude-3-5-haiku-latest, ollama/qwen2.5-coder:7b, "
            "or local/qwen2.5-coder-1.5b (see `sleepcoder models`)") from None
    return provider, llm.config.api_base or base or _DEFAULT_BASES.get(provider, "")


def _check_environment(litellm: Any, llm: LLM, provider: str) -> None:
    found = litellm.validate_environment(llm.model, api_base=llm.config.api_base or None)
    missing = [name for name in found.get("missing_keys", [])
               if not (name.endswith("_API_BASE") and provider in _DEFAULT_BASES)]
    variable = f"{provider.upper()}_API_KEY"
    if not missing and os.environ.get(variable) == "":  # counts as set for litellm
        raise ModelUnavailable(f"{llm.model}: {variable} is empty: set it in the environment")
    if not missing:
        return
    hint = f"set {' and '.join(missing)} in the environment"
    if llm.config.api_base and provider == "openai":
        hint += " (a server that takes no key accepts any value, e.g. OPENAI_API_KEY=none)"
    raise ModelUnavailable(f"{llm.model}: {', '.join(missing)} not set: {hint}")


def _diagnose(litellm: Any, llm: LLM, provider: str, base: str, exc: BaseException) -> str:
    """What is wrong, with a hint; '' when the error does not mean the model is unusable."""
    import httpx
    from sleepcoder.agent.llm import _short, caused_by, connection_refused

    where = base or f"{provider}'s API"
    name = llm.model.split("/", 1)[1] if "/" in llm.model else llm.model
    if connection_refused(exc):
        if provider in _DEFAULT_BASES:
            return (f"cannot connect to Ollama at {where} (connection refused): is `ollama "
                    f"serve` running there? (set `[llm] api_base` if it runs elsewhere)")
        return (f"cannot connect to {where} (connection refused): is the server running, and "
                "is `[llm] api_base` in .sleepcoder.toml right?")
    unreachable = caused_by(exc, httpx.ConnectError)
    if unreachable is not None:  # no such host, no route: in the pre-flight, that is final
        return (f"cannot connect to {where} ({_short(unreachable)}): check the address "
                "(`[llm] api_base`) and the network")
    if isinstance(exc, litellm.AuthenticationError | litellm.PermissionDeniedError):
        variable = f"{provider.upper()}_API_KEY"
        return (f"{where} refused the credentials ({_short(exc)}): check {variable}")
    if isinstance(exc, litellm.NotFoundError):
        if provider in _DEFAULT_BASES:
            return (f"Ollama at {where} does not have the model {name!r}: run `ollama pull "
                    f"{name}` (or see `ollama list`)")
        return f"{where} does not know the model {name!r} ({_short(exc)}): check its name"
    if isinstance(exc, litellm.Timeout):
        return (f"{where} accepted the connection but did not answer within "
                f"{llm.config.timeout:g} s (`[llm] timeout`): is the server healthy?")
    if isinstance(exc, litellm.RateLimitError | litellm.ServiceUnavailableError):
        return ""  # busy, not unusable: the run's own retries wait for it
    hint = f": check {provider.upper()}_API_KEY" if "credentials" in str(exc).lower() else ""
    return f"a one-token test request failed ({_short(exc)}){hint}"
