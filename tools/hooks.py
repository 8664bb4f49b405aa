"""Git hooks that refresh the map in the background after a commit, merge, checkout or rewrite:
writing them, chaining the hooks that were there before, and putting those back on uninstall.

A hook that was already in place is renamed to NAME.sleepcoder-orig in the same directory (so
a pre-commit framework hook still finds its NAME.legacy next to it) and runs first, with the
same arguments and input; its exit status is the hook's exit status.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sleepcoder.tools import gitutil
from sleepcoder.tools.hook_templates import EARLIER_TEMPLATES, TEMPLATE

HOOK_NAMES = ("post-commit", "post-merge", "post-checkout", "post-rewrite")
MARKER = "# sleepcoder-hook: written by `sleepcoder hooks install`"
ORIG_SUFFIX = ".sleepcoder-orig"
# `pre-commit install` renames a hook it finds to NAME.legacy and runs it from its own hook
LEGACY_SUFFIX = ".legacy"
LOG_NAME = "hooks.log"
LOG_LINES = 200  # the hooks log keeps the newest lines only
CHANGED = "changed since sleepcoder wrote it"
EMPTY_HOOKS_PATH = ("core.hooksPath is set but empty, git runs no hooks from it; unset it "
                    "(`git config --unset core.hooksPath`), then install again")


class HookError(Exception):
    """The hooks cannot be installed or removed (unwritable directory, a leftover file)."""


@dataclass(frozen=True)
class HookChange:
    """What install or uninstall did to one hook."""

    name: str
    path: str
    action: str  # installed, chained, updated, unchanged, restored, removed, left alone,
    detail: str = ""  # failed (then `detail` says why; the other hooks were still done)

    @property
    def failed(self) -> bool:
        return self.action == "failed"


def hooks_dir(root: Path) -> Path:
    """The directory git runs hooks from for the work tree at `root`: core.hooksPath when set
    (husky and the like), else the hooks of the repository (shared by its worktrees)."""
    # one path per call: a path may hold a newline, and git prints each on a line
    paths = [_git(root, "rev-parse", *query) or "" for query in (
        ("--absolute-git-dir",), ("--git-common-dir",), ("--git-path", "hooks"))]
    if not all(paths):
        raise HookError(f"cannot tell where git keeps the hooks of {root}: {paths!r}")
    setting = _git(root, "config", "--get", "core.hooksPath", missing_ok=True)
    directory = (root / paths[2]).resolve()
    check_hooks_location(directory, root.resolve(),
                         [(root / p).resolve() for p in paths[:2]], setting)
    return directory


def _git(root: Path, *args: str, missing_ok: bool = False) -> str | None:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                            env=gitutil.environment())
    if missing_ok and result.returncode == 1 and not result.stderr.strip():
        return None  # `git config --get` of a key that is not set
    if result.returncode != 0:
        raise HookError(f"{root} is not in a git repository: {result.stderr.strip()}")
    return result.stdout.removesuffix("\n")


def check_hooks_location(directory: Path, work_tree: Path, git_dirs: Sequence[Path],
                         hooks_path: str | None) -> None:
    """Refuse a hooks directory git would not run hooks from, or one in the work tree that the
    user did not name: hooks written there are untracked files, not hooks. `hooks_path` is
    core.hooksPath (None when unset); all paths are resolved."""
    if hooks_path == "":
        # git runs no hook at all then, while `rev-parse --git-path hooks` answers "./"
        raise HookError(EMPTY_HOOKS_PATH)
    if hooks_path is not None and directory == work_tree:
        # `.` (or `./`) makes git look each hook up as a command on PATH: none runs
        raise HookError(f"core.hooksPath ({hooks_path}) names the root of the work tree, "
                        "where hooks would be untracked files among yours (and git runs "
                        "none from `.`): name a folder, or unset it (`git config --unset "
                        "core.hooksPath`), then install again")
    if hooks_path is not None:
        return  # the user named the folder (husky's .husky/_): git runs hooks from it
    in_git_dir = any(directory.is_relative_to(d) for d in git_dirs)
    if directory.is_relative_to(work_tree) and not in_git_dir:
        raise HookError(f"git would run hooks from {directory}, inside the work tree, though "
                        "core.hooksPath does not name it: not writing hooks there")


def render_hook(name: str, python: str) -> str:
    """The text of our hook `name`, running the sleepcoder of the interpreter `python`."""
    if "\n" in python or "\0" in python:
        raise HookError(f"the interpreter path {python!r} has a line break or a NUL")
    return _render(TEMPLATE, name, python)


def _render(template: str, name: str, python: str) -> str:
    return template.format(marker=MARKER, name=name, suffix=ORIG_SUFFIX,
                           python=shlex.quote(python), log=LOG_NAME, lines=LOG_LINES,
                           keep=LOG_LINES // 2)


def is_as_written(path: Path, name: str) -> bool:
    """Whether our hook at `path` is byte for byte what sleepcoder writes (this version or an
    earlier one) for the Python it records: anything else was edited by someone since."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    python = recorded_python(data.decode("utf-8", "surrogateescape"))
    if python is None or "\0" in python:
        return False
    return any(_encoded(_render(t, name, python)) == data
               for t in (TEMPLATE, *EARLIER_TEMPLATES))


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
    updates the recorded interpreter; a hook of ours that someone edited is left alone."""
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
            if not is_as_written(ours, name):
                return HookChange(name, str(ours), "left alone", CHANGED)
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
        return HookChange(name, str(path), "failed", f"cannot write {path}: {exc.strerror}")
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


@dataclass(frozen=True)
class _Step:
    """What uninstall will do to one hook: move `source` to `target`, remove `source`
    (target None), or nothing (`change` says why)."""

    change: HookChange
    source: Path | None = None
    target: Path | None = None


def uninstall_hooks(directory: Path) -> list[HookChange]:
    """Remove our hooks from `directory` and put back the ones they chained; a hook someone
    else wrote, or edited, since is left alone. Every hook is checked before any is changed;
    a hook that still cannot be changed is reported as failed and the others are done."""
    steps = [_uninstall_step(directory, name) for name in HOOK_NAMES]
    problems = [_restore_problem(step) for step in steps]
    if any(problems):
        raise HookError("; ".join(p for p in problems if p) + ": nothing was changed")
    return [change for change in map(_apply, steps) if change is not None]


def _uninstall_step(directory: Path, name: str) -> _Step | None:
    path, orig = directory / name, directory / (name + ORIG_SUFFIX)
    ours = our_hook(directory, name)
    kept = f"; {orig.name} is kept" if os.path.lexists(orig) else ""
    if ours is not None and not is_as_written(ours, name):
        return _Step(HookChange(name, str(ours), "left alone", CHANGED + kept))
    if ours is not None and os.path.lexists(orig):
        return _Step(HookChange(name, str(ours), "restored"), orig, ours)
    if ours is not None:
        return _Step(HookChange(name, str(ours), "removed"), ours)
    if os.path.lexists(path):
        return _Step(HookChange(name, str(path), "left alone", "not ours" + kept))
    if os.path.lexists(orig):  # our hook was deleted: what it chained goes back
        return _Step(HookChange(name, str(path), "restored"), orig, path)
    return None


def _restore_problem(step: _Step | None) -> str:
    """Why `step` cannot be done, found before anything is changed; "" when it can."""
    if step is None or step.target is None or step.source is None:
        return ""
    try:
        is_dir = stat.S_ISDIR(os.lstat(step.source).st_mode)
    except OSError:
        return ""  # gone meanwhile: applying the step reports it
    if is_dir:
        return (f"cannot restore {step.change.path}: the saved original {step.source} is a "
                "directory, not a hook; move it away, then uninstall again")
    return ""


def _apply(step: _Step | None) -> HookChange | None:
    if step is None or step.source is None:
        return None if step is None else step.change
    try:
        if step.target is None:
            step.source.unlink()
        else:
            os.replace(step.source, step.target)
    except OSError as exc:
        verb = "remove" if step.target is None else "restore"
        change = step.change
        return HookChange(change.name, change.path, "failed",
                          f"cannot {verb} {change.path}: {exc.strerror}")
    return step.change
