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
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

from sleepcoder.tools.localize_features import (  # noqa: F401 - compute_features, is_test re-exported
    build_index,
    compute_features,
    is_test,
    request_features,
)
from sleepcoder.tools.store import MapStore

# Recency and churn fire on most files of an active repository: they count only through
# how directly the request points at a file (`*_relevant` = value x relevance).
FEATURES = ("text", "text_rank", "path", "graph", "cochange", "cochange_top", "notes",
            "churn_relevant", "recency_relevant", "habit", "seed_link", "same_dir",
            "test_pair", "is_test", "test_habit", "is_other", "is_init", "similar_commits",
            "history_text")

LABELS = {
    "text": "matches the request text", "text_rank": "ranks high on text",
    "path": "its path names the request's words",
    "graph": "linked by imports/calls to the best matches",
    "cochange": "changed together with the best matches in the past",
    "cochange_top": "usually changes with the best match",
    "notes": "named by a similar anticipated request",
    "churn_relevant": "changes often, and the request points at it",
    "recency_relevant": "changed recently, and the request points at it",
    "habit": "most feature commits touch it",
    "seed_link": "imports or is imported by a best match",
    "same_dir": "sits beside the best match",
    "test_pair": "the test file of a best match",
    "similar_commits": "changed by past commits like this request",
    "history_text": "its past commit messages match the request",
    "symbols": "its definitions' names and docs match the request",
}


# Fitted by benchmarks/dev_localize.py on the 368-task development set of 16 repositories
# (benchmarks/dev_repos.txt; leave-one-repository-out code F1 0.485, docs/benchmarks.md).
# "notes" cannot be fitted there (it has no sleep pass): a modest prior.
DEFAULT_WEIGHTS: dict[str, float] = {
    "text": 1.815, "text_rank": 0.455, "path": 0.902, "graph": 0.0, "cochange": 0.791,
    "cochange_top": 0.035, "notes": 0.5, "churn_relevant": -0.359, "recency_relevant": 2.146,
    "habit": 3.627, "seed_link": 0.108, "same_dir": 0.108, "test_pair": 0.45, "is_test": -0.011,
    "test_habit": -0.426, "is_other": -0.436, "is_init": 0.095, "similar_commits": 0.439,
    "history_text": 1.424,
}
DEFAULT_BIAS = -5.180

# The calibration (tools/calibrate.py) of DEFAULT_WEIGHTS fitted on all the development set's
# pseudo-tasks together (`dev_localize.py --fit --calibrate`): the centre of every
# repository's prior: the global model is miscalibrated on the replays of all repositories
# pooled, and only a repository's difference from that is its own.
REPLAY_REFERENCE: dict[str, float] = {
    "scale": 1.145, "shift": 1.053, "text": -0.736, "path": -0.094, "graph": -0.056,
    "cochange": -0.591, "similar_commits": -0.145, "history_text": -0.418, "habit": 1.012,
    "is_test": 0.087, "test_pair": -0.353, "is_other": -0.238,
}


@dataclass(frozen=True)
class LocalizeModel:
    """Logistic model: P(modified) = sigmoid(bias + sum(weight * feature)), then the cut-off.

    The default weights were fitted on the 368-task development set (16 repositories); the
    leave-one-repository-out estimate of their quality is in docs/benchmarks.md.
    """

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    bias: float = DEFAULT_BIAS
    seeds: int = 5  # best text matches that seed the graph and co-change signals
    min_files: int = 1
    max_files: int = 12
    # With fewer usable commits than this, history signals mean nothing (a new repository,
    # a shallow clone): the files are ranked by `young` instead, fitted without them.
    min_history_commits: int = 5
    young: LocalizeModel | None = None
    # How this model is miscalibrated on replayed past features in general ("scale", "shift"
    # and per-feature offsets, tools/calibrate.py): a repository's own calibration counts
    # only how it differs from this.
    replay_reference: dict[str, float] = field(default_factory=lambda: dict(REPLAY_REFERENCE))

    def probability(self, features: dict[str, float]) -> float:
        return _sigmoid(self.bias + sum(self.weights.get(name, 0.0) * value
                                        for name, value in features.items()))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


# Fitted the same way with every history signal withheld (features recomputed without the
# history; `dev_collect.py --no-history`, `dev_localize.py --no-history --fit`), for
# repositories with too little of it, on the original 85-task set: leave-one-repository-out
# code F1 0.450 (0.551 with the history then; BM25 top 5: 0.408). Not refitted on the larger
# set: the signals it uses did not change. "notes" gets the same prior as above.
NO_HISTORY_WEIGHTS: dict[str, float] = {
    "text": 3.719, "text_rank": 0.821, "path": 1.518, "graph": 2.321, "notes": 0.5,
    "seed_link": 0.325, "same_dir": 0.024, "test_pair": 0.406, "is_test": -0.273,
    "is_other": -0.461, "is_init": 0.006,
}
NO_HISTORY_BIAS = -4.104
HISTORY_FEATURES = frozenset({"cochange", "cochange_top", "churn", "recency", "habit",
                              "churn_relevant", "recency_relevant",
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
    # the per-repository calibration (tools/calibrate.py): used, pseudo-tasks, scale, ...
    calibration: dict = field(default_factory=lambda: {"used": False})
    # every ranked file's score, not only the candidates' (the plan's map view reuses it
    # instead of ranking the repository again); left out of to_json
    scores: dict[str, float] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict:
        return {"chosen": self.chosen, "habits": self.habits,
                "expected_f1": round(self.expected_f1, 3),
                "history_commits": self.history_commits, "used_history": self.used_history,
                "calibration": self.calibration,
                "candidates": [{"path": c.path, "score": round(c.score, 4), "kind": c.kind,
                                "signals": {k: round(v, 3) for k, v in c.signals.items() if v},
                                "reasons": c.reasons} for c in self.candidates]}


def localize(store: MapStore, root: Path, request: str, *, limit: int = 30,
             model: LocalizeModel | None = None, calibrated: bool = True) -> Localization:
    """Rank the mapped files for `request`. With `calibrated`, the repository's own
    calibration stored in the map (if any, and made for this model) adjusts the model."""
    model = model or LocalizeModel()
    commits = usable_commits(store)
    use_history = commits >= model.min_history_commits
    calibration: dict = {"used": False}
    if not use_history:
        model = model.young or default_young_model()
        calibration["note"] = "too little history"
    elif calibrated:
        model, calibration = _calibrated(store, model)
    index = build_index(store, root, use_history)
    features, kinds, habits, seeds = request_features(index, request, model.seeds) \
        if index is not None else ({}, {}, {}, [])
    probability = _memoised_probability(model)
    candidates = [Candidate(path, probability(values), values, kind=kinds[path])
                  for path, values in features.items()]
    candidates.sort(key=lambda c: (-c.score, c.path))
    for candidate in candidates[:limit]:  # only these are returned (0.1 s on 33k files)
        candidate.reasons = _reasons(candidate.signals, candidate.path, seeds, model.weights)
    chosen, expected = choose(candidates, model)
    return Localization(candidates[:limit], chosen, habits, expected, commits, use_history,
                        calibration, {c.path: c.score for c in candidates})


def _memoised_probability(model: LocalizeModel) -> Callable[[dict[str, float]], float]:
    """`model.probability`, computed once per distinct vector of the weighted features: most
    files of a large repository share one (no signal reaches them). A feature without weight
    adds 0.0 to the sum, so leaving it out of the key changes no probability."""
    weighted = frozenset(name for name, weight in model.weights.items() if weight)
    # per order of the feature names (the sum's order): the weighted values' getter, and the
    # probability by those values
    layouts: dict[tuple[str, ...], tuple[Callable[[dict], tuple], dict[tuple, float]]] = {}

    def probability(features: dict[str, float]) -> float:
        names = tuple(features)
        layout = layouts.get(names)
        if layout is None:
            picked = [name for name in names if name in weighted]
            getter = itemgetter(*picked) if len(picked) > 1 else \
                (lambda values, picked=picked: tuple(values[name] for name in picked))
            layout = layouts[names] = (getter, {})
        getter, memo = layout
        key = getter(features)
        found = memo.get(key)
        if found is None:
            found = memo[key] = model.probability(features)
        return found

    return probability


def _calibrated(store: MapStore, model: LocalizeModel) -> tuple[LocalizeModel, dict]:
    from sleepcoder.tools.calibrate import load, model_key

    stored = load(store)
    if stored is None:
        return model, {"used": False, "note": "no calibration in the map (run sleepcoder map "
                                              "or sleep)"}
    summary = {"used": False, **stored.summary()}
    if stored.model_key != model_key(model):
        summary["note"] = "made for another model: run sleepcoder map again"
        return model, summary
    if not stored.active:
        return model, summary
    summary["used"] = True
    return stored.apply(model), summary


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
