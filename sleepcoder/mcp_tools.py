"""What `sleepcoder mcp` answers, without the MCP SDK: the path guard, the map's freshness and
one read-only query per tool, each returning text a client model can read (size-capped).

Every answer comes from the map store; the only thing written is the map itself (an
incremental refresh when the repository changed since it was mapped). The user's working tree
is never written.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sleepcoder.mcp_queries import (
    describe_cochanges,
    describe_file,
    describe_likely_changes,
    describe_symbol,
)
from sleepcoder.tools import gitutil
from sleepcoder.tools.config import Config
from sleepcoder.tools.errors import git_error
from sleepcoder.tools.store import MapStore

MAX_MAP_BUDGET = 16_000  # tokens (~64,000 characters): more would flood a client's context
DEFAULT_MAP_BUDGET = 2048
MAX_LOCALIZE_LIMIT = 50
MAX_COCHANGE_LIMIT = 50
MAX_ANSWER_CHARS = 80_000  # every answer; a cut one says so


class QueryRefused(ValueError):
    """Bad tool input (a path outside the repository, a negative budget): the message is the
    tool error the client model reads."""


class RepositoryGone(RuntimeError):
    """The served repository was deleted, moved or stopped being a git repository while the
    server runs: every answer is this one line until the server is restarted on it."""


def repo_path(root: Path, relative: str) -> str:
    """`relative` as a clean path inside the repository at `root`, or QueryRefused: no
    absolute path, no `..` that leaves the repository, no symbolic link that points out."""
    if not isinstance(relative, str):
        raise QueryRefused("the path is not text")
    text = relative.strip().replace("\\", "/")
    shown = text[:120] + ("…" if len(text) > 120 else "")
    if not text:
        raise QueryRefused("empty path: give a path relative to the repository root")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise QueryRefused(f"{shown!r}: control characters in a path")
    if text.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", text):
        raise QueryRefused(f"{shown}: absolute paths are refused; give a path relative to the "
                           "repository root")
    normal = os.path.normpath(text).replace(os.sep, "/")
    parts = PurePosixPath(normal).parts
    if normal in (".", "") or not parts:
        raise QueryRefused(f"{shown}: the repository root is a directory, not a file; give a "
                           "file's path relative to it")
    if parts[0] == "..":
        raise QueryRefused(f"{shown}: outside the repository")
    base = root.resolve()
    try:
        resolved = (base / normal).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise QueryRefused(f"{shown}: cannot be resolved ({exc})") from None
    if not resolved.is_relative_to(base):
        raise QueryRefused(f"{shown}: leaves the repository through a symbolic link")
    if resolved.is_dir():
        raise QueryRefused(f"{shown}: a directory, not a file")
    return normal


@dataclass(frozen=True)
class Parameter:
    """One tool parameter as the client must send it: JSON integer or text."""

    name: str
    kind: type  # int or str
    required: bool


def _shown(value: object) -> str:
    """A rejected argument in a few words (never its whole text: it may be long)."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"the text {value[:40]!r}" + ("…" if len(value) > 40 else "")
    if isinstance(value, int | float):
        return repr(value)[:40]
    return {list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def check_arguments(tool: str, parameters: tuple[Parameter, ...],
                    arguments: object) -> dict[str, int | str]:
    """The arguments of a call of `tool`, checked against its parameters, or QueryRefused with
    one line naming the parameter and what it takes. Booleans are not integers; a float is
    accepted only when it is a finite whole number (`800.0`)."""
    if not isinstance(arguments, dict):
        raise QueryRefused("the arguments must be an object, got {_shown(arguments)}")
    known = {p.name: p for p in parameters}
    unknown = sorted(str(name) for name in arguments if name not in known)
    if unknown:
        takes = ", ".join(known) or "no parameters"
        raise QueryRefused(f"unknown parameter {unknown[0][:40]!r}; {tool} takes {takes}")
    checked: dict[str, int | str] = {}
    for parameter in parameters:
        if parameter.name not in arguments:
            if parameter.required:
                raise QueryRefused(f"the parameter {parameter.name!r} is required "
                                   f"({_KINDS[parameter.kind]})")
            continue
        value = arguments[parameter.name]
        if parameter.kind is int:
            if isinstance(value, float) and math.isfinite(value) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise QueryRefused(f"{parameter.name!r} must be an integer, got "
                                   f"{_shown(value)}")
        elif not isinstance(value, str):
            raise QueryRefused(f"{parameter.name!r} must be text, got {_shown(value)}")
        checked[parameter.name] = value
    return checked


_KINDS = {int: "an integer", str: "text"}


def clip(text: str, limit: int = MAX_ANSWER_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… (answer cut at {limit:,} characters)"


@dataclass(frozen=True)
class TreeState:
    """What the map's freshness depends on: HEAD, the index, and the changed files' stat."""

    head: str | None
    index_mtime_ns: int
    changed: tuple[tuple[str, int, int], ...]  # (path, mtime_ns, size) of modified/untracked

    @property
    def dirty(self) -> bool:
        return bool(self.changed)


def tree_state(root: Path, repo) -> TreeState:
    paths = sorted(gitutil.modified_tracked(repo) | set(gitutil.untracked_files(repo)))
    changed = []
    for path in paths:
        try:
            stat = (root / path).lstat()
            changed.append((path, stat.st_mtime_ns, stat.st_size))
        except OSError:
            changed.append((path, -1, -1))  # deleted: its absence is the state
    try:
        index = repo.index_path.stat().st_mtime_ns
    except OSError:
        index = -1
    return TreeState(gitutil.head_commit(repo), index, tuple(changed))


class MapAnswers:
    """The server's state: the repository, its configuration, and what the map was last
    refreshed against. Queries are serialized (one SQLite connection per query)."""

    def __init__(self, root: Path, repo, config: Config,
                 log: Callable[[str], None] = lambda message: None) -> None:
        self.root = root
        self.repo = repo
        self.config = config
        self.store_dir = config.map.store_path(root)
        self.log = log
        self._seen: TreeState | None = None
        self._lock = threading.Lock()

    # --- freshness ------------------------------------------------------------------------

    def check_repository(self) -> None:
        """RepositoryGone when the served folder no longer exists or lost its `.git`."""
        if not self.root.is_dir():
            raise RepositoryGone(f"the repository at {self.root} is gone (deleted or moved); "
                                 "restart the server on its new location")
        if self.repo is not None and not Path(self.repo.git_dir).exists():
            raise RepositoryGone(f"the repository at {self.root} is no longer a git "
                                 f"repository ({self.repo.git_dir} is gone); restart the server")

    def _stale(self) -> tuple[bool, TreeState | None]:
        if self.repo is None:
            return True, None  # a plain directory: the incremental refresh compares stat data
        try:
            state = tree_state(self.root, self.repo)
        except gitutil.GitCommandError as exc:
            self.check_repository()  # the likeliest cause, said plainly
            raise RepositoryGone(f"git failed on the repository at {self.root}: "
                                 f"{git_error(exc)}") from None
        if state == self._seen:
            return False, state
        if self._seen is None and (self.store_dir / "map.db").exists():
            # the map's own record of what it mapped: HEAD and whether the tree was clean
            try:
                store, _ = MapStore.open(self.store_dir, create=False)
            except Exception:
                return True, state
            try:
                same = (store.get_meta("commit") == (state.head or "")
                        and store.get_meta("dirty") == "0" and not state.dirty)
            finally:
                store.close()
            if same:
                self._seen = state
                return False, state
        return True, state

    def refresh(self) -> str:
        """Refresh the map if the repository changed since it was mapped. Returns a note for
        the answer ('' when the map is current)."""
        from sleepcoder.tools.lock import MapBusy
        from sleepcoder.tools.repomap import build_map

        stale, state = self._stale()
        if not stale:
            return ""
        try:
            report = build_map(self.root, self.config, lock_timeout=0)
        except MapBusy:
            if not (self.store_dir / "map.db").exists():
                raise QueryRefused("another process is building the map for the first time; "
                                   "try again when it has finished") from None
            self.log("the map is locked by another process: answering from the existing map")
            return ("(note: another process is updating the map; this answer comes from the "
                    "map as it was before that update)")
        self._seen = state
        if report.parsed or report.removed or report.new_commits:
            self.log(f"map refreshed: {report.parsed} files parsed, {report.removed} removed, "
                     f"{report.new_commits} new commits")
        return ""

    def answer(self, query: Callable[[MapStore], str]) -> str:
        """Refresh if needed, then run `query` on the map; the refresh note goes first."""
        with self._lock:
            self.check_repository()
            note = self.refresh()
            store, _ = MapStore.open(self.store_dir, create=False)
            try:
                text = query(store)
            finally:
                store.close()
        return clip(f"{note}\n{text}" if note else text)

    # --- the tools ------------------------------------------------------------------------

    def map_overview(self, budget: int = DEFAULT_MAP_BUDGET, focus: str = "") -> str:
        from sleepcoder.tools.render import render_map

        if budget < 1:
            raise QueryRefused(f"budget must be at least 1 token, got {budget}")
        capped = min(budget, MAX_MAP_BUDGET)

        def query(store: MapStore) -> str:
            rendered = render_map(store, budget=capped, focus=focus)
            tail = f"\n({len(rendered.files)} of {rendered.total_files} files shown, " \
                   f"~{rendered.tokens} tokens of {capped})"
            if capped < budget:
                tail += f"\n(budget capped at {MAX_MAP_BUDGET} tokens, the server's maximum)"
            return rendered.text + tail

        return self.answer(query)

    def localize(self, request: str, limit: int = 10) -> str:
        from sleepcoder.tools.localize import localize

        if not request.strip():
            raise QueryRefused("empty request: describe the change to localize")
        if limit < 1:
            raise QueryRefused(f"limit must be at least 1, got {limit}")
        limit = min(limit, MAX_LOCALIZE_LIMIT)

        def query(store: MapStore) -> str:
            ranking = localize(store, self.root, request, limit=limit)
            return json.dumps({
                "chosen": ranking.chosen[:limit],
                "note": "chosen: the files most likely to change (expected-F1 cut-off); "
                        "candidates: ranked, with the probability that the change touches "
                        "each",
                "candidates": [{"path": c.path, "probability": round(c.score, 4),
                                "kind": c.kind, "reasons": c.reasons}
                               for c in ranking.candidates],
                "history_commits": ranking.history_commits,
            }, indent=1)

        return self.answer(query)

    def file_info(self, path: str) -> str:
        normal = repo_path(self.root, path)
        return self.answer(lambda store: describe_file(store, normal))

    def cochanges(self, path: str, limit: int = 10) -> str:
        normal = repo_path(self.root, path)
        if limit < 1:
            raise QueryRefused(f"limit must be at least 1, got {limit}")
        limit = min(limit, MAX_COCHANGE_LIMIT)
        return self.answer(lambda store: describe_cochanges(store, normal, limit))

    def symbol(self, name: str) -> str:
        name = name.strip()
        if not name:
            raise QueryRefused("empty symbol name")
        return self.answer(lambda store: describe_symbol(store, name))

    def likely_changes(self, focus: str = "") -> str:
        return self.answer(lambda store: describe_likely_changes(store, focus))
