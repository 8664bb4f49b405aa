"""Git hooks that refresh the map in the background after a commit, merge, checkout or rewrite:
writing them, chaining the hooks that were there before, and putting those back on uninstall.

A hook that was already in place is renamed to NAME.sleepcoder-orig in the same directory (so
a pre-commit framework hook still finds its NAME.legacy next to it) and runs first, with the
same arguments and input; its exit status is the hook's exit status.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

HOOK_NAMES = ("post-commit", "post-merge", "post-checkout", "post-rewrite")
MARKER = "# sleepcoder-hook: written by `sleepcoder hooks install`"
ORIG_SUFFIX = ".sleepcoder-orig"
# `pre-commit install` renames a hook it finds to NAME.legacy and runs it from its own hook
LEGACY_SUFFIX = ".legacy"
LOG_NAME = "hooks.log"
LOG_LINES = 200  # the hooks log keeps the newest lines only

_TEMPLATE = """#!/bin/sh
{marker}
# `sleepcoder hooks uninstall` puts back what was here before. The hook that was here (if any)
# is kept as {name}{suffix} next to this file and runs first, with the same arguments and
# input; its exit status is this hook's. Then the map is refreshed in the background, at low
# priority, detached from this git command. SLEEPCODER_HOOKS=0 turns the refresh off.
sleepcoder_python={python}
sleepcoder_hook={name}
sleepcoder_status=0
sleepcoder_orig="$(dirname "$0")/{name}{suffix}"
if [ -f "$sleepcoder_orig" ] && [ -x "$sleepcoder_orig" ]; then
    sleepcoder_first=''
    IFS= read -r sleepcoder_first < "$sleepcoder_orig" || :
    case $sleepcoder_first in
        # sourced in a subshell so that it sees the $0 git gave (husky finds itself by it)
        '#!/bin/sh' | '#!/usr/bin/env sh') ( . "$sleepcoder_orig" ); sleepcoder_status=$? ;;
        *) "$sleepcoder_orig" "$@"; sleepcoder_status=$? ;;
    esac
fi
sleepcoder_log=/dev/null
[ -d .sleepcoder ] && sleepcoder_log=.sleepcoder/{log}
if [ "${{SLEEPCODER_HOOKS:-1}}" = 0 ]; then
    :
elif [ ! -x "$sleepcoder_python" ]; then
    if [ "$sleepcoder_log" != /dev/null ]; then
        echo "$(date -u '+%Y-%m-%dT%H:%M:%SZ') $sleepcoder_hook: skipped, the Python that" \\
            "ran \\`sleepcoder hooks install\\` is gone ($sleepcoder_python): install the" \\
            "hooks again" >> "$sleepcoder_log" 2>/dev/null
        if [ "$(wc -l < "$sleepcoder_log")" -gt {lines} ]; then
            tail -n {keep} "$sleepcoder_log" > "$sleepcoder_log.tmp" &&
                mv "$sleepcoder_log.tmp" "$sleepcoder_log"
        fi
    fi
else
    (
        # a commit's hooks see the temporary index of `git commit -a` and the like, gone
        # (or half-written) by the time the refresh reads it
        unset GIT_INDEX_FILE
        set -- "$sleepcoder_python" -m sleepcoder.cli hooks run "$sleepcoder_hook"
        if command -v ionice >/dev/null 2>&1 && ionice -c 3 true >/dev/null 2>&1; then
            set -- ionice -c 3 "$@"
        fi
        command -v nice >/dev/null 2>&1 && set -- nice -n 19 "$@"
        command -v setsid >/dev/null 2>&1 && set -- setsid "$@"
        exec "$@"
    ) < /dev/null >> "$sleepcoder_log" 2>&1 &
fi
exit $sleepcoder_status
"""


class HookError(Exception):
    """The hooks cannot be installed or removed (unwritable directory, a leftover file)."""


@dataclass(frozen=True)
class HookChange:
    """What install or uninstall did to one hook."""

    name: str
    path: str
    action: str  # installed, chained, updated, unchanged, restored, removed, left alone
    detail: str = ""


def hooks_dir(root: Path) -> Path:
    """The directory git runs hooks from for the work tree at `root`: core.hooksPath when set
    (husky and the like), else the hooks of the repository (shared by its worktrees)."""
    result = subprocess.run(["git", "rev-parse", "--git-path", "hooks"], cwd=root,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise HookError(f"{root} is not in a git repository: {result.stderr.strip()}")
    return (root / result.stdout.strip()).resolve()


def render_hook(name: str, python: str) -> str:
    """The text of our hook `name`, running the sleepcoder of the interpreter `python`."""
    if "\n" in python or "\0" in python:
        raise HookError(f"the interpreter path {python!r} has a line break or a NUL")
    return _TEMPLATE.format(marker=MARKER, name=name, suffix=ORIG_SUFFIX,
                            python=shlex.quote(python), log=LOG_NAME, lines=LOG_LINES,
                            keep=LOG_LINES // 2)


def recorded_python(text: str) -> str | None:
    """The interpreter recorded in our hook's `text`, None when the text is not our hook."""
    lines = text.split("\n")  # not splitlines(): a path may hold a form feed
    if MARKER not in lines:
        return None
    for line in lines:
        if line.startswith("sleepcoder_python="):
            words = shlex.split(line.removeprefix("sleepcoder_python="))
            return words[0] if len(words) == 1 else None
    return None


def is_ours(path: Path) -> bool:
    """Whether `path` is a hook we wrote (a regular file with our marker line)."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return MARKER.encode() in head.splitlines()


def our_hook(directory: Path, name: str) -> Path | None:
    """Where our hook `name` is: NAME, or NAME.legacy once the pre-commit framework has been
    installed over it (its hook then runs ours); None when neither is ours."""
    for path in (directory / name, directory / (name + LEGACY_SUFFIX)):
        if is_ours(path):
            return path
    return None


def install_hooks(directory: Path, python: str) -> list[HookChange]:
    """Write our hooks into `directory`, chaining those that are there. Running it again only
    updates the recorded interpreter."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HookError(f"cannot create the hooks directory {directory}: {exc.strerror}"
                        ) from None
    for name in HOOK_NAMES:  # check everything before changing anything
        path, orig = directory / name, directory / (name + ORIG_SUFFIX)
        if our_hook(directory, name) is None and os.path.lexists(path) and \
                os.path.lexists(orig):
            raise HookError(f"{orig} is left from an earlier install and {path} is not ours: "
                            f"move one of them away, then install again")
    return [_install_one(directory, name, python) for name in HOOK_NAMES]


def _install_one(directory: Path, name: str, python: str) -> HookChange:
    path, orig = directory / name, directory / (name + ORIG_SUFFIX)
    text = render_hook(name, python)
    ours = our_hook(directory, name)
    try:
        if ours is not None:
            detail = "" if ours == path else f"run by the pre-commit hook as {ours.name}"
            if ours.read_bytes() == _encoded(text):
                return HookChange(name, str(ours), "unchanged", detail)
            _write_hook(ours, text)
            return HookChange(name, str(ours), "updated", detail)
        if os.path.lexists(path):
            os.rename(path, orig)
            _write_hook(path, text)
            return HookChange(name, str(path), "chained", f"the hook that was here runs "
                                                          f"first (kept as {orig.name})")
        _write_hook(path, text)
    except OSError as exc:
        raise HookError(f"cannot write {path}: {exc.strerror}") from None
    detail = f"chains the kept {orig.name}" if os.path.lexists(orig) else ""
    return HookChange(name, str(path), "installed", detail)


def _write_hook(path: Path, text: str) -> None:
    """Write `path` whole or not at all: git may run the hook at any moment."""
    tmp = path.with_name(f".{path.name}.sleepcoder-tmp")
    tmp.write_bytes(_encoded(text))
    tmp.chmod(0o755)
    os.replace(tmp, path)


def _encoded(text: str) -> bytes:
    """The hook's bytes: an interpreter path that is not UTF-8 keeps its bytes."""
    return text.encode("utf-8", "surrogateescape")


def uninstall_hooks(directory: Path) -> list[HookChange]:
    """Remove our hooks from `directory` and put back the ones they chained; a hook someone
    else wrote since is left alone."""
    changes = []
    for name in HOOK_NAMES:
        path, orig = directory / name, directory / (name + ORIG_SUFFIX)
        ours = our_hook(directory, name)
        try:
            if ours is not None:
                if os.path.lexists(orig):
                    os.replace(orig, ours)
                    changes.append(HookChange(name, str(ours), "restored"))
                else:
                    ours.unlink()
                    changes.append(HookChange(name, str(ours), "removed"))
            elif os.path.lexists(path):
                detail = (f"not ours; {orig.name} is kept" if os.path.lexists(orig)
                          else "not ours")
                changes.append(HookChange(name, str(path), "left alone", detail))
            elif os.path.lexists(orig):  # our hook was deleted: what it chained goes back
                os.rename(orig, path)
                changes.append(HookChange(name, str(path), "restored"))
        except OSError as exc:
            raise HookError(f"cannot restore {path}: {exc.strerror}") from None
    return changes
