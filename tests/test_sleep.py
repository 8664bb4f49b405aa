"""The sleep-time pass with the scripted model: what is summarized, reused, retried, skipped."""

from __future__ import annotations

import json
import sqlite3

import pytest
from sleepcoder.agent.sleep.run import run_sleep

from tests.conftest import write

MODEL = "scripted/test"
ANTICIPATION = (
    "REQUEST: Add a limit option to run\nFILES: app/core.py, app/util.py, tests/test_core.py\n"
    "WHY: run calls helper\n"
    "REQUEST: Support item names\nFILES: app/models.py, app/nothere.py\nWHY: models hold data\n"
    "REQUEST: Invent things\nFILES: ghost.py\nWHY: made up\n"
)


def summaries(root):
    db = sqlite3.connect(root / ".sleepcoder" / "map.db")
    rows = db.execute("SELECT kind, path, text, source, detail FROM summaries").fetchall()
    db.close()
    return {(kind, path): (text, source, detail) for kind, path, text, source, detail in rows}


def notes(root, kind):
    db = sqlite3.connect(root / ".sleepcoder" / "map.db")
    rows = db.execute("SELECT subject, request, files FROM notes WHERE kind=?",
                      (kind,)).fetchall()
    db.close()
    return [(s, r, json.loads(f)) for s, r, f in rows]


def standard_script(script):
    script.on(node="summarize_files", reply=script.per_file("Handles the {path} part."))
    script.on(node="summarize_dirs", reply="Holds the application code.")
    script.on(node="anticipate", reply=ANTICIPATION)
    return script


def test_sleep_summarizes_every_source_file_and_directory(py_repo, scripted):
    standard_script(scripted)
    report = run_sleep(py_repo.root, model=MODEL)
    stored = summaries(py_repo.root)
    for path in ("app/__init__.py", "app/core.py", "app/util.py", "app/models.py",
                 "tests/test_core.py"):
        assert stored[("file", path)] == (f"Handles the {path} part.", "llm", "")
    assert ("file", "README.md") not in stored  # not source: history notes cover it
    assert stored[("dir", "app")][1] == "llm"
    assert stored[("dir", "")][1] == "llm"
    assert report["summarized"] == 5 and report["reused"] == 0
    assert report["llm"]["calls"] == len(scripted.calls) > 0
    assert report["llm"]["prompt_tokens"] > 0
    assert report["llm"]["token_count"] == "provider usage"
    assert report["llm"]["budget_check"] == ""  # no budget: requests are not counted before


def test_prompts_are_built_from_map_facts_not_raw_source(py_repo, scripted):
    standard_script(scripted)
    run_sleep(py_repo.root, model=MODEL)
    prompt = next(c.prompt for c in scripted.calls if "app/core.py" in c.prompt
                  and c.node == "summarize_files")
    assert "def run(x)" in prompt and "Run the thing." in prompt
    assert "imports: app/util.py" in prompt or "app/util.py" in prompt
    assert "return helper(models.Item(x))" not in prompt  # no function bodies


def test_second_pass_without_changes_makes_zero_model_calls(py_repo, scripted):
    standard_script(scripted)
    run_sleep(py_repo.root, model=MODEL)
    first = len(scripted.calls)
    report = run_sleep(py_repo.root, model=MODEL)
    assert len(scripted.calls) == first
    assert report["llm"]["calls"] == 0 and report["llm"]["cached"] == 0
    assert report["reused"] == 5 and report["summarized"] == 0
    assert report["subsystems_reused"] == report["subsystems"]


def test_only_changed_files_are_resummarized_and_only_their_directories(py_repo, scripted):
    standard_script(scripted)
    write(py_repo.root, {"lib/extra.py": "def e():\n    return 1\n",
                         "lib/more.py": "def m():\n    return 2\n"})
    py_repo.commit("lib")
    run_sleep(py_repo.root, model=MODEL)
    scripted.calls.clear()
    py_repo.commit("change util", {"app/util.py": "def helper(item):\n    return item\n"})
    report = run_sleep(py_repo.root, model=MODEL)
    file_prompts = [c.prompt for c in scripted.calls if c.node == "summarize_files"]
    assert len(file_prompts) == 1 and "[1] app/util.py" in file_prompts[0]
    assert "[2]" not in file_prompts[0]
    assert report["summarized"] == 1 and report["reused"] == 6
    # scripted summaries do not depend on content, so app/ is unchanged and reused too;
    # a real change of wording would redo app/ and the root, never lib/
    assert [c for c in scripted.calls if c.node == "summarize_dirs"] == []


def test_directory_summary_is_redone_when_a_member_summary_changes(py_repo, scripted):
    scripted.on(node="summarize_files", reply=scripted.per_file("First take on {path}."),
                times=2)
    scripted.on(node="summarize_files", reply=scripted.per_file("Second take on {path}."))
    scripted.on(node="summarize_dirs", reply="Holds the application code.")
    scripted.on(node="anticipate", reply=ANTICIPATION)
    run_sleep(py_repo.root, model=MODEL)
    dirs_before = [c.prompt for c in scripted.calls if c.node == "summarize_dirs"]
    py_repo.commit("change util", {"app/util.py": "def helper(item):\n    return item\n"})
    scripted.calls.clear()
    run_sleep(py_repo.root, model=MODEL)
    redone = [c.prompt for c in scripted.calls if c.node == "summarize_dirs"]
    assert dirs_before and redone
    assert any("Directory: app" in p for p in redone)
    assert all("tests" not in p.split("Directory:")[1].splitlines()[0] for p in redone)


def test_hallucinated_paths_are_dropped_and_counted(py_repo, scripted):
    standard_script(scripted)
    report = run_sleep(py_repo.root, model=MODEL)
    anticipated = notes(py_repo.root, "anticipated")
    files = {path for _s, _r, paths in anticipated for path in paths}
    assert files <= {"app/core.py", "app/util.py", "tests/test_core.py", "app/models.py"}
    assert "app/nothere.py" in report["dropped_paths"] and "ghost.py" in report["dropped_paths"]
    assert report["dropped_requests"] >= 1  # "Invent things" named no real file
    assert any(r == "Add a limit option to run" for _s, r, _f in anticipated)


def test_malformed_output_is_retried_then_skipped_with_reason(py_repo, scripted):
    scripted.on(node="summarize_files", contains="[1] app/models.py",
                reply="Sure! Here are the summaries you asked for:")
    scripted.on(node="summarize_files", reply=scripted.per_file("Handles the {path} module."))
    scripted.on(node="summarize_dirs", reply="Holds the application code.")
    scripted.on(node="anticipate", reply=ANTICIPATION)
    report = run_sleep(py_repo.root, model=MODEL)
    stored = summaries(py_repo.root)
    text, source, detail = stored[("file", "app/models.py")]
    assert (text, source) == ("", "skipped")
    assert "not in the requested format" in detail
    assert report["skipped"] == 1
    assert ["app/models.py", detail] in report["skipped_reasons"]
    others = [k for k, v in stored.items() if k[0] == "file" and v[1] == "llm"]
    assert len(others) == 4  # the rest of its batch was kept or retried alone


def test_truncated_output_keeps_complete_lines_and_retries_the_rest(py_repo, scripted):
    def cut(prompt):
        full = scripted.per_file("Handles the {path} module.")(prompt)
        return full[: full.rfind(" ")]  # the last line stops mid-sentence

    scripted.on(node="summarize_files", reply=cut, truncated=True, times=1)
    scripted.on(node="summarize_files", reply=scripted.per_file("Handles the {path} module."))
    scripted.on(node="summarize_dirs", reply="Holds the application code.")
    scripted.on(node="anticipate", reply=ANTICIPATION)
    report = run_sleep(py_repo.root, model=MODEL)
    assert report["skipped"] == 0 and report["summarized"] == 5
    texts = [v[0] for k, v in summaries(py_repo.root).items() if k[0] == "file"]
    assert all(t.startswith("Handles ") and t.endswith(".") for t in texts)


def test_model_errors_are_retried_then_reported_per_file(py_repo, scripted):
    import litellm

    scripted.on(node="summarize_files", reply=litellm.ServiceUnavailableError(
        message="overloaded", llm_provider="scripted", model="test"))
    scripted.on(node="summarize_dirs", reply="Holds the application code.")
    scripted.on(node="anticipate", reply=ANTICIPATION)
    from sleepcoder.tools.config import Config, LLMConfig, load_config

    config = load_config(py_repo.root)
    config = Config(map=config.map, llm=LLMConfig(retries=1, cache=False), sleep=config.sleep)
    report = run_sleep(py_repo.root, config, model=MODEL)
    assert report["skipped"] == 5
    assert all("ServiceUnavailableError" in reason for _p, reason in report["skipped_reasons"])
    assert report["llm"]["failed"] >= 5


def test_budget_stops_the_pass_cleanly_and_the_next_pass_continues(repo, scripted):
    files = {f"pkg/m{i:02d}.py": f'"""Module {i}."""\n\n\ndef f{i}():\n    return {i}\n'
             for i in range(20)}
    repo.commit("twenty modules", files)
    scripted.on(node="summarize_files", reply=scripted.per_file("Handles the {path} module."))
    scripted.on(node="summarize_dirs", reply="Holds the modules.")
    scripted.on(node="anticipate", reply="REQUEST: x\nFILES: pkg/m01.py\nWHY: y\n")
    report = run_sleep(repo.root, model=MODEL, budget=700)
    assert report["budget_exhausted"]
    assert 0 < report["summarized"] < 20
    assert report["llm"]["prompt_tokens"] + report["llm"]["completion_tokens"] <= 700
    # spent: the usage the model reported; sized before sending: no tokenizer, so estimated
    assert report["llm"]["token_count"] == "provider usage"
    assert report["llm"]["budget_check"] == "estimate (len/4)"
    assert report["files_left"] == 20 - report["summarized"]
    again = run_sleep(repo.root, model=MODEL)
    assert again["reused"] == report["summarized"]
    assert again["summarized"] == 20 - report["summarized"]


def test_files_are_summarized_in_rank_order(repo, scripted):
    repo.commit("hub and leaves", {
        "hub.py": "def core():\n    return 1\n",
        **{f"leaf{i}.py": "from hub import core\n\n\ndef use():\n    return core()\n"
           for i in range(6)}})
    scripted.on(node="summarize_files", reply=scripted.per_file("Handles the {path} module."))
    scripted.on(node="summarize_dirs", reply="Holds code.")
    scripted.on(node="anticipate", reply="REQUEST: x\nFILES: hub.py\nWHY: y\n")
    run_sleep(repo.root, model=MODEL)
    first = next(c.prompt for c in scripted.calls if c.node == "summarize_files")
    assert "[1] hub.py" in first


def test_no_llm_pass_labels_fallbacks_and_keeps_history_notes(repo, scripted):
    repo.commit("init", {"a.py": '"""Parses input."""\n\n\ndef parse():\n    pass\n',
                         "b.py": "def emit():\n    pass\n\n\nclass Writer:\n    pass\n"})
    repo.commit("both", {"a.py": '"""Parses input."""\n\n\ndef parse():\n    return 1\n',
                         "b.py": "def emit():\n    return 1\n\n\nclass Writer:\n    pass\n"})
    repo.commit("both again", {
        "a.py": '"""Parses input."""\n\n\ndef parse():\n    return 2\n',
        "b.py": "def emit():\n    return 2\n\n\nclass Writer:\n    pass\n"})
    report = run_sleep(repo.root, no_llm=True)
    assert scripted.calls == []
    stored = summaries(repo.root)
    assert stored[("file", "a.py")][:2] == ("Parses input.", "fallback")
    assert stored[("file", "b.py")][:2] == ("Defines emit, Writer.", "fallback")
    assert report["mode"] == "no-llm" and "no model" in report["anticipation"]
    assert notes(repo.root, "cochange") == [("a.py", "", ["b.py"]), ("b.py", "", ["a.py"])]
    # a later pass with a model upgrades the fallbacks
    scripted.on(node="summarize_files", reply=scripted.per_file("Handles the {path} module."))
    scripted.on(node="summarize_dirs", reply="Holds code.")
    scripted.on(node="anticipate", reply="REQUEST: x\nFILES: a.py\nWHY: y\n")
    upgraded = run_sleep(repo.root, model=MODEL)
    assert upgraded["summarized"] == 2
    assert summaries(repo.root)[("file", "a.py")][:2] == ("Handles the a.py module.", "llm")


def test_interrupted_pass_resumes_without_redoing_finished_files(repo, scripted):
    files = {f"pkg/m{i:02d}.py": f"def f{i}():\n    return {i}\n" for i in range(24)}
    repo.commit("modules", files)
    calls = {"n": 0}

    def stop_after_three_batches(prompt):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return scripted.per_file("Handles the {path} module.")(prompt)

    scripted.on(node="summarize_files", reply=stop_after_three_batches)
    scripted.on(node="summarize_dirs", reply="Holds the modules.")
    scripted.on(node="anticipate", reply="REQUEST: x\nFILES: pkg/m01.py\nWHY: y\n")
    with pytest.raises(KeyboardInterrupt):
        run_sleep(repo.root, model=MODEL)
    done_before = {p for (k, p), v in summaries(repo.root).items() if k == "file"}
    assert len(done_before) == 12  # three batches of four were stored before the stop
    scripted.calls.clear()
    report = run_sleep(repo.root, model=MODEL)
    assert report["resumed"]
    redone = [c.prompt for c in scripted.calls if c.node == "summarize_files"]
    assert not any(f"] {p} " in prompt for p in done_before for prompt in redone)
    assert len({p for (k, p) in summaries(repo.root) if k == "file"}) == 24


def test_unknown_model_gives_clear_error_before_any_work(py_repo):
    from sleepcoder.agent.local_model import ModelUnavailable

    with pytest.raises(ModelUnavailable, match="unknown local model"):
        run_sleep(py_repo.root, model="local/no-such-model")
    assert not (py_repo.root / ".sleepcoder" / "map.db").exists()


def test_prompt_too_long_is_retried_with_a_shorter_brief(py_repo, scripted):
    import litellm

    overflow = litellm.ContextWindowExceededError("context exceeded", "test", "scripted")
    scripted.on(node="summarize_files", contains="[2] ", reply=overflow)  # batches overflow
    scripted.on(node="summarize_files", reply=scripted.per_file("Handles the {path} module."))
    scripted.on(node="summarize_dirs", reply="Holds the application code.")
    scripted.on(node="anticipate", reply=ANTICIPATION)
    report = run_sleep(py_repo.root, model=MODEL)
    assert report["summarized"] == 5 and report["skipped"] == 0
