"""Token counts: the provider's reported usage is what is accounted, the model's tokenizer sizes
a request before it is sent, and the len/4 estimate is only a labelled fallback."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sleepcoder.agent import local_model
from sleepcoder.agent.budget import BudgetExhausted, TaskBudget
from sleepcoder.agent.llm import LLM, _lazy_litellm
from sleepcoder.agent.tokens import (
    ESTIMATE,
    PROVIDER_USAGE,
    TOKENIZER,
    TokenCount,
    TokenCounter,
    litellm_has_tokenizer,
    weakest,
)

from sleepcoder.progress import estimate_note

MESSAGES = [{"role": "system", "content": "You summarize code."},
            {"role": "user", "content": "a b c d e f g h i j k l m n o p q r s t u v w x y z"}]


def words(text: str) -> int:
    """The scripted model's 'tokenizer': one token a word (len/4 would say half as many)."""
    return len(text.split())


def test_accounting_uses_the_usage_the_provider_reports(scripted):
    scripted.on(node="n", reply="fine", usage=(1234, 56))
    llm = LLM("scripted/test")
    answer = llm.complete(MESSAGES, phase="test", node="n")
    assert (answer.prompt_tokens, answer.completion_tokens) == (1234, 56)
    record = llm.ledger.records[-1]
    assert (record.prompt_tokens, record.completion_tokens) == (1234, 56)
    assert record.counted == PROVIDER_USAGE
    assert llm.ledger.token_count() == PROVIDER_USAGE


def test_the_pre_call_check_counts_the_prompt_with_the_models_tokenizer(scripted):
    scripted.tokenizer = words
    llm = LLM("scripted/test")
    prompt_words = sum(words(m["content"]) for m in MESSAGES)
    assert llm.request_tokens(MESSAGES, 10) == prompt_words + 10
    assert llm.ledger.checks == {TOKENIZER}
    # a budget that the len/4 estimate would have let through refuses the request
    estimate = sum(len(m["content"]) for m in MESSAGES) // 4 + 10
    budget = TaskBudget(prompt_words + 5, 0, lambda: 0, lambda: 0)
    assert estimate < prompt_words + 5
    with pytest.raises(BudgetExhausted, match="needs about"):
        budget.check_request(llm, MESSAGES, 10)
    assert not scripted.calls


def test_without_usage_the_tokenizer_counts_the_call(scripted):
    scripted.report_usage = False
    scripted.tokenizer = words
    scripted.on(node="n", reply="one two three")
    llm = LLM("scripted/test")
    llm.complete(MESSAGES, phase="test", node="n")
    record = llm.ledger.records[-1]
    assert record.prompt_tokens == sum(words(m["content"]) for m in MESSAGES)
    assert record.completion_tokens == 3
    assert record.counted == TOKENIZER


def test_without_usage_or_tokenizer_the_estimate_is_used_and_labelled(scripted):
    scripted.report_usage = False
    scripted.on(node="n", reply="x" * 40)
    llm = LLM("scripted/test")
    assert llm.request_tokens(MESSAGES, 0) == sum(len(m["content"]) for m in MESSAGES) // 4
    llm.complete(MESSAGES, phase="test", node="n")
    record = llm.ledger.records[-1]
    assert record.completion_tokens == 10
    assert record.counted == ESTIMATE and llm.ledger.checks == {ESTIMATE}
    assert llm.ledger.token_count() == ESTIMATE
    assert "estimates (len/4)" in estimate_note({"token_count": ESTIMATE}, budgeted=False)


def test_no_token_budget_means_no_counting(scripted):
    llm = LLM("scripted/test")
    TaskBudget(0, 5, lambda: 0, lambda: 0).check_request(llm, MESSAGES, 10)
    assert llm.ledger.checks == set()


def test_an_openai_model_is_counted_by_its_tokenizer_offline():
    litellm = _lazy_litellm()
    counter = TokenCounter(litellm, "openai/gpt-4o-mini", None)
    count = counter.prompt(MESSAGES)
    assert count.method == TOKENIZER
    assert count.tokens == litellm.token_counter(model="openai/gpt-4o-mini", messages=MESSAGES)
    assert counter.text("hello world").method == TOKENIZER


@pytest.mark.parametrize("model", [
    "groq/llama-3.1-8b-instant",  # litellm would download a Llama tokenizer from the HF hub
    "ollama/qwen2.5-coder",  # litellm would count it with an unrelated OpenAI encoding
    "openai/my-server-model",  # an OpenAI-compatible server: the model is unknown
])
def test_models_without_an_offline_tokenizer_fall_back_to_the_labelled_estimate(model):
    litellm = _lazy_litellm()
    assert not litellm_has_tokenizer(model)
    count = TokenCounter(litellm, model, None).prompt(MESSAGES)
    assert count == TokenCount(sum(len(m["content"]) for m in MESSAGES) // 4, ESTIMATE)


def test_a_failing_tokenizer_falls_back_to_the_estimate():
    class Broken:
        def count_prompt_tokens(self, model, messages):
            raise RuntimeError("tokenizer crashed")

    count = TokenCounter(None, "scripted/test", Broken()).prompt(MESSAGES)
    assert count.method == ESTIMATE


class FakeLlama:
    """The part of llama_cpp.Llama the counter uses: one token a word or special marker."""

    metadata = {"tokenizer.chat_template":
                "{%- if not system %}You are Qwen, created by Alibaba Cloud. You are a helpful "
                "assistant.{% endif %}<|im_start|>{{ role }}"}

    def __init__(self) -> None:
        self.texts: list[str] = []

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        decoded = text.decode()
        self.texts.append(decoded)
        spaced = decoded.replace("<|im_start|>", " S ").replace("<|im_end|>", " E ")
        return [0] * len(spaced.split())


def test_the_embedded_model_counts_with_its_tokenizer_and_chat_template(monkeypatch):
    fake = FakeLlama()
    monkeypatch.setattr(local_model, "_loaded_llama", lambda model_id: fake)
    tokens = local_model.count_prompt_tokens("local/qwen2.5-coder-1.5b", MESSAGES)
    assert fake.texts[-1].endswith("<|im_end|>\n<|im_start|>assistant\n")
    # each message: <|im_start|> role ... <|im_end|>; then <|im_start|> assistant
    assert tokens == sum(words(m["content"]) + 3 for m in MESSAGES) + 2
    # no system message: the template's default one is counted too
    local_model.count_prompt_tokens("local/qwen2.5-coder-1.5b", MESSAGES[1:])
    assert fake.texts[-1].startswith("<|im_start|>system\nYou are Qwen")


def test_the_embedded_model_that_cannot_load_falls_back_to_the_estimate(monkeypatch):
    def unavailable(model_id):
        raise local_model.ModelUnavailable("llama-cpp-python is not installed")

    monkeypatch.setattr(local_model, "engine", unavailable)
    assert local_model.count_prompt_tokens("local/qwen2.5-coder-1.5b", MESSAGES) is None
    llm = LLM("local/qwen2.5-coder-1.5b")
    assert llm.request_tokens(MESSAGES, 0) == sum(len(m["content"]) for m in MESSAGES) // 4
    assert llm.ledger.checks == {ESTIMATE}


METHODS = st.sampled_from([PROVIDER_USAGE, TOKENIZER, ESTIMATE])


@given(st.lists(METHODS, min_size=1))
def test_a_total_claims_no_more_than_its_least_exact_count(methods):
    label = weakest(methods)
    assert label in methods
    assert (ESTIMATE in methods) == (label == ESTIMATE)
    assert (label == PROVIDER_USAGE) == all(m == PROVIDER_USAGE for m in methods)


@given(st.lists(st.text(max_size=20)))
def test_unknown_labels_are_ignored(labels):
    assert weakest(labels) in ("", *labels)
    assert weakest([m for m in labels if m not in (PROVIDER_USAGE, TOKENIZER, ESTIMATE)]) == ""
