"""Model-free localization: which files a feature request will modify, ranked, with reasons,
and how many of them to take.

Signals, each normalised to [0, 1] and combined with weights (`LocalizeWeights`):
  text      BM25 of the request over each file's content, path, symbols and sleep summary
  path      request words in the file's path (IDF-weighted)
  graph     PageRank over import/call edges restarted at the best text matches
  cochange  files that changed with the best matches in past commits (confidence-weighted)
  notes     anticipated feature requests (sleep pass) that resemble this one
  churn     how often the file changed (a prior: feature work concentrates)
The number of files is decided from the repository's own habits: how many source files its
past multi-file commits touched, whether they usually touched tests, and which non-code files
(changelogs, docs) they usually touched.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from tools.history import HistoryView
from tools.rank import pagerank
from tools.search import BM25, tokenize
from tools.search_index import ensure_terms, load_terms
from tools.store import MapStore

_TEST = re.compile(r"(^|/)(tests?|testing|spec)(/|$)|(^|/)test_[^/]*$|_test\.[a-z]+$|"
                   r"\.(test|spec)\.[jt]sx?$")


def is_test(path: str) -> bool:
    return bool(_TEST.search(path))


@dataclass(frozen=True)
class LocalizeWeights:
    text: float = 1.0
    path: float = 0.35
    graph: float = 0.25
    cochange: float = 0.45
    notes: float = 0.25
    churn: float = 0.15
    seeds: int = 5  # best text matches that seed the graph and co-change signals
    keep_ratio: float = 0.3  # files scoring below this share of the best are never taken
    min_files: int = 2
    max_files: int = 8


@dataclass
class Candidate:
    path: str
    score: float
    signals: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    kind: str = "source"  # source, test, other


@dataclass
class Localization:
    candidates: list[Candidate]  # best first
    chosen: list[str]  # the automatic cut-off: files to modify
    habits: dict[str, float]  # what the history says about this repository's changes

    def to_json(self) -> dict:
        return {"chosen": self.chosen, "habits": self.habits,
                "candidates": [{"path": c.path, "score": round(c.score, 4), "kind": c.kind,
                                "signals": {k: round(v, 3) for k, v in c.signals.items()},
                                "reasons": c.reasons} for c in self.candidates]}


def localize(store: MapStore, root: Path, request: str, *, limit: int = 30,
             weights: LocalizeWeights | None = None) -> Localization:
    weights = weights or LocalizeWeights()
    files = {path: (lang, rank) for path, lang, rank in store.conn.execute(
        "SELECT path, language, rank FROM files WHERE status='ok'")}
    if not files:
        return Localization([], [], {})
    ensure_terms(store, root)
    terms = load_terms(store)
    summaries = store.file_summaries()
    documents = {}
    for path in files:
        doc = Counter(terms.get(path, ()))
        path_words = tokenize(path.replace("/", " ").replace(".", " "))
        for word in path_words:
            doc[word] += 3
        if path in summaries:
            doc.update(tokenize(summaries[path][0]))
        documents[path] = doc
    query = tokenize(request)
    text = _normalise(BM25(documents).scores(query))
    path_match = _normalise(_path_scores(query, files))
    seeds = sorted(files, key=lambda p: -(text.get(p, 0) + 0.5 * path_match.get(p, 0)))
    seeds = [p for p in seeds[: weights.seeds] if text.get(p, 0) + path_match.get(p, 0) > 0]
    graph = _graph_scores(store, files, seeds, text)
    history = HistoryView(store.conn, existing=set(files))
    cochange = _cochange_scores(history, seeds, text)
    notes = _normalise(_note_scores(store, query))
    churn = _churn_scores(history, files)

    candidates = []
    for path in files:
        signals = {"text": text.get(path, 0.0), "path": path_match.get(path, 0.0),
                   "graph": graph.get(path, 0.0), "cochange": cochange.get(path, 0.0),
                   "notes": notes.get(path, 0.0), "churn": churn.get(path, 0.0)}
        score = sum(getattr(weights, name) * value for name, value in signals.items())
        if score <= 0:
            continue
        kind = "test" if is_test(path) else ("source" if files[path][0] else "other")
        candidates.append(Candidate(path, score, signals, _reasons(signals, seeds, path), kind))
    candidates.sort(key=lambda c: (-c.score, c.path))
    habits = repository_habits(history, files)
    chosen = cut_off(candidates, habits, weights)
    return Localization(candidates[:limit], chosen, habits)


def _normalise(scores: dict[str, float]) -> dict[str, float]:
    top = max(scores.values(), default=0.0)
    return {k: v / top for k, v in scores.items() if v > 0} if top > 0 else {}


def _path_scores(query: list[str], files: dict[str, tuple[str, float]]) -> dict[str, float]:
    wanted = set(query)
    words = {p: set(tokenize(p.replace("/", " ").replace(".", " "))) for p in files}
    df: Counter[str] = Counter()
    for ws in words.values():
        df.update(ws & wanted)
    n = len(files)
    out = {}
    for path, ws in words.items():
        hit = ws & wanted
        if hit:
            stem = set(tokenize(posixpath.splitext(posixpath.basename(path))[0]))
            out[path] = sum(math.log(1 + n / df[w]) * (2.0 if w in stem else 1.0) for w in hit)
    return out


def _graph_scores(store: MapStore, files, seeds: list[str], text: dict[str, float]
                  ) -> dict[str, float]:
    if not seeds:
        return {}
    weights: dict[tuple[str, str], float] = defaultdict(float)
    for src, dst, weight in store.conn.execute("SELECT src, dst, weight FROM file_edges"):
        weights[(src, dst)] += weight
        weights[(dst, src)] += 0.5 * weight  # a file that calls a seed is related too
    restart = {s: 0.2 + text.get(s, 0.0) for s in seeds}
    ranks = pagerank(sorted(files), weights, personalization=restart)
    base = 1.0 / len(files)
    lifted = {p: max(0.0, r - base) for p, r in ranks.items() if p not in seeds}
    return _normalise(lifted)


def _cochange_scores(history: HistoryView, seeds: list[str], text: dict[str, float]
                     ) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for seed in seeds:
        weight = 0.3 + text.get(seed, 0.0)
        for change in history.cochanges(seed, limit=15, min_count=2):
            out[change.path] += weight * change.confidence
    return _normalise(dict(out))


def _note_scores(store: MapStore, query: list[str]) -> dict[str, float]:
    wanted = set(query)
    out: dict[str, float] = defaultdict(float)
    if not wanted:
        return {}
    for _subject, request, files, _reason, _source, _key in store.notes("anticipated"):
        words = set(tokenize(request))
        overlap = len(words & wanted) / max(len(words), 1)
        if overlap >= 0.2:
            for path in files:
                out[path] += overlap
    return dict(out)


def _churn_scores(history: HistoryView, files) -> dict[str, float]:
    counts = {p: history.change_count(p) for p in files}
    top = max(counts.values(), default=0)
    if top <= 0:
        return {}
    return {p: math.log1p(c) / math.log1p(top) for p, c in counts.items() if c}


def _reasons(signals: dict[str, float], seeds: list[str], path: str) -> list[str]:
    labels = {"text": "matches the request text", "path": "its path names the request's words",
              "graph": "linked by imports/calls to the best matches",
              "cochange": "changed together with the best matches in the past",
              "notes": "named by a similar anticipated request",
              "churn": "changes often"}
    out = [f"{labels[name]} ({value:.2f})" for name, value in
           sorted(signals.items(), key=lambda kv: -kv[1]) if value >= 0.2]
    if path in seeds:
        out.insert(0, "one of the best text matches")
    return out


# --- how many files -------------------------------------------------------------------------

def repository_habits(history: HistoryView, files: dict[str, tuple[str, float]],
                      recent: int = 200, min_commits: int = 5) -> dict[str, float]:
    """From recent feature-sized commits (2 to 30 files, the first commit excluded): the
    typical number of source files, the share touching tests, and each non-code file's share
    (changelogs, docs). Empty when fewer than `min_commits` such commits exist."""
    first = min(history.commits, default=None)
    seqs = sorted((s for s, paths in history.files_by_commit.items()
                   if 2 <= len(paths) <= 30 and s != first), reverse=True)[:recent]
    source_counts, with_tests = [], 0
    other: Counter[str] = Counter()
    for seq in seqs:
        paths = history.files_by_commit[seq]
        source = [p for p in paths if files.get(p, ("", 0))[0] and not is_test(p)]
        if not source:
            continue
        source_counts.append(len(source))
        with_tests += any(is_test(p) for p in paths)
        other.update(p for p in paths if p in files and not files[p][0])
    if len(source_counts) < min_commits:
        return {}
    source_counts.sort()
    habits = {"commits": float(len(source_counts)),
              "median_source_files": float(source_counts[len(source_counts) // 2]),
              "tests_share": with_tests / len(source_counts)}
    for path, count in other.most_common(5):
        habits[f"other:{path}"] = count / len(source_counts)
    return habits


def cut_off(candidates: list[Candidate], habits: dict[str, float],
            weights: LocalizeWeights) -> list[str]:
    """The files to modify: source files up to the repository's typical count (within
    `keep_ratio` of the best score), the best test file when the history usually touches
    tests, and non-code files the history touches in most feature-sized commits."""
    if not candidates:
        return []
    typical = int(round(habits.get("median_source_files", 3)))
    want = max(weights.min_files, min(weights.max_files, typical))
    top = candidates[0].score
    source = [c for c in candidates if c.kind == "source"]
    chosen = [c.path for c in source if c.score >= weights.keep_ratio * top][:want]
    if not chosen and source:
        chosen = [source[0].path]
    if habits.get("tests_share", 0.0) >= 0.5:
        tests = [c for c in candidates if c.kind == "test"]
        if tests:
            chosen.append(tests[0].path)
    for key, share in habits.items():
        if key.startswith("other:") and share >= 0.5:
            chosen.append(key[len("other:"):])
    return chosen
