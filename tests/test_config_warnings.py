"""Every command that reads `.sleepcoder.toml` says, once, which of its keys it does not know."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import git, run_cli
from tests.test_bot import commented, world  # noqa: F401 - the bot's fixture, used below

TYPO = "[map]\nmax_file_byte = 5000\n[sleeep]\nbudget = 1\n"
KEY = ".sleepcoder.toml [map]: unknown key 'max_file_byte' (ignored)"
SECTION = ".sleepcoder.toml: unknown section [sleeep] (ignored)"


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "unknown" in line]


def assert_warned_once(result: subprocess.CompletedProcess) -> None:
    found = warnings_in(result.stderr)
    assert len(found) == 2, result.stderr
    assert found[0].startswith("warning: ") and found[0].endswith(KEY)
    assert found[1].startswith("warning: ") and found[1].endswith(SECTION)


def test_map_build_show_and_stats_warn_about_unknown_keys(py_repo):
    write_typo(py_repo.root)
    for command in (("map",), ("map", "--json"), ("map", "show"), ("map", "stats")):
        result = run_cli(*command, str(py_repo.root))
        assert result.returncode == 0, result.stderr
        assert_warned_once(result)


def test_sleep_warns_about_unknown_keys(py_repo):
    write_typo(py_repo.root)
    result = run_cli("sleep", str(py_repo.root), "--no-llm")
    assert result.returncode == 0, result.stderr
    assert_warned_once(result)


def test_solve_warns_about_unknown_keys(py_repo):
    write_typo(py_repo.root)
    result = run_cli("solve", "Change how items compute their value", "--repo",
                     str(py_repo.root), "--localize-only", "--no-llm")
    assert result.returncode == 0, result.stderr
    assert_warned_once(result)


def test_runs_and_models_warn_about_unknown_keys(py_repo):
    write_typo(py_repo.root)
    assert_warned_once(run_cli("runs", str(py_repo.root)))
    assert_warned_once(run_cli("models", cwd=py_repo.root))


def test_bot_warns_about_unknown_keys_of_the_default_branch(world):  # noqa: F811
    workspace = world["workspace"]
    config = workspace / ".sleepcoder.toml"
    config.write_text(config.read_text() + "\n" + TYPO)
    git(workspace, "commit", "-q", "-am", "a typo in the configuration")
    git(workspace, "push", "-q", "origin", "HEAD:main")
    env = commented(world, "looks good")  # not a trigger: the bot only reads its configuration
    result = subprocess.run(
        [sys.executable, "-m", "sleepcoder.cli", "bot"], capture_output=True, text=True,
        timeout=300, env={**os.environ, "GITHUB_EVENT_NAME": env.event_name,
                          "GITHUB_EVENT_PATH": str(env.event_path),
                          "GITHUB_REPOSITORY": env.repo, "GITHUB_API_URL": env.api_url,
                          "GITHUB_WORKSPACE": str(workspace)})
    assert result.returncode == 0, result.stderr
    assert "skipped" in result.stdout
    found = warnings_in(result.stderr)
    assert found == ["warning: .sleepcoder.toml on main [map]: unknown key 'max_file_byte' "
                     "(ignored)",
                     "warning: .sleepcoder.toml on main: unknown section [sleeep] (ignored)"]


def test_a_correct_configuration_gives_no_warning(py_repo):
    (py_repo.root / ".sleepcoder.toml").write_text("[map]\nmax_file_bytes = 5000\n")
    result = run_cli("map", str(py_repo.root), "--json")
    assert result.returncode == 0 and warnings_in(result.stderr) == []
    assert json.loads(result.stdout)["notices"] == []


def write_typo(root) -> None:
    (root / ".sleepcoder.toml").write_text(TYPO)
