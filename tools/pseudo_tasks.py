"""A repository's own past features as labelled localization tasks ("pseudo-tasks"): the title
(and body) of a recent multi-file, feature-like commit or merged pull request is the request,
the files it modified are the answer.

Replaying one sees only the history before it: its own commit, later commits and, for a merged
pull request, the pull request's own commits are hidden. The files it modified are searched
as they were before it (their old versions read from git). Everything else is the map's code,
not the code as it was then (re-mapping every past commit would cost far more than the sleep
pass has): files added later are left out of the candidates, but later code and the graph of
today's imports stay. benchmarks/dev_localize.py measures what this approximation leaks.
"""

from __future__ import annotations

import bisect
import re
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sleepcoder.tools.history import HistoryView
from sleepcoder.tools.localize_features import RepoIndex, request_features
from sleepcoder.tools.search import tokenize
from sleepcoder.tools.store import MapStore
from sleepcoder.tools.titles import NOT_FEATURE_TITLES, is_chore, reads_like_feature
from sleepcoder.tools.worktree import git

if TYPE_CHECKING:  # numpy is imported where it is used: a map refresh that fits
    import numpy as np  # nothing does not pay for importing it

_SUFFIX = re.compile(r"\s*\(#\d+\)\s*$")  # a squash commit's "(#123)"
_MAX_BYTES = 1_000_000  # as tools/search_index.py reads files
MIN_HISTORY = 5  # usable commits a replay must see before it (as tools.localize requires)


@dataclass(frozen=True)
class PseudoTask:
    seq: int
    sha: str
    title: str
    text: str  # the request: title, plus the body when the message has one
    gold: tuple[str, ...]  # files it modified that the map still has
    added: frozenset[str]  # files it created: no candidates of its own replay
    hidden: frozenset[int]  # a merged pull request's own commits
    then: tuple[tuple[str, str], ...] = ()  # (gold file, its path at that commit)


@dataclass
class Replay:
    """One pseudo-task's candidates, their features (columns: `names`) and the answer."""

    task: PseudoTask
    paths: list[str]
    x: np.ndarray
    gold: np.ndarray  # 1.0 where the task modified the file


def select_tasks(store: MapStore, history: HistoryView, files: dict[str, tuple[str, float]],
                 root: Path | None, limit: int, min_files: int = 3, max_files: int = 30
                 ) -> list[PseudoTask]:
    """The newest `limit` feature-like changes with at least `min_files` modified source or
    test files (and at most `max_files` files), those whose title reads like a feature first.
    A merge whose own commits git cannot list (`root` None, a shallow clone) is left out."""
    status = _statuses(store, history)
    ordered = sorted(set(history.commits) | set(history.merges), reverse=True)
    usable = sorted(history.commits)
    sha_seq = {sha: seq for seq, (sha, _t, _s) in history.commits.items()}
    shas = dict(store.conn.execute("SELECT seq, sha FROM commits WHERE skipped='merge'"))
    found: list[tuple[int, int, PseudoTask]] = []
    covered: set[int] = set()  # commits of a pull request already taken as a whole
    titles: set[str] = set()  # a change taken once (a PR's commit and its merge share a title)
    for seq in ordered:
        if seq in covered:
            continue
        if seq in history.merges:
            message, paths = history.merges[seq]
            title, _, body = message.partition("\n")
        else:
            title, body, paths = history.commits[seq][2], history.messages.get(seq, ""), \
                history.files_by_commit.get(seq, [])
        grade = _feature_grade(title)
        same = _SUFFIX.sub("", title).strip().lower()
        if not grade or not paths or len(paths) > max_files or same in titles:
            continue
        changed = {p: status.get((seq, p), ("M", p))[0] for p in paths}
        gold = tuple(sorted(p for p, s in changed.items() if s == "M" and p in files))
        if sum(1 for p in gold if files[p][0]) < min_files:
            continue
        if bisect.bisect_left(usable, seq) < MIN_HISTORY:
            continue
        hidden: frozenset[int] = frozenset()
        if seq in history.merges:
            own = _pull_request_commits(root, shas.get(seq, ""))
            if own is None:
                continue
            hidden = frozenset(sha_seq[s] for s in own if s in sha_seq)
            covered |= hidden
        titles.add(same)
        text = f"{title}\n\n{body}".strip()
        added = frozenset(p for p, s in changed.items() if s == "A")
        then = tuple((p, status.get((seq, p), ("M", p))[1]) for p in gold)
        found.append((grade, seq, PseudoTask(seq, shas.get(seq) or history.commits[seq][0],
                                             title, text, gold, added, hidden, then)))
        if sum(1 for g, _s, _t in found if g == 2) >= limit or len(found) >= 3 * limit:
            break
    found.sort(key=lambda item: (-item[0], -item[1]))
    return [task for _g, _s, task in found[:limit]]


def could_be_task(subject: str, nfiles: int, skipped: str, min_files: int = 3) -> bool:
    """Whether a commit (a row of the map's `commits`) may be chosen by select_tasks: a cheap
    superset of its rules, read without the history view."""
    return skipped in ("", "merge") and nfiles >= min_files and _feature_grade(subject) > 0


def _feature_grade(title: str) -> int:
    """2: reads like a feature; 1: at least no chore; 0: not a feature."""
    if is_chore(title) or NOT_FEATURE_TITLES.search(title):
        return 0
    return 2 if reads_like_feature(title) else 1


def _statuses(store: MapStore, history: HistoryView
              ) -> dict[tuple[int, str], tuple[str, str]]:
    """(commit, today's path) -> (git status letter of that change, the path then)."""
    out = {}
    for seq, path, status in store.conn.execute("SELECT seq, path, status FROM commit_files"):
        current = history.current_path(path, seq)
        if current is not None:
            out[(seq, current)] = (status[:1], path)
    return out


def _pull_request_commits(root: Path | None, sha: str) -> list[str] | None:
    """The commits a merge brought in (second parent's side), or None if git cannot say."""
    if root is None or not sha:
        return None
    result = git(root, "rev-list", f"{sha}^1..{sha}^2", check=False)
    return result.stdout.split() if result.returncode == 0 else None


def created_at(store: MapStore, history: HistoryView) -> dict[str, int]:
    """Today's path -> the last commit that created it (added, not renamed)."""
    out: dict[str, int] = defaultdict(int)
    for seq, path in store.conn.execute(
            "SELECT seq, path FROM commit_files WHERE status='A' ORDER BY seq"):
        current = history.current_path(path, seq)
        if current is not None:
            out[current] = seq
    return out


def contents_before(root: Path | None, tasks: list[PseudoTask]
                    ) -> dict[int, dict[str, Counter[str]]]:
    """Per task, the words of the files it modified as they were just before it (its first
    parent's version), read in one `git cat-file --batch`. Files git cannot read are left
    out (the replay then searches today's version of them)."""
    wanted = [(task.seq, path, f"{task.sha}^:{then}") for task in tasks
              for path, then in task.then if "\n" not in then]
    out: dict[int, dict[str, Counter[str]]] = defaultdict(dict)
    if root is None or not wanted:
        return out
    result = subprocess.run(["git", "-C", str(root), "cat-file", "--batch"],
                            input="".join(f"{spec}\n" for _s, _p, spec in wanted).encode(),
                            capture_output=True, check=False)
    if result.returncode != 0:
        return out
    data, at = result.stdout, 0
    for seq, path, _spec in wanted:
        end = data.find(b"\n", at)
        header = data[at:end].split()
        at = end + 1
        if len(header) != 3 or header[1] != b"blob":
            continue  # "<spec> missing": no such file then, or an object git lacks
        size = int(header[2])
        content = data[at:at + size]
        at += size + 1
        out[seq][path] = Counter(tokenize(content[:_MAX_BYTES].decode("utf-8", "replace")))
    return out


def replay(index: RepoIndex, tasks: list[PseudoTask], names: tuple[str, ...], seeds: int,
           born: dict[str, int], before: dict[int, dict[str, Counter[str]]] | None = None
           ) -> list[Replay]:
    """Each task's features as the localizer computes them with only its past history and
    the old versions of the files it modified (`before`, from `contents_before`), over the
    files that existed then (not created by it or later)."""
    import numpy as np

    assert index.history is not None
    out = []
    for task in tasks:
        past = index.with_history(index.history.before(task.seq, task.hidden))
        past = past.with_contents((before or {}).get(task.seq, {}))
        features, _kinds, _habits, _seeds = request_features(past, task.text, seeds)
        paths = sorted(p for p in features
                       if p not in task.added and born.get(p, -1) < task.seq)
        if not set(task.gold) & set(paths):
            continue
        x = np.array([[features[p].get(n, 0.0) for n in names] for p in paths])
        gold = np.array([1.0 if p in task.gold else 0.0 for p in paths])
        out.append(Replay(task, paths, x, gold))
    return out
