"""Model-free localization: which files a feature request will modify, each with a probability
and reasons, and how many of them to take.

Every mapped file gets features (`FEATURES`): how well the request's text matches it (BM25
over content, path and sleep summary), its path, its links in the import/call graph and in
past commits to the best text matches, anticipated requests from the sleep pass, how often and
how recently it changed, how often feature-sized commits touched it, and what kind of file it
is (source, test, other). A logistic model (`LocalizeModel`, fitted on the development set,
see benchmarks/dev_localize.py) turns them into the probability that the file is modified.
The number of files taken maximises the expected F1 under those probabilities, so a request
that clearly concerns two files gets two, and a diffuse one more.
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
                   r"(^|/)conftest\.py$|\.(test|spec)\.[jt]sx?$")

FEATURES = ("text", "text_rank", "path", "graph", "cochange", "cochange_top", "notes",
            "churn", "recency", "habit", "seed_link", "same_dir", "test_pair", "is_test",
            "test_habit", "is_other", "is_init", "similar_commits", "history_text")

LABELS = {
    "text": "matches the request text", "text_rank": "ranks high on text",
    "path": "its path names the request's words",
    "graph": "linked by imports/calls to the best matches",
    "cochange": "changed together with the best matches in the past",
    "cochange_top": "usually changes with the best match",
    "notes": "named by a similar anticipated request", "churn": "changes often",
    "recency": "changed recently", "habit": "most feature commits touch it",
    "seed_link": "imports or is imported by a best match",
    "same_dir": "sits beside the best match",
    "test_pair": "the test file of a best match",
    "similar_commits": "changed by past commits like this request",
    "history_text": "its past commit messages match the request",
    "symbols": "its definitions' names and docs match the request",
}


def is_test(path: str) -> bool:
    return bool(_TEST.search(path))


@dataclass(frozen=True)
class LocalizeModel:
    """Logistic model: P(modified) = sigmoid(bias + sum(weight * feature)), then the cut-off.

    The default weights were fitted on the 85-task development set (six repositories); the
    leave-one-repository-out estimate of their quality is in docs/benchmarks.md.
    """

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    bias: float = -5.939
    seeds: int = 5  # best text matches that seed the graph and co-change signals
    min_files: int = 1
    max_files: int = 12
    # With fewer usable commits than this, history signals mean nothing (a new repository,
    # a shallow clone): the files are ranked by `young` instead, fitted without them.
    min_history_commits: int = 5
    young: LocalizeModel | None = None

    def probability(self, features: dict[str, float]) -> float:
        return _sigmoid(self.bias + sum(self.weights.get(name, 0.0) * value
                                        for name, value in features.items()))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


# Fitted by benchmarks/dev_localize.py on the 85-task development set (leave-one-repository-
# out code F1 0.551). "notes" cannot be fitted there (it has no sleep pass): a modest prior.
DEFAULT_WEIGHTS: dict[str, float] = {
    "text": 1.975, "text_rank": 0.302, "path": 1.159, "graph": 0.73, "cochange": 1.69,
    "cochange_top": 0.035, "notes": 0.5, "churn": 1.272, "recency": 1.162, "habit": 1.821,
    "seed_link": -0.128, "same_dir": -0.049, "test_pair": 0.372, "is_test": 0.037,
    "test_habit": -0.406, "is_other": -0.279, "is_init": 0.056, "similar_commits": 1.317,
    "history_text": 1.4,
}


# Fitted the same way with every history signal withheld (features recomputed without the
# history; `dev_localize.py --no-history`), for repositories with too little of it:
# leave-one-repository-out code F1 0.450 (0.551 with the history; BM25 top 5: 0.408).
# "notes" gets the same prior as above.
NO_HISTORY_WEIGHTS: dict[str, float] = {
    "text": 3.719, "text_rank": 0.821, "path": 1.518, "graph": 2.321, "notes": 0.5,
    "seed_link": 0.325, "same_dir": 0.024, "test_pair": 0.406, "is_test": -0.273,
    "is_other": -0.461, "is_init": 0.006,
}
NO_HISTORY_BIAS = -4.104
HISTORY_FEATURES = frozenset({"cochange", "cochange_top", "churn", "recency", "habit",
                              "test_habit", "similar_commits", "history_text"})


def default_young_model() -> LocalizeModel:
    return LocalizeModel(dict(NO_HISTORY_WEIGHTS), NO_HISTORY_BIAS, min_history_commits=0)


@dataclass
class Candidate:
    path: str
    score: float  # probability of being modified
    signals: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    kind: str = "source"  # source, test, other


@dataclass
class Localization:
    candidates: list[Candidate]  # most likely first
    chosen: list[str]  # the automatic cut-off: files to modify
    habits: dict[str, float]  # what the history says about this repository's changes
    expected_f1: float = 0.0
    history_commits: int = 0  # usable commits in the map's history
    used_history: bool = True  # False: too little history, ranked without it

    def to_json(self) -> dict:
        return {"chosen": self.chosen, "habits": self.habits,
                "expected_f1": round(self.expected_f1, 3),
                "history_commits": self.history_commits, "used_history": self.used_history,
                "candidates": [{"path": c.path, "score": round(c.score, 4), "kind": c.kind,
                                "signals": {k: round(v, 3) for k, v in c.signals.items() if v},
                                "reasons": c.reasons} for c in self.candidates]}


def localize(store: MapStore, root: Path, request: str, *, limit: int = 30,
             model: LocalizeModel | None = None) -> Localization:
    model = model or LocalizeModel()
    commits = usable_commits(store)
    use_history = commits >= model.min_history_commits
    if not use_history:
        model = model.young or default_young_model()
    features, kinds, habits, seeds = compute_features(store, root, request, model.seeds,
                                                      use_history=use_history)
    candidates = []
    for path, values in features.items():
        probability = model.probability(values)
        candidates.append(Candidate(path, probability, values,
                                    _reasons(values, path, seeds, model.weights), kinds[path]))
    candidates.sort(key=lambda c: (-c.score, c.path))
    chosen, expected = choose(candidates, model)
    return Localization(candidates[:limit], chosen, habits, expected, commits, use_history)


def usable_commits(store: MapStore) -> int:
    """Commits whose files count as a change (not the root import, not mass edits), and
    merged pull requests."""
    return store.conn.execute(
        "SELECT COUNT(*) FROM commits WHERE skipped IN ('', 'merge')").fetchone()[0]


def choose(candidates: list[Candidate], model: LocalizeModel) -> tuple[list[str], float]:
    """The top-k that maximises expected F1 = 2 * sum(p of chosen) / (k + sum(p of all))."""
    if not candidates:
        return [], 0.0
    total = sum(c.score for c in candidates)
    best_k, best, running = model.min_files, -1.0, 0.0
    for k, candidate in enumerate(candidates[: model.max_files], 1):
        running += candidate.score
        expected = 2 * running / (k + total)
        if expected > best and k >= model.min_files:
            best, best_k = expected, k
    return [c.path for c in candidates[:best_k]], best


def compute_features(store: MapStore, root: Path, request: str, seeds_wanted: int = 5,
                     use_history: bool = True):
    """(features by path, kind by path, repository habits, seed paths). Without
    `use_history`, every history signal is left out, also from the choice of seeds."""
    files = {path: (lang, rank) for path, lang, rank in store.conn.execute(
        "SELECT path, language, rank FROM files WHERE status='ok'")}
    if not files:
        return {}, {}, {}, []
    ensure_terms(store, root)
    terms = load_terms(store)
    summaries = store.file_summaries()
    documents = {}
    for path in files:
        doc = Counter(terms.get(path, ()))
        for word in tokenize(path.replace("/", " ").replace(".", " ")):
            doc[word] += 3
        if path in summaries:
            doc.update(tokenize(summaries[path][0]))
        documents[path] = doc
    query = tokenize(request)
    symbols = _normalise(BM25(_symbol_documents(store)).scores(query))
    lines = dict(store.conn.execute(
        "SELECT f.path, b.lines FROM files f JOIN blobs b ON b.id = f.fid WHERE f.status='ok'"))
    most_lines = max(lines.values(), default=1) or 1
    # k1 = 2: code files repeat their key identifiers; saturating later helps (dev set)
    raw_text = BM25(documents, k1=2.0).scores(query)
    text = _normalise(raw_text)
    order = sorted(raw_text, key=lambda p: -raw_text[p])
    text_rank = {p: 1.0 / (1 + i) for i, p in enumerate(order[:50])}
    path_match = _normalise(_path_scores(query, files))
    history = HistoryView(store.conn, existing=set(files)) if use_history else None
    similar, history_text = _history_text_scores(history, query) if history else ({}, {})
    # seeds: the files the request points at most directly, by its text and by the past
    # commits that resemble it; graph and co-change signals spread from them
    direct = {p: text.get(p, 0) + 0.5 * path_match.get(p, 0) + 0.5 * similar.get(p, 0)
              + 0.5 * history_text.get(p, 0) for p in files}
    ranked = sorted(files, key=lambda p: -direct[p])
    seeds = [p for p in ranked[:seeds_wanted] if direct[p] > 0]
    edges = _edges(store)
    graph = _graph_scores(files, edges, seeds, direct)
    cochange, cochange_top = _cochange_scores(history, seeds, direct) if history else ({}, {})
    notes = _normalise(_note_scores(store, query))
    churn, recency = _churn_scores(history, files) if history else ({}, {})
    habits, habit = repository_habits(history, files) if history else ({}, {})
    tests_share = habits.get("tests_share", 0.0)
    links = _seed_links(edges, seeds[:3])
    seed_dirs = {posixpath.dirname(s) for s in seeds[:2]}
    seed_stems = {posixpath.splitext(posixpath.basename(s))[0].removeprefix("test_")
                  for s in seeds[:5] if not is_test(s)}
    features: dict[str, dict[str, float]] = {}
    kinds: dict[str, str] = {}
    for path, (language, _rank) in files.items():
        test = is_test(path)
        kind = "test" if test else ("source" if language else "other")
        stem = posixpath.splitext(posixpath.basename(path))[0]
        values = {
            "text": text.get(path, 0.0), "text_rank": text_rank.get(path, 0.0),
            "path": path_match.get(path, 0.0), "graph": graph.get(path, 0.0),
            "cochange": cochange.get(path, 0.0), "cochange_top": cochange_top.get(path, 0.0),
            "notes": notes.get(path, 0.0), "churn": churn.get(path, 0.0),
            "recency": recency.get(path, 0.0), "habit": habit.get(path, 0.0),
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
            "size": math.log1p(lines.get(path, 0)) / math.log1p(most_lines),
        }
        features[path] = values
        kinds[path] = kind
    return features, kinds, habits, seeds


def _symbol_documents(store: MapStore) -> dict[str, list[str]]:
    """Per file, the words of its definitions' names and first doc lines."""
    out: dict[str, list[str]] = defaultdict(list)
    for path, name, doc in store.conn.execute(
            "SELECT f.path, d.name, d.doc FROM defs d JOIN files f ON f.fid = d.fid "
            "WHERE f.status='ok'"):
        out[path].extend(tokenize(f"{name} {doc}"))
    return out


def _normalise(scores: dict[str, float]) -> dict[str, float]:
    top = max(scores.values(), default=0.0)
    return {k: v / top for k, v in scores.items() if v > 0} if top > 0 else {}


def _path_scores(query: list[str], files) -> dict[str, float]:
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


def _reasons(values: dict[str, float], path: str, seeds: list[str],
             weights: dict[str, float]) -> list[str]:
    """The signals that raised this file's probability most (weight x value)."""
    shown = [(name, value) for name, value in values.items()
             if name in LABELS and value >= 0.2 and weights.get(name, 0.0) > 0]
    shown.sort(key=lambda kv: -kv[1] * weights[kv[0]])
    out = [f"{LABELS[name]} ({value:.2f})" for name, value in shown[:4]]
    if path in seeds:
        out.insert(0, "one of the best text matches")
    return out


# --- what the history says about changes in this repository --------------------------------

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
