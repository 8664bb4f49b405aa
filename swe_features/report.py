"""Reports of an evaluation run: a Markdown table per condition and budget, and the paper's
figure (mean F1 against mean test-time tokens, one line per condition) as a PNG."""

from __future__ import annotations

import json
from pathlib import Path

from sleepcoder.tools.userfiles import UserFileError, read_user_text

MAX_SUMMARY_BYTES = 256 * 1024 * 1024


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown(summary: dict, title: str = "SWE-Features results") -> str:
    lines = [f"# {title}", "", f"Model: {summary.get('model') or '(none)'}", "",
             "| condition | budget | tasks | F1 | precision | recall | F1 .py/.js | "
             "test tokens | sleep tokens / task | cost | failures |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for cell in summary["cells"]:
        budget = cell["budget"] or "–"
        cost = "unknown" if cell["cost"] is None else f"${cell['cost']:.4f}"
        lines.append(
            f"| {cell['condition']} | {budget} | {cell['tasks']} | {_fmt(cell['f1'])} | "
            f"{_fmt(cell['precision'])} | {_fmt(cell['recall'])} | {_fmt(cell['code_f1'])} | "
            f"{cell['test_tokens']:,.0f} | {cell['sleep_tokens_per_task']:,.0f} | {cost} | "
            f"{cell['failures']} |")
    solving = [c for c in summary["cells"] if "landing_rate" in c]
    if solving:
        lines += ["", "| condition | budget | localization F1 of the same runs | landing rate "
                  "| stopped at the budget | test tokens per landed file |",
                  "|---|---|---|---|---|---|"]
        for cell in solving:
            per_file = cell.get("tokens_per_landed_file")
            lines.append(f"| {cell['condition']} | {cell['budget'] or '–'} | "
                         f"{_fmt(cell['localization_f1'])} | {_fmt(cell['landing_rate'], 2)} | "
                         f"{cell['budget_exhausted']} | "
                         f"{'–' if per_file is None else f'{per_file:,.0f}'} |")
    if summary.get("missing_cells"):
        lines += ["", f"{summary['missing_cells']} cells have not run yet (rerun to resume)."]
    return "\n".join(lines) + "\n"


PLOT_MISSING = "plot not written: matplotlib missing (pip install 'sleepcoder[eval]')"


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed: the figure cannot be drawn (the table still can)."""


def plot(summary: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise PlotUnavailable(PLOT_MISSING) from exc
    by_condition: dict[str, list[tuple[float, float]]] = {}
    for cell in summary["cells"]:
        by_condition.setdefault(cell["condition"], []).append(
            (cell["test_tokens"], cell["f1"]))
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    for condition, points in sorted(by_condition.items()):
        points.sort()
        xs, ys = zip(*points, strict=True)
        axes.plot(xs, ys, marker="o", label=condition)
    axes.set_xlabel("mean test-time tokens per task")
    axes.set_ylabel("mean file-level F1")
    axes.set_title("SWE-Features: F1 against test-time tokens")
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


class ReportError(RuntimeError):
    """The folder holds no readable summary, or the report cannot be written there."""


def write_report(out: Path) -> tuple[Path, Path | None]:
    """Write report.md and the figure into `out`; the figure's path, or None when matplotlib
    is missing (the table then does not link a figure it does not have)."""
    if not out.is_dir():
        raise ReportError(f"{out} does not exist: no summary.json to report (run `sleepcoder "
                          "swe-features run` first)" if not out.exists() else
                          f"{out}: not a folder (give the folder `swe-features run --out` "
                          "wrote)")
    summary_path = out / "summary.json"
    if not summary_path.exists():
        raise ReportError(f"{out} has no summary.json: run `sleepcoder swe-features run` "
                          "first")
    not_a_summary = ReportError(f"{summary_path} is not a summary written by `swe-features "
                                "run` (rerun it to write a new one)")
    try:
        summary = json.loads(read_user_text(summary_path, "the summary", MAX_SUMMARY_BYTES))
    except UserFileError as exc:
        raise ReportError(str(exc)) from None
    except (ValueError, RecursionError):
        raise not_a_summary from None
    if not isinstance(summary, dict) or not isinstance(summary.get("cells"), list):
        raise not_a_summary
    if not summary["cells"]:  # an empty table and an empty figure would say nothing
        raise ReportError(f"{summary_path} holds no finished task yet: run (or resume) "
                          "`sleepcoder swe-features run` with the same --out first")
    report = out / "report.md"
    figure = out / "f1_vs_tokens.png"
    try:
        try:  # the figure first: the table links it only once it is written
            plot(summary, figure)
        except PlotUnavailable:
            report.write_text(markdown(summary))
            return report, None
        report.write_text(markdown(summary) +
                          f"\n![F1 against test-time tokens]({figure.name})\n")
    except OSError as exc:
        raise ReportError(f"cannot write the report into {out}: {exc.strerror or exc}"
                          ) from None
    except (KeyError, TypeError, ValueError):
        raise not_a_summary from None
    return report, figure
