"""Fix rounds at the level of definitions. After the tests fail, the test output's
tracebacks name lines of the edited files (`File "…/inventory/cli.py", line 42, in main`,
pytest's `inventory/cli.py:42: in main`); the innermost definition around each such line
that this run added or changed becomes a planned change "make the tests pass", asked like any
other unit (symbol_edit.py). The file-level search/replace fix of before failed every time the
1.5B tried it on the README example (SEARCH text not found in a whole file, afed0ae).

Only definitions the run made or changed are fix targets: a test that failed and that the
run did not write is not the run's to rewrite (weakening an existing test to make it pass
would fake the result); its failure points at code the run changed, or at nothing."""

from __future__ import annotations

import re

from sleepcoder.agent.solve.plan import Step, Unit
from sleepcoder.agent.solve.syntax import changed_spans
from sleepcoder.tools.languages import language_for_path
from sleepcoder.tools.localize_features import is_test
from sleepcoder.tools.symbols import SymbolError, definitions

MAX_FIXES = 2  # definitions per file per fix round: each is a question or three
_FRAME = re.compile(r'File "([^"]+)", line (\d+)|^(\S+?\.\w+):(\d+):', re.MULTILINE)
_SEGMENT = re.compile(r"^_{3,} .* _{3,}$|^Traceback \(most recent call last\):$", re.MULTILINE)
_ERROR = re.compile(r"^E\s+(\S.*)$|^((?:\w+\.)*\w+(?:Error|Exception|Exit|Interrupt)\b.*)$",
                    re.MULTILINE)
_LIBRARY = re.compile(r"[/\\](?:site|dist)-packages[/\\]|[/\\]lib[/\\]python\d|^<")


def fix_step(step: Step, output: str, base: str | None, current: str) -> Step | None:
    """The step's definitions that the failure points at and that the run changed, as units
    of a fix step; None when there are none (the file-level fix is used then)."""
    language = language_for_path(step.path)
    if language is None or not current:
        return None
    lines = failing_lines(output, step.path)
    if not lines:
        return None
    try:
        spans = definitions(current, language)
    except (SymbolError, ValueError):
        return None
    changed = _changed_lines(base, current)
    targets: list[str] = []
    for line in reversed(lines):  # innermost frames last in a traceback: they come first
        around = [s for s in spans if s.start_line <= line <= s.end_line and s.kind not in (
            "class", "interface", "struct", "enum", "trait", "module")]
        if not around:
            continue
        inner = min(around, key=lambda s: s.end_line - s.start_line)
        if changed is not None and not any(inner.start_line <= n <= inner.end_line
                                           for n in changed):
            continue
        if inner.qname not in targets:
            targets.append(inner.qname)
        if len(targets) == MAX_FIXES:
            break
    if not targets:
        return None
    errors = error_lines(output)
    what = "the tests fail" + (f": {errors}" if errors else "") + \
        "; change it so that they pass"
    return Step("edit", step.path, f"fix what makes the tests fail in {step.path}",
                [Unit("change", name, what=what) for name in targets])


def failing_lines(output: str, path: str) -> list[int]:
    """The lines of `path` the tracebacks in `output` point at, in order of appearance. Each
    failure (a pytest section, a `Traceback` block) counts its frames in a source file, and a
    frame in a test file only when it is the innermost one: a test that calls code that
    raises is not where the fault is, and rewriting it would only hide the failure."""
    out = []
    for segment in _SEGMENT.split(output):
        frames = [(match.group(1) or match.group(3), int(match.group(2) or match.group(4)))
                  for match in _FRAME.finditer(segment)]
        # the innermost frame that counts is the repository's: an assertion helper of a
        # library (`mock.assert_called_once_with`) raising is the test's own failure
        frames = [frame for frame in frames if not _LIBRARY.search(frame[0])]
        for index, (where, number) in enumerate(frames):
            if not (where == path or where.endswith("/" + path)):
                continue
            if is_test(path) and index != len(frames) - 1:
                continue
            out.append(number)
    return out


def only_a_caller(output: str, path: str) -> bool:
    """Whether `path` appears in the tracebacks only as a test that called failing code (it
    is not where any failure is raised): a fix round leaves it alone."""
    named = any((m.group(1) or m.group(3)) == path or (m.group(1) or m.group(3)).endswith(
        "/" + path) for m in _FRAME.finditer(output))
    return named and is_test(path) and not failing_lines(output, path)


def error_lines(output: str, limit: int = 300) -> str:
    """The failure's own words: pytest's `E` lines (or an `...Error: ...` line), first ones
    first, without repeats, cut to `limit` characters."""
    seen: list[str] = []
    for match in _ERROR.finditer(output):
        text = (match.group(1) or match.group(2)).strip()
        if text and text not in seen:
            seen.append(text)
    return "; ".join(seen)[:limit]


def _changed_lines(base: str | None, current: str) -> set[int] | None:
    """The 1-based lines of `current` that differ from `base` (None: a new file, all its)."""
    if base is None:
        return None
    return {n + 1 for j1, j2 in changed_spans(base, current) for n in range(j1, j2)}
