"""Git history for the map: which files change together, how often and how recently.

Mining reads only commits reachable from the mapped commit (`git log <commit>`), never later
history, so a map of an old base commit cannot see the future. Raw commits and their files are
stored; co-change, churn and recipes are derived on read, following renames to current paths.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sleepcoder.tools.config import MapConfig


@dataclass(slots=True)
class CommitRecord:
    sha: str
    time: int
    subject: str
    files: list[tuple[str, str, str]] = field(default_factory=list)  # (status, path, old_path)
    message: str = ""  # the body, shortened
    merge: bool = False  # a merge: its message is kept for search, not counted as a change
    root: bool = False  # no parent (the initial import, or a shallow clone's boundary)
    unreadable: bool = False  # git could not read its changes (objects missing): no files


@dataclass(frozen=True)
class CoChange:
    path: str
    count: int  # commits that changed both files
    confidence: float  # count / commits that changed the anchor file


@dataclass(frozen=True)
class Recipe:
    sha: str
    time: int
    subject: str
    files: tuple[str, ...]


def store_commits(
    conn: sqlite3.Connection, records: list[CommitRecord], mode: str, config: MapConfig
) -> None:
    """Store commits read by `read_log`: appended ("extended") or replacing all ("built")."""
    if mode == "extended":
        start = (conn.execute("SELECT MAX(seq) FROM commits").fetchone()[0] or 0) + 1
    else:
        conn.execute("DELETE FROM commits")
        conn.execute("DELETE FROM commit_files")
        start = 0
    rows, file_rows = [], []
    for offset, record in enumerate(records):
        seq = start + offset
        too_many = len(record.files) > config.history_max_files_per_commit
        # A root commit adds the whole project at once: that files arrive together says
        # nothing about which change together (in a one-commit repository every file would
        # look like a co-change partner and a "similar past commit" of every request).
        skipped = ("unreadable" if record.unreadable else "merge" if record.merge
                   else "root" if record.root else "too-many-files" if too_many else "")
        rows.append((record.sha, seq, record.time, record.subject, len(record.files), skipped,
                     record.message))
        if not too_many and not record.root:
            file_rows.extend((seq, path, status, old) for status, path, old in record.files)
    conn.executemany("INSERT OR REPLACE INTO commits VALUES (?,?,?,?,?,?,?)", rows)
    conn.executemany("INSERT INTO commit_files VALUES (?,?,?,?)", file_rows)
    if config.history_max_commits:  # keep only the newest commits
        cutoff = conn.execute(
            "SELECT seq FROM commits ORDER BY seq DESC LIMIT 1 OFFSET ?",
            (config.history_max_commits,),
        ).fetchone()
        if cutoff is not None:
            conn.execute("DELETE FROM commits WHERE seq <= ?", cutoff)
            conn.execute("DELETE FROM commit_files WHERE seq <= ?", cutoff)


class HistoryView:
    """Derived history facts over the stored commits, with paths renamed to today's names."""

    def __init__(self, conn: sqlite3.Connection, existing: set[str] | None = None) -> None:
        self.existing = existing
        renames: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for seq, path, old in conn.execute(
            "SELECT seq, path, old_path FROM commit_files WHERE status='R' ORDER BY seq"
        ):
            renames[old].append((seq, path))
        self._renames = renames
        self.commits: dict[int, tuple[str, int, str]] = {
            seq: (sha, time, subject)
            for seq, sha, time, subject in conn.execute(
                "SELECT seq, sha, time, subject FROM commits WHERE skipped=''"
            )
        }
        self.files_by_commit: dict[int, list[str]] = defaultdict(list)
        # merged pull requests (their messages and files), kept apart from the commits so
        # that a change is not counted twice in co-change and churn
        self.merges: dict[int, tuple[str, list[str]]] = {
            seq: (f"{subject}\n{message}", []) for seq, subject, message in conn.execute(
                "SELECT seq, subject, message FROM commits WHERE skipped='merge'")}
        self.messages: dict[int, str] = {
            seq: message for seq, message in conn.execute(
                "SELECT seq, message FROM commits WHERE skipped=''")}
        for seq, path in conn.execute("SELECT seq, path FROM commit_files ORDER BY seq"):
            current = self.current_path(path, seq)
            if current is None:
                continue
            if seq in self.merges:
                if current not in self.merges[seq][1]:
                    self.merges[seq][1].append(current)
            elif current not in self.files_by_commit[seq]:
                self.files_by_commit[seq].append(current)
        self.commits_by_file: dict[str, list[int]] = defaultdict(list)
        for seq, paths in self.files_by_commit.items():
            for path in paths:
                self.commits_by_file[path].append(seq)

    def before(self, seq: int, hidden: frozenset[int] = frozenset()) -> HistoryView:
        """The same history cut just before commit `seq`, without the commits in `hidden`
        (a merged pull request's own commits, when replaying it): what it looked like then,
        under today's file names."""
        view = object.__new__(HistoryView)
        view.existing = self.existing
        view._renames = self._renames

        def keep(s: int) -> bool:
            return s < seq and s not in hidden

        view.commits = {s: c for s, c in self.commits.items() if keep(s)}
        view.merges = {s: m for s, m in self.merges.items() if keep(s)}
        view.messages = {s: m for s, m in self.messages.items() if keep(s)}
        view.files_by_commit = defaultdict(list, {
            s: paths for s, paths in self.files_by_commit.items() if keep(s)})
        view.commits_by_file = defaultdict(list)
        for path, seqs in self.commits_by_file.items():
            kept = [s for s in seqs if keep(s)]
            if kept:
                view.commits_by_file[path] = kept
        return view

    def current_path(self, path: str, seq: int) -> str | None:
        """Today's name of `path` as it was at commit `seq` (None if it no longer exists)."""
        for _ in range(50):
            moves = [(s, new) for s, new in self._renames.get(path, ()) if s > seq]
            if not moves:
                break
            seq, path = moves[0]
        if self.existing is not None and path not in self.existing:
            return None
        return path

    def change_count(self, path: str) -> int:
        return len(self.commits_by_file.get(path, ()))

    def last_changed(self, path: str) -> int:
        seqs = self.commits_by_file.get(path)
        return max(self.commits[s][1] for s in seqs) if seqs else 0

    def cochanges(self, path: str, limit: int = 10, min_count: int = 2) -> list[CoChange]:
        """Files that changed in the same commits as `path`, most confident first."""
        seqs = self.commits_by_file.get(path, ())
        if not seqs:
            return []
        counts: Counter[str] = Counter()
        for seq in seqs:
            for other in self.files_by_commit[seq]:
                if other != path:
                    counts[other] += 1
        total = len(seqs)
        ranked = [
            CoChange(other, count, count / total)
            for other, count in counts.items()
            if count >= min_count
        ]
        ranked.sort(key=lambda c: (-c.confidence, -c.count, c.path))
        return ranked[:limit]

    def recipes(self, limit: int = 10, min_files: int = 2) -> list[Recipe]:
        """The most recent commits that changed several files (a change "recipe")."""
        out = []
        for seq in sorted(self.files_by_commit, reverse=True):
            files = self.files_by_commit[seq]
            if len(files) >= min_files and seq in self.commits:
                sha, time, subject = self.commits[seq]
                out.append(Recipe(sha, time, subject, tuple(sorted(files))))
                if len(out) >= limit:
                    break
        return out
