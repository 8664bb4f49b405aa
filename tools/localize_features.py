"""The localizer's signals: per mapped file, numbers in [0, 1] saying how a feature request
relates to it (its text, path, graph neighbours, past commits) and what kind of file it is.

`RepoIndex` holds everything that does not depend on the request (the text index, the graph,
the history and what it says about each file), so that many requests can be scored against
one map: the sleep-time calibration replays dozens of past features (tools/calibrate.py).
`RepoIndex.with_history` swaps in a truncated history for such a replay.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

from sleepcoder.tools.history import HistoryView
from sleepcoder.tools.rank import pagerank
from sleepcoder.tools.search import BM25, tokenize
from sleepcoder.tools.search_docs import load_index, text_document
from sleepcoder.tools.search_postings import PathScores, StoredBM25
from sleepcoder.tools.store import MapStore

_TEST = re.compile(r"(^|/)(tests?|testing|spec)(/|$)|(^|/)test_[^/]*$|_test\.[a-z]+$|"
                   r"(^|/)conftest\.py$|\.(test|spec)\.[jt]sx?$")


def is_test(path: str) -> bool:
    return bool(_TEST.search(path))


@dataclass
class RepoIndex:
    """The request-independent part of localization over one map."""

    files: dict[str, tuple[str, float]]  # path -> (language, PageRank)
    # from the map's postings, or (a map that cannot be written) every document in memory
    text: BM25 | StoredBM25  # content, path words (x3) and sleep summary per file (search_docs)
    symbols: BM25 | StoredBM25  # definition names and first doc lines per file
    lines: dict[str, int]
    edges: dict[tuple[str, str], float]
    history: HistoryView | None  # None: history withheld (too little of it)
    churn: dict[str, float]
    recency: dict[str, float]
    habits: dict[str, float]
    habit: dict[str, float]
    notes: list[tuple[str, tuple[str, ...]]]  # anticipated requests (sleep pass) and files
    summaries: dict[str, str]  # sleep-pass summary per file
    path_words: PathScores  # the words of each path and of its file name

    def with_history(self, history: HistoryView | None) -> RepoIndex:
        """The same map seen with another history (a replay sees only its past)."""
        churn, recency = _churn_scores(history, self.files) if history else ({}, {})
        habits, habit = repository_habits(history, self.files) if history else ({}, {})
        return replace(self, history=history, churn=churn, recency=recency, habits=habits,
                       habit=habit)

    def with_contents(self, terms: dict[str, Counter[str]]) -> RepoIndex:
        """The same map with some files' contents replaced (by their words): a replay sees
        the files it changed as they were before the change."""
        if not terms:
            return self
        return replace(self, text=self.text.replaced({
            path: text_document(path, counts, self.summaries.get(path, ""))
            for path, counts in terms.items() if path in self.files}))


def build_index(store: MapStore, root: Path, use_history: bool = True) -> RepoIndex | None:
    """The index of the map in `store` (None when nothing is mapped)."""
    files = {path: (lang, rank) for path, lang, rank in store.conn.execute(
        "SELECT path, language, rank FROM files WHERE status='ok'")}
    if not files:
        return None
    search = load_index(store, root, list(files))
    summaries = {path: text for path, (text, _source) in store.file_summaries().items()}
    lines = dict(store.conn.execute(
        "SELECT f.path, b.lines FROM files f JOIN blobs b ON b.id = f.fid WHERE f.status='ok'"))
    notes = [(request, tuple(paths)) for _s, request, paths, _r, _src, _k
             in store.notes("anticipated")]
    index = RepoIndex(files, search.text, search.symbols, lines, _edges(store), None, {}, {},
                      {}, {}, notes, summaries, search.path_words)
    history = HistoryView(store.conn, existing=set(files)) if use_history else None
    return index.with_history(history)


def compute_features(store: MapStore, root: Path, request: str, seeds_wanted: int = 5,
                     use_history: bool = True):
    """(features by path, kind by path, repository habits, seed paths). Without
    `use_history`, every history signal is left out, also from the choice of seeds."""
    index = build_index(store, root, use_history)
    if index is None:
        return {}, {}, {}, []
    return request_features(index, request, seeds_wanted)


def request_features(index: RepoIndex, request: str, seeds_wanted: int = 5):
    """(features by path, kind by path, repository habits, seed paths) of one request."""
    files, history = index.files, index.history
    query = tokenize(request)
    symbols = _normalise(index.symbols.scores(query))
    most_lines = max(index.lines.values(), default=1) or 1
    raw_text = index.text.scores(query)
    text = _normalise(raw_text)
    order = sorted(raw_text, key=lambda p: -raw_text[p])
    text_rank = {p: 1.0 / (1 + i) for i, p in enumerate(order[:50])}
    path_match = _normalise(index.path_words.scores(query))
    similar, history_text = _history_text_scores(history, query) if history else ({}, {})
    # seeds: the files the request points at most directly, by its text and by the past
    # commits that resemble it; graph and co-change signals spread from them
    direct = {p: text.get(p, 0) + 0.5 * path_match.get(p, 0) + 0.5 * similar.get(p, 0)
              + 0.5 * history_text.get(p, 0) for p in files}
    ranked = sorted(files, key=lambda p: -direct[p])
    seeds = [p for p in ranked[:seeds_wanted] if direct[p] > 0]
    graph = _graph_scores(files, index.edges, seeds, direct)
    cochange, cochange_top = _cochange_scores(history, seeds, direct) if history else ({}, {})
    notes = _normalise(_note_scores(index.notes, query))
    tests_share = index.habits.get("tests_share", 0.0)
    links = _seed_links(index.edges, seeds[:3])
    seed_dirs = {posixpath.dirname(s) for s in seeds[:2]}
    seed_stems = {posixpath.splitext(posixpath.basename(s))[0].removeprefix("test_")
                  for s in seeds[:5] if not is_test(s)}
    top_direct = max(direct.values(), default=0.0) or 1.0
    features: dict[str, dict[str, float]] = {}
    kinds: dict[str, str] = {}
    for path, (language, _rank) in files.items():
        test = is_test(path)
        kind = "test" if test else ("source" if language else "other")
        stem = posixpath.splitext(posixpath.basename(path))[0]
        # how directly the request points here; the history's habits (recency, churn) only
        # count through it, since they fire on most files of an active repository
        relevance = max(direct[path] / top_direct, graph.get(path, 0.0),
                        cochange.get(path, 0.0))
        recency, churn = index.recency.get(path, 0.0), index.churn.get(path, 0.0)
        features[path] = {
            "text": text.get(path, 0.0), "text_rank": text_rank.get(path, 0.0),
            "path": path_match.get(path, 0.0), "graph": graph.get(path, 0.0),
            "cochange": cochange.get(path, 0.0), "cochange_top": cochange_top.get(path, 0.0),
            "notes": notes.get(path, 0.0), "churn": churn, "recency": recency,
            "churn_relevant": churn * relevance, "recency_relevant": recency * relevance,
            "habit": index.habit.get(path, 0.0), "relevance": relevance,
            "seed_link": links.get(path, 0.0),
            "same_dir": 1.0 if posixpath.dirname(path) in seed_dirs and path not in seeds
            else 0.0,
            "test_pair": 1.0 if test and (stem.removeprefix("test_").removesuffix("_test")
                                          in seed_stems or links.get(path)) else 0.0,
            "is_test": 1.0 if test else 0.0,
            "test_habit": tests_share if test else 0.0,
            "is_other": 1.0 if kind == "other" else 0.0,
            "is_init": 1.0 if stem in ("__init__", "index") else 0.0,
            "similar_commits": similar.get(path, 0.0),
            "history_text": history_text.get(path, 0.0),
            "symbols": symbols.get(path, 0.0),
            "size": math.log1p(index.lines.get(path, 0)) / math.log1p(most_lines),
        }
        kinds[path] = kind
    return features, kinds, index.habits, seeds


def _normalise(scores: dict[str, float]) -> dict[str, float]:
    top = max(scores.values(), default=0.0)
    return {k: v / top for k, v in scores.items() if v > 0} if top > 0 else {}


def _edges(store: MapStore) -> dict[tuple[str, str], float]:
    edges: dict[tuple[str, str], float] = defaultdict(float)
    for src, dst, weight in store.conn.execute("SELECT src, dst, weight FROM file_edges"):
        edges[(src, dst)] += weight
        edges[(dst, src)] += 0.5 * weight  # a file that calls a seed is related too
    return edges


def _graph_scores(files, edges, seeds: list[str], text: dict[str, float]) -> dict[str, float]:
    if not seeds:
        return {}
    restart = {s: 0.2 + text.get(s, 0.0) for s in seeds}
    ranks = pagerank(sorted(files), edges, personalization=restart)
    base = 1.0 / len(files)
    lifted = {p: max(0.0, r - base) for p, r in ranks.items() if p not in seeds}
    return _normalise(lifted)


def _seed_links(edges, seeds: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    wanted = set(seeds)
    for (src, dst), _weight in edges.items():
        if src in wanted and dst not in wanted:
            out[dst] = 1.0
        elif dst in wanted and src not in wanted:
            out[src] = 1.0
    return out


def _cochange_scores(history: HistoryView, seeds: list[str], text: dict[str, float]):
    out: dict[str, float] = defaultdict(float)
    top: dict[str, float] = {}
    for index, seed in enumerate(seeds):
        weight = 0.3 + text.get(seed, 0.0)
        for change in history.cochanges(seed, limit=15, min_count=2):
            out[change.path] += weight * change.confidence
            if index == 0:
                top[change.path] = change.confidence
    return _normalise(dict(out)), top


def _history_text_scores(history: HistoryView, query: list[str], top: int = 20
                         ) -> tuple[dict[str, float], dict[str, float]]:
    """Two signals from past commit messages: files changed by the past commits whose
    messages best match the request, and files whose own commit messages match it."""
    if not query or not history.commits:
        return {}, {}
    # subjects only: on the development set, commit bodies added more noise than signal
    messages = {seq: tokenize(subject) for seq, (_sha, _time, subject) in
                history.commits.items() if seq in history.files_by_commit}
    files_of = dict(history.files_by_commit)
    for seq, (message, paths) in history.merges.items():  # merged PRs: title and files
        if paths:
            messages[seq] = tokenize(message.split("\n")[0])
            files_of[seq] = paths
    similar: dict[str, float] = defaultdict(float)
    for seq, score in BM25(messages).rank(query)[:top]:
        paths = files_of.get(seq, [])
        if 1 <= len(paths) <= 30:
            for path in paths:
                similar[path] += score / len(paths) ** 0.5
    per_file: dict[str, Counter[str]] = defaultdict(Counter)
    for seq, words in messages.items():
        for path in files_of.get(seq, []):
            per_file[path].update(words)
    return _normalise(dict(similar)), _normalise(BM25(per_file).scores(query))


def _note_scores(notes: list[tuple[str, tuple[str, ...]]], query: list[str]
                 ) -> dict[str, float]:
    wanted = set(query)
    out: dict[str, float] = defaultdict(float)
    if not wanted:
        return {}
    for request, files in notes:
        words = set(tokenize(request))
        overlap = len(words & wanted) / max(len(words), 1)
        if overlap >= 0.2:
            for path in files:
                out[path] += overlap
    return dict(out)


def _churn_scores(history: HistoryView, files) -> tuple[dict[str, float], dict[str, float]]:
    counts = {p: history.change_count(p) for p in files}
    top = max(counts.values(), default=0)
    churn = {p: math.log1p(c) / math.log1p(top) for p, c in counts.items() if c} if top else {}
    seqs = sorted(history.commits)
    position = {seq: i for i, seq in enumerate(seqs)}
    recency = {}
    for path in files:
        changes = history.commits_by_file.get(path)
        if changes and seqs:
            recency[path] = (1 + position.get(max(changes), 0)) / len(seqs)
    return churn, recency


def repository_habits(history: HistoryView, files, recent: int = 200, min_commits: int = 5
                      ) -> tuple[dict[str, float], dict[str, float]]:
    """From recent feature-sized commits (2 to 30 files; the root commit is never stored): summary
    habits (typical number of source files, share touching tests), and per file the share of
    those commits that touched it. Empty when fewer than `min_commits` such commits exist."""
    seqs = sorted((s for s, paths in history.files_by_commit.items()
                   if 2 <= len(paths) <= 30), reverse=True)[:recent]
    source_counts, with_tests = [], 0
    touched: Counter[str] = Counter()
    for seq in seqs:
        paths = history.files_by_commit[seq]
        source = [p for p in paths if files.get(p, ("", 0))[0] and not is_test(p)]
        if not source:
            continue
        source_counts.append(len(source))
        with_tests += any(is_test(p) for p in paths)
        touched.update(p for p in paths if p in files)
    if len(source_counts) < min_commits:
        return {}, {}
    source_counts.sort()
    n = len(source_counts)
    habits = {"commits": float(n), "median_source_files": float(source_counts[n // 2]),
              "tests_share": with_tests / n}
    for path, count in touched.most_common(5):
        habits[f"often:{path}"] = round(count / n, 3)
    return habits, {path: count / n for path, count in touched.items()}
