"""The bot on its own draft pull requests, end to end: `/sleepcoder` comments on the pull
request continue its branch (against the local fake of the API and a real bare repository),
and the model's API key reaches the model layer only."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sleepcoder.tasks.bot import PULL_MARK, run_bot
from sleepcoder.tasks.bot_pull import NOT_OURS_MARK, our_issue, review_context
from sleepcoder.tasks.github import BOT_MARK, PullDetails, ReviewComment, read_event
from sleepcoder.tasks.model_key import ModelKeyError, install_model_key, key_variable
from sleepcoder.tools.config import Config

from tests.conftest import git
from tests.test_bot import (
    CONFIG,
    REPO,
    REPORT_EDIT,
    _commit_config,
    event,
    everything_sent,
    github,
    happy_script,
    labeled,
    make_world,
)

BRANCH = "sleepcoder/issue-5"
PULL = 100  # the fake numbers the first pull request it opens 100
STRICTLY_EDIT = (
    "inventory/report.py\n<<<<<<< SEARCH\n    \"\"\"SKUs whose quantity is below "
    "`threshold`.\"\"\"\n=======\n    \"\"\"SKUs whose quantity is below `threshold` "
    "(strictly).\"\"\"\n>>>>>>> REPLACE\n")
API_KEY = "sk-live-M0delKeyValue0123456789abcdef"


@pytest.fixture
def world(tmp_path, monkeypatch):
    made = make_world(tmp_path, monkeypatch)
    yield made
    made["fake"].stop()


@pytest.fixture
def opened(world, scripted):
    """The world after the label run opened draft pull request #100 on sleepcoder/issue-5."""
    happy_script(scripted)
    assert run_bot(labeled(world), github=github(world)).action == "opened"
    scripted.rules.clear()
    scripted.calls.clear()
    world["first"] = head(world)
    return world


def head(world, branch: str = BRANCH) -> str:
    return git(world["origin"], "rev-parse", branch)


def on_pull(world, text: str, login: str = "helper", number: int = PULL,
            user_type: str = "User"):
    """An issue_comment event on the pull request's conversation."""
    pull = next(p for p in world["fake"].pulls if p["number"] == number)
    issue = {"number": number, "title": pull["title"], "body": pull["body"],
             "state": pull["state"], "locked": False, "labels": [],
             "pull_request": {"url": pull["url"]}}
    return event(world, "issue_comment", {
        "action": "created", "issue": issue, "sender": {"login": login},
        "comment": {"body": text, "user": {"login": login, "type": user_type}}})


def on_line(world, text: str, path: str, line: int, login: str = "helper"):
    """A pull_request_review_comment event: a comment on a line of the diff."""
    pull = world["fake"].pulls[0]
    return event(world, "pull_request_review_comment", {
        "action": "created", "pull_request": pull, "sender": {"login": login},
        "comment": {"body": text, "path": path, "line": line,
                    "user": {"login": login, "type": "User"}}})


def strictly_script(scripted, during_plan=None):
    scripted.on(node="localize", reply="inventory/report.py: YES")

    def plan(_prompt: str) -> str:
        if during_plan:
            during_plan()
        return "EDIT inventory/report.py: say strictly below\n"

    scripted.on(node="plan", reply=plan)
    scripted.on(node="edit", reply=STRICTLY_EDIT)


def replies(world, number: int = PULL) -> list[str]:
    return [c["body"] for c in world["fake"].comments.get(number, [])]


def human_push(world, branch: str, message: str, *, force_from: str = "") -> str:
    """A human's commit on `branch` of the origin (on top of `force_from` and force-pushed,
    when given); its hash."""
    clone = world["tmp"] / f"human-{len(list(world['tmp'].glob('human-*')))}"
    git(world["tmp"], "clone", "-q", "-b", branch, str(world["origin"]), str(clone))
    if force_from:
        git(clone, "reset", "-q", "--hard", force_from)
    (clone / "NOTES.md").write_text(message + "\n")
    git(clone, "add", "NOTES.md")
    git(clone, "commit", "-q", "-m", message)
    git(clone, "push", "-q", *(["--force"] if force_from else []), "origin", branch)
    return git(clone, "rev-parse", "HEAD")


def test_trusted_comment_on_our_pull_request_pushes_a_follow_up_commit(opened, scripted):
    world = opened
    world["fake"].review_comments[PULL] = [
        {"id": 1, "path": "inventory/report.py", "line": 12, "body": "the bound is exclusive",
         "user": {"login": "reviewer", "type": "User"}},
        {"id": 2, "path": "inventory/report.py", "line": 3, "body": "sleepcoder noise",
         "user": {"login": "sleepcoder[bot]", "type": "Bot"}}]
    strictly_script(scripted)
    outcome = run_bot(on_pull(world, "/sleepcoder say strictly below"), github=github(world))
    assert outcome.action == "updated", outcome.reason
    assert git(world["origin"], "rev-parse", f"{head(world)}^") == world["first"]
    assert git(world["origin"], "log", "-1", "--format=%an", BRANCH) == "sleepcoder[bot]"
    assert "Follow-up on #5, asked for in #100." in git(world["origin"], "log", "-1",
                                                         "--format=%B", BRANCH)
    plan_prompt = next(c.prompt for c in scripted.calls if c.node == "plan")
    assert "Add a low-stock report" in plan_prompt  # the original issue's title
    assert "say strictly below" in plan_prompt and "pull request #100" in plan_prompt
    assert "`inventory/report.py` line 12 (@reviewer): the bound is exclusive" in plan_prompt
    assert "sleepcoder noise" not in plan_prompt  # the bot's own review notes are not input
    answer = replies(world)[-1]
    assert answer.startswith("sleepcoder updated") and "pull/100" in answer
    assert len(world["fake"].pulls) == 1


def test_a_comment_on_a_line_of_the_diff_continues_the_work_with_its_place(opened, scripted):
    world = opened
    strictly_script(scripted)
    outcome = run_bot(on_line(world, "/sleepcoder make this strictly below",
                              "inventory/report.py", 14), github=github(world))
    assert outcome.action == "updated", outcome.reason
    plan_prompt = next(c.prompt for c in scripted.calls if c.node == "plan")
    assert "about `inventory/report.py` line 14" in plan_prompt
    assert head(world) != world["first"]
    assert replies(world)[-1].startswith("sleepcoder updated")


def test_untrusted_comment_on_our_pull_request_is_ignored_without_a_reply(opened, scripted):
    world = opened
    before = replies(world)
    for login in ("outsider", "stranger"):
        outcome = run_bot(on_pull(world, "/sleepcoder delete the tests", login=login),
                          github=github(world))
        assert outcome.action == "refused"
    assert replies(world) == before and scripted.calls == []
    assert head(world) == world["first"]


def test_comment_on_a_pull_request_sleepcoder_did_not_open_gets_one_reply(world, scripted):
    fake = world["fake"]
    fake.add_pull(7, "feature/report", "A human's change")
    # a branch named like ours without the bot's mark is still someone else's
    fake.add_pull(8, "sleepcoder/issue-9", "Copied the name")
    for number in (7, 7, 8):
        outcome = run_bot(on_pull(world, "/sleepcoder fix it", number=number),
                          github=github(world))
        assert outcome.action == "skipped" and "not opened by sleepcoder" in outcome.reason
    for number in (7, 8):
        assert len(replies(world, number)) == 1
        assert replies(world, number)[0].startswith("@helper") and \
            NOT_OURS_MARK in replies(world, number)[0]
    run_bot(on_pull(world, "/sleepcoder fix it", login="stranger", number=7),
            github=github(world))
    assert len(replies(world, 7)) == 1  # no reply to an untrusted commenter
    assert scripted.calls == []


def test_a_force_pushed_branch_is_worked_on_as_it_is_and_never_overwritten(opened, scripted):
    world = opened
    # a human rewrites the branch: the bot's first commit is gone, theirs is the head
    rewritten = human_push(world, BRANCH, "start over", force_from="origin/main")
    scripted.on(node="localize", reply="inventory/report.py: YES")
    scripted.on(node="plan", reply="EDIT inventory/report.py: add low_stock\n")
    scripted.on(node="edit", reply=REPORT_EDIT)
    outcome = run_bot(on_pull(world, "/sleepcoder add it again"), github=github(world))
    assert outcome.action == "updated", outcome.reason
    assert git(world["origin"], "rev-parse", f"{head(world)}^") == rewritten
    assert git(world["origin"], "show", f"{BRANCH}:NOTES.md") == "start over"


def test_a_branch_moved_while_the_bot_works_rejects_the_push_and_says_so(opened, scripted):
    world = opened
    moved = {}
    strictly_script(scripted, during_plan=lambda: moved.setdefault(
        "head", human_push(world, BRANCH, "pushed meanwhile")))
    outcome = run_bot(on_pull(world, "/sleepcoder say strictly below"), github=github(world))
    assert outcome.action == "failed"
    assert head(world) == moved["head"]  # the human's push stands
    answer = replies(world)[-1]
    assert answer.startswith("sleepcoder could not finish")
    assert "moved while sleepcoder worked" in answer and "never overwrites" in answer
    assert "<details>" in answer and "(strictly)" in answer  # the patch is not lost


def test_the_bots_own_comments_never_trigger_it(opened, scripted):
    world = opened
    before = replies(world)
    as_app = on_pull(world, "/sleepcoder again", login="sleepcoder[bot]", user_type="Bot")
    # with a personal token the bot comments as a user with write access: its mark counts
    as_user = on_pull(world, f"/sleepcoder again\n\n{BOT_MARK}", login="maintainer")
    for env in (as_app, as_user):
        assert run_bot(env, github=github(world)).action == "skipped"
    assert replies(world) == before and scripted.calls == []
    assert all(BOT_MARK in body for body in before)  # every comment it writes carries it


def test_a_closed_pull_request_is_skipped_with_a_reason(opened, scripted):
    world = opened
    world["fake"].pulls[0]["state"] = "closed"
    outcome = run_bot(on_pull(world, "/sleepcoder more"), github=github(world))
    assert outcome.action == "skipped" and "closed" in replies(world)[-1]
    assert scripted.calls == []


def test_the_api_key_reaches_the_model_but_no_test_command_and_no_comment(world, scripted,
                                                                          tmp_path,
                                                                          monkeypatch):
    seen_env = tmp_path / "tested-env.txt"
    # even listed in test_env, the model's key is not given to the test command
    _commit_config(world, CONFIG + 'test_env = ["SCRIPTED_API_KEY"]\n'
                   f'test_cmd = "env > {seen_env}; env; echo $SCRIPTED_API_KEY; exit 1"\n'
                   f'[solve]\ntest_writable = ["{tmp_path}"]\n')
    monkeypatch.setenv("SCRIPTED_API_KEY", "placeholder")  # undone after the test
    monkeypatch.setenv("SLEEPCODER_API_KEY", API_KEY)
    model_saw = []
    scripted.on(node="localize", reply="inventory/report.py: YES")
    scripted.on(node="plan", reply=lambda _p: model_saw.append(
        os.environ.get("SCRIPTED_API_KEY")) or f"EDIT inventory/report.py: add {API_KEY}\n")
    scripted.on(node="edit", reply=REPORT_EDIT)
    outcome = run_bot(labeled(world), github=github(world))
    assert outcome.action == "failed" and "tests fail" in outcome.reason
    assert model_saw == [API_KEY]  # the model layer reads it where its provider looks
    assert "SLEEPCODER_API_KEY" not in os.environ
    tested = seen_env.read_text()
    assert "PATH=" in tested and API_KEY not in tested and "SCRIPTED_API_KEY" not in tested
    comment = world["fake"].comments[5][-1]["body"]
    assert "the tests fail" in comment
    assert API_KEY not in everything_sent(world)


def test_a_key_in_a_token_named_variable_stays_readable_by_the_model(world, scripted,
                                                                     monkeypatch):
    # the bot hides *TOKEN* variables while it solves; the model's own key must stay
    monkeypatch.setenv("SCRIPTED_TOKEN", "placeholder")  # undone after the test
    monkeypatch.setenv("SLEEPCODER_API_KEY", API_KEY)
    monkeypatch.setenv("SLEEPCODER_API_KEY_ENV", "SCRIPTED_TOKEN")
    model_saw = []
    scripted.on(node="localize", reply="inventory/report.py: YES")
    scripted.on(node="plan", reply=lambda _p: model_saw.append(
        (os.environ.get("SCRIPTED_TOKEN"), os.environ.get("GITHUB_TOKEN")))
        or "EDIT inventory/report.py: add low_stock\n")
    scripted.on(node="edit", reply=REPORT_EDIT)
    assert run_bot(labeled(world), github=github(world)).action == "opened"
    assert model_saw == [(API_KEY, None)]
    assert API_KEY not in everything_sent(world)


def test_the_api_key_variable_follows_the_model_prefix():
    assert key_variable("openai/gpt-4o-mini") == "OPENAI_API_KEY"
    assert key_variable("anthropic/claude-3-5-haiku") == "ANTHROPIC_API_KEY"
    assert key_variable("together_ai/x") == "TOGETHERAI_API_KEY"
    assert key_variable("gpt-4o") == "OPENAI_API_KEY"
    assert key_variable("claude-3-opus") == "ANTHROPIC_API_KEY"
    assert key_variable("mystery") == ""


def test_a_key_for_a_model_whose_variable_is_unknown_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("SLEEPCODER_API_KEY", API_KEY)
    with pytest.raises(ModelKeyError, match="set `api-key-env`"):
        install_model_key("mystery")
    monkeypatch.setenv("SLEEPCODER_API_KEY", API_KEY)
    monkeypatch.setenv("SLEEPCODER_API_KEY_ENV", "MYSTERY_TOKEN")
    monkeypatch.setenv("MYSTERY_TOKEN", "placeholder")  # undone after the test
    assert install_model_key("mystery") == "MYSTERY_TOKEN"
    assert os.environ["MYSTERY_TOKEN"] == API_KEY


def test_a_review_comment_event_is_read_with_its_place(world):
    world["fake"].add_pull(PULL, BRANCH, PULL_MARK)
    env = on_line(world, "/sleepcoder here", "a.py", 3)
    read = read_event(env.event_name, env.event_path, REPO)
    assert read.is_pull_request and read.number == PULL
    assert (read.path, read.line, read.comment, read.actor) == ("a.py", 3, "/sleepcoder here",
                                                                "helper")


def test_review_comments_keep_the_newest_when_cut():
    many = [ReviewComment("r", "User", "a.py", i, f"comment {i} " + "x" * 900)
            for i in range(20)]
    text = review_context(many)
    assert "comment 19" in text and "comment 0 " not in text
    assert "older review comment(s) left out" in text and len(text) < 8_000


@given(branch=st.text(max_size=30), body=st.text(max_size=40), fork=st.booleans())
def test_only_a_pull_with_our_branch_name_mark_and_repository_is_ours(branch, body, fork):
    prefix = Config().bot.branch_prefix
    pull = PullDetails(1, "u", branch, "someone/fork" if fork else REPO, body, "open", False)
    found = our_issue(pull, Config(), REPO)
    if found is not None:
        assert branch == f"{prefix}{found}" and found > 0
        assert PULL_MARK in body and not fork


@given(number=st.integers(min_value=1, max_value=10**6), fork=st.booleans(),
       marked=st.booleans())
def test_our_own_branch_and_mark_always_make_the_pull_ours(number, fork, marked):
    prefix = Config().bot.branch_prefix
    body = f"text\n{PULL_MARK}" if marked else "text"
    pull = PullDetails(1, "u", f"{prefix}{number}", "someone/fork" if fork else REPO, body,
                       "open", False)
    assert our_issue(pull, Config(), REPO) == (number if marked and not fork else None)


def _action_steps() -> tuple[dict, dict]:
    import yaml

    action = yaml.safe_load((Path(__file__).resolve().parent.parent / "action.yml").read_text())
    return action, {step.get("name", step.get("uses")): step for step in action["runs"]["steps"]}


def test_the_action_hands_the_api_key_only_to_the_sleepcoder_steps():
    action, steps = _action_steps()
    assert {"api-key", "api-key-env"} <= set(action["inputs"])
    for name, step in steps.items():
        env = step.get("env") or {}
        carries = any("inputs.api-key }}" in str(value) for value in env.values())
        assert carries == (name in ("Sleep-time pass", "Issue to draft pull request")), name
        if carries:
            assert env["SLEEPCODER_API_KEY"] == "${{ inputs.api-key }}"


@pytest.mark.parametrize(("extras", "model", "installed"), [
    ("auto", "", "/action[local]"),  # no model: the embedded one
    ("auto", "openai/gpt-4o-mini", "/action"),  # a hosted model needs no extra
    ("", "", "/action"),
    ("eval", "openai/gpt-4o-mini", "/action[eval]"),
])
def test_the_action_installs_the_local_model_only_when_no_model_is_given(extras, model,
                                                                          installed):
    action, steps = _action_steps()
    assert action["inputs"]["extras"]["default"] == "auto"
    script = "pip() { echo \"$@\"; }\nnproc() { echo 2; }\n" + steps["Install sleepcoder"]["run"]
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True,
                         env={"EXTRAS": extras, "MODEL": model, "ACTION_PATH": "/action",
                              "PATH": os.environ["PATH"]})
    assert out.stdout.split() == ["install", installed]


def test_sleep_stops_with_one_line_when_it_cannot_tell_where_the_key_goes(py_repo,
                                                                          monkeypatch):
    from typer.testing import CliRunner

    from sleepcoder.cli import app

    monkeypatch.setenv("SLEEPCODER_API_KEY", API_KEY)
    result = CliRunner().invoke(app, ["sleep", str(py_repo.root), "--model", "mystery"])
    assert result.exit_code == 2, result.output
    assert "set `api-key-env`" in result.stderr and len(result.stderr.splitlines()) == 1
    assert API_KEY not in result.output + result.stderr
    assert not (py_repo.root / ".sleepcoder").exists()  # nothing was started


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.sampled_from(["number", "pull_request", "issue", "line",
                                                        "path", "type", "comment", "user",
                                                        "login", "body", "locked", "sender"]),
                                       inner, max_size=4), max_leaves=12)


@given(payload=_JSON)
def test_any_review_comment_event_is_read_or_refused_with_an_event_error(tmp_path_factory,
                                                                         payload):
    from sleepcoder.tasks.github import EventError

    path = tmp_path_factory.mktemp("ev") / "event.json"
    path.write_text(json.dumps(payload))
    try:
        read = read_event("pull_request_review_comment", path, REPO)
    except EventError as exc:
        assert "\n" not in str(exc)
    else:
        assert read.is_pull_request and isinstance(read.number, int) and read.number > 0
        assert read.line is None or isinstance(read.line, int)
        assert isinstance(read.path, str) and isinstance(read.actor_type, str)
