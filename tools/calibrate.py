"""Per-repository calibration of the localizer, learnt without a model from the repository's
own past features (tools/pseudo_tasks.py) at sleep time or when the map is built.

The global model's logit z becomes `scale * z + shift + sum(offset * feature)`: Platt scaling
plus small per-signal offsets, fitted by maximum a posteriori with a Gaussian prior centred on
the global model (scale 1, shift 0, offsets 0). The prior weighs as much as `PRIOR_TASKS`
pseudo-tasks' worth of evidence, so 5 pseudo-tasks move the model a little and 200 a lot.
Since the cut-off maximises the expected F1 under the probabilities, calibrated
probabilities also take a number of files closer to what this repository's changes touch.

The result is stored in the map (meta `calibration`) with its evidence: the pseudo-tasks and
their F1 under the global model and under the calibration (cross-fitted: each task scored by a
calibration fitted without it).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from sleepcoder.tools.localize import Candidate, LocalizeModel, choose, usable_commits
from sleepcoder.tools.store import MapStore

if TYPE_CHECKING:  # numpy, the search index and the replays are imported where they are
    import numpy as np  # used: a map refresh that fits nothing does not pay for them
    from sleepcoder.tools.pseudo_tasks import Replay

META_KEY = "calibration"
VERSION = 1
MIN_TASKS = 5  # fewer pseudo-tasks: no calibration
FOLDS = 5
# a fit is kept across new commits that add no pseudo-task, up to this many commits after it
REFIT_AFTER = 50
# why a calibration did not look at the history at all (any new commit may change that)
_OFF, _LITTLE_HISTORY, _NOTHING_MAPPED = ("turned off ([map] calibration_tasks = 0)",
                                          "too little history", "nothing mapped")


@dataclass(frozen=True)
class Settings:
    """How the adjustment is fitted (benchmarks/dev_localize.py compares choices)."""

    prior_tasks: float = 20.0  # the global model counts as this many pseudo-tasks
    offset_prior: float = 3.0  # offsets are held this many times harder than scale and shift
    offsets: tuple[str, ...] = ("text", "path", "graph", "cochange", "similar_commits",
                                "history_text", "habit", "is_test", "test_pair", "is_other")
    fit_scale: bool = True  # False: scale stays 1 (only the shift and the offsets move)
    # use it only if, held out, it did at least as well as the global model on the
    # repository's own pseudo-tasks
    guard: bool = False


DEFAULT_SETTINGS = Settings()


@dataclass
class Calibration:
    model_key: str  # the global model it adjusts (tools.calibrate.model_key)
    history_head: str  # the history it applies to
    tasks: int
    scale: float = 1.0
    shift: float = 0.0
    offsets: dict[str, float] = field(default_factory=dict)
    f1_before: float = 0.0  # mean over the pseudo-tasks, global model
    f1_after: float = 0.0  # cross-fitted, with the calibration
    files_before: float = 0.0  # mean files chosen
    files_after: float = 0.0
    gold_files: float = 0.0  # mean files the pseudo-tasks modified
    seconds: float = 0.0
    evidence: list[dict] = field(default_factory=list)  # one entry per pseudo-task
    note: str = ""  # why there is no adjustment, when there is none
    guarded: bool = False  # unused: it did worse than the global model on its own tasks
    fitted_head: str = ""  # the history it was fitted on ("" before this field: history_head)
    limit: int = 0  # the most pseudo-tasks it could use ([map] calibration_tasks)

    @property
    def active(self) -> bool:
        return self.tasks >= MIN_TASKS and not self.guarded

    def apply(self, model: LocalizeModel) -> LocalizeModel:
        """The global model with this repository's adjustment folded into its weights: how
        its replays differ from replays in general (`model.replay_reference`); unchanged
        without an active calibration."""
        if not self.active:
            return model
        reference = model.replay_reference
        scale = 1.0 + self.scale - reference.get("scale", 1.0)
        weights = {name: scale * w for name, w in model.weights.items()}
        for name, offset in self.offsets.items():
            weights[name] = weights.get(name, 0.0) + offset - reference.get(name, 0.0)
        shift = self.shift - reference.get("shift", 0.0)
        return replace(model, weights=weights, bias=scale * model.bias + shift)

    def in_replay(self, model: LocalizeModel) -> LocalizeModel:
        """The adjusted model as it scores replays (the fit itself, without the reference)."""
        weights = {name: self.scale * w for name, w in model.weights.items()}
        for name, offset in self.offsets.items():
            weights[name] = weights.get(name, 0.0) + offset
        return replace(model, weights=weights, bias=self.scale * model.bias + self.shift)

    def summary(self) -> dict:
        """What `map stats` and `solve --localize-only --json` show."""
        data = {k: v for k, v in asdict(self).items() if k != "evidence"}
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in data.items()}


def model_key(model: LocalizeModel) -> str:
    raw = json.dumps([sorted(model.weights.items()), model.bias, model.seeds,
                      sorted(model.replay_reference.items())])
    return hashlib.sha1(raw.encode()).hexdigest()[:12]


def load(store: MapStore) -> Calibration | None:
    data = store.get_json(META_KEY)
    if not data or data.get("version") != VERSION:
        return None
    data.pop("version")
    try:
        return Calibration(**data)
    except TypeError:  # written by another version of this module
        return None


def save(store: MapStore, calibration: Calibration) -> None:
    with store.transaction():
        store.set_meta(META_KEY, json.dumps({"version": VERSION, **asdict(calibration)}))


def refresh(store: MapStore, root: Path, limit: int, model: LocalizeModel | None = None
            ) -> tuple[Calibration, bool]:
    """Calibrate the localizer on this map's history unless the stored calibration is for
    the same history and model already. Returns it and whether it was recomputed."""
    model = model or LocalizeModel()
    key = model_key(model)
    head = store.get_meta("history_head") or ""
    stored = load(store)
    if stored is not None and stored.model_key == key and stored.history_head == head \
            and stored.limit == limit:  # another [map] calibration_tasks: other pseudo-tasks
        return stored, False
    if stored is not None and stored.model_key == key and _still_fits(store, stored, limit):
        stored.history_head = head
        save(store, stored)
        return stored, False
    calibration = calibrate(store, root, model, limit)
    save(store, calibration)
    return calibration, True


def _still_fits(store: MapStore, stored: Calibration, limit: int) -> bool:
    """Whether the commits since the fit leave its pseudo-tasks as they were: none of them can
    be a pseudo-task (too few files, a chore's title), so the same tasks would be chosen and
    replayed with the same pasts. What such commits change in today's code moves the
    replays only through files they touched (the approximation tools/pseudo_tasks.py
    describes); after REFIT_AFTER of them the fit is redone anyway. A history rewritten
    under the fit (its head gone) is refitted. A result of too few pseudo-tasks stands
    the same way; one that did not read the history (too little of it) does not."""
    if stored.note in (_OFF, _LITTLE_HISTORY, _NOTHING_MAPPED) or stored.limit != limit:
        return False  # (another limit chooses other pseudo-tasks)
    fitted = stored.fitted_head or stored.history_head
    row = store.conn.execute("SELECT seq FROM commits WHERE sha=?", (fitted,)).fetchone()
    if row is None:
        return False
    newer = store.conn.execute("SELECT subject, nfiles, skipped FROM commits WHERE seq > ?",
                               (row[0],)).fetchall()
    from sleepcoder.tools.pseudo_tasks import could_be_task
    return len(newer) < REFIT_AFTER and not any(could_be_task(*item) for item in newer)


def calibrate(store: MapStore, root: Path | None, model: LocalizeModel, limit: int
              ) -> Calibration:
    started = time.perf_counter()
    key, head = model_key(model), store.get_meta("history_head") or ""
    if limit <= 0:
        return Calibration(key, head, 0, note=_OFF, limit=limit)
    if usable_commits(store) < model.min_history_commits:
        return Calibration(key, head, 0, note=_LITTLE_HISTORY, limit=limit)
    from sleepcoder.tools.localize_features import build_index
    from sleepcoder.tools.pseudo_tasks import contents_before, created_at, replay, select_tasks

    index = build_index(store, root or Path("."), use_history=True)
    if index is None or index.history is None:
        return Calibration(key, head, 0, note=_NOTHING_MAPPED, limit=limit)
    tasks = select_tasks(store, index.history, index.files, root, limit)
    names = tuple(model.weights)
    replays = replay(index, tasks, names, model.seeds, created_at(store, index.history),
                     contents_before(root, tasks))
    calibration = fit_calibration(replays, model, names)
    calibration.history_head = calibration.fitted_head = head
    calibration.limit = limit
    calibration.seconds = round(time.perf_counter() - started, 2)
    return calibration


def fit_calibration(replays: list[Replay], model: LocalizeModel, names: tuple[str, ...],
                    settings: Settings = DEFAULT_SETTINGS) -> Calibration:
    """Fit on all replays; score each by a fit without its fold (the evidence)."""
    import numpy as np

    key = model_key(model)
    if len(replays) < MIN_TASKS:
        return Calibration(key, "", len(replays),
                           note=f"{len(replays)} pseudo-tasks, fewer than {MIN_TASKS}")
    scale, shift, offsets = _fit(replays, model, names, settings)
    calibration = Calibration(key, "", len(replays), scale, shift, offsets)
    held_out: dict[int, Calibration] = {}
    for fold in range(min(FOLDS, len(replays))):
        train = [r for i, r in enumerate(replays) if i % FOLDS != fold]
        held_out[fold] = Calibration(key, "", len(train), *_fit(train, model, names, settings))
    before_f1, after_f1, before_n, after_n = [], [], [], []
    reference = Calibration(key, "", 0, *_reference(model, settings))
    for i, item in enumerate(replays):
        # both in the replays' terms: the global model with the general replay calibration,
        # and with this repository's (held out)
        before = score(item, reference.in_replay(model), names)
        after = score(item, held_out[i % FOLDS].in_replay(model), names)
        before_f1.append(before[0])
        after_f1.append(after[0])
        before_n.append(before[1])
        after_n.append(after[1])
        calibration.evidence.append({
            "sha": item.task.sha[:12], "title": item.task.title[:100],
            "gold": len(item.task.gold), "f1_before": round(before[0], 3),
            "f1_after": round(after[0], 3), "files_before": before[1],
            "files_after": after[1]})
    calibration.f1_before = float(np.mean(before_f1))
    calibration.f1_after = float(np.mean(after_f1))
    calibration.files_before = float(np.mean(before_n))
    calibration.files_after = float(np.mean(after_n))
    calibration.gold_files = float(np.mean([r.gold.sum() for r in replays]))
    if settings.guard and calibration.f1_after < calibration.f1_before:
        calibration.guarded = True
        calibration.note = "not used: held out, it did worse than the global model"
    return calibration


def _reference(model: LocalizeModel, settings: Settings
               ) -> tuple[float, float, dict[str, float]]:
    """The prior's centre: the model's calibration on replays in general."""
    reference = model.replay_reference
    return (reference.get("scale", 1.0), reference.get("shift", 0.0),
            {name: reference.get(name, 0.0) for name in settings.offsets})


def fit_reference(replays: list[Replay], model: LocalizeModel, names: tuple[str, ...],
                  settings: Settings = DEFAULT_SETTINGS) -> dict[str, float]:
    """`model.replay_reference` from the replays of many repositories pooled (a weak prior:
    hundreds of tasks decide)."""
    neutral = replace(model, replay_reference={})
    scale, shift, offsets = _fit(replays, neutral, names, replace(settings, prior_tasks=1.0))
    return {"scale": scale, "shift": shift, **offsets}


def _newton(design: np.ndarray, y: np.ndarray, mean: np.ndarray, precision: np.ndarray
            ) -> np.ndarray:
    """Minimise the logistic loss plus the Gaussian prior, by Newton's method with step
    halving (plain Newton overshoots on nearly separable replays)."""
    import numpy as np

    def objective(theta: np.ndarray) -> float:
        z = design @ theta
        return float(np.logaddexp(0, z).sum() - y @ z
                     + 0.5 * precision @ (theta - mean) ** 2)

    theta = mean.copy()
    current = objective(theta)
    for _ in range(100):
        p = 1 / (1 + np.exp(-np.clip(design @ theta, -30, 30)))
        grad = design.T @ (p - y) + precision * (theta - mean)
        hess = (design * (p * (1 - p))[:, None]).T @ design + np.diag(precision)
        step = np.linalg.solve(hess, grad)
        size = 1.0
        while size > 1e-4:
            candidate = theta - size * step
            value = objective(candidate)
            if value <= current:
                break
            size /= 2
        else:
            break  # no step lowers the loss: at the optimum up to rounding
        theta, current = candidate, value
        if np.abs(size * step).max() < 1e-7:
            break
    return theta


def score(item: Replay, model: LocalizeModel, names: tuple[str, ...]) -> tuple[float, int]:
    """(F1, files chosen) of `model` on one replay, with the localizer's cut-off."""
    import numpy as np

    weights = np.array([model.weights.get(n, 0.0) for n in names])
    z = np.clip(model.bias + item.x @ weights, -30, 30)
    probabilities = 1 / (1 + np.exp(-z))
    candidates = [Candidate(p, float(s)) for p, s in zip(item.paths, probabilities, strict=True)]
    candidates.sort(key=lambda c: (-c.score, c.path))
    chosen, _expected = choose(candidates, model)
    gold = {p for p, g in zip(item.paths, item.gold, strict=True) if g}
    hit = len(gold & set(chosen))
    return (2 * hit / (len(chosen) + len(gold)) if hit else 0.0), len(chosen)


def _fit(replays: list[Replay], model: LocalizeModel, names: tuple[str, ...],
         settings: Settings) -> tuple[float, float, dict[str, float]]:
    """MAP estimate of (scale, shift, offsets) by Newton's method."""
    import numpy as np

    weights = np.array([model.weights.get(n, 0.0) for n in names])
    columns = [names.index(n) for n in settings.offsets if n in names]
    x = np.vstack([r.x for r in replays])
    y = np.concatenate([r.gold for r in replays])
    z = model.bias + x @ weights
    design = np.column_stack([z, np.ones(len(z)), x[:, columns]])
    scale, shift, offsets = _reference(model, settings)
    prior_mean = np.array([scale, shift, *(offsets[names[c]] for c in columns)])
    # prior precision: `prior_tasks` times one pseudo-task's Fisher information at the prior
    p0 = 1 / (1 + np.exp(-np.clip(z, -30, 30)))
    fisher = (design ** 2 * (p0 * (1 - p0))[:, None]).sum(axis=0) / len(replays)
    strength = np.full(design.shape[1], float(settings.prior_tasks))
    strength[2:] *= settings.offset_prior
    if not settings.fit_scale:
        strength[0] = 1e9  # held at its prior centre
    precision = strength * np.maximum(fisher, 1e-6)
    theta = _newton(design, y, prior_mean, precision)
    offsets = {names[c]: float(theta[2 + i]) for i, c in enumerate(columns)}
    return float(theta[0]), float(theta[1]), offsets
