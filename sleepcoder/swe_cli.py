"""`sleepcoder swe-features build|score|run|report`: the benchmark's command line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

app = typer.Typer(help="SWE-Features: build a dataset, run the conditions, score, report.",
                  no_args_is_help=True, rich_markup_mode="markdown")  # see cli.HELP_MARKUP
_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)
EXIT_FAILURE = 1  # every task of a repository failed
EXIT_BAD_INPUT = 2
MAX_COUNT = 10_000_000  # tasks, lines, files: beyond this a number is a typo


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    _err.print(f"sleepcoder: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def _check_ranges(*options: tuple[str, float, float, float]) -> None:
    """Fail (exit 2) on the first (name, value, least, most) out of range, before any work."""
    from sleepcoder.tools.config import range_problem

    for name, value, least, most in options:
        problem = range_problem(name, value, least, most)
        if problem:
            _fail(problem)


def _warn(message: str) -> None:
    _err.print(f"warning: {message}", markup=False, soft_wrap=True)


def _dataset(path: Path):
    from sleepcoder.swe_features.dataset import DatasetError, read_dataset

    try:
        dataset = read_dataset(path)
    except DatasetError as exc:
        _fail(str(exc))
    for message in dataset.warnings:
        _warn(message)
    return dataset.instances


def _folder(path: Path, label: str, create: bool = False) -> Path:
    """`path` as a usable folder (created if asked), or a one-line error naming `label`."""
    if path.exists() and not path.is_dir():
        _fail(f"{label}: not a folder")
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _fail(f"{label}: cannot create it: {exc.strerror or exc}")
    elif not path.exists():
        _fail(f"{label}: no such folder")
    return path.resolve()


@app.command()
def build(
    repo: Annotated[Path, typer.Option(help="Repository (checkout or bare mirror).")],
    out: Annotated[Path | None, typer.Option(help="JSONL file (default: stdout).")] = None,
    name: Annotated[str | None, typer.Option(
        help="owner/name for the records (default: from remote.origin.url, else from an "
        "OWNER+NAME or OWNER+NAME/repo folder).")] = None,
    min_code_files: int = 3,
    max_lines: int = 1500,
    max_files: int = 40,
    since: Annotated[str, typer.Option(help="Only PRs merged since (git date).")] = "",
    limit: Annotated[int, typer.Option(help="Newest N (0: all).")] = 0,
    spread: Annotated[int, typer.Option(
        help="At most N, evenly spaced over the history (0: all).")] = 0,
    code_suffix: Annotated[list[str] | None, typer.Option(
        help="What counts as a code file for --min-code-files (repeat; default .py .js).")
    ] = None,
    no_title_filter: Annotated[bool, typer.Option(
        "--no-title-filter", help="Keep fixes, reverts, bumps, refactors too.")] = False,
    no_patches: Annotated[bool, typer.Option("--no-patches")] = False,
    feature_titles: Annotated[bool, typer.Option(
        "--feature-titles", help="Keep only titles that name new functionality (add, support, "
        "option...) and no upgrade, formatting, typing, move or removal.")] = False,
    model_filter: Annotated[str | None, typer.Option(
        help="Also ask this model whether each PR adds new functionality.")] = None,
) -> None:
    """Mine merged feature PRs from a repository's history."""
    from sleepcoder.swe_features import naming
    from sleepcoder.swe_features.builder import BuildFilters, ask_model_is_feature, since_problem
    from sleepcoder.swe_features.builder import build as mine
    from sleepcoder.swe_features.dataset import CODE_SUFFIXES, write_dataset

    _check_ranges(("--min-code-files", min_code_files, 0, MAX_COUNT),
                  ("--max-lines", max_lines, 1, MAX_COUNT),
                  ("--max-files", max_files, 1, MAX_COUNT), ("--limit", limit, 0, MAX_COUNT))
    if not repo.exists():
        _fail(f"path does not exist: {repo}")
    if not repo.is_dir():
        _fail(f"--repo {repo}: not a folder (give a checkout or a bare mirror)")
    if since and (problem := since_problem(repo, since)):
        _fail(problem)
    repo_name = name or naming.repo_name(repo)
    decide = None
    if model_filter:
        from sleepcoder.agent.llm import LLM

        decide = ask_model_is_feature(LLM(model_filter))
    unreadable: list[str] = []
    filters = BuildFilters(min_code_files, max_lines, max_files, not no_title_filter, since,
                           limit, not no_patches, _suffixes(code_suffix) or CODE_SUFFIXES,
                           spread, feature_titles)
    # a bar on stderr only when someone watches it: never in a log or a pipe
    with _bar(f"mining {repo_name}") as advance:
        try:
            instances = mine(repo, repo_name, filters, decide, progress=advance,
                             unreadable=unreadable)
        except RuntimeError as exc:
            _fail(str(exc))
    if unreadable:
        _warn(f"{len(unreadable)} PRs skipped, git cannot read their changes (objects "
              f"missing from the repository); first {unreadable[0]}")
    if out:
        try:
            write_dataset(instances, out)
        except OSError as exc:
            _fail(f"cannot write {out}: {exc.strerror or exc}")
        _err.print(f"{len(instances)} tasks written to {out}", markup=False)
    else:
        for instance in instances:
            typer.echo(json.dumps(instance.to_json()))


@contextmanager
def _bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A transient progress bar on stderr, advanced by `(done, total)` calls; off when stderr
    is not a terminal."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=_err, transient=True,
                  disable=not _err.is_terminal) as progress:
        task = progress.add_task(description, total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield advance


def _suffixes(given: list[str] | None) -> tuple[str, ...]:
    out = []
    for suffix in given or []:
        suffix = suffix.strip()
        if not suffix.lstrip(".") or "/" in suffix:
            _fail(f"--code-suffix {suffix!r}: give a file ending such as .ts")
        out.append(suffix if suffix.startswith(".") else f".{suffix}")
    return tuple(out)


@app.command()
def score(
    dataset: Annotated[Path, typer.Option(help="The dataset (JSONL or JSON).")],
    predictions: Annotated[Path, typer.Option(
        help="SWE-bench predictions or records with modified_files.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Per-task and mean precision, recall and F1 of predictions."""
    from sleepcoder.swe_features.dataset import DatasetError
    from sleepcoder.swe_features.scorer import coverage_warnings, read_predictions
    from sleepcoder.swe_features.scorer import score as compute

    instances = _dataset(dataset)
    try:
        loaded = read_predictions(predictions)
    except DatasetError as exc:
        _fail(str(exc))
    warnings = loaded.warnings + coverage_warnings(instances, loaded.predictions)
    for message in warnings:
        _warn(message)
    result = compute(instances, loaded.predictions)
    result["warnings"] = warnings
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    for task in result["tasks"]:
        note = " (no prediction)" if task["missing"] else ""
        code = "–" if task["code_f1"] is None else f"{task['code_f1']:.3f}"
        _out.print(f"{task['instance_id']:<32} P {task['precision']:.3f}  R "
                   f"{task['recall']:.3f}  F1 {task['f1']:.3f}  F1 .py/.js {code}{note}",
                   markup=False)
    mean = result["mean"]
    code = "–" if mean["code_f1"] is None else f"{mean['code_f1']:.3f}"
    _out.print(f"mean over {result['counts']['tasks']} tasks: P {mean['precision']:.3f}  "
               f"R {mean['recall']:.3f}  F1 {mean['f1']:.3f}  F1 .py/.js {code}", markup=False)


@app.command()
def run(
    dataset: Annotated[Path, typer.Option(help="The dataset (JSONL or JSON).")],
    out: Annotated[Path, typer.Option(help="Output folder (reused to resume).")],
    condition: Annotated[list[str], typer.Option(
        help="map, no-map, map-localize, map-localize-no-llm, bm25 (repeatable).")],
    budget: Annotated[list[int] | None, typer.Option(
        help="Test-time token budgets for map and no-map (repeatable; 0: none).")] = None,
    model: Annotated[str | None, typer.Option(help="litellm model string.")] = None,
    repos_dir: Annotated[Path | None, typer.Option(
        help="Folder of clones or mirrors: DIR/owner/name or DIR/owner+name.")] = None,
    repo_path: Annotated[list[str] | None, typer.Option(
        help="owner/name=PATH (repeatable).")] = None,
    limit: Annotated[int, typer.Option(help="First N tasks only (0: all).")] = 0,
    workers: Annotated[int, typer.Option(help="Local processes (one repository each).")] = 1,
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler address (tcp://host:8786).")] = None,
    max_steps: Annotated[int, typer.Option(help="Model calls per solve (0: none).")] = 0,
    no_sleep: Annotated[bool, typer.Option(
        "--no-sleep", help="Map conditions use the static map only: no sleep pass.")] = False,
    cache_dir: Annotated[Path | None, typer.Option(
        help="Maps, snapshots and clones (default: OUT/cache).")] = None,
    edit_format: Annotated[str, typer.Option(
        help="Edit format of the solve conditions: auto, symbols, blocks, whole.")] = "auto",
) -> None:
    """Run conditions x budgets over a dataset; finished cells are skipped on a rerun."""
    from sleepcoder.swe_features.runner import CONDITIONS, NEEDS_MODEL, RunSettings, SchedulerError
    from sleepcoder.swe_features.runner import run as evaluate
    from sleepcoder.tools.config import EDIT_FORMATS, MAX_BUDGET, MAX_STEPS, MAX_WORKERS

    _check_ranges(("--workers", workers, 1, MAX_WORKERS), ("--limit", limit, 0, MAX_COUNT),
                  ("--max-steps", max_steps, 0, MAX_STEPS),
                  *(("--budget", b, 0, MAX_BUDGET) for b in budget or []))
    if scheduler is not None:
        try:
            import dask.distributed  # noqa: F401
        except ImportError:
            _fail("--scheduler needs Dask: pip install 'sleepcoder[eval]'")
    if edit_format not in EDIT_FORMATS:
        _fail(f"--edit-format must be one of {', '.join(EDIT_FORMATS)}, got {edit_format!r}")
    unknown = [c for c in condition if c not in CONDITIONS]
    if unknown:
        _fail(f"unknown condition {unknown[0]!r}; choose from {', '.join(CONDITIONS)}")
    paths = {}
    for item in repo_path or []:
        key, sep, value = item.partition("=")
        if not sep or "/" not in key:
            _fail(f"--repo-path wants owner/name=PATH, got {item!r}")
        paths[key] = str(_folder(Path(value), f"--repo-path {item}"))
    if repos_dir is not None:
        _folder(repos_dir, f"--repos-dir {repos_dir}")
    instances = _dataset(dataset)
    if cache_dir is not None:
        _folder(cache_dir, f"--cache-dir {cache_dir}", create=True)
    _folder(out, f"--out {out}", create=True)
    if limit:
        instances = instances[:limit]
    if any(c in NEEDS_MODEL for c in condition):
        from sleepcoder.agent.llm import LLM, resolve_model
        from sleepcoder.agent.local_model import ModelUnavailable, WeightsMismatch
        from sleepcoder.tools.config import LLMConfig

        model = resolve_model(model, LLMConfig())[0]
        try:
            LLM(model).check_available()
        except (ModelUnavailable, WeightsMismatch) as exc:
            _fail(str(exc), 5)
    settings = RunSettings(tuple(condition), tuple(budget or [0]), model,
                           str(repos_dir.resolve()) if repos_dir else None, paths,
                           str(cache_dir.resolve()) if cache_dir else "", str(out.resolve()),
                           max_steps, not no_sleep, edit_format)
    total = len(instances) * len(settings.cells())
    means: dict[str, list[float]] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=_err, transient=False) as progress:
        task = progress.add_task("cells", total=total)

        def on_cell(row: dict) -> None:
            means.setdefault(row["condition"], []).append(row["f1"])
            running = "  ".join(f"{c} {sum(v) / len(v):.2f}" for c, v in sorted(means.items()))
            progress.update(task, advance=1, description=f"F1: {running}")

        def on_job(repo: str, cells: int) -> None:
            if workers > 1 or scheduler:
                progress.update(task, advance=cells, description=f"done {repo}")

        try:
            summary = evaluate(instances, settings, workers, scheduler, on_cell, on_job)
        except SchedulerError as exc:
            progress.stop()
            _fail(str(exc))
    from sleepcoder.swe_features.report import markdown

    _out.print(markdown(summary), markup=False)
    _err.print(f"results in {out}: results.jsonl, predictions/, summary.json "
               "(`sleepcoder swe-features report` adds the table and the plot)", markup=False)
    _health(summary, out)


def _health(summary: dict, out: Path) -> None:
    """Warn about snapshots that lacked files; fail if every task of a repository failed."""
    for repo, count in summary.get("unavailable_files", {}).items():
        _warn(f"{repo}: base commits were checked out without up to {count} files whose "
              f"content the repository lacks (listed in {out / 'logs'}/"
              f"{repo.replace('/', '+')}.log)")
    failed = summary.get("failed_repositories", {})
    for repo, reason in failed.items():
        _err.print(f"sleepcoder: every task of {repo} failed: {reason}", markup=False,
                   soft_wrap=True)
    if failed:
        _fail(f"{len(failed)} repositories failed entirely: {', '.join(failed)}", EXIT_FAILURE)


@app.command()
def report(
    out: Annotated[Path | None, typer.Argument(help="An evaluation output folder.")] = None,
    out_option: Annotated[Path | None, typer.Option(
        "--out", help="The same folder, named as `run --out` names it.")] = None,
) -> None:
    """Write report.md (condition x budget table) and f1_vs_tokens.png (needs matplotlib)
    into the folder."""
    from sleepcoder.swe_features.report import PLOT_MISSING, write_report

    # one folder spelled two ways (relative and absolute) is named once, not twice
    if out is not None and out_option is not None and out.resolve() != out_option.resolve():
        _fail("name the evaluation folder once: OUT or --out OUT")
    out = out or out_option
    if out is None:
        _fail("name the evaluation folder: sleepcoder swe-features report OUT")

    try:
        table, figure = write_report(out)
    except RuntimeError as exc:
        _fail(str(exc))
    if figure is None:
        _out.print(f"wrote {table}", markup=False)
        _warn(PLOT_MISSING)
    else:
        _out.print(f"wrote {table} and {figure}", markup=False)
