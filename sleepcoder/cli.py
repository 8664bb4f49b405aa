"""The `sleepcoder` command line: a thin front door over `tools`, `agent`, `tasks` and
`swe_features`; it parses arguments, reports progress and maps errors to exit codes.

Exit codes: 0 success, 1 unexpected failure (one line; the traceback goes to a crash log),
2 bad input (path, option or configuration; a bare repository), 3 the map store cannot be used
(missing, damaged, newer schema, not writable, not a directory, deleted during a build),
4 the map is busy, 5 no usable model (not installed, weights do not verify, or the pre-flight
found a missing key, an unreachable server or an unknown model), 6 solve produced no valid patch
(failed, or budget exhausted before any edit), 7 --apply refused (uncommitted changes),
8 aborted at plan review.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from difflib import get_close_matches
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperGroup

from sleepcoder import __version__

if TYPE_CHECKING:
    from sleepcoder.tools.config import Config

EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_STORE, EXIT_BUSY, EXIT_MODEL = 1, 2, 3, 4, 5
EXIT_NO_PATCH, EXIT_DIRTY, EXIT_ABORTED = 6, 7, 8
MAX_DAYS = 36_500  # `runs clean --older-than`: a century


class _DefaultToBuild(TyperGroup):
    """`sleepcoder map [PATH]` builds: anything that is not a subcommand goes to `build`."""

    default = "build"

    def parse_args(self, ctx, args):  # type: ignore[override]
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            # `map stat` is a mistyped subcommand, not a repository named `stat` that does
            # not exist either (it would fail with "path does not exist: stat")
            if args and not args[0].startswith("-") and not os.path.lexists(args[0]):
                close = get_close_matches(args[0], [c for c in self.commands
                                                    if c != self.default])
                if close:
                    ctx.fail(f"No such command or path {args[0]!r}. Did you mean "
                             f"{close[0]!r}?")
            args = [self.default, *args]
        return super().parse_args(ctx, args)


# No pretty exceptions: main() turns anything unhandled into one line and a crash log (a rich
# traceback would also print local variables, API keys among them).


class _DefaultToList(_DefaultToBuild):
    """`sleepcoder runs [PATH]` lists the runs."""

    default = "list"


# Markdown, not Typer's default "rich" markup: help strings wrapped in the source flow as one
# paragraph (rich mode keeps the line breaks in the command list), and a `[solve]` in a help
# string stays text (rich mode takes it for a style tag and drops it).
HELP_MARKUP = "markdown"


def _swe_features_app():
    from sleepcoder.swe_cli import app as swe_app

    return swe_app


def _hooks_app():
    from sleepcoder.hooks_cli import hooks_app

    return hooks_app


class _Root(TyperGroup):
    """The top-level commands. `swe-features` and `hooks` are built when they are named or
    listed (help), so that `map`, `solve` and the others do not import them (about 40 ms of
    every command's start)."""

    lazy: dict[str, Callable[[], typer.Typer]] = {"swe-features": _swe_features_app,
                                                  "hooks": _hooks_app}

    def list_commands(self, ctx):  # type: ignore[override]
        return [*super().list_commands(ctx), *(n for n in self.lazy if n not in self.commands)]

    def get_command(self, ctx, cmd_name):  # type: ignore[override]
        if cmd_name in self.lazy and cmd_name not in self.commands:
            group = typer.main.get_group(self.lazy[cmd_name]())
            group.name = cmd_name  # the help lists a group by its own name
            self.add_command(group, cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx, args):  # type: ignore[override]
        # Typer's "Did you mean" picks among the commands built: build the lazy ones a
        # mistyped name is close to (`swe-feature`, `hook`) so that they are suggested too
        if args and args[0] not in self.commands and args[0] not in self.lazy:
            for name in get_close_matches(args[0], list(self.lazy)):
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)


app = typer.Typer(cls=_Root, help="sleepcoder: a coding agent that maps repositories at sleep "
                  "time.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False, rich_markup_mode=HELP_MARKUP)
map_app = typer.Typer(cls=_DefaultToBuild, help="Build, refresh and inspect the static map.",
                      rich_markup_mode=HELP_MARKUP)
app.add_typer(map_app, name="map")
runs_app = typer.Typer(cls=_DefaultToList, help="List, show and clean up solve runs.",
                       rich_markup_mode=HELP_MARKUP)
app.add_typer(runs_app, name="runs")


def _print_version(given: bool) -> None:
    if given:
        typer.echo(f"sleepcoder {__version__}")
        raise typer.Exit(0)


@app.callback()
def _options(
    _version: Annotated[bool, typer.Option(
        "--version", help="Print the version and exit.", callback=_print_version,
        is_eager=True)] = False,
) -> None:
    pass  # the help is the Typer's; this callback only carries --version


PathArg = Annotated[Path, typer.Argument(help="Repository or directory (default: here).")]
StoreOpt = Annotated[Path | None, typer.Option(
    "--store", help="Map store directory (default: .sleepcoder/ in the repository).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
RepoOpt = Annotated[Path | None, typer.Option(
    "--repo", help="The repository, as solve, mcp and hooks take it (instead of PATH).")]
WatchOpt = Annotated[bool, typer.Option(
    "--watch", help="Keep running: refresh again whenever HEAD, the index or the working tree "
    "changes (Ctrl-C stops). See docs/hooks.md.")]
IntervalOpt = Annotated[float | None, typer.Option(
    help="With --watch: seconds between two looks for changes (default: [hooks] "
    "watch_interval, 2).")]


def _err(message: str) -> None:
    typer.echo(f"sleepcoder: {message}", err=True)


def _check_ranges(*options: tuple[str, float | None, float, float]) -> None:
    """Exit 2 on the first (name, value, least, most) whose value is out of range (None: the
    option was not given), before any work; the same rule as the configuration's numbers."""
    from sleepcoder.tools.config import range_problem

    for name, value, least, most in options:
        problem = "" if value is None else range_problem(name, value, least, most)
        if problem:
            _err(problem)
            raise typer.Exit(EXIT_BAD_INPUT)


@contextlib.contextmanager
def _exit_codes(interrupted: str, store_dir: Path | None = None):
    """Map the errors every command that uses the map can meet to their exit codes. A failed
    SQLite query on the map in `store_dir` is checked and reported as what it is (damaged,
    busy, ...): the queries are spread over many modules, the explanation is here."""
    try:
        yield
    except KeyboardInterrupt:
        _err(f"interrupted: {interrupted}")
        raise typer.Exit(130) from None
    except Exception as exc:
        # imported here, not before the block: the model's modules cost a `map` 10 ms to load
        import sqlite3

        from sleepcoder.agent.llm import LLMError
        from sleepcoder.agent.local_model import ModelUnavailable, WeightsMismatch
        from sleepcoder.tools.lock import MapBusy
        from sleepcoder.tools.scan import ScanError
        from sleepcoder.tools.store import StoreError, damage_in, explain_failure

        codes = ((ScanError, EXIT_BAD_INPUT, ""), (StoreError, EXIT_STORE, ""),
                 (MapBusy, EXIT_BUSY, ""), (ModelUnavailable, EXIT_MODEL, ""),
                 (WeightsMismatch, EXIT_MODEL, ""),
                 (LLMError, EXIT_FAILURE, "the model failed: "))
        if isinstance(exc, sqlite3.DatabaseError) and store_dir is not None:
            exc = explain_failure(store_dir, exc)
        elif not isinstance(exc, tuple(kind for kind, _c, _p in codes)) and store_dir:
            exc = damage_in(store_dir) or exc  # else a bug: main() reports it
        for kind, code, prefix in codes:
            if isinstance(exc, kind):
                _err(f"{prefix}{exc}")
                raise typer.Exit(code) from None
        raise


def _either(path: Path, repo: Path | None) -> Path:
    """The repository named by PATH or by --repo (the option solve, mcp and hooks take)."""
    if repo is None:
        return path
    # one directory spelled two ways (relative and absolute, a trailing `..`) is one repository
    if path != Path(".") and path.resolve() != repo.resolve():
        _err(f"give the repository once: PATH ({path}) or --repo ({repo}), not both")
        raise typer.Exit(EXIT_BAD_INPUT)
    return repo


def _load(path: Path, store: Path | None):
    """Resolve the repository root and its configuration (with --store applied)."""
    from sleepcoder.progress import warn_config
    from sleepcoder.tools.config import ConfigError, load_config
    from sleepcoder.tools.scan import ScanError, resolve_root

    try:
        root, _repo = resolve_root(path)
        config = load_config(root)
    except (ScanError, ConfigError) as exc:
        _err(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    warn_config(config)
    return root, config.with_store(store)


def _read_map(path: Path, store: Path | None, read):
    """`read(store)` on the map of PATH, opened for reading; its errors mapped to exit codes."""
    from sleepcoder.tools.store import MapStore
    from sleepcoder.tools.store_location import MapMissing

    root, config = _load(path, store)
    store_dir = config.map.store_path(root)
    with _exit_codes("nothing was changed", store_dir):
        opened, _notice = MapStore.open(store_dir, create=False)
        try:
            # every build records the root with its files: a map without one was never built
            # to the end (a first `map` still running or interrupted, a --rebuild), and would
            # read as an empty repository
            if not opened.get_meta("root"):
                raise MapMissing(f"the map at {store_dir} has no finished build yet (its first "
                                 "build is still running or was interrupted): run `sleepcoder "
                                 "map` to finish it")
            return read(opened)
        finally:
            opened.close()


@map_app.command("build")
def map_build(
    path: PathArg = Path("."),
    rebuild: Annotated[bool, typer.Option(
        "--rebuild", help="Discard the stored map (e.g. a corrupted one) and build afresh."
    )] = False,
    workers: Annotated[int, typer.Option(help="Parser processes (0: one per CPU).")] = 0,
    wait: Annotated[float | None, typer.Option(
        help="Seconds to wait if another run is updating this map (default: config).")] = None,
    store: StoreOpt = None,
    repo: RepoOpt = None,
    as_json: JsonOpt = False,
    watch: WatchOpt = False,
    interval: IntervalOpt = None,
) -> None:
    """Build the map of PATH, or refresh it: only new or changed files are parsed."""
    from sleepcoder.progress import RichProgress, print_report
    from sleepcoder.tools.config import MAX_SECONDS, MAX_WORKERS
    from sleepcoder.tools.repomap import build_map

    _check_ranges(("--workers", workers, 0, MAX_WORKERS), ("--wait", wait, 0, MAX_SECONDS))
    root, config = _load(_either(path, repo), store)
    if watch:
        from sleepcoder.hooks_cli import refresh_map

        _watch(root, config, interval, as_json, rebuild,
               lambda quick: refresh_map(root, quick, workers=workers or None))
        return
    _without_watch(interval)
    with _exit_codes("the files parsed so far are stored; run the same command to resume",
                     config.map.store_path(root)), \
            RichProgress(enabled=not as_json) as progress:
        report = build_map(root, config, rebuild=rebuild, workers=workers or None,
                           progress=progress, lock_timeout=wait, calibrate=True)
    if as_json:
        typer.echo(report.to_json())
    else:
        print_report(report, progress.printed)


@map_app.command("show")
def map_show(
    path: PathArg = Path("."),
    budget: Annotated[int, typer.Option(help="Token budget for the rendering.")] = 2048,
    focus: Annotated[str, typer.Option(
        help="Text to focus on (a request, symbols, paths): ranks matching files first.")] = "",
    store: StoreOpt = None,
    repo: RepoOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the map within a token budget, most relevant files first."""
    from sleepcoder.tools.config import MAX_BUDGET
    from sleepcoder.tools.render import render_map

    _check_ranges(("--budget", budget, 1, MAX_BUDGET))
    rendered = _read_map(_either(path, repo), store,
                         lambda opened: render_map(opened, budget=budget, focus=focus))
    typer.echo(rendered.to_json() if as_json else rendered.text)
    if not as_json:
        _err(f"{len(rendered.files)} of {rendered.total_files} files shown, "
             f"~{rendered.tokens} tokens of {budget}")


@map_app.command("stats")
def map_stats(path: PathArg = Path("."), store: StoreOpt = None, as_json: JsonOpt = False,
              repo: RepoOpt = None) -> None:
    """Print what the stored map holds and how its last build went."""
    from sleepcoder.progress import print_stats
    from sleepcoder.tools.stats import map_stats as collect

    stats = _read_map(_either(path, repo), store, collect)
    if as_json:
        import json

        typer.echo(json.dumps(stats, indent=2))
    else:
        print_stats(stats)


@app.command()
def sleep(
    path: PathArg = Path("."),
    model: Annotated[str | None, typer.Option(
        help="litellm model string (default: SLEEPCODER_MODEL, config, embedded local model)."
    )] = None,
    budget: Annotated[int | None, typer.Option(
        help="Sleep-time token budget for this pass (0: no limit; default from config).")] = None,
    no_llm: Annotated[bool, typer.Option(
        "--no-llm", help="No model: summaries from docstrings and signatures, notes from "
        "history only (labelled as such).")] = False,
    fresh: Annotated[bool, typer.Option(
        "--fresh", help="Do not resume an interrupted pass; start a new one.")] = False,
    retry_skipped: Annotated[bool, typer.Option(
        "--retry-skipped", help="Ask the model again for files it failed on before.")] = False,
    store: StoreOpt = None,
    repo: RepoOpt = None,
    as_json: JsonOpt = False,
    watch: WatchOpt = False,
    interval: IntervalOpt = None,
) -> None:
    """Sleep-time pass: refresh the map, then summarize files and directories and write
    likely-change notes. Incremental (only what changed) and resumable (Ctrl-C, then rerun)."""
    from sleepcoder.agent.sleep.run import every_request_failed, run_sleep
    from sleepcoder.progress import RichProgress, print_sleep_report
    from sleepcoder.tools.config import MAX_BUDGET

    _check_ranges(("--budget", budget, 0, MAX_BUDGET))
    root, config = _load(_either(path, repo), store)
    _install_model_key(model or os.environ.get("SLEEPCODER_MODEL", "") or config.llm.model)
    if watch:
        from sleepcoder.hooks_cli import sleep_pass

        _watch(root, config, interval, as_json, fresh or retry_skipped,
               lambda quick: sleep_pass(root, quick, budget=budget, model=model,
                                        no_llm=no_llm))
        return
    _without_watch(interval)
    with _exit_codes("finished summaries are stored; run the same command to resume",
                     config.map.store_path(root)), \
            RichProgress(enabled=not as_json) as progress:
        report = run_sleep(root, config, model=model, budget=budget, no_llm=no_llm,
                           fresh=fresh, retry_skipped=retry_skipped, progress=progress)
    if as_json:
        import json

        typer.echo(json.dumps(report, indent=2))
    else:
        print_sleep_report(report)
    failure = every_request_failed(report)
    if failure:
        from sleepcoder.tools.errors import clip

        _err(f"the model failed on every request of this pass (all {report['llm']['failed']}"
             f"): {clip(failure)}; what was stored is kept")
        raise typer.Exit(EXIT_FAILURE)


def _without_watch(interval: float | None) -> None:
    if interval is not None:
        _err("--interval is the pace of --watch: give --watch too")
        raise typer.Exit(EXIT_BAD_INPUT)


def _watch(root: Path, config: Config, interval: float | None, as_json: bool, one_off: bool,
           refresh: Callable[[Config], str]) -> None:
    """`--watch` of map and sleep: `refresh(config)` now and after every change, the map lock
    not waited for (a busy map is retried at the next change)."""
    from dataclasses import replace

    from sleepcoder.hooks_cli import watch_and_refresh
    from sleepcoder.tools.config import RANGES

    if as_json or one_off:
        _err("--watch prints a line per refresh: it does not take --json, --rebuild, --fresh "
             "or --retry-skipped")
        raise typer.Exit(EXIT_BAD_INPUT)
    _check_ranges(("--interval", interval, *RANGES["hooks"]["watch_interval"]))
    quick = replace(config, map=replace(config.map, lock_timeout=0))
    with _exit_codes("what was refreshed is stored", config.map.store_path(root)):
        watch_and_refresh(root, interval or config.hooks.watch_interval,
                          lambda: refresh(quick))


@app.command()
def solve(
    request: Annotated[str | None, typer.Argument(
        help="The feature request (or use --issue-file).")] = None,
    repo: Annotated[Path, typer.Option(help="Repository (default: here).")] = Path("."),
    issue_file: Annotated[Path | None, typer.Option(
        help="Read the request from a file (first line: title).")] = None,
    model: Annotated[str | None, typer.Option(help="litellm model string.")] = None,
    budget: Annotated[int, typer.Option(help="Test-time token budget (0: none).")] = 0,
    max_steps: Annotated[int, typer.Option(help="Most model calls (0: no limit).")] = 0,
    no_map: Annotated[bool, typer.Option(
        "--no-map", help="Baseline: no map; the model explores with read-only tools.")] = False,
    localize_only: Annotated[bool, typer.Option(
        "--localize-only", help="Stop after localization: print the ranked files.")] = False,
    no_llm: Annotated[bool, typer.Option(
        "--no-llm", help="With --localize-only: the deterministic ranking and cut-off.")] = False,
    review: Annotated[bool, typer.Option(
        "--review", help="Show the plan and wait for approval before editing.")] = False,
    test_cmd: Annotated[str | None, typer.Option(
        help="Command that runs the tests in the scratch worktree (yours, never the "
        "request's).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the patch to this file.")] = None,
    apply: Annotated[bool, typer.Option(
        "--apply", help="Apply the patch to your working tree.")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="With --apply: even with uncommitted changes.")] = False,
    resume: Annotated[str | None, typer.Option(
        help="Resume an interrupted run by its id (printed when it stopped).")] = None,
    edit_format: Annotated[str | None, typer.Option(
        help="How the model edits: symbols (definition by definition), blocks "
        "(search/replace), whole (whole files), auto (default: [solve] edit_format).")] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Implement a feature request: localize, plan, edit in a scratch worktree, check, and emit
    a patch. Your working tree is not touched unless you pass --apply."""
    from sleepcoder.solve_cli import run_solve_command

    if request is None and issue_file is None and resume is None:
        _err("give a request, --issue-file FILE, or --resume ID")
        raise typer.Exit(EXIT_BAD_INPUT)
    code = run_solve_command(
        request=request, repo=repo, issue_file=issue_file, model=model, budget=budget,
        max_steps=max_steps, no_map=no_map, localize_only=localize_only, no_llm=no_llm,
        review=review, test_cmd=test_cmd, out=out, apply=apply, force=force, resume=resume,
        store=store, as_json=as_json, edit_format=edit_format)
    raise typer.Exit(code)


@runs_app.command("list")
def runs_list(path: PathArg = Path("."), store: StoreOpt = None, as_json: JsonOpt = False,
              repo: RepoOpt = None) -> None:
    """List the solve runs: status, start, request, resumable, worktree, disk used."""
    from sleepcoder.agent.solve.runs import list_runs
    from sleepcoder.progress import print_runs

    root, config = _load(_either(path, repo), store)
    store_dir = config.map.store_path(root)
    with _exit_codes("nothing was changed", store_dir):
        found = list_runs(store_dir)
    if as_json:
        import json

        typer.echo(json.dumps([run.to_dict() for run in found], indent=2))
    else:
        print_runs(found)


@runs_app.command("show")
def runs_show(
    run: Annotated[str, typer.Argument(help="The run id (`sleepcoder runs` lists them).")],
    path: PathArg = Path("."),
    full: Annotated[bool, typer.Option(
        "--full", help="Every message of every model request, not only the last one.")] = False,
    store: StoreOpt = None,
    repo: RepoOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a run: request, model, status, tokens, plan, per-file outcomes, then each model
    request with its answer and what became of it."""
    from sleepcoder.agent.solve.runs import UnknownRun, show_run
    from sleepcoder.progress import print_run_detail

    root, config = _load(_either(path, repo), store)
    store_dir = config.map.store_path(root)
    try:
        with _exit_codes("nothing was changed", store_dir):
            detail = show_run(store_dir, run)
    except UnknownRun as exc:
        _err(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if as_json:
        import json

        typer.echo(json.dumps(detail.to_dict(), indent=2))
    else:
        print_run_detail(detail, full=full)


@runs_app.command("clean")
def runs_clean(
    path: PathArg = Path("."),
    older_than: Annotated[float | None, typer.Option(
        "--older-than", help="Also remove unfinished runs started more than DAYS ago.",
        metavar="DAYS")] = None,
    everything: Annotated[bool, typer.Option(
        "--all", help="Also remove every unfinished run (not one that is running).")] = False,
    store: StoreOpt = None,
    repo: RepoOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove finished runs and leftover worktrees (never the map or the model cache)."""
    from sleepcoder.agent.solve.runs import clean_runs
    from sleepcoder.progress import human_bytes

    _check_ranges(("--older-than", older_than, 0, MAX_DAYS))
    root, config = _load(_either(path, repo), store)
    store_dir = config.map.store_path(root)
    with _exit_codes("some runs may be left: run the same command again", store_dir):
        report = clean_runs(root, store_dir, older_than_days=older_than,
                            everything=everything)
    if as_json:
        import json

        typer.echo(json.dumps(report.to_dict(), indent=2))
        raise typer.Exit(EXIT_STORE if report.failed else 0)
    typer.echo(f"removed {len(report.removed)} runs, freed {human_bytes(report.freed_bytes)}")
    if report.kept:
        _err(f"kept {len(report.kept)} unfinished runs (resume them, or remove them with "
             "--older-than DAYS or --all)")
    if report.failed:
        _err(f"could not remove {len(report.failed)} runs: {report.failed[0]}")
        raise typer.Exit(EXIT_STORE)


def _install_model_key(model: str) -> None:
    """The action's `api-key` input, moved to the variable the model's provider reads."""
    from sleepcoder.tasks.model_key import ModelKeyError, install_model_key

    try:
        install_model_key(model)
    except ModelKeyError as exc:
        _err(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None


@app.command()
def bot() -> None:
    """GitHub Actions entry point: a labelled issue or a `/sleepcoder` comment becomes a draft
    pull request (reads GITHUB_EVENT_PATH, GITHUB_EVENT_NAME, GITHUB_REPOSITORY,
    GITHUB_TOKEN, GITHUB_API_URL). See docs/ci-bot.md."""
    from sleepcoder.progress import RichProgress, warn_config
    from sleepcoder.tasks.bot import BotEnv, run_bot
    from sleepcoder.tasks.github import EventError
    from sleepcoder.tools.config import ConfigError

    try:
        env = BotEnv.from_environ()
        with RichProgress(enabled=False) as progress:
            outcome = run_bot(env, progress, on_config=warn_config)
    except (EventError, ConfigError) as exc:
        _err(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    detail = f": {outcome.reason}" if outcome.reason else ""
    link = f" {outcome.pull_url}" if outcome.pull_url else ""
    typer.echo(f"sleepcoder bot: {outcome.action}{detail}{link}")
    raise typer.Exit(outcome.exit_code)


@app.command()
def models(as_json: JsonOpt = False) -> None:
    """List the embedded local models, whether they can run here, and the default model."""
    from sleepcoder.agent.models import list_models
    from sleepcoder.progress import print_models

    root_config = _load(Path("."), None)[1] if Path(".").is_dir() else None
    listing = list_models(root_config.llm if root_config else None)
    if as_json:
        import json

        typer.echo(json.dumps(listing, indent=2))
    else:
        print_models(listing)


@app.command()
def mcp(repo: Annotated[Path, typer.Option(help="Repository (default: here).")] = Path(".")
        ) -> None:
    """Serve the map to a coding agent over stdio (Model Context Protocol); see docs/mcp.md."""
    try:
        from sleepcoder.mcp_server import serve
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] != "mcp":
            raise
        _err("the MCP server needs the MCP SDK: pip install 'sleepcoder[mcp]'")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    root, config = _load(repo, None)
    with _exit_codes("the server stopped", config.map.store_path(root)):
        serve(root, config)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(f"sleepcoder {__version__}")


_MAIN_PID = os.getpid()


def _terminated(signum, _frame) -> None:
    if os.getpid() != _MAIN_PID:
        # a forked worker (the map's parse pool) inherits this handler; the pool ends its
        # workers with SIGTERM, which must end them quietly, not print a traceback each
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    raise KeyboardInterrupt


# options that take a path: Typer turns an empty one into Path(""), which is the current folder
PATH_OPTIONS = frozenset({"--repo", "--store", "--out", "--issue-file", "--dataset",
                          "--predictions", "--repos-dir", "--cache-dir"})


def _flag_names() -> frozenset[str]:
    """The options that take no value in every command that has them (built only when an
    empty argument follows an option: it builds every command)."""
    root = typer.main.get_command(app)
    context = typer.Context(root)  # Typer carries its own click: no isinstance on click's
    flags, valued = set(), set()

    def walk(command) -> None:
        for param in command.params:
            if param.param_type_name == "option":
                names = [*param.opts, *param.secondary_opts]
                (flags if param.is_flag or param.count else valued).update(names)
        if hasattr(command, "list_commands"):
            for name in command.list_commands(context):
                walk(command.get_command(context, name))

    walk(root)
    return frozenset(flags - valued)


def empty_path_argument(args: list[str], flags: Callable[[], frozenset[str]] = _flag_names
                        ) -> str:
    """The complaint about an empty path in `args` (`--repo "$REPO"` with REPO unset would
    map or solve the current folder instead), or "" if there is none. An empty value of
    another option (`--test-cmd ""`) is left to that option."""
    for index, arg in enumerate(args):
        name, equals, value = arg.partition("=")
        if equals and name in PATH_OPTIONS and not value:
            return f"{name} is empty (an unset variable?): give a path or leave the option out"
        if arg:
            continue
        previous = args[index - 1] if index else ""
        if previous in PATH_OPTIONS:
            return (f"{previous} is empty (an unset variable?): give a path or leave the "
                    "option out")
        positional = not previous.startswith("-") or "=" in previous or \
            previous in flags()
        if previous != "solve" and positional:
            return ("an empty argument (an unset variable?): give a path or a request, or "
                    "leave it out")
    return ""


def main() -> None:
    from sleepcoder.tools.secrets import ScrubbedStream, scrubber

    scrubber()  # learn the environment's secrets before anything removes them
    # SIGTERM (a CI job cancelled, `kill`) ends the run like Ctrl-C: the cleanup runs (the
    # test command and its scratch folder go; the run stays resumable)
    global _MAIN_PID
    _MAIN_PID = os.getpid()
    signal.signal(signal.SIGTERM, _terminated)
    sys.stdout = ScrubbedStream(sys.stdout)  # no printed line carries a secret
    sys.stderr = ScrubbedStream(sys.stderr)
    complaint = empty_path_argument(sys.argv[1:])
    if complaint:
        _err(complaint)
        sys.exit(EXIT_BAD_INPUT)
    try:
        app()  # standalone mode: click exits for its own errors, anything else comes here
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(130)
    except Exception as exc:
        from sleepcoder.crash import report_crash

        _err(report_crash(exc))
        sys.exit(EXIT_FAILURE)


if __name__ == "__main__":
    main()
