"""Reports of an evaluation run: a Markdown table per condition and budget, and the paper's
figure (mean F1 against mean test-time tokens, one line per condition) as a PNG."""

from __future__ import annotations

import json
from pathlib import Path


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
    if summary.get("missing_cells"):
        lines += ["", f"{summary['missing_cells']} cells have not run yet (rerun to resume)."]
    return "\n".join(lines) + "\n"


def plot(summary: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise RuntimeError("the plot needs matplotlib: pip install 'sleepcoder[eval]'") from exc
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


def write_report(out: Path) -> tuple[Path, Path]:
    summary_path = out / "summary.json"
    if not summary_path.exists():
        raise FileNotFoundError(f"{out} has no summary.json: run `sleepcoder swe-features run` "
                                "first")
    summary = json.loads(summary_path.read_text())
    report = out / "report.md"
    figure = out / "f1_vs_tokens.png"
    report.write_text(markdown(summary) + f"\n![F1 against test-time tokens]({figure.name})\n")
    plot(summary, figure)
    return report, figure
