"""The SWE-Features metric: per task, F1 between the files a prediction modifies and the files
the reference modifies (added files are not scored); the macro mean over tasks. Also the same
restricted to .py/.js files, and, where the reference has per-file patches, a line-level
overlap of the base lines both diffs touch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from sleepcoder.swe_features.dataset import (
    DatasetError,
    Instance,
    files_from_patch,
    is_code,
    read_records,
    repeats_warning,
)


@dataclass(frozen=True)
class Prediction:
    instance_id: str
    modified_files: list[str]
    patch: str = ""


@dataclass
class TaskScore:
    instance_id: str
    predicted: list[str]
    gold: list[str]
    precision: float
    recall: float
    f1: float
    code_f1: float | None  # None when the reference modifies no .py/.js file
    line_f1: float | None  # None without gold patches and a predicted patch
    missing: bool = False

    def to_json(self) -> dict:
        return asdict(self)


def prf(predicted: set[str], gold: set[str]) -> tuple[float, float, float]:
    hit = len(predicted & gold)
    precision = hit / len(predicted) if predicted else 0.0
    recall = hit / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0
    return precision, recall, f1


def modified_in_patch(patch: str) -> list[str]:
    return sorted(f.filename for f in files_from_patch("prediction", patch)
                  if f.status == "modified")


@dataclass
class PredictionFile:
    predictions: dict[str, Prediction]
    warnings: list[str] = field(default_factory=list)


def read_predictions(path: Path) -> PredictionFile:
    """SWE-bench predictions (instance_id, model_name_or_path, model_patch) or records with a
    `modified_files` list; JSONL or a JSON list. A repeated instance id is ignored with a
    warning (the first is kept); a model_patch that is not a unified diff is a prediction
    that modifies no file, with a warning."""
    out: dict[str, Prediction] = {}
    first: dict[str, str] = {}
    repeats: list[str] = []
    bad_patches: list[str] = []
    for where, record in read_records(path, "the predictions file"):
        if not isinstance(record, dict) or not isinstance(record.get("instance_id"), str):
            raise DatasetError(f"{where}: missing field 'instance_id'")
        instance_id = record["instance_id"]
        patch = record.get("model_patch") or ""
        if "model_patch" in record and not isinstance(patch, str):
            raise DatasetError(f"{where}: field 'model_patch' must be a string")
        if "modified_files" in record:
            files = record["modified_files"]
            if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
                raise DatasetError(f"{where}: field 'modified_files' must be a list of paths")
        elif "model_patch" in record:
            try:
                files = modified_in_patch(patch) if patch.strip() else []
            except DatasetError:
                files = []
                bad_patches.append(instance_id)
        else:
            raise DatasetError(f"{where}: needs 'modified_files' or 'model_patch'")
        if instance_id in first:
            repeats.append(f"{instance_id} ({where.removeprefix(f'{path} ')}, first at "
                           f"{first[instance_id].removeprefix(f'{path} ')})")
            continue
        first[instance_id] = where
        out[instance_id] = Prediction(instance_id, sorted(set(files)), patch)
    warnings = [repeats_warning(path, repeats)] if repeats else []
    if bad_patches:
        warnings.append(f"{path}: {len(bad_patches)} predictions have a model_patch that is "
                        f"not a unified diff (scored as modifying no file): "
                        f"{_first(bad_patches)}")
    return PredictionFile(out, warnings)


def load_predictions(path: Path) -> dict[str, Prediction]:
    """The predictions of `read_predictions`, for callers that show no warnings."""
    return read_predictions(path).predictions


def coverage_warnings(instances: list[Instance], predictions: dict[str, Prediction]
                      ) -> list[str]:
    """Predictions for tasks the dataset does not have, and tasks without a prediction."""
    ids = {i.instance_id for i in instances}
    unknown = sorted(set(predictions) - ids)
    missing = [i.instance_id for i in instances if i.instance_id not in predictions]
    out = []
    if unknown:
        out.append(f"{len(unknown)} predictions are for instance ids not in the dataset "
                   f"(ignored): {_first(unknown)}")
    if missing:
        out.append(f"{len(missing)} of {len(instances)} tasks have no prediction (each "
                   f"scores 0): {_first(missing)}")
    return out


def _first(ids: list[str], shown: int = 5) -> str:
    return ", ".join(ids[:shown]) + (" …" if len(ids) > shown else "")


def score_task(instance: Instance, prediction: Prediction | None) -> TaskScore:
    predicted = set(prediction.modified_files) if prediction else set()
    gold = set(instance.gold_modified)
    precision, recall, f1 = prf(predicted, gold)
    gold_code = {g for g in gold if is_code(g)}
    code_f1 = prf({p for p in predicted if is_code(p)}, gold_code)[2] if gold_code else None
    line_f1 = None
    patches = instance.gold_patches()
    if patches and prediction and prediction.patch.strip():
        line_f1 = _line_f1(prediction.patch, patches)
    return TaskScore(instance.instance_id, sorted(predicted), sorted(gold), precision, recall,
                     f1, code_f1, line_f1, prediction is None)


def _touched_lines(patch: str) -> set[tuple[str, int]]:
    """(file, base line) pairs a diff removes or inserts next to."""
    from unidiff import PatchSet

    out: set[tuple[str, int]] = set()
    for item in PatchSet(patch):
        for hunk in item:
            previous = hunk.source_start
            for line in hunk:
                if line.is_removed:
                    out.add((item.path, line.source_line_no))
                    previous = line.source_line_no
                elif line.is_added:
                    out.add((item.path, previous))
                elif line.source_line_no is not None:
                    previous = line.source_line_no
    return out


def _line_f1(predicted_patch: str, gold_patches: dict[str, str]) -> float:
    gold: set[tuple[str, int]] = set()
    for name, text in gold_patches.items():
        body = text if text.startswith("---") or text.startswith("diff") else \
            f"--- a/{name}\n+++ b/{name}\n{text}"
        try:
            gold |= _touched_lines(body)
        except Exception:  # a gold patch unidiff cannot read: that file is not line-scored
            continue
    try:
        predicted = _touched_lines(predicted_patch)
    except Exception:
        return 0.0
    return prf(predicted, gold)[2]


def score(instances: list[Instance], predictions: dict[str, Prediction]) -> dict:
    tasks = [score_task(i, predictions.get(i.instance_id)) for i in instances]
    code = [t.code_f1 for t in tasks if t.code_f1 is not None]
    lines = [t.line_f1 for t in tasks if t.line_f1 is not None]
    n = len(tasks) or 1
    return {
        "tasks": [t.to_json() for t in tasks],
        "mean": {"f1": sum(t.f1 for t in tasks) / n,
                 "precision": sum(t.precision for t in tasks) / n,
                 "recall": sum(t.recall for t in tasks) / n,
                 "code_f1": sum(code) / len(code) if code else None,
                 "line_f1": sum(lines) / len(lines) if lines else None},
        "counts": {"tasks": len(tasks), "missing_predictions": sum(t.missing for t in tasks),
                   "with_code_gold": len(code), "line_scored": len(lines),
                   "unknown_predictions": len(set(predictions) - {i.instance_id
                                                                   for i in instances})},
    }
