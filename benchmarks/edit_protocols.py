"""Edit protocols: ways of asking a model for one edit task's change. A protocol is a callable
`(llm, task) -> (new file content or None, info)`; `info` holds what explains the outcome
(`answers`, `attempts`, `error`, `tokens`). The harness finds protocols by name in PROTOCOLS;
`register(name)` adds one.

`file-blocks` is the method the solve graph uses today: agent/solve/edit.py's `edit_file` on
the task's file, with the target named in the plan step (whole file or its window, SEARCH/REPLACE
blocks, repairs with the rejection's reason, a whole-file rewrite as the last try on a small file).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.edit_tasks import EditTask
from benchmarks.edit_units import split_lines

Protocol = Callable[[Any, EditTask], tuple[str | None, dict]]
PROTOCOLS: dict[str, Protocol] = {}
NO_MODEL: set[str] = set()  # protocols that never ask the model (no pre-flight for them)


def register(name: str, model: bool = True) -> Callable[[Protocol], Protocol]:
    def add(protocol: Protocol) -> Protocol:
        PROTOCOLS[name] = protocol
        if not model:
            NO_MODEL.add(name)
        return protocol
    return add


def target_text(task: EditTask) -> str:
    """What is to be done, in the words of a plan step: which definition, and for an add,
    where it goes."""
    if task.kind == "change":
        return f"change the {task.def_kind} `{task.qname}` as the request needs"
    parent, _, name = task.qname.rpartition(".")
    text = f"add a new {task.def_kind} `{name}`" + (f" to class `{parent}`" if parent else "")
    anchor = task.anchor
    if anchor is not None and anchor.kind == "after":
        text += f", after `{anchor.qname}`"
    elif anchor is not None and anchor.kind == "before":
        text += f", before `{anchor.qname}`"
    elif anchor is not None and anchor.kind == "module_end":
        text += ", at the end of the file"
    return text


@register("reference", model=False)
def reference(llm: Any, task: EditTask) -> tuple[str | None, dict]:
    """The reference's own definition spliced into the base file: the ceiling of every score,
    and a check of the cutter and the scorer on real tasks without a model."""
    return splice_reference(task), {"answers": [], "tokens": 0}


def splice_reference(task: EditTask) -> str:
    lines = split_lines(task.base_content)
    if task.base_span is not None:
        first, last = task.base_span
        return "".join(lines[:first - 1]) + task.reference_text + "".join(lines[last:])
    assert task.anchor is not None
    at = task.anchor.line
    if task.anchor.kind in ("after", "module_end"):
        lines.insert(at, "\n" + task.reference_text)
    else:
        lines.insert(at, task.reference_text + "\n")
    return "".join(lines)


class _Recorder:
    """The LLM as the solve context sees it, keeping each answer's text for the results."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.ledger = llm.ledger
        self.answers: list[str] = []

    def complete(self, messages: list[dict[str, str]], **options: Any) -> Any:
        answer = self.llm.complete(messages, **options)
        self.answers.append(answer.text)
        return answer


@dataclass
class _Tree:
    """All the solve context's edit asks of its workspace: where the one file is written."""
    path: Path

    def editable(self, relative: str, rules: Any) -> tuple[str, Path]:
        from sleepcoder.tools.pathguard import check_path

        normal = check_path(relative, rules)
        return normal, self.path / normal


@register("file-blocks")
def file_blocks(llm: Any, task: EditTask) -> tuple[str | None, dict]:
    from sleepcoder.agent.solve.context import SolveContext, SolveOptions
    from sleepcoder.agent.solve.edit import edit_file
    from sleepcoder.agent.solve.plan import Plan, Step
    from sleepcoder.tasks.task import Task
    from sleepcoder.tools.config import Config

    recorder = _Recorder(llm)
    title, _, body = task.request.partition("\n\n")
    with tempfile.TemporaryDirectory(prefix="sleepcoder-edit-bench-") as tmp:
        root = Path(tmp)
        target = root / task.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(task.base_content, encoding="utf-8")
        ctx = SolveContext(task=Task(task.task_id, title, body, str(root), "", "edit-bench"),
                           options=SolveOptions(), config=Config(),
                           llm=recorder, workspace=_Tree(root),  # type: ignore[arg-type]
                           store=None, progress=None, _mark=len(llm.ledger.records))
        step = Step("edit", task.path, target_text(task))
        result = edit_file(ctx, step, Plan([step]))
        new = target.read_text(encoding="utf-8") if result.status == "done" else None
    return new, {"answers": recorder.answers, "attempts": result.attempts,
                 "error": result.error, "tokens": ctx.tokens()}


def _symbols_protocol(protocol: str) -> Protocol:
    """The `symbols` edit format's unit edit (agent/solve/protocols.py) with `protocol`: the
    task's definition as a CHANGE unit, or an ADD unit at the task's anchor."""

    def run(llm: Any, task: EditTask) -> tuple[str | None, dict]:
        from sleepcoder.agent.solve.context import SolveContext, SolveOptions
        from sleepcoder.agent.solve.plan import Plan, Step, Unit
        from sleepcoder.agent.solve.protocols import edit_unit
        from sleepcoder.agent.solve.units import prepare
        from sleepcoder.tasks.task import Task
        from sleepcoder.tools.config import Config
        from sleepcoder.tools.symbols import SymbolError, definitions

        recorder = _Recorder(llm)
        title, _, body = task.request.partition("\n\n")
        unit = Unit("change", task.qname, what=target_text(task)) if task.kind == "change" \
            else Unit("add", task.qname.rsplit(".", 1)[-1], _anchor(task, definitions),
                      target_text(task))
        step = Step("edit", task.path, target_text(task), [unit])
        with tempfile.TemporaryDirectory(prefix="sleepcoder-edit-bench-") as tmp:
            root = Path(tmp)
            ctx = SolveContext(task=Task(task.task_id, title, body, str(root), "", "edit-bench"),
                               options=SolveOptions(), config=Config(),
                               llm=recorder, workspace=_Tree(root),  # type: ignore[arg-type]
                               store=None, progress=None, _mark=len(llm.ledger.records))
            try:
                work = prepare(ctx, step, Plan([step]), unit, task.base_content,
                               task.language, [])
            except SymbolError as exc:
                return None, {"answers": [], "error": str(exc), "tokens": 0}
            outcome = edit_unit(ctx, work, protocol, 3)
        return outcome.content, {"answers": recorder.answers, "attempts": outcome.attempts,
                                 "error": outcome.error, "tokens": ctx.tokens(),
                                 "requests": outcome.requests}

    return run


def _anchor(task: EditTask, definitions: Callable) -> str:
    anchor = task.anchor
    if anchor is None or anchor.kind == "module_end":
        return "end"
    if anchor.kind == "after":
        return f"after {anchor.qname}"
    if anchor.kind == "class":
        return f"in {anchor.qname}"
    # before X: after the definition that precedes X at its level, else the end
    found = [d.qname for d in definitions(task.base_content, task.language)]
    index = found.index(anchor.qname) if anchor.qname in found else -1
    parent = anchor.qname.rpartition(".")[0]
    earlier = [q for q in found[:max(index, 0)] if q.rpartition(".")[0] == parent]
    return f"after {earlier[-1]}" if earlier else (f"in {parent}" if parent else "end")


for _name in ("rewrite", "blocks", "insert", "decomposed", "decomposed+blocks",
              "blocks+decomposed", "blocks+rewrite"):
    register(f"sym-{_name}")(_symbols_protocol(_name))
