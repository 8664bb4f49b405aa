"""A hostile world around the map store: bare and read-only repositories, damaged databases,
a store deleted mid-build, odd store paths, and the last-resort handler for anything else.
Each must end in one clear line and its documented exit code, never a traceback."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from sleepcoder.cli import app
from tests.conftest import git, run_cli

EXIT_BAD_INPUT, EXIT_STORE = 2, 3
REBUILD = "run `sleepcoder map --rebuild`"

# the commands of this scope, each pointed at the repository {repo}
COMMANDS = {
    "map": ["map", "{repo}"],
    "map show": ["map", "show", "{repo}"],
    "map stats": ["map", "stats", "{repo}"],
    "sleep": ["sleep", "{repo}", "--no-llm"],
    "solve": ["solve", "change the helper", "--repo", "{repo}", "--localize-only", "--no-llm"],
}


def command(name: str, repo: Path, *extra: str) -> list[str]:
    return [arg.format(repo=repo) for arg in COMMANDS[name]] + list(extra)


def invoke(*args: str):
    """Run the CLI in this process (exceptions the CLI does not handle stay in .exception)."""
    return CliRunner().invoke(app, [str(arg) for arg in args])


def error_line(stderr: str) -> str:
    """The one `sleepcoder: ...` line of stderr (fails unless there is exactly one)."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("sleepcoder: ")]
    assert len(lines) == 1, stderr
    return lines[0]


def assert_fails(result, code: int, *phrases: str) -> str:
    """`result` (CliRunner or subprocess) exited with `code` and one line saying `phrases`."""
    exit_code = getattr(result, "exit_code", getattr(result, "returncode", None))
    exception = getattr(result, "exception", None)
    assert exception is None or isinstance(exception, SystemExit), repr(exception)
    assert exit_code == code, (exit_code, result.stdout, result.stderr)
    line = error_line(result.stderr)
    for phrase in phrases:
        assert phrase in line, line
    return line


def build(repo: Path, *extra: str) -> None:
    result = invoke("map", repo, *extra)
    assert result.exit_code == 0, result.stderr


def map_db(repo: Path) -> Path:
    return repo / ".sleepcoder" / "map.db"


# --- 1. bare repositories --------------------------------------------------------------------


@pytest.mark.parametrize("name", list(COMMANDS))
def test_bare_repository_is_refused_with_a_hint_to_map_a_checkout(tmp_path, name):
    bare = tmp_path / "bare.git"
    bare.mkdir()
    git(bare, "init", "-q", "--bare")
    result = invoke(*command(name, bare))
    assert_fails(result, EXIT_BAD_INPUT, "is a bare repository", "checkout", "worktree")


def test_mirror_clone_is_refused_like_a_bare_repository(py_repo, tmp_path):
    mirror = tmp_path / "mirror.git"
    git(tmp_path, "clone", "-q", "--mirror", str(py_repo.root), str(mirror))
    result = run_cli("map", str(mirror))
    assert_fails(result, EXIT_BAD_INPUT, "is a bare repository", "worktree add")
    assert not (mirror / ".sleepcoder").exists()


# --- the last resort -------------------------------------------------------------------------


def test_unexpected_error_is_one_line_and_its_traceback_goes_to_a_crash_log(
        py_repo, tmp_path, monkeypatch, capsys):
    import tools.stats
    from sleepcoder.cli import main

    build(py_repo.root)

    def broken(store):
        raise RuntimeError("boom at stage two\nsecond line of the message")

    monkeypatch.setattr(tools.stats, "map_stats", broken)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "argv", ["sleepcoder", "map", "stats", str(py_repo.root)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    line = error_line(capsys.readouterr().err)
    assert line.startswith("sleepcoder: unexpected error: RuntimeError: boom at stage two (")
    assert "second line" not in line
    logs = list((tmp_path / "cache" / "sleepcoder" / "crash").iterdir())
    assert len(logs) == 1 and f"details in {logs[0]}" in line
    text = logs[0].read_text()
    assert "Traceback" in text and "second line of the message" in text and "map stats" in text


def test_corrupt_git_index_ends_in_one_line_and_a_crash_log(py_repo, tmp_path):
    (py_repo.root / ".git" / "index").write_bytes(random.Random(1).randbytes(300))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-m", "sleepcoder.cli", "map", str(py_repo.root)],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 1
    line = error_line(result.stderr)
    assert "unexpected error: GitCommandError" in line and "details in" in line
    assert len(list((tmp_path / "cache" / "sleepcoder" / "crash").iterdir())) == 1


def test_crash_log_falls_back_to_the_temp_dir(tmp_path, monkeypatch):
    from sleepcoder.crash import write_crash_log

    (tmp_path / "not-a-dir").write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-dir"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    path = write_crash_log(ValueError("bad"), ["sleepcoder", "map"])
    assert path is not None and path.parent == tmp_path / "tmp" / "sleepcoder-crash"
    assert "ValueError: bad" in path.read_text()


@given(message=st.text(max_size=2000))
def test_unexpected_error_description_is_one_bounded_line(message):
    from sleepcoder.crash import describe

    text = describe(KeyError(message) if len(message) % 2 else ValueError(message))
    assert "\n" not in text and "\r" not in text
    assert len(text) <= len("ValueError: ") + 200
