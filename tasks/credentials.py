"""The push credential of a CI checkout, held in memory for the bot's run.

actions/checkout leaves the job's token in git's configuration (`http.<url>.extraheader`, in
`.git/config` or in a file under the runner's temp folder that `.git/config` includes). The
bot takes those entries out before any repository code runs (setup script, tests), passes
them to its own fetch and push through git's environment, and puts them back at the end.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sleepcoder.tools.worktree import git

_KEY = r"^http\..*\.extraheader$"


@dataclass(frozen=True)
class HeldHeader:
    origin: str  # the configuration file it came from
    key: str
    value: str


def _found(workspace: Path) -> list[HeldHeader]:
    out = git(workspace, "config", "--includes", "--show-origin", "--get-regexp", _KEY,
              check=False).stdout
    held = []
    for line in out.splitlines():
        origin, _, rest = line.partition("\t")
        key, _, value = rest.partition(" ")
        if origin.startswith("file:") and key:
            path = Path(origin[len("file:"):].strip('"'))
            held.append(HeldHeader(str(path if path.is_absolute() else workspace / path),
                                   key, value))
    return held


@contextlib.contextmanager
def held_credentials(workspace: Path) -> Iterator[list[HeldHeader]]:
    """Remove the extraheader credentials from the configuration files for the duration of
    the block (restored afterwards, also on failure); yields what was removed."""
    held = _found(workspace)
    for origin, key in dict.fromkeys((h.origin, h.key) for h in held):
        git(workspace, "config", "--file", origin, "--unset-all", key, check=False)
    try:
        yield held
    finally:
        for header in held:
            git(workspace, "config", "--file", header.origin, "--add", header.key, header.value,
                check=False)


def auth_environment(held: list[HeldHeader], token: str, server_url: str) -> dict[str, str]:
    """git's environment for a fetch or push with the held headers (or, when the checkout
    stored none, a header made from `token`); never on a command line."""
    headers = [(h.key, h.value) for h in held]
    if not headers and token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        headers = [(f"http.{server_url.rstrip('/')}/.extraheader",
                    f"AUTHORIZATION: basic {basic}")]
    env = {"GIT_CONFIG_COUNT": str(len(headers))}
    for i, (key, value) in enumerate(headers):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env
