"""What `sleepcoder models` shows: the embedded models, whether they can run here, and which
model a command would use by default."""

from __future__ import annotations

import importlib.util

from sleepcoder.agent.llm import resolve_model
from sleepcoder.agent.local_model import LOCAL_MODELS, cache_dir, runtime_available
from sleepcoder.tools.config import LLMConfig

OTHER_MODELS = (
    "Any litellm model string also works, with its usual credentials in the environment: "
    "openai/gpt-4o-mini (OPENAI_API_KEY), anthropic/claude-3-5-haiku-latest "
    "(ANTHROPIC_API_KEY), ollama/qwen2.5-coder (a local Ollama server), or openai/<name> with "
    "[llm] api_base = \"http://host:port/v1\" for any OpenAI-compatible server (vLLM, "
    "llama.cpp server)."
)


def list_models(config: LLMConfig | None = None) -> dict:
    default, source = resolve_model(None, config or LLMConfig())
    runtime = runtime_available()
    local = []
    for model in LOCAL_MODELS.values():
        installed = all(importlib.util.find_spec(f"{model.package}{i}") is not None
                        for i in range(1, model.parts + 1))
        assembled = (cache_dir() / "models" / model.filename).is_file()
        local.append({
            "model": model.model_id, "description": model.description,
            "runtime_installed": runtime, "weights_installed": installed,
            "weights_assembled": assembled, "size_bytes": model.size,
            "ready": runtime and installed,
        })
    return {"default": default, "default_from": source, "local": local,
            "cache_dir": str(cache_dir()), "other": OTHER_MODELS}
