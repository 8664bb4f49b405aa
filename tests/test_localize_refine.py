"""The model's YES/NO votes may only make the narrow changes the config allows."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

from sleepcoder.agent.solve import localize
from sleepcoder.tools.config import Config
from sleepcoder.tools.localize import Candidate, Localization

RANKING = Localization(
    candidates=[Candidate("a.py", 0.9), Candidate("b.py", 0.6), Candidate("c.py", 0.4),
                Candidate("docs.md", 0.15), Candidate("d.py", 0.12), Candidate("e.py", 0.1)],
    chosen=["a.py", "b.py", "c.py", "docs.md"], habits={})


class FakeContext(SimpleNamespace):
    def ask(self, node, messages, max_tokens, grammar=None):
        self.asked = messages[-1]["content"]
        return SimpleNamespace(text=self.reply)

    def messages(self, user):
        return [{"role": "user", "content": user}]


def context(reply: str, **solve) -> FakeContext:
    config = Config()
    config = replace(config, solve=replace(config.solve, **solve))
    return FakeContext(reply=reply, config=config, store=None,
                       task=SimpleNamespace(text="add a thing"),
                       budget=SimpleNamespace(status_line=lambda: "no limit"))


def test_votes_drop_only_unlikely_files_and_add_nothing_by_default():
    reply = "a.py: NO\nb.py: NO\nc.py: NO\ndocs.md: NO\nd.py: YES\ne.py: YES"
    ctx = context(reply)
    decision = localize.refine(ctx, RANKING)
    # a.py, b.py are the protected top two; c.py (0.4) is too likely to be dropped on a vote
    assert decision.files == ["a.py", "b.py", "c.py"]
    assert decision.dropped == ["docs.md"] and decision.added == []
    assert decision.votes["d.py"] == "YES"
    assert "d.py" in ctx.asked and "e.py" in ctx.asked  # runners-up are shown to the model


def test_config_can_give_a_stronger_model_more_say():
    reply = "a.py: YES\nb.py: YES\nc.py: NO\ndocs.md: YES\nd.py: YES\ne.py: YES"
    decision = localize.refine(context(reply, model_drop_below=1.0, model_may_add=1), RANKING)
    assert decision.files == ["a.py", "b.py", "docs.md", "d.py"]
    assert decision.dropped == ["c.py"] and decision.added == ["d.py"]


def test_an_unusable_answer_changes_nothing():
    decision = localize.refine(context("I think you should edit the main module."), RANKING)
    assert decision.files == RANKING.chosen
    assert decision.note == "the model's answer had no usable YES/NO lines"
