"""`swe-features` given bad input: every problem ends in one clear line (exit 2) or a warning,
never a traceback; the dataset and predictions parsers raise nothing but DatasetError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sleepcoder.swe_features.dataset import DatasetError, read_dataset
from sleepcoder.swe_features.scorer import read_predictions

from tests.conftest import run_cli
from tests.test_swe_features import dataset_file, record


def one_error_line(result) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sleepcoder: "), result.stderr
    return lines[0]


def predictions_file(tmp_path: Path, rows: list, name: str = "preds.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def score_cli(dataset: Path, predictions: Path, *extra: str):
    return run_cli("swe-features", "score", "--dataset", str(dataset), "--predictions",
                   str(predictions), *extra)


# --- score ---------------------------------------------------------------------------------

def test_non_utf8_dataset_or_predictions_is_one_line_with_the_line_number(tmp_path):
    data = dataset_file(tmp_path, [record()])
    preds = predictions_file(tmp_path, [{"instance_id": "acme__shop-7",
                                         "modified_files": ["a.py"]}])
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(data.read_bytes() + b'{"title": "caf\xe9"}\n')
    assert "bad.jsonl line 2: not UTF-8" in one_error_line(score_cli(bad, preds))
    assert "bad.jsonl line 2: not UTF-8" in one_error_line(score_cli(data, bad))


@pytest.mark.parametrize(("content", "message"), [
    ('{"instance_id": "acme__shop-7", "modified_files": []}\n{oops\n',
     "preds.jsonl line 2: not valid JSON"),
    ('\n\n["unclosed"\n', "preds.jsonl: not valid JSON: Expecting ',' delimiter (line 4"),
    ('{"instance_id": "acme__shop-7"}\n', "preds.jsonl line 1: needs 'modified_files' or"),
    ('{"modified_files": []}\n', "preds.jsonl line 1: missing field 'instance_id'"),
    ('[{"instance_id": "x", "modified_files": "a.py"}]',
     "preds.jsonl record 1: field 'modified_files' must be a list"),
    ('{"instance_id": "x", "model_patch": 3}\n', "line 1: field 'model_patch' must be a str"),
    ("1" * 5000 + "\n", "preds.jsonl line 1: not valid JSON"),
    ("[" * 100_000, "preds.jsonl: not valid JSON"),
])
def test_malformed_predictions_name_the_file_and_line(tmp_path, content, message):
    preds = tmp_path / "preds.jsonl"
    preds.write_text(content)
    assert message in one_error_line(score_cli(dataset_file(tmp_path, [record()]), preds))


def test_unreadable_paths_are_one_line(tmp_path):
    data = dataset_file(tmp_path, [record()])
    assert "is a directory" in one_error_line(score_cli(data, tmp_path))
    assert "No such file" in one_error_line(score_cli(tmp_path / "none.jsonl", data))


def test_repeated_ids_warn_and_keep_the_first(tmp_path):
    data = dataset_file(tmp_path, [record(), record(changed_files=[
        {"filename": "other.py", "status": "modified"}])])
    preds = predictions_file(tmp_path, [
        {"instance_id": "acme__shop-7", "modified_files": ["a.py", "b.py", "docs/coupons.md"]},
        {"instance_id": "acme__shop-7", "modified_files": ["other.py"]}])
    result = score_cli(data, preds, "--json")
    assert result.returncode == 0, result.stderr
    assert "data.jsonl: 1 records repeat an earlier instance id" in result.stderr
    assert "preds.jsonl: 1 records repeat" in result.stderr
    assert "acme__shop-7 (line 2, first at line 1)" in result.stderr
    scored = json.loads(result.stdout)
    assert scored["counts"]["tasks"] == 1 and scored["mean"]["f1"] == 1.0  # both firsts


def test_unknown_ids_and_tasks_without_predictions_are_warned_in_the_text_output(tmp_path):
    data = dataset_file(tmp_path, [record(pr_number=n) for n in range(1, 9)])
    preds = predictions_file(tmp_path, [
        {"instance_id": "acme__shop-1", "modified_files": ["a.py"]},
        {"instance_id": "elsewhere-1", "modified_files": ["a.py"]},
        {"instance_id": "elsewhere-2", "model_patch": ""}])
    result = score_cli(data, preds)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: 2 predictions are for instance ids not in the dataset (ignored): "
        "elsewhere-1, elsewhere-2",
        "warning: 7 of 8 tasks have no prediction (each scores 0): acme__shop-2, "
        "acme__shop-3, acme__shop-4, acme__shop-5, acme__shop-6 …"]
    assert "mean over 8 tasks" in result.stdout
    as_json = json.loads(score_cli(data, preds, "--json").stdout)
    assert as_json["warnings"] == [w.removeprefix("warning: ") for w in warnings]


def test_a_prediction_whose_patch_is_not_a_diff_scores_nothing_with_a_warning(tmp_path):
    data = dataset_file(tmp_path, [record()])
    broken = "--- a/a.py\n+++ b/a.py\n@@ -1,5 +1,5 @@\n-x\n"  # the hunk is cut short
    preds = predictions_file(tmp_path, [{"instance_id": "acme__shop-7", "model_patch": broken}])
    result = score_cli(data, preds)
    assert result.returncode == 0, result.stderr
    assert "1 predictions have a model_patch that is not a unified diff" in result.stderr
    assert "F1 0.000" in result.stdout


# --- run, report, build: path arguments ----------------------------------------------------

def test_path_arguments_that_are_missing_or_the_wrong_kind_are_one_line(tmp_path):
    data = dataset_file(tmp_path, [record()])
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    run = ("swe-features", "run", "--condition", "bm25")
    cases = [
        ((*run, "--dataset", str(tmp_path / "none"), "--out", str(tmp_path / "o")),
         "No such file or directory"),
        ((*run, "--dataset", str(tmp_path), "--out", str(tmp_path / "o")), "is a directory"),
        ((*run, "--dataset", str(data), "--out", str(a_file)), "--out"),
        ((*run, "--dataset", str(data), "--out", str(a_file / "sub")), "cannot create it"),
        ((*run, "--dataset", str(data), "--out", str(tmp_path / "o"), "--repos-dir",
          str(tmp_path / "none")), "--repos-dir"),
        ((*run, "--dataset", str(data), "--out", str(tmp_path / "o"), "--repo-path",
          f"acme/shop={tmp_path / 'none'}"), "acme/shop="),
        ((*run, "--dataset", str(data), "--out", str(tmp_path / "o"), "--cache-dir",
          str(a_file)), "--cache-dir"),
        (("swe-features", "report", str(a_file)), "not a folder"),
        (("swe-features", "report", str(tmp_path / "none")), "does not exist"),
        (("swe-features", "build", "--repo", str(a_file)), "not a folder"),
        (("swe-features", "build", "--repo", str(tmp_path / "none")), "does not exist"),
    ]
    for args, message in cases:
        assert message in one_error_line(run_cli(*args)), args


def test_report_of_a_damaged_summary_is_one_line(tmp_path):
    (tmp_path / "summary.json").write_text('{"cells": ')
    assert "not a summary" in one_error_line(run_cli("swe-features", "report", str(tmp_path)))
    (tmp_path / "summary.json").write_text('{"cells": [{"condition": "bm25"}]}')
    assert "not a summary" in one_error_line(run_cli("swe-features", "report", str(tmp_path)))


def test_build_output_that_cannot_be_written_is_one_line(repo, tmp_path):
    repo.commit("init", {"a.py": "A = 1\n"})
    line = one_error_line(run_cli("swe-features", "build", "--repo", str(repo.root),
                                  "--out", str(tmp_path)))
    assert "cannot write" in line


# --- the parsers never raise anything but DatasetError ------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12)
FIELDS = ["instance_id", "repo", "pr_number", "title", "body", "base_commit", "changed_files",
          "problem_statement", "patch", "model_patch", "modified_files", "filename", "status"]
records = st.dictionaries(st.sampled_from(FIELDS), json_values | st.sampled_from(
    ["acme/shop", "modified", "added", "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n"]),
    max_size=8)
lines = st.lists(records | json_values, max_size=5)
fuzz = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def parse_both(path: Path) -> None:
    for parser in (read_dataset, read_predictions):
        try:
            parser(path)
        except DatasetError as exc:
            assert str(exc) and "\n" not in str(exc).strip()


@fuzz
@given(data=st.binary(max_size=400))
def test_parsers_survive_arbitrary_bytes(tmp_path, data):
    path = tmp_path / "input.jsonl"
    path.write_bytes(data)
    parse_both(path)


@fuzz
@given(rows=lines, as_list=st.booleans())
def test_parsers_survive_arbitrary_json_records(tmp_path, rows, as_list):
    path = tmp_path / "input.jsonl"
    path.write_text(json.dumps(rows) if as_list else
                    "".join(json.dumps(row) + "\n" for row in rows))
    parse_both(path)


DIFF_LINES = ["--- a/x.py\n", "+++ b/x.py\n", "--- /dev/null\n", "+++ /dev/null\n",
              "@@ -1 +1 @@\n", "@@ -1,2 +1,3 @@\n", "@@ -a +b @@\n", "-a\n", "+b\n", " c\n",
              "diff --git a/x.py b/y.py\n", "new file mode 100644\n", "rename from x.py\n",
              "rename to y.py\n", "\\ No newline at end of file\n",
              "Binary files a/x and b/x differ\n"]


@fuzz
@given(patch=st.lists(st.sampled_from(DIFF_LINES) | st.text(max_size=20), max_size=10)
       .map("".join))
def test_parsers_survive_arbitrary_patches(tmp_path, patch):
    path = tmp_path / "input.jsonl"
    path.write_text(json.dumps({"instance_id": "x", "repo": "a/b", "base_commit": "c",
                                "problem_statement": "t", "patch": patch,
                                "model_patch": patch}) + "\n")
    parse_both(path)
