"""Read-only repository tools for the no-map condition: list a directory, grep, read a file,
find a symbol. Nothing here writes, runs commands, or leaves the repository."""

from __future__ import annotations

import os
import re
from pathlib import Path

from sleepcoder.tools.worktree import EditRefused, check_edit_path

_MAX_FILE = 1_000_000
_SKIP_DIRS = frozenset({".git", ".sleepcoder", "__pycache__", "node_modules", ".venv", "venv",
                        ".tox", ".mypy_cache", ".pytest_cache"})
_DEFINITION = r"(?:def|class|function|func|fn|struct|interface|type|const|let|var)\s+{name}\b"


class ToolError(ValueError):
    pass


class RepoTools:
    def __init__(self, root: Path, max_chars: int = 2500) -> None:
        self.root = root
        self.max_chars = max_chars

    def run(self, tool: str, argument: str) -> str:
        """Run one tool call; errors come back as text for the model."""
        try:
            handler = {"list": self.list_dir, "grep": self.grep, "read": self.read,
                       "find": self.find_symbol}.get(tool)
            if handler is None:
                raise ToolError(f"unknown tool {tool!r}; use list, grep, read or find")
            return self._clip(handler(argument.strip()))
        except (ToolError, EditRefused) as exc:
            return f"error: {exc}"

    def _clip(self, text: str) -> str:
        if len(text) <= self.max_chars:
            return text
        return text[: self.max_chars] + "\n… (output cut)"

    def _path(self, relative: str) -> Path:
        relative = relative.strip().strip("'\"`") or "."
        if relative in (".", "./", "/"):
            return self.root
        return self.root / check_edit_path(self.root, relative, allow_ci=True)

    def _files(self, start: Path):
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS
                                 and not os.path.islink(os.path.join(dirpath, d)))
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if not path.is_symlink():
                    yield path

    def list_dir(self, argument: str) -> str:
        target = self._path(argument)
        if not target.is_dir():
            raise ToolError(f"{argument or '.'} is not a directory")
        entries = []
        for entry in sorted(target.iterdir()):
            if entry.name in _SKIP_DIRS or entry.is_symlink():
                continue
            entries.append(entry.name + ("/" if entry.is_dir() else ""))
        return "\n".join(entries[:200]) or "(empty)"

    def two_levels(self, limit: int = 150) -> str:
        """The top-level entries and the entries of each top-level directory."""
        lines: list[str] = []
        for entry in sorted(self.root.iterdir()):
            if entry.name in _SKIP_DIRS or entry.is_symlink():
                continue
            if entry.is_dir():
                lines.append(entry.name + "/")
                for child in sorted(entry.iterdir()):
                    if child.name not in _SKIP_DIRS and not child.is_symlink():
                        lines.append(f"{entry.name}/{child.name}" + ("/" if child.is_dir()
                                                                      else ""))
            else:
                lines.append(entry.name)
        if len(lines) > limit:
            return "\n".join(lines[:limit]) + f"\n… ({len(lines) - limit} more)"
        return "\n".join(lines)

    def grep(self, argument: str) -> str:
        pattern, _, where = argument.partition(" in ")
        pattern = pattern.strip().strip("'\"")
        if not pattern:
            raise ToolError("grep needs a pattern: grep TEXT [in DIR]")
        start = self._path(where) if where.strip() else self.root
        needle = pattern.lower()
        hits = []
        for path in self._files(start):
            for number, line in self._lines(path):
                if needle in line.lower():
                    hits.append(f"{path.relative_to(self.root)}:{number}: {line.strip()[:160]}")
                    if len(hits) >= 40:
                        return "\n".join(hits) + "\n… (more matches)"
        return "\n".join(hits) or f"no match for {pattern!r}"

    def read(self, argument: str) -> str:
        match = re.match(r"(\S+)(?:\s+(\d+)\s*-\s*(\d+))?", argument)
        if not match:
            raise ToolError("read needs a path: read PATH [START-END]")
        path = self._path(match.group(1))
        if not path.is_file():
            raise ToolError(f"{match.group(1)} is not a file")
        lines = list(self._lines(path))
        start = int(match.group(2) or 1)
        end = int(match.group(3) or start + 119)
        end = min(end, start + 199, len(lines))
        body = "\n".join(f"{n:>5}  {text}" for n, text in lines[start - 1:end])
        return f"{match.group(1)} (lines {start}-{end} of {len(lines)})\n{body}"

    def find_symbol(self, argument: str) -> str:
        name = argument.strip().strip("'\"`")
        if not re.fullmatch(r"[A-Za-z_$][\w$]*", name):
            raise ToolError("find needs an identifier: find NAME")
        pattern = re.compile(_DEFINITION.format(name=re.escape(name)))
        hits = []
        for path in self._files(self.root):
            for number, line in self._lines(path):
                if pattern.search(line):
                    hits.append(f"{path.relative_to(self.root)}:{number}: {line.strip()[:160]}")
        return "\n".join(hits[:40]) or f"no definition of {name!r} found"

    def _lines(self, path: Path):
        try:
            if path.stat().st_size > _MAX_FILE:
                return
            data = path.read_bytes()
        except OSError:
            return
        if b"\0" in data[:8192]:
            return
        yield from enumerate(data.decode("utf-8", "replace").splitlines(), 1)
