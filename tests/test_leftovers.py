"""What runs leave behind: no empty worktrees folder, no example copy removed over a folder the
user owns, no message from a model engine freed at interpreter shutdown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sleepcoder.tools.worktree import Worktree

EXAMPLE_SCRIPT = Path(__file__).resolve().parent.parent / "examples" / "run_example.sh"


def test_the_worktrees_folder_goes_with_its_last_worktree(py_repo):
    base = py_repo.git("rev-parse", "HEAD")
    folder = py_repo.root / ".sleepcoder" / "worktrees"
    first = Worktree.create(py_repo.root, base, folder / "solve-1-a")
    second = Worktree.create(py_repo.root, base, folder / "solve-2-b")
    first.remove()
    assert folder.is_dir() and [p.name for p in folder.iterdir()] == ["solve-2-b"]
    second.remove()
    assert not folder.exists()
    assert (py_repo.root / ".sleepcoder").is_dir()  # only the empty folder of worktrees goes


def _run_example(target: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """run_example.sh with a stand-in for sleepcoder that only records its commands: the
    script's own handling of the target folder is what is tried, never a model."""
    stand_in = tmp_path / "sleepcoder"
    stand_in.write_text(f'#!/bin/sh\necho "$1" >> "{tmp_path}/commands"\n')
    stand_in.chmod(0o755)
    env = {**os.environ, "SLEEPCODER": str(stand_in), "SLEEPCODER_PYTHON": sys.executable,
           "SLEEPCODER_EXAMPLE_DIR": str(target)}
    return subprocess.run(["bash", str(EXAMPLE_SCRIPT)], env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_example_script_refuses_to_replace_a_folder_it_did_not_make(tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "precious.txt").write_text("keep me")
    result = _run_example(target, tmp_path)
    assert result.returncode == 2
    assert "is not a copy this script made" in result.stderr
    assert (target / "precious.txt").read_text() == "keep me"
    assert not (tmp_path / "commands").exists()


def test_the_example_script_replaces_its_own_previous_copy(tmp_path):
    target = tmp_path / "example"
    first = _run_example(target, tmp_path)
    assert first.returncode == 0, first.stderr
    assert (target / ".sleepcoder-example").is_file()
    (target / "left-from-last-time.txt").write_text("x")
    second = _run_example(target, tmp_path)
    assert second.returncode == 0, second.stderr
    assert not (target / "left-from-last-time.txt").exists()
    assert (tmp_path / "commands").read_text().split() == ["sleep", "solve"] * 2
    status = subprocess.run(["git", "status", "--porcelain"], cwd=target, text=True,
                            capture_output=True, check=True).stdout
    assert status == ""  # the marker is not part of the example's repository


def test_loaded_engines_are_closed_before_the_interpreter_shuts_down():
    # a stand-in for llama_cpp.Llama whose __del__ fails at shutdown, as the real one does
    # (its module globals are gone by then) unless close() ran first
    program = '''
import sleepcoder.agent.local_model as local_model

class Llama:
    closed = False
    def close(self):
        Llama.closed = True
    def __del__(self):
        if not Llama.closed:
            raise TypeError("'NoneType' object is not callable")

class Engine:
    llama = Llama()

local_model._ENGINES["stand-in"] = Engine()
'''
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                            timeout=120, cwd=Path(__file__).resolve().parent.parent)
    assert result.returncode == 0
    assert result.stderr == ""
