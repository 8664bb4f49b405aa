"""Trajectories: every model request of a solve run on disk as it goes (scrubbed), its answer
and outcome; `sleepcoder runs show` prints a run from it; resumed runs append."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sleepcoder.agent.solve.run import resume_solve, start_solve
from sleepcoder.agent.solve.runs import clean_runs
from sleepcoder.agent.solve.trajectory import Step, Trajectory, read_trajectory
from typer.testing import CliRunner

from sleepcoder.cli import app
from tests import test_solve
from tests.test_runs import interrupt_second_edit
from tests.test_solve import REQUEST, options, script_happy_path

inventory = test_solve.inventory  # the example project with history, as a fixture here too


def trajectory(root, run: str) -> list[Step]:
    steps, bad = read_trajectory(root / ".sleepcoder" / "runs" / run / "trajectory.jsonl")
    assert bad == 0
    return steps


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_a_solve_keeps_every_model_request_with_its_answer_and_outcome(inventory, scripted):
    script_happy_path(scripted)
    result = start_solve(inventory.root, REQUEST, options())
    assert result.status == "done"
    steps = trajectory(inventory.root, result.thread)
    assert [s.node for s in steps] == ["localize", "plan", "edit", "edit"]
    assert [s.step for s in steps] == [1, 2, 3, 4] and {s.session for s in steps} == {1}
    for step, call in zip(steps, scripted.calls, strict=True):
        assert step.messages[-1]["content"] == call.prompt  # as sent
        assert step.answer == call.reply
        assert step.finish_reason == "stop" and not step.cached and not step.error
        assert step.prompt_tokens > 0 and step.completion_tokens > 0
    assert steps[0].messages[0]["role"] == "system"
    localized = steps[0].outcome.removeprefix("files to change: ").split(", ")
    assert {"inventory/report.py", "inventory/cli.py"} <= set(localized)  # in ranking order
    assert steps[1].outcome.startswith("EDIT inventory/report.py: add low_stock")
    assert [s.outcome for s in steps[2:]] == ["applied to inventory/report.py",
                                              "applied to inventory/cli.py"]
    assert result.record["trajectory"] == f"runs/{result.thread}/trajectory.jsonl"
    assert sum(s.tokens for s in steps) == result.record["usage"]["test"]["tokens"]


def test_a_rejected_answer_says_why_in_its_outcome(inventory, scripted):
    scripted.on(node="localize", reply="inventory/report.py: YES")
    scripted.on(node="plan", reply="EDIT inventory/report.py: add low_stock\n")
    scripted.on(node="edit", reply="inventory/report.py\n<<<<<<< SEARCH\nnothing like it\n"
                                   "=======\nx = 1\n>>>>>>> REPLACE\n", times=1)
    scripted.on(node="edit", reply=test_solve.REPORT_EDIT)
    result = start_solve(inventory.root, REQUEST, options())
    edits = [s for s in trajectory(inventory.root, result.thread) if s.node == "edit"]
    assert edits[0].outcome.startswith("rejected: block 1: the SEARCH text was not found")
    assert edits[1].outcome == "applied to inventory/report.py"
    assert "could not be applied" in edits[1].messages[-1]["content"]  # the repair request


def test_secrets_in_the_request_and_the_answers_are_redacted(inventory, scripted, monkeypatch):
    secret = "sk-live-4242424242424242"
    monkeypatch.setenv("SLEEPCODER_TEST_API_TOKEN", secret)
    script_happy_path(scripted)
    scripted.rules[0].reply = f"inventory/report.py: YES {secret}\ninventory/cli.py: YES"
    result = start_solve(inventory.root, f"{REQUEST} (the key is {secret})", options())
    path = inventory.root / ".sleepcoder" / "runs" / result.thread / "trajectory.jsonl"
    text = path.read_text()
    assert secret not in text
    assert text.count("[REDACTED:SLEEPCODER_TEST_API_TOKEN]") >= 5  # 4 requests + 1 answer


def test_an_interrupted_run_keeps_its_requests_and_the_resume_appends(inventory, scripted):
    interrupt_second_edit(scripted)
    with pytest.raises(KeyboardInterrupt):
        start_solve(inventory.root, REQUEST, options())
    run = next(p.name for p in (inventory.root / ".sleepcoder" / "runs").iterdir()
               if p.is_dir())
    before = trajectory(inventory.root, run)
    assert [(s.node, s.error) for s in before] == [
        ("localize", ""), ("plan", ""), ("edit", ""), ("edit", "interrupted")]
    result = resume_solve(inventory.root, run)
    assert result.status == "done"
    after = trajectory(inventory.root, run)
    assert after[:4] == before
    assert [(s.step, s.session, s.node) for s in after[4:]] == [(5, 2, "edit")]
    assert after[4].outcome == "applied to inventory/cli.py"


def test_a_failed_request_is_kept_with_the_models_error(inventory, scripted):
    import litellm

    scripted.on(node="localize", reply="inventory/report.py: YES")
    scripted.on(node="plan", reply=litellm.AuthenticationError("key revoked", "x", "test"))
    with pytest.raises(Exception, match="key revoked"):
        start_solve(inventory.root, REQUEST, options())
    run = next(p.name for p in (inventory.root / ".sleepcoder" / "runs").iterdir()
               if p.is_dir())
    steps = trajectory(inventory.root, run)
    assert [s.node for s in steps] == ["localize", "plan"]
    assert "key revoked" in steps[1].error and steps[1].answer == ""


def test_runs_show_prints_the_run_readably(inventory, scripted):
    script_happy_path(scripted)
    result = start_solve(inventory.root, REQUEST, options())
    shown = cli("runs", "show", result.thread, str(inventory.root))
    assert shown.exit_code == 0, shown.output
    text = shown.output
    assert f"Run {result.thread}: done" in text
    assert "Request: Add a low-stock report" in text and "Model: scripted/test" in text
    assert "EDIT inventory/report.py: add low_stock" in text
    assert "inventory/report.py: edited; touches low_stock" in text
    assert "inventory/cli.py: edited; touches build_parser, main" in text
    assert "#1 localize: " in text and "#4 edit: " in text
    assert "outcome: applied to inventory/cli.py" in text
    assert "def low_stock(inventory: Inventory, threshold: int) -> str:" in text  # an answer
    assert "[system]" not in text
    full = cli("runs", "show", result.thread, str(inventory.root), "--full").output
    assert "[system]" in full and len(full) > len(text)
    data = json.loads(cli("runs", "show", result.thread, str(inventory.root), "--json").output)
    assert data["record"]["status"] == "done" and len(data["trajectory"]) == 4
    assert data["trajectory"][2]["outcome"] == "applied to inventory/report.py"


def test_runs_show_of_an_unknown_run_is_a_clear_error(inventory):
    shown = cli("runs", "show", "solve-123-nosuch", str(inventory.root))
    assert shown.exit_code == 2
    assert "no solve run 'solve-123-nosuch'" in shown.output
    shown = cli("runs", "show", "../../etc", str(inventory.root))
    assert shown.exit_code == 2


def test_runs_show_of_a_run_waiting_at_review_shows_its_plan_and_requests(inventory, scripted):
    script_happy_path(scripted)
    paused = start_solve(inventory.root, REQUEST, options(review=True))
    text = cli("runs", "show", paused.thread, str(inventory.root)).output
    assert f"Run {paused.thread}: awaiting_review" in text
    assert "EDIT inventory/cli.py" in text and "#2 plan: " in text
    assert "Tokens so far: " in text


def test_runs_clean_removes_the_runs_folder(inventory, scripted):
    script_happy_path(scripted)
    result = start_solve(inventory.root, REQUEST, options())
    folder = inventory.root / ".sleepcoder" / "runs" / result.thread
    assert folder.is_dir()
    report = clean_runs(inventory.root, inventory.root / ".sleepcoder")
    assert report.removed == [result.thread] and not folder.exists()


def test_solve_prints_per_file_outcomes(inventory, scripted):
    script_happy_path(scripted)
    scripted.rules[3].reply = "I cannot do that."  # the edit of cli.py never applies
    scripted.rules[3].contains = None  # (nor its repairs)
    shown = cli("solve", REQUEST, "--repo", str(inventory.root), "--model", "scripted/test")
    assert shown.exit_code == 9, shown.output
    assert "inventory/report.py: edited; touches low_stock" in shown.output
    assert "inventory/cli.py: not edited (after 3 attempts): " in shown.output
    assert "sleepcoder runs show solve-" in shown.output


def test_runs_show_says_how_tokens_were_counted(inventory, scripted):
    script_happy_path(scripted)
    result = start_solve(inventory.root, REQUEST, options())
    text = cli("runs", "show", result.thread, str(inventory.root)).output
    assert "; counted by provider usage" in text
    assert "(estimate (len/4))" not in text


def test_estimated_token_counts_are_labelled_in_the_record_and_the_output(inventory, scripted):
    script_happy_path(scripted)
    scripted.report_usage = False  # and no tokenizer: only the estimate is left
    shown = cli("solve", REQUEST, "--repo", str(inventory.root), "--model", "scripted/test",
                "--json")
    record = json.loads(shown.stdout)
    usage = record["usage"]["test"]
    assert usage["token_count"] == "estimate (len/4)" and usage["tokens"] > 0
    assert usage["token_count_calls"] == {"estimate (len/4)": 4}
    shown = cli("solve", REQUEST, "--repo", str(inventory.root), "--model", "scripted/test")
    assert "token counts are estimates (len/4)" in shown.output
    text = cli("runs", "show", record["id"], str(inventory.root)).output
    assert "counted by estimate (len/4)" in text
    assert "#1 localize: " in text and "tokens (estimate (len/4))" in text


# --- the writer and the reader -------------------------------------------------------------------

class Answer:
    text, finish_reason, prompt_tokens, completion_tokens, cached = "ok", "stop", 3, 1, False


def test_an_outcome_rewrites_only_the_last_line_and_only_for_its_node(tmp_path):
    writer = Trajectory.open(tmp_path, "solve-1-x")
    for node in ("plan", "edit"):
        writer.sending(node, [{"role": "user", "content": node}])
        writer.answered(Answer())
    writer.outcome("plan", "not mine: the last answer is an edit")
    writer.outcome("edit", "applied")
    writer.outcome("edit", "a second outcome is ignored")
    steps, bad = read_trajectory(tmp_path / "runs" / "solve-1-x" / "trajectory.jsonl")
    assert bad == 0
    assert [(s.node, s.outcome) for s in steps] == [("plan", None), ("edit", "applied")]
    again = Trajectory.open(tmp_path, "solve-1-x")
    again.sending("edit", [{"role": "user", "content": "x"}])
    again.answered(Answer())
    steps, _ = read_trajectory(tmp_path / "runs" / "solve-1-x" / "trajectory.jsonl")
    assert [(s.step, s.session) for s in steps] == [(1, 1), (2, 1), (3, 2)]


def test_a_context_without_a_trajectory_writes_nothing(tmp_path):
    writer = Trajectory()
    writer.sending("plan", [{"role": "user", "content": "x"}])
    writer.answered(Answer())
    writer.outcome("plan", "x")
    assert list(tmp_path.iterdir()) == []


@given(st.lists(st.one_of(st.text(max_size=40), st.just('{"step": 1}'),
                          st.just(json.dumps(Step(1, 1, "plan", [], "a", "stop", 1, 1, 0.1,
                                                  False).to_dict()))), max_size=8))
def test_reading_a_damaged_trajectory_counts_the_bad_lines_and_never_raises(tmp_path_factory,
                                                                             lines):
    path = tmp_path_factory.mktemp("t") / "trajectory.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogateescape")
    steps, bad = read_trajectory(path)
    meaningful = [line for line in "\n".join(lines).splitlines() if line.strip()]
    assert len(steps) + bad == len(meaningful)
