"""Benchmark of a map refresh after a small change, on a generated tree (a command, not a test).

    python benchmarks/bench_refresh.py [--files 7000] [--workdir DIR] [--rounds 3]

Generates a git repository of FILES Python modules in packages (each imports three others and
calls into them), maps it, then times refreshes after: an uncommitted one-file edit, a
committed one-file edit, an added untracked file, and ten identical new copies of one file.
Issue 14: the refresh should grow with the change, not with the repository.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from sleepcoder.tools.repomap import build_map

GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com",
       "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"]


def generate_tree(root: Path, files: int, seed: int = 1) -> None:
    """`files` modules under pkgN/subM/ packages, with imports and calls between them."""
    rng = random.Random(seed)
    modules = [(f"pkg{i % 40}/sub{i % 7}", f"mod{i}") for i in range(files)]
    for package in {p for p, _ in modules}:
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package.split("/")[0] / "__init__.py").write_text("")
        (root / package / "__init__.py").write_text("")
    for i, (package, name) in enumerate(modules):
        deps = rng.sample(range(files), 3)
        lines = [f'"""Module {i}."""']
        for d in deps:
            dep_package, dep_name = modules[d]
            lines.append(f"from {dep_package.replace('/', '.')}.{dep_name} import func{d}")
        lines += ["", f"class Thing{i}:", f"    def method{i}(self, x):",
                  f"        return func{deps[0]}(x) + self.helper()", "",
                  "    def helper(self):", f"        return {i}", "", "",
                  f"def func{i}(x):", f"    y = func{deps[1]}(x)",
                  f"    return func{deps[2]}(y) + Thing{i}().method{i}(x)", ""]
        (root / package / f"{name}.py").write_text("\n".join(lines))
    subprocess.run([*GIT, "init", "-q"], cwd=root, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-qm", "generated"], cwd=root, check=True)


def time_refreshes(root: Path, rounds: int) -> dict[str, list[dict]]:
    """Seconds (total and per phase) of refreshes after each kind of small change."""
    target = root / "pkg3/sub3/mod3.py"

    def refresh() -> dict:
        started = time.perf_counter()
        report = build_map(root)
        return {"seconds": round(time.perf_counter() - started, 3), "parsed": report.parsed,
                "resolved": report.resolved_files,
                "phases": {k: round(v, 3) for k, v in report.seconds.items()}}

    def edit(tag: str) -> None:
        with target.open("a") as handle:
            handle.write(f"\n\ndef bench_{tag}():\n    return func3(1)\n")

    results: dict[str, list[dict]] = {"edit": [], "edit-committed": [], "add": [],
                                      "ten-copies": []}
    for n in range(rounds):
        edit(f"e{n}")
        results["edit"].append(refresh())
        edit(f"c{n}")
        subprocess.run([*GIT, "commit", "-qam", f"edit {n}"], cwd=root, check=True)
        results["edit-committed"].append(refresh())
        (root / f"pkg5/sub5/added{n}.py").write_text(
            "from pkg3.sub3.mod3 import func3\n\n\ndef added():\n    return func3(1)\n")
        results["add"].append(refresh())
        body = f"def copied_{n}():\n    return {n}\n"
        for k in range(10):
            (root / f"copies{n}/c{k}").mkdir(parents=True, exist_ok=True)
            (root / f"copies{n}/c{k}/same.py").write_text(body)
        results["ten-copies"].append(refresh())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=7000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, help="where to generate (default: a temporary "
                        "directory, removed afterwards)")
    args = parser.parse_args()
    scratch = None
    if args.workdir is None:
        scratch = tempfile.mkdtemp(prefix="sleepcoder-bench-refresh-")
        root = Path(scratch)
    else:
        root = args.workdir
        root.mkdir(parents=True, exist_ok=False)
    try:
        generate_tree(root, args.files)
        started = time.perf_counter()
        report = build_map(root)
        print(f"full map of {report.mapped:,} files: {time.perf_counter() - started:.2f} s")
        print(json.dumps(time_refreshes(root, args.rounds), indent=1))
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
