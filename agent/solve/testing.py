"""The test step's runner: the user's test command (from the command line or the
configuration, never from a request) against the current patch, in a scratch clone with an
allowlisted environment and, where the platform allows, no network and the credentials
hidden (tools/scratch.py, tools/sandbox.py). What isolation was in effect is recorded."""

from __future__ import annotations

import os
from pathlib import Path

from sleepcoder.agent.solve.context import SolveContext
from sleepcoder.tools import scratch
from sleepcoder.tools.sandbox import (
    SandboxUnavailable,
    command_environment,
    run_command,
    secret_locations,
)
from sleepcoder.tools.secrets import scrub
from sleepcoder.tools.worktree import GitError, git


def git_common_dir(repo: Path) -> Path | None:
    found = git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir", check=False)
    return Path(found.stdout.strip()) if found.returncode == 0 and found.stdout.strip() else None


_SKIP = frozenset({".git", ".sleepcoder", "node_modules", ".venv", "venv", "__pycache__",
                   ".tox", ".nox", ".mypy_cache", ".pytest_cache"})


def nested_git_dirs(repo: Path, depth: int = 4, limit: int = 200) -> list[Path]:
    """Other checkouts inside the repository's folder (a second actions/checkout with
    `path:`, a vendored clone): their git folders may hold credentials too."""
    found: list[Path] = []
    base = len(repo.parts)
    for folder, dirs, files in os.walk(repo):
        here = Path(folder)
        if (".git" in dirs or ".git" in files) and here != repo:
            found.append(here / ".git")
        dirs[:] = [d for d in dirs if d not in _SKIP and len(here.parts) - base < depth]
        if len(found) >= limit:
            break
    return found


def run_tests(ctx: SolveContext, patch: str) -> dict:
    """Run the test command against `patch`; the result for the run's state and record:
    status passed / failed / error, the scrubbed output tail, seconds, isolation."""
    options = ctx.options
    record: dict = {"command": options.test_cmd}
    try:
        clone = scratch.create(ctx.workspace.repo, ctx.workspace.base, patch)
    except (GitError, OSError) as exc:
        return {**record, "status": "error", "seconds": 0.0,
                "output": scrub(f"could not prepare the scratch clone for the tests: {exc}")}
    try:
        env = command_environment(clone.path, clone.home, options.test_env)
        repo = ctx.workspace.repo
        hide = secret_locations(git_common_dir(repo), ctx.config.map.store_path(repo))
        hide += nested_git_dirs(repo)
        writable = [clone.path.parent, *(Path(p).expanduser().resolve()
                                         for p in options.test_writable)]
        result = run_command(options.test_cmd, clone.path, env, options.test_timeout,
                             mode=options.test_sandbox, hide=hide, writable=writable,
                             network=options.test_network)
    except SandboxUnavailable as exc:
        return {**record, "status": "error", "seconds": 0.0, "output": str(exc)}
    finally:
        clone.remove()
    record.update({
        "status": "passed" if result.passed else "failed",
        "exit_code": result.returncode, "timed_out": result.returncode is None,
        "output": result.output[-4000:], "seconds": result.seconds,
        "isolation": result.isolation.to_dict(), "tree": clone.summary(),
        "tampered": result.tampered,
    })
    notes = list(result.notes)
    if clone.missing:
        notes.append(f"{len(clone.missing)} file(s) of the base commit are missing from the "
                     "repository (a partial clone?) and were left out of the test tree")
    if notes:
        record["notes"] = notes
    return record
