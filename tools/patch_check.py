"""The last gate before a patch leaves: every entry of a git diff is checked again, from the
diff text itself, against the same path rules as the plan, plus what only the diff shows: no
symbolic links or submodules, no mode changes, no binary content, no deletions or renames, no
path the plan did not name, no known secret value. The valid part is kept only if it applies
on its own (the caller regenerates and re-checks it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sleepcoder.tools.pathguard import EditRefused, PathRules, check_path
from sleepcoder.tools.secrets import scrubber

_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


@dataclass(frozen=True)
class PatchEntry:
    path: str  # the path after the change (before it, for a deletion)
    old_path: str
    status: str  # modified, added, removed, renamed, copied
    old_mode: str
    new_mode: str
    binary: bool
    text: str  # this entry's part of the patch

    def to_dict(self) -> dict:
        return {"path": self.path, "status": self.status, "old_mode": self.old_mode,
                "new_mode": self.new_mode, "binary": self.binary}


@dataclass(frozen=True)
class Refusal:
    path: str
    reason: str


class PatchFormatError(ValueError):
    """The text is not a git diff this checker can read."""


def unquote(token: str) -> str:
    """A path as git prints it: bare, or C-quoted with escapes and octal bytes."""
    if not token.startswith('"'):
        return token
    match = _QUOTED.fullmatch(token)
    if match is None:
        raise PatchFormatError(f"badly quoted path {token[:80]!r}")
    body, out, i = match.group(1), bytearray(), 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out += char.encode("utf-8")
            i += 1
            continue
        following = body[i + 1:i + 4]
        if following[:1] in _ESCAPES:
            out.append(_ESCAPES[following[:1]])
            i += 2
        elif re.fullmatch(r"[0-7]{3}", following):
            out.append(int(following, 8) & 0xFF)
            i += 4
        else:
            raise PatchFormatError(f"unknown escape in quoted path {token[:80]!r}")
    return out.decode("utf-8", "surrogateescape")


def _strip_prefix(path: str, prefix: str) -> str:
    return path[len(prefix):] if path.startswith(prefix) else path


def _header_paths(line: str) -> tuple[str, str]:
    try:
        return _split_header(line[len("diff --git "):])
    except (IndexError, ValueError) as exc:
        if isinstance(exc, PatchFormatError):
            raise
        raise PatchFormatError(f"cannot read the paths of {line[:100]!r}") from None


def _split_header(rest: str) -> tuple[str, str]:
    if rest.startswith('"'):
        first = _QUOTED.match(rest)
        if first is None:
            raise PatchFormatError(f"cannot read the paths of {rest[:100]!r}")
        old, rest = unquote(first.group(0)), rest[first.end():].lstrip(" ")
        new = unquote(rest)
        return _strip_prefix(old, "a/"), _strip_prefix(new, "b/")
    if rest.endswith('"'):
        start = rest.rfind(' "')
        if start < 0:
            raise PatchFormatError(f"cannot read the paths of {rest[:100]!r}")
        return _strip_prefix(rest[:start], "a/"), _strip_prefix(unquote(rest[start + 1:]), "b/")
    # unquoted: "a/X b/X" with X possibly holding spaces; the two halves are equal unless renamed
    half = (len(rest) - 1) // 2
    if not rest:
        raise PatchFormatError("a `diff --git` header without paths")
    if rest[half] == " " and rest[:half][2:] == rest[half + 1:][2:]:
        return rest[:half][2:], rest[half + 1:][2:]
    old, _, new = rest.partition(" b/")
    return _strip_prefix(old, "a/"), new


def parse_entries(text: str) -> list[PatchEntry]:
    """One entry per `diff --git` section of `text`."""
    if not text.strip():
        return []
    sections: list[list[str]] = []
    for line in _git_lines(text):
        if line.startswith("diff --git "):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
        elif line.strip():
            raise PatchFormatError("the patch does not start with a `diff --git` header")
    return [_entry(lines) for lines in sections]


def _git_lines(text: str) -> list[str]:
    """`text` cut into lines where git cuts it: at newlines only (a form feed or a U+2028 in
    a file's content does not start a line for git, so it must not start one here)."""
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _check_hunks(lines: list[str], path: str) -> None:
    """Every line after the first hunk header belongs to a hunk, counted as git counts it:
    anything else (a plain `--- a/x` / `+++ b/y` diff appended after the last hunk, say) is a
    patch `git apply` would apply without this check having seen it."""
    index = 0
    while index < len(lines):
        match = _HUNK.match(lines[index])
        if match is None:
            raise PatchFormatError(f"text outside the hunks of {path!r}: "
                                   f"{lines[index].rstrip()[:80]!r}")
        old = int(match.group(1) if match.group(1) is not None else 1)
        new = int(match.group(2) if match.group(2) is not None else 1)
        index += 1
        while index < len(lines) and (old > 0 or new > 0 or lines[index].startswith("\\")):
            mark = lines[index][:1]
            if mark in (" ", "\n", ""):
                old, new = old - 1, new - 1
            elif mark == "-":
                old -= 1
            elif mark == "+":
                new -= 1
            elif mark != "\\":
                break
            index += 1
        if old != 0 or new != 0:
            raise PatchFormatError(f"a hunk of {path!r} does not have the lines its header "
                                   "counts")


def _entry(lines: list[str]) -> PatchEntry:
    old, new = _header_paths(lines[0].rstrip("\n"))
    status, old_mode, new_mode, binary = "modified", "", "", False
    hunks: list[str] = []
    for number, raw in enumerate(lines[1:], 1):
        line = raw.rstrip("\n")
        if line.startswith(("@@", "--- ", "+++ ")):
            # git ends these names with a tab when they contain a space
            name = line[4:].removesuffix("\t")
            if line.startswith("--- ") and name != "/dev/null":
                old = _strip_prefix(unquote(name), "a/")
            elif line.startswith("+++ ") and name != "/dev/null":
                new = _strip_prefix(unquote(name), "b/")
            if line.startswith("@@"):
                hunks = lines[number:]
                break
            continue
        if line.startswith("new file mode "):
            status, new_mode = "added", line.split()[-1]
        elif line.startswith("deleted file mode "):
            status, old_mode = "removed", line.split()[-1]
        elif line.startswith("old mode "):
            old_mode = line.split()[-1]
        elif line.startswith("new mode "):
            new_mode = line.split()[-1]
        elif line.startswith("rename from "):
            status, old = "renamed", unquote(line[len("rename from "):])
        elif line.startswith("rename to "):
            new = unquote(line[len("rename to "):])
        elif line.startswith("copy from "):
            status, old = "copied", unquote(line[len("copy from "):])
        elif line.startswith("copy to "):
            new = unquote(line[len("copy to "):])
        elif line.startswith("index ") and len(line.split()) == 3:
            old_mode = old_mode or line.split()[-1]
            new_mode = new_mode or line.split()[-1]
        elif line.startswith(("GIT binary patch", "Binary files ")):
            binary = True
    path = old if status == "removed" else new
    if hunks and not binary:
        _check_hunks(hunks, path)
    return PatchEntry(path, old, status, old_mode, new_mode or old_mode, binary, "".join(lines))


def check_entries(entries: list[PatchEntry], rules: PathRules, planned: set[str] | None = None,
                  allow_modes: bool = False) -> list[Refusal]:
    """Why each refused entry is refused (entries not listed pass)."""
    refused = []
    for entry in entries:
        reason = _problem(entry, rules, planned, allow_modes)
        if reason:
            refused.append(Refusal(entry.path, reason))
    return refused


def _problem(entry: PatchEntry, rules: PathRules, planned: set[str] | None,
             allow_modes: bool) -> str:
    for path in {entry.path, entry.old_path}:
        try:
            clean = check_path(path, rules)
        except EditRefused as exc:
            return str(exc)
        if clean != path:
            return f"{path!r} is not a clean repository path"
    if entry.new_mode == "120000" or entry.old_mode == "120000":
        return "symbolic links may not be created or changed"
    if entry.new_mode == "160000" or entry.old_mode == "160000":
        return "submodules may not be added or changed"
    if entry.status in ("removed", "renamed", "copied"):
        return f"the plan does not allow a file to be {entry.status}"
    if entry.binary:
        return "binary content is not allowed"
    if entry.status == "modified" and entry.old_mode != entry.new_mode and not allow_modes:
        return f"mode change {entry.old_mode} -> {entry.new_mode} is not allowed"
    if entry.status == "added" and entry.new_mode != "100644" and not allow_modes:
        return f"new file with mode {entry.new_mode} (only 100644 is allowed)"
    if planned is not None and entry.path not in planned:
        return "the plan did not name this file"
    secrets = scrubber().found(entry.text)
    if secrets:
        return f"it contains a secret value ({', '.join(secrets)})"
    return ""


def check_patch(text: str, rules: PathRules, planned: set[str] | None = None
                ) -> tuple[list[PatchEntry], list[Refusal]]:
    """Parse and check `text`; a text that cannot be read is refused as a whole."""
    try:
        entries = parse_entries(text)
    except PatchFormatError as exc:
        return [], [Refusal("(patch)", str(exc))]
    return entries, check_entries(entries, rules, planned)
