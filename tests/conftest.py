"""Shared fixtures: small git repositories built in tmp_path, and a CLI runner."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests are derandomized so that CI is reproducible: the same generated cases every
# run. `HYPOTHESIS_PROFILE=explore pytest ...` draws new ones (and keeps what fails).
settings.register_profile("ci", derandomize=True, deadline=None, database=None)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent-home-for-tests",
}


def git(repo: Path, *args: str, date: int | None = None) -> str:
    env = {**os.environ, **GIT_ENV}
    if date is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"{date} +0000"
    result = subprocess.run(["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false",
                             *args], cwd=repo, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


class Repo:
    """A git repository in a temporary directory, with helpers to commit."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.clock = 1_700_000_000
        git(root, "init", "-q")

    def commit(self, message: str, files: dict[str, str | bytes] | None = None,
               remove: tuple[str, ...] = ()) -> str:
        if files:
            write(self.root, files)
        for rel in remove:
            git(self.root, "rm", "-q", rel)
        git(self.root, "add", "-A")
        self.clock += 3600
        git(self.root, "commit", "-q", "--allow-empty", "-m", message, date=self.clock)
        return git(self.root, "rev-parse", "HEAD")

    def git(self, *args: str) -> str:
        return git(self.root, *args)


PY_PROJECT = {
    "app/__init__.py": '"""The app package."""\nfrom .core import run\n',
    "app/core.py": (
        '"""Core loop."""\nfrom app.util import helper\nfrom . import models\n\n\n'
        "def run(x):\n    \"\"\"Run the thing.\"\"\"\n    return helper(models.Item(x))\n"
    ),
    "app/util.py": '"""Helpers."""\n\n\ndef helper(item):\n    return item.value()\n',
    "app/models.py": (
        '"""Data models."""\n\n\nclass Item:\n    """One item."""\n\n'
        "    def __init__(self, v):\n        self.v = v\n\n"
        "    def value(self):\n        return self.v\n"
    ),
    "tests/test_core.py": "from app.core import run\n\n\ndef test_run():\n    assert run(1)\n",
    "README.md": "# Demo\n",
}


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    root = tmp_path / "repo"
    root.mkdir()
    return Repo(root)


@pytest.fixture
def py_repo(repo: Repo) -> Repo:
    repo.commit("Initial app", PY_PROJECT)
    return repo


@pytest.fixture
def count_parses(monkeypatch) -> Callable[[], list[str]]:
    """Record every file the parser reads (in-process: small builds do not use workers)."""
    import sleepcoder.tools.extract as extract

    seen: list[str] = []
    original = extract.extract_file

    def counting(root, job):
        seen.append(job.path)
        return original(root, job)

    monkeypatch.setattr(extract, "extract_file", counting)
    import sleepcoder.tools.repomap as repomap

    monkeypatch.setattr(repomap, "extract_file", counting)
    return lambda: seen


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the installed `sleepcoder` entry point as a user would."""
    import sys

    return subprocess.run([sys.executable, "-m", "sleepcoder.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def scripted():
    """A fresh scripted model, served as `scripted/test`; fails the test on unmatched calls."""
    from sleepcoder.agent.llm import register_provider

    from tests.scripted_model import Script, make_provider

    script = Script()
    register_provider("scripted", lambda: make_provider(script))
    yield script
    assert not script.unmatched, f"requests no rule matched: {script.unmatched[:3]}"


def default_sigint() -> None:
    """Ctrl-C as a terminal gives it. A shell starts background jobs (`cmd &`, nohup) with
    SIGINT ignored, and Python then installs no KeyboardInterrupt handler: tests of how
    sleepcoder reacts to Ctrl-C restore the default for themselves and their children."""
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def ctrl_c():
    """SIGINT raises KeyboardInterrupt in this process for the test (default_sigint)."""
    import signal

    previous = signal.getsignal(signal.SIGINT)
    default_sigint()
    yield
    signal.signal(signal.SIGINT, previous)
