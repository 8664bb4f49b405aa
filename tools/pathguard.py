"""The rules every path a model names must pass before anything is written there, and that
every entry of a final patch must pass again: inside the repository, not in `.git/`, not a
CI configuration or sleepcoder's own configuration (unless allowed), not a protected path.

Comparisons are made on a folded form (Unicode NFKC, case-folded, trailing dots and spaces
dropped, invisible characters refused): on macOS and Windows `.GITHUB/Workflows/x.yml` and
`.github./workflows/x.yml` are the protected files, so they are refused everywhere.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


class EditRefused(ValueError):
    """An edit names a path it may not touch; the message says which rule."""


# CI configuration runs with the repository's secrets; sleepcoder's configuration holds the
# test command; git hook managers, editor tasks and dev containers run commands on a
# developer's machine without a review of their own. Folded forms; a trailing "/" means the
# folder and everything in it.
CI_PATHS = (".github/", ".gitlab-ci.yml", ".gitlab/", ".circleci/", ".travis.yml",
            ".buildkite/", "azure-pipelines.yml", "azure-pipelines.yaml", ".azure-pipelines/",
            "jenkinsfile", ".drone.yml", ".drone.star", "appveyor.yml", ".appveyor.yml",
            "bitbucket-pipelines.yml", ".woodpecker/", ".woodpecker.yml", ".gitea/",
            ".forgejo/", ".cirrus.yml", ".cirrus.star", ".semaphore/", "buildspec.yml",
            "cloudbuild.yaml", "cloudbuild.yml", ".tekton/", "bitrise.yml", "codemagic.yaml",
            ".pre-commit-config.yaml", ".husky/", ".vscode/tasks.json", ".devcontainer/",
            ".devcontainer.json", ".sleepcoder.toml")
MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 4096
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$")
_SHORT_NAME = re.compile(r"^[^.~]{1,6}~\d+(\.[^.]{0,3})?$")  # 8.3 alias, e.g. GITHUB~1
_FORBIDDEN_CHARS = set('<>:"|?*\\')


@dataclass(frozen=True)
class PathRules:
    allow_ci: bool = False
    protected: tuple[str, ...] = ()
    allow_hint: str = "[solve] allow_ci_edits = true"  # the setting that lifts the CI rule here


def fold(text: str) -> str:
    """The form two names are compared in: equal here means the same file somewhere."""
    parts = [unicodedata.normalize("NFKC", part).casefold().rstrip(". ")
             for part in text.split("/")]
    return "/".join(parts)


def normalise(relative: str) -> str:
    """`relative` as a clean repository path, or EditRefused for anything that cannot be one
    on every platform (no file-system access)."""
    if not isinstance(relative, str):
        raise EditRefused("the path is not text")
    text = relative.strip().strip("`'\"").replace("\\", "/")
    shown = text[:120] + ("…" if len(text) > 120 else "")
    if not text:
        raise EditRefused("empty path")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise EditRefused(f"{shown!r}: control characters (NUL, newline, ...) in a path")
    if any(unicodedata.category(c) in ("Cf", "Cs", "Co", "Cn") for c in text):
        raise EditRefused(f"{shown!r}: invisible or unassigned characters in a path")
    if len(text.encode("utf-8")) > MAX_PATH_BYTES:
        raise EditRefused(f"{shown}: the path is longer than {MAX_PATH_BYTES} bytes")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        raise EditRefused(f"{shown}: absolute paths are not allowed")
    normal = os.path.normpath(text).replace(os.sep, "/")
    parts = PurePosixPath(normal).parts
    if normal in (".", "") or not parts or parts[0] == "..":
        raise EditRefused(f"{shown}: outside the repository")
    for part in parts:
        if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
            raise EditRefused(f"{shown}: a name is longer than {MAX_COMPONENT_BYTES} bytes")
        if _FORBIDDEN_CHARS & set(part):
            raise EditRefused(f"{shown}: characters that are not allowed in file names on "
                              "every platform (<>:\"|?*\\)")
        folded = fold(part)
        if not folded:
            raise EditRefused(f"{shown}: a name made only of dots or spaces")
        if _WINDOWS_RESERVED.match(folded) or _SHORT_NAME.match(folded):
            raise EditRefused(f"{shown}: a reserved or short (8.3) file name on Windows")
    return normal


def rule_violation(normal: str, rules: PathRules) -> str:
    """Why `normal` (a clean relative path) breaks a rule; '' when it does not."""
    folded = fold(normal)
    parts = folded.split("/")
    if ".git" in parts:
        return "inside .git/"
    if not rules.allow_ci and any(_covers(rule, folded) for rule in CI_PATHS):
        return ("CI configuration, files that run commands by themselves (git hooks, editor "
                "tasks, dev containers) and sleepcoder's configuration may not be edited "
                f"(allow with {rules.allow_hint})")
    for prefix in rules.protected:
        rule = fold(prefix.strip().strip("/"))
        if rule and _covers(rule, folded):
            return "protected by the configuration"
    return ""


def _covers(rule: str, folded: str) -> bool:
    if rule.endswith("/"):
        return folded == rule[:-1] or folded.startswith(rule)
    return folded == rule or folded.startswith(rule + "/")


def check_path(relative: str, rules: PathRules) -> str:
    """The clean path, or EditRefused naming the rule (no file-system access)."""
    normal = normalise(relative)
    problem = rule_violation(normal, rules)
    if problem:
        raise EditRefused(f"{normal}: {problem}")
    return normal


def check_edit_path(root: Path, relative: str, *, allow_ci: bool = False,
                    protected: tuple[str, ...] = ()) -> str:
    """`check_path`, and on the file system under `root`: no symbolic link on the way, and
    the result resolves inside `root`."""
    normal = check_path(relative, PathRules(allow_ci, tuple(protected)))
    current = root
    for part in PurePosixPath(normal).parts:
        current = current / part
        if current.is_symlink():
            raise EditRefused(f"{normal}: goes through a symbolic link")
    resolved = (root / normal).resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise EditRefused(f"{normal}: outside the repository")
    return normal
