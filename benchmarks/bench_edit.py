"""The edit benchmark: every edit task (benchmarks/edit_tasks.py) is given to every protocol
(benchmarks/edit_protocols.py) with every model, and the edited file is scored
(benchmarks/edit_score.py). Each result is appended to OUT/results.jsonl as soon as it is
known; a rerun skips the (task, protocol, model) cells already there.

    python -m benchmarks.bench_edit --tasks TASKS.jsonl --out OUT [--protocol NAME ...]
        [--model M ...] [--limit N] [--retry-errors] [--report]
    python -m benchmarks.bench_edit --out OUT --report

Exit codes: 0 done, 2 bad input (tasks, protocol, output place), 5 no usable model,
130 interrupted (the results so far are kept).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks.` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.edit_protocols import NO_MODEL, PROTOCOLS  # noqa: E402
from benchmarks.edit_score import NOT_APPLIED, score_edit  # noqa: E402
from benchmarks.edit_tasks import (  # noqa: E402
    BenchInputError,
    EditTask,
    check_outside_work_tree,
    read_tasks,
)

DEFAULT_MODEL = "local/qwen2.5-coder-1.5b"
RESULTS = "results.jsonl"
EXIT_BAD_INPUT, EXIT_MODEL, EXIT_INTERRUPTED = 2, 5, 130


def cell_key(record: dict) -> tuple[str, str, str]:
    return record["task_id"], record["protocol"], record["model"]


def load_results(out: Path) -> list[dict]:
    """The results in `out`, the last one of each cell (a retried cell appears twice)."""
    path = out / RESULTS
    if not path.exists():
        return []
    latest: dict[tuple[str, str, str], dict] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            latest[cell_key(record)] = record
        except (ValueError, KeyError, TypeError):
            raise BenchInputError(f"{path} line {number}: not a result record") from None
    return list(latest.values())


def run_cell(llm: Any, protocol: str, task: EditTask) -> dict:
    """One task through one protocol: the scores, the usage measured on the model's ledger,
    and the protocol's own account (answers, error). A protocol that raises is recorded as a
    crash with its error, not allowed to stop the benchmark."""
    mark = len(llm.ledger.records)
    started = time.perf_counter()
    crashed = False
    try:
        new, info = PROTOCOLS[protocol](llm, task)
    except Exception as exc:  # recorded and counted in the report's errors column
        new, info, crashed = None, {"error": f"{type(exc).__name__}: {exc}"}, True
    seconds = time.perf_counter() - started
    records = llm.ledger.records[mark:]
    score = score_edit(task, new) if new is not None else NOT_APPLIED
    return {"task_id": task.task_id, "instance_id": task.instance_id, "repo": task.repo,
            "kind": task.kind, "def_kind": task.def_kind, "protocol": protocol,
            "model": llm.model, **score.to_dict(),
            "prompt_tokens": sum(r.prompt_tokens for r in records),
            "completion_tokens": sum(r.completion_tokens for r in records),
            "tokens": sum(r.prompt_tokens + r.completion_tokens for r in records),
            "calls": len(records), "seconds": round(seconds, 3),
            "error": str(info.get("error") or ""), "crashed": crashed, "info": info}


def run(tasks: list[EditTask], protocols: list[str], models: list[str], out: Path,
        retry_errors: bool = False, say: Callable[[str], None] | None = None) -> int:
    """Run every missing cell; return how many ran."""
    from sleepcoder.agent.llm import LLM

    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    out.mkdir(parents=True, exist_ok=True)
    done = {cell_key(r) for r in load_results(out) if not (retry_errors and r.get("crashed"))}
    ran = 0
    with (out / RESULTS).open("a", encoding="utf-8") as handle:
        for model in models:
            todo = [(t, p) for t in tasks for p in protocols
                    if (t.task_id, p, model) not in done]
            if not todo:
                continue
            # the sym-* protocols ask an `add` task the same question: after the first, the
            # answer comes from this cache (same tokens; its seconds are then near zero)
            llm = LLM(model, cache_path=out / "llm_cache.db")
            if any(p not in NO_MODEL for _t, p in todo):
                llm.check_available()
            for number, (task, protocol) in enumerate(todo, 1):
                record = run_cell(llm, protocol, task)
                # a protocol's info may hold anything: what JSON cannot, it gets as text
                handle.write(json.dumps(record, default=str) + "\n")
                handle.flush()
                ran += 1
                say(f"[{number}/{len(todo)}] {model} {protocol} {task.task_id}: "
                    f"{_outcome(record)} ({record['tokens']} tokens, {record['seconds']:.1f} s)")
    return ran


def _outcome(record: dict) -> str:
    if record["crashed"]:
        return f"crashed: {record['error'][:120]}"
    if not record["applied"]:
        return f"no edit: {record['error'][:120]}"
    flags = [name for name in ("parses", "changes_code", "touches_target",
                               "touches_only_target") if record[name]]
    return f"applied ({', '.join(flags) or 'nothing else'}), overlap " \
           f"{record['reference_overlap']:.2f}"


_COLUMNS = ("n | applied + parses | changes code | touches target | only target | "
            "ref. overlap | tokens/task | s/task | errors")


def report(results: list[dict]) -> str:
    """Markdown tables: per protocol and model, then per protocol, model and task kind."""
    lines = [f"| protocol | model | {_COLUMNS} |", "|---|---|" + "---|" * 9]
    groups = _group(results, lambda r: (r["protocol"], r["model"]))
    lines += [f"| {p} | {m} | {_row(rows)} |" for (p, m), rows in groups]
    lines += ["", f"| protocol | model | kind | {_COLUMNS} |", "|---|---|---|" + "---|" * 9]
    groups = _group(results, lambda r: (r["protocol"], r["model"], r["kind"]))
    lines += [f"| {p} | {m} | {k} | {_row(rows)} |" for (p, m, k), rows in groups]
    return "\n".join(lines)


def _group(results: list[dict], key: Callable[[dict], tuple]) -> list[tuple[tuple, list[dict]]]:
    groups: dict[tuple, list[dict]] = {}
    for record in results:
        groups.setdefault(key(record), []).append(record)
    return sorted(groups.items())


def _row(rows: list[dict]) -> str:
    n = len(rows)

    def share(test: Callable[[dict], bool]) -> str:
        return f"{sum(1 for r in rows if test(r)) / n:.2f}"

    return " | ".join([
        str(n), share(lambda r: r["applied"] and r["parses"]), share(lambda r: r["changes_code"]),
        share(lambda r: r["touches_target"]), share(lambda r: r["touches_only_target"]),
        f"{sum(r['reference_overlap'] for r in rows) / n:.2f}",
        f"{sum(r['tokens'] for r in rows) / n:,.0f}", f"{sum(r['seconds'] for r in rows) / n:.1f}",
        str(sum(1 for r in rows if r["crashed"]))])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=Path, help="edit tasks (python -m benchmarks.edit_tasks)")
    parser.add_argument("--out", type=Path, required=True,
                        help=f"results directory ({RESULTS}), outside any git work tree")
    parser.add_argument("--protocol", action="append",
                        help=f"protocol to run, repeatable (known: {', '.join(PROTOCOLS)}; "
                             "default file-blocks)")
    parser.add_argument("--model", action="append",
                        help=f"model, repeatable (default {DEFAULT_MODEL})")
    parser.add_argument("--limit", type=int, default=0, help="only the first N tasks")
    parser.add_argument("--retry-errors", action="store_true",
                        help="run again the cells whose protocol crashed")
    parser.add_argument("--report", action="store_true",
                        help="print the Markdown tables of the results in --out")
    args = parser.parse_args(argv)
    from sleepcoder.agent.local_model import ModelUnavailable, WeightsMismatch

    try:
        out = check_outside_work_tree(args.out)
        if args.tasks is None and not args.report:
            raise BenchInputError("nothing to do: give --tasks to run, --report to report, or both")
        if args.tasks is not None:
            protocols = args.protocol or ["file-blocks"]
            unknown = [p for p in protocols if p not in PROTOCOLS]
            if unknown:
                raise BenchInputError(f"unknown protocol {', '.join(unknown)} "
                               f"(known: {', '.join(PROTOCOLS)})")
            tasks = read_tasks(args.tasks)
            if args.limit:
                tasks = tasks[:args.limit]
            ran = run(tasks, protocols, args.model or [DEFAULT_MODEL], out, args.retry_errors)
            if not ran:
                print(f"nothing to run: every cell is already in {out / RESULTS}",
                      file=sys.stderr)
        if args.report:
            results = load_results(out)
            if not results:
                raise BenchInputError(f"no results in {out / RESULTS} to report")
            print(report(results))
    except BenchInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (ModelUnavailable, WeightsMismatch) as exc:
        print(f"error: no usable model: {exc}", file=sys.stderr)
        return EXIT_MODEL
    except KeyboardInterrupt:
        print(f"interrupted: the results so far are in {args.out / RESULTS}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
