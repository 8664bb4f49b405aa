"""The model provider's API key in the bot: taken from `SLEEPCODER_API_KEY` (the action's
`api-key` input), registered with the scrubber, and handed to the model layer under the
variable its provider reads, which the test command never gets (not even through `test_env`).
"""

from __future__ import annotations

import os

from sleepcoder.tools.config import Config, ConfigError
from sleepcoder.tools.secrets import register_secret

KEY_VARIABLE = "SLEEPCODER_API_KEY"
KEY_NAME_VARIABLE = "SLEEPCODER_API_KEY_ENV"
# litellm's names where they are not simply <PROVIDER>_API_KEY
_PROVIDER_KEYS = {"together_ai": "TOGETHERAI_API_KEY", "fireworks_ai": "FIREWORKS_AI_API_KEY",
                  "vertex_ai": "VERTEXAI_API_KEY", "huggingface": "HF_TOKEN",
                  "azure": "AZURE_API_KEY", "bedrock": "AWS_SECRET_ACCESS_KEY"}
# models litellm knows without a provider prefix
_BARE_PREFIXES = {"gpt-": "OPENAI_API_KEY", "o1": "OPENAI_API_KEY", "o3": "OPENAI_API_KEY",
                  "o4": "OPENAI_API_KEY", "chatgpt-": "OPENAI_API_KEY",
                  "claude-": "ANTHROPIC_API_KEY", "gemini-": "GEMINI_API_KEY"}

_installed: set[str] = set()  # the variable names holding a key this process installed


class ModelKeyError(ConfigError):
    """A key was given but the variable its provider reads cannot be told."""


def key_variable(model: str) -> str:
    """The environment variable litellm reads the key of `model` from ('' when unknown)."""
    if "/" in model:
        provider = model.split("/", 1)[0].lower()
        return _PROVIDER_KEYS.get(provider, f"{provider.upper().replace('-', '_')}_API_KEY")
    for prefix, name in _BARE_PREFIXES.items():
        if model.lower().startswith(prefix):
            return name
    return ""


def bot_model(config: Config) -> str:
    """The model the bot runs with, resolved as agent/llm.py does ([bot] model first)."""
    return config.bot.model or os.environ.get("SLEEPCODER_MODEL", "") or config.llm.model


def install_model_key(model: str) -> str:
    """Move the key from SLEEPCODER_API_KEY to the variable the provider of `model` reads
    (SLEEPCODER_API_KEY_ENV, else derived from the model's prefix); the variable's name, or ''
    when no key was given. The value is a registered secret before anything is written."""
    value = os.environ.pop(KEY_VARIABLE, "")
    name = os.environ.pop(KEY_NAME_VARIABLE, "").strip()
    if not value.strip():
        return ""
    name = name or key_variable(model)
    register_secret(value, name or "the model API key")
    if not name:
        raise ModelKeyError(f"an API key was given, but not which variable the model "
                            f"{model or '(none)'!r} reads it from: set `api-key-env` (for "
                            "example OPENAI_API_KEY)")
    os.environ[name] = value
    _installed.add(name)
    return name


def model_key_names() -> frozenset[str]:
    """The variables holding a key this process installed for the model layer."""
    return frozenset(_installed)


def without_model_key(test_env: tuple[str, ...], model: str) -> tuple[str, ...]:
    """`test_env` without the variables holding the model's key: the test command runs code
    the model wrote, and the key pays for the model."""
    keys = _installed | {key_variable(model)}
    return tuple(n for n in test_env if n not in keys)
