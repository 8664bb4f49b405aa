"""Edit tasks cut from the reference changes of a SWE-Features set: one per function, method or
class that a merged PR changed or added in a modified Python file, with what a protocol may
show the model. The tasks are derived from public repositories: they are written outside the
git work tree and never committed; this module regenerates them.

    python -m benchmarks.edit_tasks --dataset DEV.jsonl --mirrors MIRRORS [--out PATH]
        [--per-repo 8] [--max-def-lines 120] [--seed 0] [--include-tests]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from itertools import zip_longest
from pathlib import Path, PurePosixPath

if __package__ in (None, ""):  # run as a script: make `benchmarks.` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sleepcoder.swe_features.builder import candidate_prs  # noqa: E402
from sleepcoder.swe_features.dataset import DatasetError, Instance, load_dataset  # noqa: E402

from benchmarks.edit_units import (  # noqa: E402
    ParsedFile,
    Unit,
    parse_units,
    split_lines,
    unit_changes,
)

DEFAULT_OUT = Path(tempfile.gettempdir()) / "sleepcoder-edit-tasks" / "tasks.jsonl"
_TEST_DIRS = frozenset({"test", "tests", "testing", "testsuite"})


class BenchInputError(RuntimeError):
    """Input the benchmark cannot use: a missing mirror, an unreadable tasks or results file,
    an output path inside a git work tree."""


@dataclass(frozen=True)
class Anchor:
    """Where the reference put an added definition, in terms of the base file."""

    kind: str  # after (a definition also in base), class (inside it), before, module_end
    qname: str  # the definition or class named by `kind`; "" for module_end
    line: int  # the base line the reference's definition follows (0: the file's start)


@dataclass
class EditTask:
    task_id: str  # instance:path:qname
    instance_id: str
    repo: str
    request: str  # title and body of the PR's commit message
    path: str
    language: str
    kind: str  # change or add
    qname: str
    def_kind: str  # function, method or class
    base_content: str  # the whole file at the base commit
    base_text: str  # the definition at base, decorators included ("" for an add)
    base_span: tuple[int, int] | None  # its first and last line at base (None for an add)
    reference_text: str  # the definition after the reference change
    anchor: Anchor | None  # for an add
    class_header: str  # for a method: the enclosing class's decorators and `class` line
    imports: str  # the base file's import block
    other_changed: list[str] = field(default_factory=list)  # other units the reference touched

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> EditTask:
        values = dict(data)
        if values.get("base_span") is not None:
            values["base_span"] = tuple(values["base_span"])
        if values.get("anchor") is not None:
            values["anchor"] = Anchor(**values["anchor"])
        return cls(**values)


@dataclass
class Cut:
    """Every task the reference changes give, and what was left out and why."""

    tasks: list[EditTask] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # (repo, reason) -> definitions
    files: Counter = field(default_factory=Counter)  # repo -> modified Python files read
    no_head: list[str] = field(default_factory=list)  # instances whose head was not found


def is_test_path(path: str) -> bool:
    parts = PurePosixPath(path).parts
    name = parts[-1] if parts else ""
    return (any(p in _TEST_DIRS for p in parts[:-1]) or name.startswith("test_")
            or name.endswith("_test.py") or name == "conftest.py")


def find_mirror(repo: str, mirrors_dir: Path) -> Path:
    owner, _, name = repo.partition("/")
    for candidate in (mirrors_dir / f"{owner}+{name}" / "repo", mirrors_dir / f"{owner}+{name}",
                      mirrors_dir / owner / name):
        if candidate.is_dir() and _git_ok(candidate, "rev-parse", "--git-dir"):
            return candidate
    raise BenchInputError(f"{repo}: no git mirror under {mirrors_dir} (looked for "
                          f"{owner}+{name}/repo, {owner}+{name} and {owner}/{name})")


def _git_ok(repo: Path, *args: str) -> bool:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True).returncode == 0


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True)
    if result.returncode != 0:
        raise BenchInputError(f"git {' '.join(args)} in {repo} failed: "
                       f"{result.stderr.decode('utf-8', 'replace').strip()[:200]}")
    return result.stdout.decode("utf-8", "replace")


def find_head(mirror: Path, instance: Instance, prs: list[dict]) -> str | None:
    """The PR's head commit: its merge commit's second parent or its squash commit, found as
    swe_features/builder.py finds it, with the same base."""
    for pr in prs:
        if pr["number"] != instance.pr_number:
            continue
        if pr["kind"] == "merge":
            base = _git(mirror, "merge-base", *pr["parents"]).strip()
        else:
            base = pr["parents"][0]
        if base == instance.base_commit:
            return pr["head"]
    return None


def collect(dataset: Path | list[Instance], mirrors_dir: Path, max_def_lines: int = 120,
            include_tests: bool = False) -> Cut:
    """All tasks of the set (unsampled)."""
    instances = load_dataset(dataset) if isinstance(dataset, Path) else dataset
    cut = Cut()
    prs_of: dict[str, list[dict]] = {}
    for instance in instances:
        mirror = find_mirror(instance.repo, mirrors_dir)
        if instance.repo not in prs_of:
            prs_of[instance.repo] = candidate_prs(mirror)
        head = find_head(mirror, instance, prs_of[instance.repo])
        if head is None:
            cut.no_head.append(instance.instance_id)
            continue
        for changed in instance.changed_files:
            if changed.status != "modified" or not changed.filename.endswith(".py"):
                continue
            cut.files[instance.repo] += 1
            base = _git(mirror, "show", f"{instance.base_commit}:{changed.filename}")
            new = _git(mirror, "show", f"{head}:{changed.filename}")
            _cut_file(cut, instance, changed.filename, base, new, max_def_lines, include_tests)
    return cut


def _cut_file(cut: Cut, instance: Instance, path: str, base_content: str, head_content: str,
              max_def_lines: int, include_tests: bool) -> None:
    base, head = parse_units(base_content), parse_units(head_content)
    changes = unit_changes(base, head)
    touched = sorted(changes.touched)
    nested_changes = _nested_changes(base, head)
    for _ in nested_changes:
        cut.skipped[(instance.repo, "nested definition")] += 1
    for qname in sorted(changes.changed | changes.added):
        kind = "change" if qname in changes.changed else "add"
        reason = _skip_reason(qname, kind, path, base, head, changes.added, max_def_lines,
                              include_tests)
        if reason:
            cut.skipped[(instance.repo, reason)] += 1
            continue
        cut.tasks.append(_task(instance, path, qname, kind, base, head,
                               [q for q in touched if q != qname]))


def _nested_changes(base: ParsedFile, head: ParsedFile) -> set[str]:
    """Nested definitions (inside functions) the reference changed or added: counted as
    skipped, since their change is part of their function's."""
    old = {u.qname: u for u in base.nested}
    return {u.qname for u in head.nested if u.qname not in old
            or (old[u.qname].own_text != u.own_text and old[u.qname].key != u.key)}


def _skip_reason(qname: str, kind: str, path: str, base: ParsedFile, head: ParsedFile,
                 added: frozenset[str], max_def_lines: int, include_tests: bool) -> str:
    if not include_tests and is_test_path(path):
        return "in a test file"
    if base.errors or head.errors:
        return "syntax errors in the base or reference file"
    unit = head.unique(qname)
    old = base.unique(qname) if kind == "change" else None
    if unit is None or (kind == "change" and old is None):
        return "name defined more than once"
    if unit.kind == "constant":
        return "a constant, not a function or class"
    if unit.parent and any(unit.parent == q or unit.parent.startswith(q + ".") for q in added):
        return "part of an added class"
    if old is not None and old.bare_key == unit.bare_key:
        return "only its docstring changed"
    if max(unit.lines, old.lines if old else 0) > max_def_lines:
        return f"longer than {max_def_lines} lines"
    return ""


def _task(instance: Instance, path: str, qname: str, kind: str, base: ParsedFile,
          head: ParsedFile, others: list[str]) -> EditTask:
    unit = head.unique(qname)
    old = base.unique(qname) if kind == "change" else None
    assert unit is not None
    enclosing = base.unique(unit.parent) if unit.kind == "method" else None
    return EditTask(
        task_id=f"{instance.instance_id}:{path}:{qname}", instance_id=instance.instance_id,
        repo=instance.repo, request=instance.text, path=path, language="python", kind=kind,
        qname=qname, def_kind=unit.kind, base_content=base.content,
        base_text=old.text if old else "", base_span=(old.start, old.end) if old else None,
        reference_text=unit.text, anchor=None if old else _anchor(unit, base, head),
        class_header=enclosing.header if enclosing else "", imports=base.imports,
        other_changed=others)


def _anchor(unit: Unit, base: ParsedFile, head: ParsedFile) -> Anchor:
    """The nearest earlier sibling that base also has; else the enclosing class; else the next
    sibling base has; else the module's end."""
    siblings = [u for u in head.units if u.parent == unit.parent]
    earlier = [u for u in siblings if u.start < unit.start]
    for sibling in reversed(earlier):
        kept = base.unique(sibling.qname)
        if kept is not None:
            return Anchor("after", kept.qname, kept.end)
    if unit.parent:
        owner = base.unique(unit.parent)
        if owner is not None:
            children = [u for u in base.units if u.parent == owner.qname]
            line = children[0].start - 1 if children else owner.end
            return Anchor("class", owner.qname, line)
    for sibling in siblings:
        kept = base.unique(sibling.qname) if sibling.start > unit.start else None
        if kept is not None:
            return Anchor("before", kept.qname, kept.start - 1)
    return Anchor("module_end", "", len(split_lines(base.content)))


def sample_tasks(tasks: list[EditTask], per_repo: int = 8, seed: int = 0) -> list[EditTask]:
    """Up to `per_repo` tasks of each repository, alternating changes and adds, drawing each
    time from the instance used least so far (ties in a seeded random order); returned
    interleaved, one task of each repository in turn, so that the first N (`bench_edit
    --limit N`) are a subset balanced across repositories."""
    chosen: list[list[EditTask]] = []
    for repo in sorted({t.repo for t in tasks}):
        rng = random.Random(f"{seed}:{repo}")
        pools = {}
        for kind in ("change", "add"):
            pool = sorted((t for t in tasks if t.repo == repo and t.kind == kind),
                          key=lambda t: t.task_id)
            rng.shuffle(pool)
            pools[kind] = pool
        used: Counter = Counter()
        picked: list[EditTask] = []
        while len(picked) < per_repo and any(pools.values()):
            for kind in ("change", "add"):
                pool = pools[kind]
                if not pool or len(picked) >= per_repo:
                    continue
                best = min(range(len(pool)), key=lambda i: (used[pool[i].instance_id], i))
                task = pool.pop(best)
                used[task.instance_id] += 1
                picked.append(task)
        chosen.append(picked)
    return [task for turn in zip_longest(*chosen) for task in turn if task is not None]


def cut_tasks(dataset: Path | list[Instance], mirrors_dir: Path, per_repo: int = 8,
              max_def_lines: int = 120, seed: int = 0,
              include_tests: bool = False) -> list[EditTask]:
    """A balanced, seeded sample of the set's edit tasks."""
    return sample_tasks(collect(dataset, mirrors_dir, max_def_lines, include_tests).tasks,
                        per_repo, seed)


def check_outside_work_tree(path: Path) -> Path:
    """`path` resolved, refused when it lies in a git work tree: derived data is never
    committed, so it must not sit where `git add -A` would pick it up."""
    resolved = path.expanduser().resolve()
    existing = resolved
    while not existing.exists():
        existing = existing.parent
    if existing.is_file():
        existing = existing.parent
    result = subprocess.run(["git", "-C", str(existing), "rev-parse", "--show-toplevel"],
                            capture_output=True, text=True)
    if result.returncode == 0:
        raise BenchInputError(f"{path} is inside the git work tree {result.stdout.strip()}: "
                              "write it outside any repository (the data is derived from "
                              "public repositories and must not be committed)")
    return resolved


def write_tasks(tasks: list[EditTask], out: Path) -> None:
    out = check_outside_work_tree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(out.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        for task in tasks:
            handle.write(json.dumps(task.to_dict()) + "\n")
    os.replace(temporary, out)


def read_tasks(path: Path) -> list[EditTask]:
    tasks = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BenchInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            tasks.append(EditTask.from_dict(json.loads(line)))
        except (ValueError, TypeError) as exc:
            raise BenchInputError(f"{path} line {number}: not an edit task ({exc})") from None
    return tasks


def summary(cut: Cut, sample: list[EditTask]) -> str:
    """Counts per repository (all tasks, then the sample) and what was skipped and why."""
    rows = ["| repository | files | change | add | sampled change | sampled add "
            "| sampled instances |", "|---|---|---|---|---|---|---|"]
    for repo in sorted(cut.files):
        mine = [t for t in cut.tasks if t.repo == repo]
        picked = [t for t in sample if t.repo == repo]
        rows.append(f"| {repo} | {cut.files[repo]} | {_count(mine, 'change')} | "
                    f"{_count(mine, 'add')} | {_count(picked, 'change')} | "
                    f"{_count(picked, 'add')} | {len({t.instance_id for t in picked})} |")
    rows += ["", "| skipped because | definitions |", "|---|---|"]
    reasons: Counter = Counter()
    for (_repo, reason), count in cut.skipped.items():
        reasons[reason] += count
    rows += [f"| {reason} | {count} |" for reason, count in reasons.most_common()]
    if cut.no_head:
        rows += ["", f"head commit not found (instance skipped): {', '.join(cut.no_head)}"]
    return "\n".join(rows)


def _count(tasks: list[EditTask], kind: str) -> int:
    return sum(1 for t in tasks if t.kind == kind)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--mirrors", type=Path, required=True,
                        help="directory of bare mirrors, one OWNER+NAME/repo per repository")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"JSONL to write, outside any git work tree (default {DEFAULT_OUT})")
    parser.add_argument("--per-repo", type=int, default=8)
    parser.add_argument("--max-def-lines", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--include-tests", action="store_true",
                        help="also cut definitions in test files")
    args = parser.parse_args(argv)
    try:
        check_outside_work_tree(args.out)
        cut = collect(args.dataset, args.mirrors, args.max_def_lines, args.include_tests)
        sample = sample_tasks(cut.tasks, args.per_repo, args.seed)
        write_tasks(sample, args.out)
    except (BenchInputError, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary(cut, sample))
    print(f"\nwrote {len(sample)} tasks to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
