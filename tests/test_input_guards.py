"""The bad inputs of the hostile trial of issue #10, one test each: files that never end or
block (/dev/zero, a FIFO), malformed event files, damaged run state, broken model servers, a
missing optional dependency. Each ends in its documented exit code and one clear line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sleepcoder.tasks.github import EventError, read_event
from sleepcoder.tools.userfiles import (
    UserFileError,
    read_user_bytes,
    read_user_text,
    user_file_problem,
)

from tests.conftest import write
from tests.test_bot import labeled, world  # noqa: F401  (the fixture)
from tests.test_store_robustness import assert_fails, invoke

EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_STORE, EXIT_MODEL = 1, 2, 3, 5


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


# --- the shared reader of user-named files ----------------------------------------------------

def test_a_user_file_must_be_a_regular_file_below_the_limit(tmp_path, fifo):
    small = tmp_path / "small.txt"
    small.write_bytes(b"0123456789")
    assert read_user_bytes(small, "the test file", 10) == b"0123456789"
    cases = [(Path("/dev/zero"), "is not a regular file"), (fifo, "is not a regular file"),
             (tmp_path, "is a directory"), (tmp_path / "none", "No such file"),
             (small, "has 10 bytes; at most 9")]
    for path, message in cases:
        with pytest.raises(UserFileError, match=message):
            read_user_bytes(path, "the test file", 9)
        assert message in user_file_problem(path, "the test file", 9)


def test_user_text_that_is_not_utf8_names_its_line(tmp_path):
    path = tmp_path / "x.toml"
    path.write_bytes(b"a = 1\nb = '\xff'\n")
    with pytest.raises(UserFileError, match="not UTF-8 text .byte 0xff on line 2"):
        read_user_text(path, "the configuration file", 100)


@given(data=st.binary(max_size=64), limit=st.integers(0, 80))
def test_a_regular_file_is_read_whole_or_refused_by_its_size(tmp_path_factory, data, limit):
    path = tmp_path_factory.mktemp("u") / "f"
    path.write_bytes(data)
    if len(data) <= limit:
        assert read_user_bytes(path, "the file", limit) == data
    else:
        with pytest.raises(UserFileError, match=f"has {len(data):,} bytes; at most {limit:,}"):
            read_user_bytes(path, "the file", limit)


# --- F11: datasets, predictions and configuration that never end ----------------------------

@pytest.fixture
def dataset(tmp_path) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps({"repo": "acme/shop", "base_commit": "abc", "title": "t",
                                "changed_files": [{"filename": "a.py", "status": "modified"}]})
                    + "\n")
    return path


@pytest.mark.parametrize("which", ["dataset", "predictions"])
@pytest.mark.parametrize("endless", ["/dev/zero", "fifo"])
def test_score_refuses_a_dataset_or_predictions_file_that_never_ends(dataset, fifo, which,
                                                                     endless):
    bad = str(fifo) if endless == "fifo" else endless
    paths = {"dataset": str(dataset), "predictions": str(dataset)} | {which: bad}
    result = invoke("swe-features", "score", "--dataset", paths["dataset"], "--predictions",
                    paths["predictions"])
    what = "the dataset" if which == "dataset" else "the predictions file"
    assert_fails(result, EXIT_BAD_INPUT, f"{what} {bad} is not a regular file")


@pytest.mark.parametrize("make,message", [
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: os.mkfifo(p), "is not a regular file"),
    (lambda p: p.symlink_to("/dev/zero"), "is not a regular file"),
    (lambda p: p.write_bytes(b"[map]\nexclude = ['\xff\xfe']\n"), "is not UTF-8 text"),
])
def test_a_configuration_file_that_is_not_utf8_text_is_refused(py_repo, make, message):
    make(py_repo.root / ".sleepcoder.toml")
    result = invoke("map", py_repo.root)
    assert_fails(result, EXIT_BAD_INPUT, "the configuration file", message)


def test_an_ignore_file_that_never_ends_is_refused(py_repo):
    (py_repo.root / ".sleepcoderignore").symlink_to("/dev/zero")
    assert_fails(invoke("map", py_repo.root), EXIT_BAD_INPUT,
                 "the ignore file", "is not a regular file")


# --- F11, F14: event files that never end or have the wrong shape ---------------------------

@pytest.fixture
def bot_env(tmp_path, monkeypatch):
    """The bot's environment with the API on a closed port: the event is read before any
    request, so a bad event never reaches the network."""
    monkeypatch.setenv("GITHUB_EVENT_NAME", "issues")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/shop")
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_NotARealToken0123456789")
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    return monkeypatch


@pytest.mark.parametrize("endless", ["/dev/zero", "fifo"])
def test_bot_refuses_an_event_file_that_never_ends(bot_env, fifo, endless):
    path = str(fifo) if endless == "fifo" else endless
    bot_env.setenv("GITHUB_EVENT_PATH", path)
    assert_fails(invoke("bot"), EXIT_BAD_INPUT, f"the event file {path} is not a regular file")


@pytest.mark.parametrize("payload,message", [
    ([1, 2], "the event must be an object, got [1, 2]"),
    ({"action": "labeled", "issue": {"number": "abc"}}, 'issue.number must be a positive whole '
                                                         'number, got "abc"'),
    ({"action": "labeled", "issue": {"number": 5, "labels": None}},
     "issue.labels must be a list, got null"),
    ({"action": "labeled", "issue": {"number": 5}, "label": None}, "label must be an object"),
    ({"action": "labeled", "issue": {"number": 5}, "sender": None}, "sender must be an object"),
    ({"action": "labeled", "issue": {"number": 5, "locked": "yes"}}, "issue.locked must be"),
    ({"action": "labeled", "issue": {"number": 5, "labels": [None]}},
     "issue.labels[0] must be an object"),
])
def test_bot_refuses_an_event_file_of_the_wrong_shape(bot_env, tmp_path, payload, message):
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    bot_env.setenv("GITHUB_EVENT_PATH", str(path))
    assert_fails(invoke("bot"), EXIT_BAD_INPUT, message)


def test_bot_refuses_an_issue_number_too_large_for_a_number(bot_env, tmp_path):
    path = tmp_path / "event.json"
    path.write_text('{"action": "labeled", "issue": {"number": 1e400}}')
    bot_env.setenv("GITHUB_EVENT_PATH", str(path))
    assert_fails(invoke("bot"), EXIT_BAD_INPUT, "issue.number must be a positive whole number, "
                                                "got Infinity")


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.sampled_from(["number", "issue", "labels", "name",
                                                        "comment", "user", "login", "body",
                                                        "locked", "label", "sender", "title"]),
                                       inner, max_size=4), max_leaves=12)


@given(payload=_JSON, name=st.sampled_from(["issues", "issue_comment"]))
def test_any_json_event_is_read_or_refused_with_an_event_error(tmp_path_factory, payload, name):
    path = tmp_path_factory.mktemp("ev") / "event.json"
    path.write_text(json.dumps(payload))
    try:
        event = read_event(name, path, "acme/shop")
    except EventError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(event.number, int) and event.number > 0
        assert all(isinstance(label, str) for label in event.labels)


# --- F15: the command line's numbers -------------------------------------------------------

def test_sleep_refuses_a_budget_beyond_any_real_one(py_repo):
    result = invoke("sleep", py_repo.root, "--no-llm", "--budget", "99999999999999999999")
    assert_fails(result, EXIT_BAD_INPUT, "--budget must be between 0 and 100,000,000")


@pytest.mark.parametrize("args,message", [
    (("map", "{repo}", "--workers", "-3"), "--workers must be between 0 and 1,024, got -3"),
    (("map", "{repo}", "--workers", "99999999999999999999"), "--workers must be between"),
    (("map", "{repo}", "--wait", "-5"), "--wait must be between 0 and 604,800"),
    (("map", "{repo}", "--wait", "nan"), "got nan"),
    (("map", "show", "{repo}", "--budget", "0"), "--budget must be between 1 and"),
    (("runs", "clean", "{repo}", "--older-than", "nan"), "--older-than must be between"),
    (("runs", "clean", "{repo}", "--older-than", "-1"), "--older-than must be between"),
    (("runs", "clean", "{repo}", "--older-than", "inf"), "got inf"),
    (("swe-features", "build", "--repo", "{repo}", "--max-lines", "-5"),
     "--max-lines must be between 1 and"),
    (("swe-features", "build", "--repo", "{repo}", "--since", "not a date at all"),
     "--since 'not a date at all' is not a date in the past"),
    (("swe-features", "run", "--dataset", "{dataset}", "--out", "{out}", "--condition", "bm25",
      "--workers", "-1"), "--workers must be between 1 and"),
    (("swe-features", "run", "--dataset", "{dataset}", "--out", "{out}", "--condition", "bm25",
      "--budget", "-1"), "--budget must be between 0 and"),
])
def test_out_of_range_options_are_refused_before_any_work(py_repo, dataset, tmp_path, args,
                                                          message):
    values = {"repo": py_repo.root, "dataset": dataset, "out": tmp_path / "out"}
    result = invoke(*(arg.format(**values) for arg in args))
    assert_fails(result, EXIT_BAD_INPUT, message)
    assert not (py_repo.root / ".sleepcoder").exists() and not (tmp_path / "out").exists()


def test_since_that_git_reads_as_a_past_date_is_accepted(py_repo):
    from sleepcoder.swe_features.builder import since_problem

    assert since_problem(py_repo.root, "2020-01-31") == ""
    assert since_problem(py_repo.root, "6 months ago") == ""
    assert "not a date in the past" in since_problem(py_repo.root, "tomorrow")


# --- F14: damaged state, an unusable cache, a missing or unreachable scheduler -------------

def test_an_unusable_model_cache_folder_is_no_usable_model(py_repo, tmp_path, monkeypatch):
    import sleepcoder.agent.local_model as local_model

    part = tmp_path / "part01.bin"
    part.write_bytes(b"weights")
    monkeypatch.setattr(local_model, "runtime_available", lambda: True)
    monkeypatch.setattr(local_model.LocalModel, "part_paths", lambda self: [part])
    monkeypatch.setenv("SLEEPCODER_CACHE_DIR", "/dev/zero")
    result = invoke("sleep", py_repo.root, "--model", "local/qwen2.5-coder-0.5b")
    assert_fails(result, EXIT_MODEL, "cannot assemble the weights", "/dev/zero/models",
                 "SLEEPCODER_CACHE_DIR")


@pytest.mark.parametrize("args", [("runs",), ("runs", "clean", "--all")])
def test_runs_with_damaged_checkpoints_name_the_database(py_repo, args):
    store = py_repo.root / ".sleepcoder"
    store.mkdir()
    (store / "checkpoints.db").write_bytes(os.urandom(5000))
    result = invoke(*args, py_repo.root)
    assert_fails(result, EXIT_STORE, "checkpoints.db is damaged", "delete it")


def test_runs_clean_removes_a_run_record_that_became_a_folder(py_repo):
    record = py_repo.root / ".sleepcoder" / "runs" / "solve-3-dir.json"
    record.mkdir(parents=True)
    (record / "inside").write_text("x")
    result = invoke("runs", "clean", py_repo.root)
    assert result.exit_code == 0, result.stderr
    assert "removed 1 runs" in result.stdout and "Traceback" not in result.stderr
    assert not record.exists()


def test_scheduler_without_dask_says_what_to_install(dataset, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import fails: not installed
    result = invoke("swe-features", "run", "--dataset", dataset, "--out", tmp_path / "out",
                    "--condition", "bm25", "--scheduler", "tcp://127.0.0.1:1")
    assert_fails(result, EXIT_BAD_INPUT, "--scheduler needs Dask", "sleepcoder[eval]")
    assert not (tmp_path / "out").exists()


def test_an_unreachable_scheduler_is_one_line(dataset, tmp_path):
    import dask
    import dask.distributed  # noqa: F401  registers its defaults before the block below: a
    # `config.set` that creates "distributed" would take them away again when it ends

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        result = invoke("swe-features", "run", "--dataset", dataset, "--out", tmp_path / "out",
                        "--condition", "bm25", "--scheduler", "tcp://127.0.0.1:9")
    assert_fails(result, EXIT_BAD_INPUT, "cannot connect to the Dask scheduler tcp://127.0.0.1:9")


# --- a model that answers nothing usable ----------------------------------------------------

def test_a_server_answering_no_choices_is_a_model_error(py_repo):
    from sleepcoder.agent.llm import LLM, LLMError, _lazy_litellm, register_provider

    litellm = _lazy_litellm()

    class NoChoices(litellm.CustomLLM):
        def completion(self, *args, **kwargs):
            return litellm.ModelResponse(model="empty/test", choices=[])

    register_provider("empty", NoChoices)
    with pytest.raises(LLMError, match="answered without any choice"):
        LLM("empty/test").complete([{"role": "user", "content": "hi"}], phase="sleep",
                                   node="summarize_files")
    result = invoke("sleep", py_repo.root, "--model", "empty/test")
    assert_fails(result, EXIT_FAILURE, "the model failed on every request",
                 "answered without any choice")


def test_sleep_with_a_model_that_fails_every_request_exits_1_and_keeps_the_map(py_repo,
                                                                               scripted):
    from sleepcoder.agent.llm import _lazy_litellm

    litellm = _lazy_litellm()
    scripted.on(reply=litellm.RateLimitError("429 slow down", "scripted", "test"))
    write(py_repo.root, {".sleepcoder.toml": "[llm]\nretries = 0\n"})
    result = invoke("sleep", py_repo.root, "--model", "scripted/test")
    line = assert_fails(result, EXIT_FAILURE, "the model failed on every request of this pass",
                        "RateLimitError", "what was stored is kept")
    assert "429 slow down" in line
    assert (py_repo.root / ".sleepcoder" / "map.db").is_file()
    assert "skipped" in result.stderr  # the report still says what happened to each file


# --- F14: the permissions API fails -----------------------------------------------------------

def test_bot_ends_cleanly_when_the_permissions_api_fails(world, monkeypatch):  # noqa: F811
    fake = world["fake"]
    answer = fake.route

    def failing_permissions(method, path, body):
        if "/collaborators/" in path:
            return 500, {"message": "Server Error"}
        return answer(method, path, body)

    fake.route = failing_permissions
    env = labeled(world)
    for name, value in (("GITHUB_EVENT_NAME", env.event_name),
                        ("GITHUB_EVENT_PATH", str(env.event_path)),
                        ("GITHUB_REPOSITORY", env.repo), ("GITHUB_API_URL", fake.url),
                        ("GITHUB_WORKSPACE", str(env.workspace))):
        monkeypatch.setenv(name, value)
    result = invoke("bot")
    assert result.exit_code == EXIT_FAILURE and "Traceback" not in result.output
    assert result.stdout.strip() == (
        "sleepcoder bot: failed: could not check the repository permission of @maintainer: the "
        "permissions API answered 500; nothing was done: start it again later")
    [comment] = fake.comments[5]
    assert "could not check the repository permission" in comment["body"]
    assert not fake.pulls
