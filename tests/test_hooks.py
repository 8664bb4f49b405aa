"""Git hooks and --watch keep the map fresh while the developer works: installed, chained with
the hooks already there, removed without a trace, quiet when the map is busy."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sleepcoder.tools.config import load_config
from sleepcoder.tools.hooks import (
    HOOK_NAMES,
    LOG_LINES,
    MARKER,
    ORIG_SUFFIX,
    install_hooks,
    recorded_python,
    render_hook,
    uninstall_hooks,
)
from sleepcoder.tools.lock import map_lock
from sleepcoder.tools.repomap import build_map
from sleepcoder.tools.store import MapStore
from sleepcoder.tools.watch import watch

from sleepcoder.hooks_cli import HookLog, refresh_map, run_hook_job
from tests.conftest import run_cli

NEW_FILE = {"app/extra.py": '"""Added after the map."""\n\n\ndef brand_new():\n    return 1\n'}


def mapped_paths(root: Path) -> set[str]:
    store, _ = MapStore.open(root / ".sleepcoder", create=False)
    try:
        return {row[0] for row in store.conn.execute("SELECT path FROM files")}
    finally:
        store.close()


def wait_for_log(root: Path, text: str, seconds: float = 120) -> str:
    """The hooks log once it holds `text`: the refresh runs in the background."""
    log = root / ".sleepcoder" / "hooks.log"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        content = log.read_text() if log.exists() else ""
        if text in content:
            return content
        time.sleep(0.2)
    pytest.fail(f"the hooks log never said {text!r}: {content!r}")


def run_hook(root: Path, name: str, *args: str, stdin: str = "",
             hooks: str = ".git/hooks") -> subprocess.CompletedProcess:
    """Run a hook the way git does (from the work tree root), without the background job."""
    env = {**os.environ, "SLEEPCODER_HOOKS": "0"}
    return subprocess.run([str(root / hooks / name), *args], cwd=root, input=stdin, env=env,
                          capture_output=True, text=True, timeout=60)


def put_hook(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_install_writes_the_four_hooks(repo):
    repo.commit("first", {"a.py": "x = 1\n"})
    result = run_cli("hooks", "install", "--repo", str(repo.root))
    assert result.returncode == 0, result.stderr
    for name in HOOK_NAMES:
        hook = repo.root / ".git" / "hooks" / name
        assert os.access(hook, os.X_OK)
        assert MARKER in hook.read_text().splitlines()
        assert recorded_python(hook.read_text()) == os.path.abspath(sys.executable)
        assert f"{name}: installed" in result.stdout
    assert "there is no map yet: run `sleepcoder map` once" in result.stdout


def test_a_commit_after_install_refreshes_the_map_in_the_background(py_repo):
    build_map(py_repo.root)
    assert run_cli("hooks", "install", "--repo", str(py_repo.root)).returncode == 0
    py_repo.commit("add extra", NEW_FILE)
    wait_for_log(py_repo.root, "post-commit: map refreshed: 1 files parsed")
    assert "app/extra.py" in mapped_paths(py_repo.root)


def test_an_existing_hook_still_runs_with_its_arguments_input_and_exit_status(repo):
    repo.commit("first", {"a.py": "x = 1\n"})
    hooks = repo.root / ".git" / "hooks"
    put_hook(hooks, "post-rewrite", '#!/bin/sh\ncat > seen-input\necho "$0 $*" > seen-args\n'
                                    "exit 3\n")
    install_hooks(hooks, sys.executable)
    result = run_hook(repo.root, "post-rewrite", "amend", stdin="abc def\n")
    assert result.returncode == 3
    assert (repo.root / "seen-input").read_text() == "abc def\n"
    # sourced: the original still sees the path git ran it by (husky finds itself by $0)
    assert (repo.root / "seen-args").read_text() == f"{hooks / 'post-rewrite'} amend\n"
    assert result.stderr == ""


def test_an_existing_hook_in_another_language_keeps_its_exit_status(repo):
    repo.commit("first", {"a.py": "x = 1\n"})
    hooks = repo.root / ".git" / "hooks"
    put_hook(hooks, "post-checkout", f"#!{sys.executable}\nimport sys\n"
             "open('seen-args', 'w').write(' '.join(sys.argv[1:]) + sys.stdin.read())\n"
             "sys.exit(5)\n")
    install_hooks(hooks, sys.executable)
    result = run_hook(repo.root, "post-checkout", "a" * 40, "b" * 40, "1", stdin="in")
    assert result.returncode == 5
    assert (repo.root / "seen-args").read_text() == f"{'a' * 40} {'b' * 40} 1in"


def test_a_chained_hook_runs_on_a_real_commit(repo):
    repo.commit("first", {"a.py": "x = 1\n"})
    put_hook(repo.root / ".git" / "hooks", "post-commit", "#!/bin/sh\ntouch committed\n")
    assert run_cli("hooks", "install", "--repo", str(repo.root)).returncode == 0
    repo.commit("second", {"b.py": "y = 2\n"})
    assert (repo.root / "committed").exists()


PRE_COMMIT_HOOK = """#!/usr/bin/env bash
# File generated by pre-commit: https://pre-commit.com
# ID: 138fd403232d2ddd5efb44317e38bf03
# start templated
ARGS=(hook-impl --config=.pre-commit-config.yaml --hook-type=post-commit)
# end templated

HERE="$(cd "$(dirname "$0")" && pwd)"
ARGS+=(--hook-dir "$HERE" -- "$@")
# pre-commit runs $HERE/post-commit.legacy, the hook it replaced, from its hook directory
if [ -x "$HERE/post-commit.legacy" ]; then "$HERE/post-commit.legacy" "$@"; fi
echo "${ARGS[@]}" > pre-commit-ran
exit 1
"""


@pytest.mark.skipif(shutil.which("bash") is None, reason="the pre-commit hook is a bash script")
def test_a_pre_commit_framework_hook_is_chained(repo):
    repo.commit("first", {"a.py": "x = 1\n"})
    hooks = repo.root / ".git" / "hooks"
    put_hook(hooks, "post-commit", PRE_COMMIT_HOOK)
    put_hook(hooks, "post-commit.legacy", "#!/bin/sh\ntouch legacy-ran\n")
    install_hooks(hooks, sys.executable)
    result = run_hook(repo.root, "post-commit")
    assert result.returncode == 1
    ran = (repo.root / "pre-commit-ran").read_text()
    assert f"--hook-dir {hooks.resolve()} --" in ran
    assert (repo.root / "legacy-ran").exists()


def test_pre_commit_installed_over_our_hook_keeps_it_as_legacy_and_uninstall_finds_it(repo):
    repo.commit("first", {"a.py": "x = 1\n"})
    hooks = repo.root / ".git" / "hooks"
    put_hook(hooks, "post-commit", "#!/bin/sh\necho before\n")
    install_hooks(hooks, sys.executable)
    os.rename(hooks / "post-commit", hooks / "post-commit.legacy")  # what `pre-commit install`
    put_hook(hooks, "post-commit", PRE_COMMIT_HOOK)                  # does to a foreign hook
    changes = {c.name: c for c in install_hooks(hooks, sys.executable)}
    assert changes["post-commit"].action == "unchanged"
    assert (hooks / "post-commit").read_text() == PRE_COMMIT_HOOK
    uninstall_hooks(hooks)
    assert (hooks / "post-commit.legacy").read_text() == "#!/bin/sh\necho before\n"
    assert (hooks / "post-commit").read_text() == PRE_COMMIT_HOOK


def test_a_linked_worktree_installs_into_the_shared_hooks(repo, tmp_path):
    repo.commit("first", {"a.py": "x = 1\n"})
    repo.git("worktree", "add", "-q", str(tmp_path / "wt"))
    result = run_cli("hooks", "install", "--repo", str(tmp_path / "wt"))
    assert result.returncode == 0, result.stderr
    assert MARKER in (repo.root / ".git" / "hooks" / "post-checkout").read_text()


def test_core_hooks_path_is_honoured_and_a_husky_hook_still_finds_its_script(repo):
    repo.commit("first", {"a.py": "x = 1\n"})
    repo.git("config", "core.hooksPath", ".husky/_")
    husky = repo.root / ".husky"
    # husky 9: .husky/_/NAME sources .husky/_/h, which runs .husky/NAME found from $0
    put_hook(husky / "_", "h", '#!/usr/bin/env sh\nn=$(basename "$0")\n'
             's=$(dirname "$(dirname "$0")")/$n\n[ ! -f "$s" ] && exit 0\nsh -e "$s" "$@"\n')
    put_hook(husky / "_", "post-commit", '#!/usr/bin/env sh\n. "$(dirname "$0")/h"\n')
    put_hook(husky, "post-commit", "touch husky-ran\n")
    result = run_cli("hooks", "install", "--repo", str(repo.root))
    assert result.returncode == 0, result.stderr
    assert str(husky / "_") in result.stdout
    assert not (repo.root / ".git" / "hooks" / "post-commit").exists()
    assert MARKER in (husky / "_" / "post-merge").read_text()
    repo.commit("second", {"b.py": "y = 2\n"})
    assert (repo.root / "husky-ran").exists()


def test_uninstall_restores_the_original_and_leaves_foreign_hooks_alone(repo):
    repo.commit("first", {"a.py": "x = 1\n"})
    hooks = repo.root / ".git" / "hooks"
    original = put_hook(hooks, "post-merge", "#!/bin/sh\necho mine\n")
    original.chmod(0o750)
    assert run_cli("hooks", "install", "--repo", str(repo.root)).returncode == 0
    assert run_cli("hooks", "install", "--repo", str(repo.root)).returncode == 0  # idempotent
    assert (hooks / f"post-merge{ORIG_SUFFIX}").read_text() == "#!/bin/sh\necho mine\n"
    put_hook(hooks, "post-rewrite", "#!/bin/sh\necho someone else's\n")  # replaced ours
    result = run_cli("hooks", "uninstall", "--repo", str(repo.root))
    assert result.returncode == 0, result.stderr
    assert original.read_text() == "#!/bin/sh\necho mine\n"
    assert stat.S_IMODE(original.stat().st_mode) == 0o750
    assert (hooks / "post-rewrite").read_text() == "#!/bin/sh\necho someone else's\n"
    assert "post-rewrite: left alone" in result.stdout
    assert not (hooks / "post-commit").exists() and not (hooks / "post-checkout").exists()
    assert not any(p.name.endswith(ORIG_SUFFIX) for p in hooks.iterdir())


def test_install_refuses_when_a_leftover_would_be_overwritten(repo):
    repo.commit("first", {"a.py": "x = 1\n"})
    hooks = repo.root / ".git" / "hooks"
    put_hook(hooks, "post-commit", "#!/bin/sh\necho current\n")
    put_hook(hooks, f"post-commit{ORIG_SUFFIX}", "#!/bin/sh\necho older\n")
    result = run_cli("hooks", "install", "--repo", str(repo.root))
    assert result.returncode == 2
    assert "left from an earlier install" in result.stderr and "Traceback" not in result.stderr
    assert (hooks / f"post-commit{ORIG_SUFFIX}").read_text() == "#!/bin/sh\necho older\n"
    assert not (hooks / "post-merge").exists()  # nothing was changed


def test_install_outside_a_git_repository_is_a_clear_error(tmp_path):
    result = run_cli("hooks", "install", "--repo", str(tmp_path))
    assert result.returncode == 2
    assert "not a git repository" in result.stderr


def test_lock_held_the_background_refresh_exits_quietly_and_leaves_a_note(py_repo):
    build_map(py_repo.root)
    py_repo.commit("add extra", NEW_FILE)
    with map_lock(py_repo.root / ".sleepcoder", 0):
        result = run_cli("hooks", "run", "post-commit", cwd=py_repo.root)
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    log = (py_repo.root / ".sleepcoder" / "hooks.log").read_text()
    assert "post-commit: skipped, the map at" in log and "is busy" in log
    assert "app/extra.py" not in mapped_paths(py_repo.root)
    run_hook_job(py_repo.root, "post-merge")  # the next hook serves the request left pending
    assert "app/extra.py" in mapped_paths(py_repo.root)
    assert not (py_repo.root / ".sleepcoder" / "hooks.pending").exists()


def test_without_a_map_the_hook_refresh_does_nothing(repo):
    repo.commit("first", {"a.py": "x = 1\n"})
    run_hook_job(repo.root, "post-commit")
    assert not (repo.root / ".sleepcoder").exists()


def test_a_missing_interpreter_is_a_note_in_the_log_not_an_error(repo):
    repo.commit("first", {"a.py": "x = 1\n"})
    hooks = repo.root / ".git" / "hooks"
    install_hooks(hooks, "/nonexistent/python3")
    (repo.root / ".sleepcoder").mkdir()
    result = subprocess.run([str(hooks / "post-commit")], cwd=repo.root, capture_output=True,
                            text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert "/nonexistent/python3" in (repo.root / ".sleepcoder" / "hooks.log").read_text()


def test_the_hooks_log_stays_bounded(tmp_path):
    log = HookLog(tmp_path / "hooks.log")
    for n in range(3 * LOG_LINES):
        log.write(f"line {n}")
    lines = log.path.read_text().splitlines()
    assert len(lines) <= LOG_LINES
    assert lines[-1].endswith(f"line {3 * LOG_LINES - 1}")


def test_the_watch_loop_refreshes_after_a_commit(py_repo):
    build_map(py_repo.root)
    config = load_config(py_repo.root)
    lines: list[str] = []
    commits = iter([lambda: py_repo.commit("add extra", NEW_FILE)])

    def sleep(_seconds: float) -> None:  # the developer commits while the loop waits
        next(commits, lambda: None)()

    refreshes = watch(py_repo.root, lambda: bool(lines.append(refresh_map(py_repo.root,
                                                                          config)) or True),
                      0.1, rounds=3, sleep=sleep)
    assert refreshes == 2  # at start, then after the commit; not again without a change
    assert lines[1].startswith("map refreshed: 1 files parsed")
    assert "app/extra.py" in mapped_paths(py_repo.root)


def test_the_watch_loop_sees_a_second_edit_to_a_modified_file(py_repo):
    seen: list[int] = []
    edits = iter(["x = 1\n", "x = 22\n"])

    def sleep(_seconds: float) -> None:
        edit = next(edits, None)
        if edit is not None:
            (py_repo.root / "app" / "util.py").write_text(edit)

    watch(py_repo.root, lambda: bool(seen.append(1)) or True, 0.1, rounds=4, sleep=sleep)
    assert len(seen) == 3  # start, first edit, second edit of the same modified file


def test_a_busy_map_during_watch_is_retried_at_the_next_look(py_repo):
    answers = iter([False, True])
    calls: list[int] = []

    def refresh() -> bool:
        calls.append(1)
        return next(answers)

    assert watch(py_repo.root, refresh, 0.1, rounds=2, sleep=lambda _s: None) == 1
    assert len(calls) == 2


def _sigint_as_in_a_terminal() -> None:
    # the child starts with SIG_DFL, so Python installs its KeyboardInterrupt handler even
    # when this test runs in a background job (which ignores SIGINT)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_map_watch_stops_on_ctrl_c_with_one_line(py_repo):
    build_map(py_repo.root)
    process = subprocess.Popen(
        [sys.executable, "-m", "sleepcoder.cli", "map", str(py_repo.root), "--watch",
         "--interval", "0.2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_sigint_as_in_a_terminal)
    first = _read_line_within(process, 120)
    assert "map refreshed" in first
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 0
    assert err.strip().splitlines()[-1] == "sleepcoder: stopped watching"
    assert "Traceback" not in err


def _read_line_within(process: subprocess.Popen, seconds: float) -> str:
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()),
                              daemon=True)
    reader.start()
    reader.join(seconds)
    if not lines:
        process.kill()
        pytest.fail("the watch printed nothing")
    return lines[0]


def test_watch_rejects_an_interval_out_of_range(py_repo):
    result = run_cli("map", str(py_repo.root), "--watch", "--interval", "0")
    assert result.returncode == 2
    assert "--interval must be between 0.1 and" in result.stderr


def test_watch_outside_a_git_repository_is_a_clear_error(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    result = run_cli("map", str(tmp_path), "--watch")
    assert result.returncode == 2
    assert result.stderr.strip().endswith("--watch needs a git repository: "
                                          f"{tmp_path} is not in one")


def test_hooks_run_the_sleep_pass_within_its_budget_when_configured(py_repo, scripted):
    from tests.test_sleep import standard_script, summaries

    standard_script(scripted)
    py_repo.commit("configure", {".sleepcoder.toml": '[llm]\nmodel = "scripted/test"\n'
                                                     "[hooks]\nsleep = true\n"
                                                     "sleep_budget = 50000\n"})
    build_map(py_repo.root)
    py_repo.commit("add extra", NEW_FILE)
    run_hook_job(py_repo.root, "post-commit")
    log = (py_repo.root / ".sleepcoder" / "hooks.log").read_text()
    assert "post-commit: map refreshed: 1 files parsed" in log and "sleep pass: 6 files" in log
    assert summaries(py_repo.root)[("file", "app/extra.py")][1] == "llm"
    store, _ = MapStore.open(py_repo.root / ".sleepcoder", create=False)
    try:
        assert json.loads(store.get_meta("last_sleep"))["budget"] == 50_000
    finally:
        store.close()


def test_hooks_do_not_run_the_sleep_pass_by_default(py_repo):
    build_map(py_repo.root)
    py_repo.commit("add extra", NEW_FILE)
    run_hook_job(py_repo.root, "post-commit")
    log = (py_repo.root / ".sleepcoder" / "hooks.log").read_text()
    assert "map refreshed" in log and "sleep pass" not in log


def test_interval_without_watch_is_refused(py_repo):
    result = run_cli("map", str(py_repo.root), "--interval", "5")
    assert result.returncode == 2
    assert "--interval is the pace of --watch: give --watch too" in result.stderr
    assert not (py_repo.root / ".sleepcoder").exists()


def test_hooks_sleep_is_off_by_default_and_its_budget_is_checked(tmp_path):
    from sleepcoder.tools.config import ConfigError, parse_config

    defaults = parse_config("", "t").hooks
    assert defaults.sleep is False and defaults.sleep_budget == 20_000
    assert parse_config("[hooks]\nsleep = true\nsleep_budget = 500\n", "t").hooks.sleep
    with pytest.raises(ConfigError, match="sleep_budget must be between 1 and"):
        parse_config("[hooks]\nsleep_budget = 0\n", "t")


@settings(max_examples=60)
@given(existing=st.dictionaries(st.sampled_from(HOOK_NAMES),
                                st.tuples(st.binary(max_size=300),
                                          st.sampled_from([0o755, 0o700, 0o644, 0o500])),
                                max_size=4))
def test_install_then_uninstall_round_trips_any_existing_hooks(existing):
    with tempfile.TemporaryDirectory() as scratch:
        hooks = Path(scratch)
        for name, (content, mode) in existing.items():
            (hooks / name).write_bytes(content)
            (hooks / name).chmod(mode)
        install_hooks(hooks, sys.executable)
        install_hooks(hooks, sys.executable)
        assert all(MARKER in (hooks / n).read_text() for n in HOOK_NAMES)
        uninstall_hooks(hooks)
        after = {p.name: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
                 for p in hooks.iterdir()}
        assert after == existing


@given(st.text(st.characters(blacklist_characters="\n\0",
                             blacklist_categories=("Cs",)), min_size=1, max_size=80))
def test_the_recorded_interpreter_round_trips_any_path(python):
    assert recorded_python(render_hook("post-commit", python)) == python


@settings(max_examples=15)
@given(st.integers(0, 255), st.sampled_from(["#!/bin/sh", "#!/usr/bin/env sh",
                                              "#!/usr/bin/env python3"]))
def test_the_chained_hook_keeps_any_exit_status(status, shebang):
    with tempfile.TemporaryDirectory() as scratch:
        hooks = Path(scratch)
        body = f"import sys\nsys.exit({status})\n" if "python" in shebang else f"exit {status}\n"
        put_hook(hooks, "post-merge", f"{shebang}\n{body}")
        install_hooks(hooks, sys.executable)
        result = subprocess.run([str(hooks / "post-merge"), "0"], cwd=scratch,
                                capture_output=True, env={**os.environ, "SLEEPCODER_HOOKS": "0"},
                                timeout=60)
        assert result.returncode == status
