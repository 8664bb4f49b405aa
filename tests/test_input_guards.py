"""The bad inputs of the hostile trial of issue #10, one test each: files that never end or
block (/dev/zero, a FIFO), malformed event files, damaged run state, broken model servers, a
missing optional dependency. Each ends in its documented exit code and one clear line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.test_store_robustness import assert_fails, invoke
from tools.userfiles import UserFileError, read_user_bytes, read_user_text, user_file_problem

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
