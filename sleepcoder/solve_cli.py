"""Terminal side of `sleepcoder solve`: options from flags and configuration, the plan review
prompt, printing the plan, the diff and the token use, writing and applying the patch."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path

import typer
from rich.console import Console

_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)

EXIT_OK, EXIT_BAD_INPUT, EXIT_STORE, EXIT_BUSY, EXIT_MODEL = 0, 2, 3, 4, 5
EXIT_NO_PATCH, EXIT_DIRTY, EXIT_ABORTED, EXIT_INCOMPLETE = 6, 7, 8, 9


def run_solve_command(*, request, repo, issue_file, model, budget, max_steps, no_map,
                      localize_only, no_llm, review, test_cmd, out, apply, force, resume,
                      as_json, store=None, edit_format=None) -> int:
    from sleepcoder.agent.llm import LLMError
    from sleepcoder.agent.local_model import ModelUnavailable, WeightsMismatch
    from sleepcoder.agent.solve.context import SolveOptions
    from sleepcoder.agent.solve.run import SolveError, resume_solve, start_solve
    from sleepcoder.progress import RichProgress, warn_config
    from sleepcoder.tools.config import ConfigError, load_config
    from sleepcoder.tools.diffs import dirty_paths
    from sleepcoder.tools.lock import MapBusy
    from sleepcoder.tools.scan import ScanError, resolve_root
    from sleepcoder.tools.store import StoreError, damage_in, explain_failure
    from sleepcoder.tools.store_location import prepare_store_dir, why_unwritable

    problem = check_inputs(budget=budget, max_steps=max_steps, issue_file=issue_file, out=out,
                           resume=resume)
    from sleepcoder.tools.config import EDIT_FORMATS

    if edit_format is not None and edit_format not in EDIT_FORMATS:
        problem = f"--edit-format must be one of {', '.join(EDIT_FORMATS)}, got {edit_format!r}"
    if problem:
        return _fail(problem, EXIT_BAD_INPUT)
    try:
        root, git_repo = resolve_root(repo)
        config = load_config(root).with_store(store)
    except (ScanError, ConfigError) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    warn_config(config)
    store_dir = config.map.store_path(root)
    if git_repo is not None:
        # the scratch worktree is a `git worktree`, which git records in the git directory
        git_dir = Path(git_repo.common_dir)
        if not os.access(git_dir, os.W_OK | os.X_OK):
            return _fail(f"cannot write the git directory {git_dir} ({why_unwritable(git_dir)})"
                         ": solve edits in a scratch worktree that git records there; run it "
                         "in a writable clone", EXIT_BAD_INPUT)
    if apply and git_repo is not None and not force:
        dirty = dirty_paths(root)
        if dirty:
            return _fail("refusing --apply: your working tree has uncommitted changes ("
                         + ", ".join(dirty[:5]) + (" …" if len(dirty) > 5 else "")
                         + "); commit or stash them, or add --force", EXIT_DIRTY)
    solve = config.solve
    options = SolveOptions(
        model=model or "", no_map=no_map, no_llm=no_llm, localize_only=localize_only,
        review=review, test_cmd=test_cmd if test_cmd is not None else solve.test_cmd,
        budget=budget or solve.budget, max_steps=max_steps or solve.max_steps,
        edit_attempts=solve.edit_attempts, test_rounds=solve.test_rounds,
        test_timeout=solve.test_timeout, allow_ci_edits=solve.allow_ci_edits,
        protected=solve.protected_paths, test_env=solve.test_env,
        test_sandbox=solve.test_sandbox, test_network=solve.test_network,
        test_writable=solve.test_writable,
        edit_format=edit_format or solve.edit_format, edit_protocol=solve.edit_protocol)
    try:
        prepare_store_dir(store_dir)  # before anything writes there (the model's cache)
        with RichProgress(enabled=not as_json) as progress:
            if resume:
                result = resume_solve(root, resume, config=config, progress=progress)
            else:
                result = start_solve(root, request, options, issue_file=issue_file,
                                     config=config, progress=progress)
            while result.interrupt is not None:
                answer = _review(result.interrupt)
                result = resume_solve(root, result.thread, answer, config=config,
                                      progress=progress)
    except (SolveError, ScanError) as exc:  # ScanError: the map's refresh met bad input
        return _fail(str(exc), EXIT_BAD_INPUT)
    except (ModelUnavailable, WeightsMismatch) as exc:
        return _fail(str(exc), EXIT_MODEL)
    except StoreError as exc:
        return _fail(str(exc), EXIT_STORE)
    except MapBusy as exc:
        return _fail(str(exc), EXIT_BUSY)
    except sqlite3.DatabaseError as exc:  # a query on the map (or the run's checkpoints)
        explained = explain_failure(store_dir, exc)
        return _fail(str(explained), EXIT_BUSY if isinstance(explained, MapBusy) else EXIT_STORE)
    except LLMError as exc:
        return _fail(f"the model failed: {exc}", 1)
    except Exception:
        damage = damage_in(store_dir)  # a damaged map read without an SQLite error
        if damage is None:
            raise  # a bug: main() reports it
        return _fail(str(damage), EXIT_STORE)
    except KeyboardInterrupt:
        _err.print("interrupted: continue with `sleepcoder solve --resume <run id>` (the run "
                   "id was printed when the run started)")
        return 130
    record = result.record
    unwritten = False
    if out and result.patch:
        try:
            out.write_text(result.patch)
        except OSError as exc:  # checked before the run; the folder changed since
            _fail(f"cannot write {out}: {exc.strerror or exc}; the patch is in the run record "
                  f".sleepcoder/runs/{result.thread}.json and printed below", EXIT_BAD_INPUT)
            out, unwritten = None, True
    if as_json:
        typer.echo(json.dumps({**record, "patch": result.patch}, indent=2))
    elif result.status == "localized":
        _print_localization(record)
    else:
        _print_run(record, result.patch, out)
    if result.status == "aborted":
        return EXIT_ABORTED
    if unwritten:  # the file asked for is not there: a script must not take it as done
        return EXIT_BAD_INPUT
    if apply and result.patch:
        from sleepcoder.tools.diffs import apply_to_tree, parse_patch

        try:
            apply_to_tree(root, parse_patch(result.patch))
        except ValueError as exc:
            return _fail(str(exc), EXIT_DIRTY)
        _err.print(f"applied to {root}")
    if result.status in ("done", "localized"):
        return EXIT_OK
    return EXIT_INCOMPLETE if result.patch else EXIT_NO_PATCH


def check_inputs(*, budget: int, max_steps: int, issue_file: Path | None,
                 out: Path | None, resume: str | None = None) -> str:
    """Why the command line cannot work ('' when it can), found before any token is spent."""
    from sleepcoder.tools.config import MAX_BUDGET, MAX_STEPS

    if resume is not None and not resume.strip():
        return "--resume needs the id of a run (`sleepcoder runs` lists them)"
    if budget < 0 or budget > MAX_BUDGET:
        return f"--budget must be between 0 (no limit) and {MAX_BUDGET:,} tokens, got {budget:,}"
    if max_steps < 0 or max_steps > MAX_STEPS:
        return f"--max-steps must be between 0 (no limit) and {MAX_STEPS:,}, got {max_steps:,}"
    if issue_file is not None:
        from sleepcoder.tasks.task import issue_file_problem

        problem = issue_file_problem(issue_file)
        if problem:
            return problem
    if out is not None:
        return _unwritable(out)
    return ""


def _unwritable(out: Path) -> str:
    """Why the patch could not be written to `out` ('' when it can)."""
    import os

    if out.is_dir():
        return f"--out {out} is a directory; give a file name"
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        return f"--out {out}: the folder {parent} does not exist"
    if out.exists():
        if not out.is_file():
            return f"--out {out} is not a regular file"
        if not os.access(out, os.W_OK):
            return f"--out {out} is not writable"
    elif not os.access(parent, os.W_OK | os.X_OK):
        return f"--out {out}: the folder {parent} is not writable"
    # access() answers yes for root everywhere and knows nothing of /proc or a read-only
    # mount: open the file for real (appending, so nothing is lost; a new one is removed)
    existed = out.exists()
    flags = os.O_WRONLY | os.O_APPEND | (0 if existed else os.O_CREAT | os.O_EXCL)
    try:
        os.close(os.open(out, flags, 0o644))
    except OSError as exc:
        return f"--out {out} cannot be written: {exc.strerror or exc}"
    if not existed:
        out.unlink()
    return ""


def _fail(message: str, code: int) -> int:
    _err.print(f"sleepcoder: {message}", markup=False, soft_wrap=True)
    return code


def _review(payload: dict) -> dict:
    """Ask the user about the plan: approve, change the files, or abort."""
    steps = payload.get("plan", {}).get("steps", [])
    _err.print("[bold]Plan[/bold]")
    for s in steps:
        _err.print(f"  {s['action'].upper()} {s['path']}: {s['what']}", markup=False)
    interactive = _interactive()
    if not interactive:
        # no terminal (a pipe, CI): the answer is a line of standard input; none aborts
        _err.print("[a]pprove, [e]dit the file list, or [q]uit (read from standard input)",
                   markup=False)
        line = _stdin_line().strip().lower()
        if not line:
            _err.print("no answer on standard input: the plan is not approved (aborted)",
                       markup=False)
    else:
        line = typer.prompt("[a]pprove, [e]dit the file list, or [q]uit", default="a").lower()
    if line.startswith("a"):
        return {"action": "approve"}
    if line.startswith("e"):
        current = ", ".join(payload.get("files", []))
        raw = typer.prompt("files to change (comma-separated)", default=current) \
            if interactive else _stdin_line()
        return {"action": "edit", "files": [f.strip() for f in raw.split(",") if f.strip()]}
    if line and not line.startswith("q"):  # `yes | sleepcoder solve --review` answers 'y'
        _err.print(f"{line[:40]!r} is not one of a, e, q: the plan is not approved (aborted)",
                   markup=False)
    return {"action": "abort"}


def _interactive() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # closed
        return False


def _stdin_line() -> str:
    """A line of standard input; '' (no answer) when it is closed or not text."""
    try:
        return sys.stdin.readline() if sys.stdin is not None else ""
    except (OSError, ValueError):  # closed, or bytes that are not text (UnicodeDecodeError)
        return ""


def _print_localization(record: dict) -> None:
    loc = record.get("localization", {})
    _out.print(f"Files to change: {', '.join(loc.get('files', [])) or '(none)'}", markup=False)
    if loc.get("used_history") is False:
        _out.print(f"(the history has {loc.get('history_commits', 0)} usable commits, too few "
                   "to learn from: ranked by text and code structure only)", markup=False)
    elif loc.get("calibration", {}).get("used"):
        tasks = loc["calibration"].get("tasks", 0)
        _out.print(f"(calibrated for this repository on {tasks} of its past features)",
                   markup=False)
    for c in loc.get("candidates", [])[:20]:
        mark = "*" if c["path"] in loc.get("files", []) else " "
        _out.print(f" {mark} {c['score']:.3f}  {c['path']}  — {'; '.join(c['reasons'][:3])}",
                   markup=False)
    votes = loc.get("model", {}).get("votes")
    if votes:
        _out.print("model: " + ", ".join(f"{p} {v}" for p, v in votes.items()), markup=False)


def _print_run(record: dict, patch: str, out: Path | None) -> None:
    from sleepcoder.progress import estimate_note, file_outcomes, model_hint

    plan = record.get("plan") or {}
    if plan.get("steps"):
        _out.print("[bold]Plan[/bold]")
        for s in plan["steps"]:
            _out.print(f"  {s['action'].upper()} {s['path']}: {s['what']}", markup=False)
            for unit in s.get("units", []):
                where = {"change": f"CHANGE {unit['name']}", "imports": "IMPORTS"}.get(
                    unit["kind"], f"ADD {unit['name']} {unit['anchor'].upper()}")
                _out.print(f"    {where}: {unit['what']}", markup=False)
    if patch:
        _out.print("[bold]Patch[/bold]" + (f" (written to {out})" if out else ""))
        _out.print(patch, markup=False, soft_wrap=True)
    outcomes = file_outcomes(record)
    if outcomes:
        _out.print("[bold]Files[/bold]")
        for line in outcomes:
            _out.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    test = record.get("test")
    if test:
        rounds = test.get("rounds", 0)
        _out.print(f"Tests: `{test.get('command')}` {test.get('status')}"
                   + (f" after {rounds} fix round(s)" if rounds else ""), markup=False,
                   highlight=False, soft_wrap=True)
    usage = record["usage"]["test"]
    cost = "cost unknown" if usage["cost"] is None else f"${usage['cost']:.4f}"
    _out.print(f"[bold]Status:[/bold] {record['status']}   test-time: {usage['steps']} model "
               f"calls, {usage['tokens']:,} tokens ({usage['prompt_tokens']:,} prompt + "
               f"{usage['completion_tokens']:,} completion), {cost}, {record['seconds']} s",
               highlight=False)
    estimated = estimate_note(usage, bool(record.get("options", {}).get("budget")))
    if estimated:
        _err.print(f"note: {estimated}", markup=False, soft_wrap=True)
    _out.print(f"run record: .sleepcoder/runs/{record['id']}.json (every model request: "
               f"`sleepcoder runs show {record['id']}`)", markup=False, soft_wrap=True)
    for event in record.get("events", []):
        if event.startswith(("stopped", "no valid", "tests")):  # files: in the list above
            _err.print(f"note: {event}", markup=False)
    hint = model_hint(record)
    if hint:
        _err.print(hint, markup=False, soft_wrap=True)
