"""`sleepcoder hooks install|uninstall`, the background refresh the hooks start
(`hooks run`, never printing to the terminal), and the `--watch` loop of `map` and `sleep`."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from sleepcoder.tools.config import Config
from sleepcoder.tools.hooks import HOOK_NAMES, LOG_LINES, LOG_NAME, HookChange

PENDING_NAME = "hooks.pending"  # a hook asked for a refresh that has not started yet
EXIT_BAD_INPUT = 2

hooks_app = typer.Typer(help="Git hooks that refresh the map in the background as you work.",
                        no_args_is_help=True, rich_markup_mode="markdown")
RepoOpt = Annotated[Path, typer.Option("--repo", help="Repository (default: here).")]


def _err(message: str) -> None:
    typer.echo(f"sleepcoder: {message}", err=True)


def _hooks_dir(repo: Path) -> Path:
    from sleepcoder.tools.hooks import HookError, hooks_dir
    from sleepcoder.tools.scan import ScanError, resolve_root

    try:
        root, git_repo = resolve_root(repo)
        if git_repo is None:
            raise HookError(f"{root} is not a git repository: there are no git hooks to install")
        return hooks_dir(root)
    except (ScanError, HookError) as exc:
        _err(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None


@hooks_app.command("install")
def install(repo: RepoOpt = Path(".")) -> None:
    """Install post-commit, post-merge, post-checkout and post-rewrite hooks that refresh the
    map in the background; hooks already there keep running first. Safe to run again."""
    from sleepcoder.tools.hooks import HookError, install_hooks

    directory = _hooks_dir(repo)
    try:
        changes = install_hooks(directory, os.path.abspath(sys.executable))
    except HookError as exc:
        _err(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    _report(changes)
    typer.echo(f"hooks in {directory}; notes go to .sleepcoder/{LOG_NAME}")
    if not _has_map(repo):
        typer.echo("there is no map yet: run `sleepcoder map` once, the hooks keep it fresh")
    _exit_if_failed(changes)


def _report(changes: list[HookChange]) -> None:
    """One line per hook: what was done, on standard output; what failed, on standard error."""
    for change in changes:
        if change.failed:
            _err(f"{change.name}: {change.detail}")
        else:
            detail = f": {change.detail}" if change.detail else ""
            typer.echo(f"{change.name}: {change.action}{detail}")


def _exit_if_failed(changes: list[HookChange]) -> None:
    if any(change.failed for change in changes):
        raise typer.Exit(EXIT_BAD_INPUT)


def _has_map(repo: Path) -> bool:
    from sleepcoder.progress import warn_config
    from sleepcoder.tools.config import ConfigError, load_config
    from sleepcoder.tools.scan import ScanError, resolve_root
    from sleepcoder.tools.store import DB_NAME

    try:
        root, _repo = resolve_root(repo)
        config = load_config(root)
    except (ScanError, ConfigError):
        return False
    warn_config(config)
    return (config.map.store_path(root) / DB_NAME).is_file()


@hooks_app.command("uninstall")
def uninstall(repo: RepoOpt = Path(".")) -> None:
    """Remove the hooks and put back the ones they chained; others are left alone."""
    from sleepcoder.tools.hooks import HookError, uninstall_hooks

    directory = _hooks_dir(repo)
    try:
        changes = uninstall_hooks(directory)
    except HookError as exc:
        _err(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    _report(changes)
    if not changes:
        typer.echo(f"no sleepcoder hooks in {directory}")
    _exit_if_failed(changes)


@hooks_app.command("run", hidden=True)
def run(hook: Annotated[str, typer.Argument(help="The hook that started this refresh.")]
        ) -> None:
    """What the hooks start in the background: never prints, never fails loudly; every
    outcome is one line in the hooks log of the map store."""
    if hook not in HOOK_NAMES:
        _err(f"unknown hook {hook!r}: one of {', '.join(HOOK_NAMES)}")
        raise typer.Exit(EXIT_BAD_INPUT)
    run_hook_job(Path.cwd(), hook)


class HookLog:
    """The bounded log of the background refreshes: a line per outcome, newest last. It is
    never written through a symbolic link (a repository could commit one pointing anywhere):
    then nothing is logged."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, line: str) -> None:
        from sleepcoder.tools.store_location import open_in_store

        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            fd = open_in_store(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
            with os.fdopen(fd, "r+b") as handle:
                handle.write(f"{stamp} {line}\n".encode("utf-8", "backslashreplace"))
                handle.flush()
                handle.seek(0)
                lines = handle.read().splitlines(keepends=True)
            if len(lines) > LOG_LINES:
                self._keep(lines[-LOG_LINES // 2:])
        except OSError:
            pass  # nowhere left to tell: the hook must stay silent in the terminal

    def _keep(self, lines: list[bytes]) -> None:
        from sleepcoder.tools.store_location import open_in_store

        tmp = self.path.with_name(self.path.name + ".tmp")
        with os.fdopen(open_in_store(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as out:
            out.write(b"".join(lines))
        os.replace(tmp, self.path)


def _request_refresh(pending: Path) -> None:
    """Leave the request file; OSError when it cannot (a symbolic link there is refused)."""
    from sleepcoder.tools.store_location import open_in_store

    os.close(open_in_store(pending, os.O_WRONLY | os.O_CREAT))


def run_hook_job(cwd: Path, hook: str) -> None:
    """Refresh the map of the work tree at `cwd` unless another refresh is running (it then
    picks this request up) or another sleepcoder holds the map (the request waits for the next
    hook). Requests that arrive during a refresh are served by one more refresh, not many."""
    from sleepcoder.tools.config import load_config
    from sleepcoder.tools.lock import MapBusy, map_lock
    from sleepcoder.tools.scan import resolve_root
    from sleepcoder.tools.store import DB_NAME
    from sleepcoder.tools.store_location import StoreError, check_location

    try:
        root, _repo = resolve_root(cwd)
        config = load_config(root)
    except Exception as exc:  # noqa: BLE001 - a background job reports, it does not raise
        fallback = cwd / ".sleepcoder"
        if fallback.is_dir() and not fallback.is_symlink():
            HookLog(fallback / LOG_NAME).write(f"{hook}: skipped: {exc}")
        return
    store_dir = config.map.store_path(root)
    try:
        check_location(store_dir)  # no symbolic link in or as the store
    except StoreError as exc:
        if store_dir.is_dir() and not store_dir.is_symlink():
            # HookLog opens the log without following links: a linked log stays unwritten
            HookLog(store_dir / LOG_NAME).write(f"{hook}: skipped: {_one_line(exc)}")
        return
    if not (store_dir / DB_NAME).is_file():
        if store_dir.is_dir():
            HookLog(store_dir / LOG_NAME).write(
                f"{hook}: skipped: there is no map yet (run `sleepcoder map` once)")
        return
    log = HookLog(store_dir / LOG_NAME)
    for message in config.warnings:  # the hooks never print: the log is where they are said
        log.write(f"{hook}: warning: {message}")
    pending = store_dir / PENDING_NAME
    try:
        _request_refresh(pending)
    except OSError as exc:
        log.write(f"{hook}: skipped: cannot write {pending}: {exc.strerror}")
        return
    while os.path.lexists(pending):
        try:
            with map_lock(store_dir, 0, name="hooks.lock", what="hooks refresh"):
                while os.path.lexists(pending):
                    pending.unlink(missing_ok=True)
                    if not _refresh_once(root, config, hook, log):
                        _request_refresh(pending)  # the map is busy: the next hook tries
                        return
        except MapBusy:
            return  # a refresh is running and will see the pending request
        except Exception as exc:  # noqa: BLE001
            log.write(f"{hook}: refresh failed: {_one_line(exc)}")
            return


def _refresh_once(root: Path, config: Config, hook: str, log: HookLog) -> bool:
    """One refresh (and the sleep pass when [hooks] sleep is on); False when another
    sleepcoder holds the map, which is noted, not waited for."""
    from sleepcoder.tools.lock import MapBusy

    quick = replace(config, map=replace(config.map, lock_timeout=0))
    started = time.monotonic()
    try:
        summary = refresh_map(root, quick)
        if config.hooks.sleep:
            summary += "; " + sleep_pass(root, quick, budget=config.hooks.sleep_budget)
    except MapBusy as exc:
        log.write(f"{hook}: skipped, {exc}")
        return False
    except Exception as exc:  # noqa: BLE001 - the log is the only place failures may go
        log.write(f"{hook}: refresh failed: {_one_line(exc)}")
        return True
    log.write(f"{hook}: {summary} in {time.monotonic() - started:.1f} s")
    return True


def _one_line(exc: BaseException) -> str:
    from sleepcoder.tools.errors import clip

    text = " ".join(str(exc).split()) or type(exc).__name__
    return clip(text)


def refresh_map(root: Path, config: Config, workers: int | None = None) -> str:
    """The refresh of `sleepcoder map` on an existing map; a one-line summary."""
    from sleepcoder.tools.repomap import build_map

    report = build_map(root, config, workers=workers, calibrate=True)
    return (f"map refreshed: {report.parsed} files parsed, {report.reused} reused, "
            f"{report.removed} removed")


def sleep_pass(root: Path, config: Config, *, budget: int | None, model: str | None = None,
               no_llm: bool = False) -> str:
    """The sleep pass (which refreshes the map first); a one-line summary."""
    from sleepcoder.agent.sleep.run import every_request_failed, run_sleep

    report = run_sleep(root, config, model=model, budget=budget, no_llm=no_llm)
    failure = every_request_failed(report)
    if failure:
        return f"sleep pass: the model failed on every request: {failure}"
    return (f"sleep pass: {report['summarized']} files summarized, {report['fallback']} "
            f"fallback, {report['reused']} reused, {report['skipped']} skipped")


def watch_and_refresh(root: Path, interval: float, refresh: Callable[[], str],
                      rounds: int | None = None) -> None:
    """`--watch`: `refresh` now and after every change, one line each, until Ctrl-C."""
    from sleepcoder.tools.lock import MapBusy
    from sleepcoder.tools.watch import WatchError, watch

    def once() -> bool:
        try:
            line = refresh()
        except MapBusy as exc:
            _err(f"{exc}; trying again at the next change check")
            return False
        typer.echo(f"{time.strftime('%H:%M:%S')} {line}")
        return True

    _err(f"watching {root} every {interval:g} s (Ctrl-C stops)")
    try:
        watch(root, once, interval, rounds=rounds)
    except WatchError as exc:
        _err(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except KeyboardInterrupt:
        _err("stopped watching")
