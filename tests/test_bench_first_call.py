"""The first-request benchmark ends a real solve at its first model request, on any tree."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli


def test_the_stopwatch_ends_the_solve_at_its_first_request(py_repo):
    from sleepcoder.agent.llm import register_provider

    from benchmarks import bench_first_call

    assert run_cli("map", str(py_repo.root)).returncode == 0
    register_provider("stopwatch", bench_first_call._provider)
    seconds = bench_first_call.first_call_seconds(py_repo.root, "change the helper")
    assert 0 < seconds < 120
    assert not py_repo.git("status", "--porcelain", "--untracked-files=no").strip()


def test_a_tree_that_is_not_a_repository_is_refused(tmp_path):
    from benchmarks import bench_first_call

    with pytest.raises(SystemExit, match="before any model request"):
        bench_first_call.first_call_seconds(tmp_path, "anything")
