"""End to end with the real embedded model (slow; select with -m e2e, skip with -m "not e2e").

It needs the `local` extra; a missing install fails rather than skips, so CI cannot pass
without running it.
"""

from __future__ import annotations

import pytest
from sleepcoder.agent.sleep.run import run_sleep

pytestmark = pytest.mark.e2e

FIXTURE = {
    "shapes/__init__.py": '"""Geometric shapes."""\n',
    "shapes/circle.py": (
        '"""Circles."""\nimport math\n\n\nclass Circle:\n    """A circle given its radius."""\n\n'
        "    def __init__(self, radius):\n        self.radius = radius\n\n"
        "    def area(self):\n        return math.pi * self.radius ** 2\n"
    ),
    "shapes/square.py": (
        '"""Squares."""\n\n\nclass Square:\n    """A square given its side."""\n\n'
        "    def __init__(self, side):\n        self.side = side\n\n"
        "    def area(self):\n        return self.side ** 2\n"
    ),
    "shapes/total.py": (
        '"""Sums over collections of shapes."""\n\n\ndef total_area(shapes):\n'
        '    """The summed area of all shapes."""\n    return sum(s.area() for s in shapes)\n'
    ),
}


def test_local_model_summarizes_every_file_of_a_tiny_repository(repo):
    repo.commit("shapes", FIXTURE)
    report = run_sleep(repo.root, model="local/qwen2.5-coder-1.5b")
    import sqlite3

    db = sqlite3.connect(repo.root / ".sleepcoder" / "map.db")
    rows = dict(db.execute("SELECT path, text FROM summaries WHERE kind='file' "
                           "AND source='llm' AND text != ''").fetchall())
    db.close()
    assert set(rows) == set(FIXTURE), report["skipped_reasons"]
    assert report["llm"]["calls"] > 0 and report["llm"]["completion_tokens"] > 0
    again = run_sleep(repo.root, model="local/qwen2.5-coder-1.5b")
    assert again["llm"]["calls"] == 0


def test_local_model_plans_and_lands_the_low_stock_feature(repo):
    """The README's example request, solved by the embedded model in its default (symbols)
    format: the plan names the two files the feature needs, every edit it emits changes code,
    and the patch applies. Whether the example's tests then pass is a benchmark figure
    (docs/benchmarks.md), not an assertion: a small model's success must not gate CI."""
    import json
    import shutil
    import subprocess
    from pathlib import Path

    from sleepcoder.agent.solve.context import SolveOptions
    from sleepcoder.agent.solve.run import start_solve
    from sleepcoder.tools.languages import language_for_path
    from sleepcoder.tools.patch_check import parse_entries
    from sleepcoder.tools.samecode import same_code

    examples = Path(__file__).resolve().parent.parent / "examples"
    shutil.copytree(examples / "inventory", repo.root, dirs_exist_ok=True)
    repo.commit("example")
    request = next(r["request"] for r in json.loads((examples / "requests.json").read_text())
                   if r["id"] == "low-stock")
    result = start_solve(repo.root, request, SolveOptions(model="local/qwen2.5-coder-1.5b",
                                                          budget=20_000))
    planned = {s["path"] for s in result.record["plan"]["steps"]}
    assert {"inventory/cli.py", "inventory/report.py"} <= planned, result.record["plan"]
    assert result.patch, result.record["events"]
    check = subprocess.run(["git", "apply", "--check", "-"], cwd=repo.root, input=result.patch,
                           text=True, capture_output=True)
    assert check.returncode == 0, check.stderr
    for entry in parse_entries(result.patch):
        if entry.status != "modified":
            continue
        before = (repo.root / entry.path).read_text()
        subprocess.run(["git", "apply", "-"], cwd=repo.root, input=entry.text, text=True,
                       check=True)
        after = (repo.root / entry.path).read_text()
        assert not same_code(before, after, language_for_path(entry.path)), entry.path
