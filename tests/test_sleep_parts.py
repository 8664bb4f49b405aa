"""Pieces of the sleep pass: answer parsing, path checks, subsystems, batching, budgets, CLI."""

from __future__ import annotations

import json

import pytest
from sleepcoder.agent.budget import BudgetExhausted, TaskBudget
from sleepcoder.agent.sleep.briefs import FileBrief, fallback_summary
from sleepcoder.agent.sleep.notes import PathChecker, choose_subsystems, parse_requests
from sleepcoder.agent.sleep.summaries import (
    batch_files,
    clean_sentence,
    parse_by_path,
)

from tests.conftest import run_cli

PATHS = ["pkg/a.py", "pkg/b.py", "pkg/sub/a.py"]


def test_answers_are_matched_to_files_by_path_not_position():
    text = ("pkg/b.py: Parses the configuration file.\n"
            "- `pkg/sub/a.py`: Loads plugins from disk.\n"
            "1. pkg/a.py — Entry point of the command line.")
    assert parse_by_path(text, PATHS) == {
        "pkg/b.py": "Parses the configuration file.",
        "pkg/sub/a.py": "Loads plugins from disk.",
        "pkg/a.py": "Entry point of the command line.",
    }


def test_placeholders_empty_and_missing_answers_are_rejected():
    text = "pkg/a.py: <sentence>\npkg/b.py:\nSome preamble about pkg/sub/a.py in the middle."
    assert parse_by_path(text, PATHS) == {}
    assert clean_sentence("Task: write one sentence") is None
    assert clean_sentence("ok") is None
    assert clean_sentence("is a helper module.") == "Is a helper module."


def test_answer_that_restates_the_file_keeps_only_the_description():
    assert parse_by_path("pkg/a.py: This file defines the HTTP client.", PATHS) == {
        "pkg/a.py": "Defines the HTTP client."}


def test_requests_are_parsed_from_blocks_even_with_markdown():
    text = ("**REQUEST:** Add retries\nFILES: pkg/a.py, `pkg/b.py`\nWHY: flaky network\n\n"
            "REQUEST: Add caching\nFILES: pkg/sub/a.py\n"
            "REQUEST: no files here\nWHY: broken\n")
    assert parse_requests(text) == [
        ("Add retries", ["pkg/a.py", "`pkg/b.py`"], "flaky network"),
        ("Add caching", ["pkg/sub/a.py"], ""),
    ]


def test_path_checker_accepts_exact_and_unique_suffix_paths_only():
    checker = PathChecker(set(PATHS) | {"pkg/unique.py"})
    assert checker.resolve("pkg/a.py") == "pkg/a.py"
    assert checker.resolve("`./pkg/b.py`") == "pkg/b.py"
    assert checker.resolve("unique.py") == "pkg/unique.py"
    assert checker.resolve("a.py") is None  # two files end in a.py
    assert checker.resolve("pkg/ghost.py") is None


def test_subsystems_are_central_directories_with_three_files():
    ranked = [("core/a.py", 0.3), ("core/b.py", 0.2), ("core/c.py", 0.1),
              ("util/x.py", 0.05), ("util/y.py", 0.05), ("util/z.py", 0.01),
              ("tiny/one.py", 0.5), ("tiny/two.py", 0.4), ("main.py", 0.1)]
    assert choose_subsystems(ranked, 1) == ["core"]
    assert choose_subsystems(ranked, 5) == ["core", "util"]
    assert choose_subsystems([("a.py", 0.5), ("b.py", 0.5)], 3) == [""]


def brief(path: str, chars: int) -> FileBrief:
    return FileBrief(path, "blob", "python", 10, 0.1, "x" * chars)


def test_batches_respect_file_count_and_prompt_size():
    briefs = [brief(f"f{i}.py", 200) for i in range(7)] + [brief("big.py", 3000)]
    batches = batch_files(briefs, max_files=3, max_tokens=400)
    assert [len(b) for b in batches] == [3, 3, 1, 1]
    assert batches[-1][0].path == "big.py"


def test_budget_refuses_a_request_that_would_exceed_it():
    spent = {"n": 900, "steps": 2}
    budget = TaskBudget(1000, 3, lambda: spent["n"], lambda: spent["steps"])
    assert budget.status_line() == "step 3/3, 100 tokens left"
    budget.check(100)
    with pytest.raises(BudgetExhausted, match="token budget"):
        budget.check(101)
    spent["steps"] = 3
    with pytest.raises(BudgetExhausted, match="step limit"):
        budget.check(1)
    TaskBudget(0, 0, lambda: 10**9, lambda: 10**9).check(10**9)  # 0 means no limit


def test_fallback_summary_uses_docstring_then_definitions():
    with_doc = brief("a.py", 0)
    with_doc.doc = "Parses input."
    assert fallback_summary(with_doc) == "Parses input."
    bare = brief("b.py", 0)
    bare.doc = ""
    bare.definitions = [("class", "Writer", "class Writer", ""),
                        ("method", "Writer.write", "def write(self)", ""),
                        ("function", "emit", "def emit()", "")]
    assert fallback_summary(bare) == "Defines Writer, emit."


def test_cli_sleep_without_model_labels_fallbacks(py_repo):
    result = run_cli("sleep", str(py_repo.root), "--no-llm", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["mode"] == "no-llm" and report["fallback"] == 5
    shown = run_cli("map", "show", str(py_repo.root), "--budget", "3000")
    assert "no model at sleep time" in shown.stdout
    assert "[from docstrings]" in shown.stdout


def test_cli_sleep_with_unknown_model_exits_with_model_error(py_repo):
    result = run_cli("sleep", str(py_repo.root), "--model", "local/nope")
    assert result.returncode == 5
    assert "unknown local model" in result.stderr


def test_cli_models_lists_local_models_and_default(monkeypatch):
    result = run_cli("models", "--json")
    listing = json.loads(result.stdout)
    assert listing["default"] == "local/qwen2.5-coder-1.5b"
    assert {m["model"] for m in listing["local"]} == {"local/qwen2.5-coder-1.5b",
                                                      "local/qwen2.5-coder-0.5b"}
