"""SWE-Features datasets: one record per task, in the paper's format or SWE-bench's.

Paper format: repo ("owner/name"), pr_number, title, body, base_commit, changed_files (list of
{filename, status[, patch]}), and optionally instance_id, created_at, user_login, state,
changed_files_count. SWE-bench format: instance_id, repo, base_commit, problem_statement,
patch (the changed files are read from the patch). Unknown fields are kept and ignored; a
malformed record is reported with its line (or index) and field.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sleepcoder.tools.userfiles import UserFileError, read_user_bytes

STATUSES = ("modified", "added", "removed", "renamed")
CODE_SUFFIXES = (".py", ".js")
# a dataset or predictions file is parsed whole in memory: ~10x its size once parsed
MAX_RECORDS_BYTES = 512 * 1024 * 1024


class DatasetError(ValueError):
    """A record cannot be read; the message names where and which field."""


@dataclass(frozen=True)
class ChangedFile:
    filename: str
    status: str
    patch: str = ""


@dataclass
class Instance:
    instance_id: str
    repo: str
    pr_number: int | None
    title: str
    body: str
    base_commit: str
    changed_files: list[ChangedFile]
    created_at: str = ""
    user_login: str = ""
    state: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return f"{self.title}\n\n{self.body}".strip()

    @property
    def gold_modified(self) -> list[str]:
        """The scored files: those the reference modifies (added files are not scored)."""
        return sorted(f.filename for f in self.changed_files if f.status == "modified")

    def gold_patches(self) -> dict[str, str]:
        return {f.filename: f.patch for f in self.changed_files if f.patch}

    def to_json(self) -> dict:
        data = asdict(self)
        extra = data.pop("extra")
        data["changed_files"] = [
            {k: v for k, v in f.items() if v != "" or k != "patch"} for f in data["changed_files"]]
        data["changed_files_count"] = len(self.changed_files)
        return {**extra, **data}


_KNOWN = {"instance_id", "repo", "pr_number", "title", "body", "base_commit", "changed_files",
          "created_at", "user_login", "state", "changed_files_count", "problem_statement",
          "patch"}


@dataclass
class Dataset:
    instances: list[Instance]
    warnings: list[str] = field(default_factory=list)  # e.g. repeated instance ids


def read_dataset(path: Path) -> Dataset:
    """Read JSONL, or a JSON list, of paper-format or SWE-bench-format records. A record whose
    instance id repeats an earlier one is dropped with a warning (the first is kept)."""
    records = read_records(path, "the dataset")
    instances: list[Instance] = []
    first: dict[str, str] = {}
    repeats: list[str] = []
    for where, record in records:
        instance = parse_record(where, record)
        if instance.instance_id in first:
            repeats.append(f"{instance.instance_id} ({where.removeprefix(f'{path} ')}, "
                           f"first at {first[instance.instance_id].removeprefix(f'{path} ')})")
            continue
        first[instance.instance_id] = where
        instances.append(instance)
    warnings = [repeats_warning(path, repeats)] if repeats else []
    return Dataset(instances, warnings)


def load_dataset(path: Path) -> list[Instance]:
    """The tasks of `read_dataset`, for callers that show no warnings (scripts, tests)."""
    return read_dataset(path).instances


def repeats_warning(path: Path, repeats: list[str]) -> str:
    shown = "; ".join(repeats[:3]) + (" …" if len(repeats) > 3 else "")
    return (f"{path}: {len(repeats)} records repeat an earlier instance id and are ignored "
            f"(the first is kept): {shown}")


def read_records(path: Path, what: str) -> list[tuple[str, Any]]:
    """(where, JSON value) of each record of a JSONL file or a JSON list; `where` names the
    file and the line (or the record's number in a list); `what` names the file's role in the
    errors about the file itself. Anything unreadable is a DatasetError that says where."""
    try:
        data = read_user_bytes(path, what, MAX_RECORDS_BYTES)
    except UserFileError as exc:
        raise DatasetError(str(exc)) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise DatasetError(f"{path} line {line}: not UTF-8 text (byte "
                           f"0x{data[exc.start]:02x})") from None
    if text.lstrip().startswith("["):
        items = _json(text, f"{path}", whole_file=True)
        if not isinstance(items, list):
            raise DatasetError(f"{path}: expected a JSON list of records")
        return [(f"{path} record {i + 1}", item) for i, item in enumerate(items)]
    return [(f"{path} line {number}", _json(line, f"{path} line {number}"))
            for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def _json(text: str, where: str, whole_file: bool = False) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        at = f" (line {exc.lineno} column {exc.colno})" if whole_file else ""
        raise DatasetError(f"{where}: not valid JSON: {exc.msg}{at}") from None
    except (ValueError, RecursionError) as exc:  # a 5,000-digit number, 100,000 brackets
        raise DatasetError(f"{where}: not valid JSON: {str(exc)[:120] or 'too deeply nested'}"
                           ) from None


def parse_record(where: str, record: Any) -> Instance:
    if not isinstance(record, dict):
        raise DatasetError(f"{where}: expected an object, got {type(record).__name__}")
    repo = _string(where, record, "repo", required=True)
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise DatasetError(f"{where}: field 'repo' must be 'owner/name', got {repo!r}")
    base = _string(where, record, "base_commit", required=True)
    if "changed_files" in record:
        files = _changed_files(where, record["changed_files"])
        title = _string(where, record, "title", required=True)
        body = _string(where, record, "body")
    elif "patch" in record:
        files = files_from_patch(where, _string(where, record, "patch", required=True))
        statement = _string(where, record, "problem_statement", required=True)
        title, _, body = statement.strip().partition("\n")
    else:
        raise DatasetError(f"{where}: needs 'changed_files' (paper format) or 'patch' "
                           "(SWE-bench format)")
    number = record.get("pr_number")
    if number is not None and (isinstance(number, bool) or not isinstance(number, int)):
        raise DatasetError(f"{where}: field 'pr_number' must be an integer, got {number!r}")
    instance_id = _string(where, record, "instance_id") or \
        f"{repo.replace('/', '__')}-{number if number is not None else base[:10]}"
    extra = {k: v for k, v in record.items() if k not in _KNOWN}
    return Instance(instance_id, repo, number, title, body.strip(), base, files,
                    _string(where, record, "created_at"), _string(where, record, "user_login"),
                    _string(where, record, "state"), extra)


def _string(where: str, record: dict, key: str, required: bool = False) -> str:
    value = record.get(key)
    if value is None:
        if required:
            raise DatasetError(f"{where}: missing field {key!r}")
        return ""
    if not isinstance(value, str):
        raise DatasetError(f"{where}: field {key!r} must be a string, got {value!r}")
    if required and not value.strip():
        raise DatasetError(f"{where}: field {key!r} is empty")
    return value


def _changed_files(where: str, value: Any) -> list[ChangedFile]:
    if not isinstance(value, list):
        raise DatasetError(f"{where}: field 'changed_files' must be a list")
    out = []
    for i, item in enumerate(value):
        label = f"{where}: changed_files[{i}]"
        if not isinstance(item, dict):
            raise DatasetError(f"{label} must be an object")
        name = item.get("filename")
        if not isinstance(name, str) or not name:
            raise DatasetError(f"{label}: missing field 'filename'")
        status = item.get("status")
        if status not in STATUSES:
            raise DatasetError(f"{label}: field 'status' must be one of {', '.join(STATUSES)}, "
                               f"got {status!r}")
        patch = item.get("patch") or ""
        if not isinstance(patch, str):
            raise DatasetError(f"{label}: field 'patch' must be a string")
        out.append(ChangedFile(name, status, patch))
    return out


def files_from_patch(where: str, patch: str) -> list[ChangedFile]:
    """Changed files of a unified diff, each with its own part of the patch."""
    from unidiff import PatchSet
    from unidiff.errors import UnidiffParseError

    try:
        parsed = PatchSet(patch)
    except UnidiffParseError as exc:
        raise DatasetError(f"{where}: field 'patch' is not a unified diff: {exc}") from None
    except Exception as exc:  # unidiff fails in other ways on some garbage
        raise DatasetError(f"{where}: field 'patch' is not a unified diff "
                           f"({type(exc).__name__})") from None
    out = []
    for item in parsed:
        if item.is_added_file:
            status, name = "added", item.target_file[2:]
        elif item.is_removed_file:
            status, name = "removed", item.source_file[2:]
        elif item.is_rename:
            status, name = "renamed", item.target_file[2:]
        else:
            status, name = "modified", item.path
        out.append(ChangedFile(name, status, str(item)))
    return out


def write_dataset(instances: list[Instance], path: Path) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for instance in instances:
            handle.write(json.dumps(instance.to_json()) + "\n")


def is_code(path: str) -> bool:
    return path.endswith(CODE_SUFFIXES)
