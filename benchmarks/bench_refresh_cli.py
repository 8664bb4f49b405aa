"""CLI wall time of `sleepcoder map` after a one-file commit, against an anchor checkout
(a command, not a test).

    python benchmarks/bench_refresh_cli.py TREE FILE [--anchor CHECKOUT] [--rounds 5]

TREE is a mapped git repository (e.g. the tree `bench_refresh.py --workdir` leaves); each
round appends a function to FILE, commits it and runs `sleepcoder map` in a new process, once
with this checkout's code and once with the anchor's (another checkout of sleepcoder, put
first on PYTHONPATH), alternately, so that both meet the same machine load. The tree gets one
commit per run. A first, unreported round of each writes their bytecode caches.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com",
       "-c", "commit.gpgsign=false"]
HERE = Path(__file__).resolve().parent.parent
RUN = "import sys; sys.argv = ['sleepcoder', 'map']; from sleepcoder.cli import main; main()"


def refresh(tree: Path, target: Path, code: Path, tag: str) -> tuple[float, float]:
    """(CLI wall seconds, in-process total seconds) of one refresh after a one-file commit."""
    with target.open("a") as handle:
        handle.write(f"\n\ndef bench_cli_{tag}():\n    return 1\n")
    subprocess.run([*GIT, "commit", "-qam", f"bench {tag}"], cwd=tree, check=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(code)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", RUN], cwd=tree, env=env, capture_output=True,
                          text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0 or "1 parsed" not in done.stdout:
        sys.exit(f"refresh with {code} failed:\n{done.stdout}{done.stderr}")
    total = re.search(r"total (\d+\.\d+)s", done.stdout)
    return wall, float(total.group(1)) if total else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tree", type=Path)
    parser.add_argument("file", help="the file to change, relative to TREE")
    parser.add_argument("--anchor", type=Path, help="another sleepcoder checkout")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    codes = {"this": HERE, **({"anchor": args.anchor.resolve()} if args.anchor else {})}
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in codes}
    stamp = time.time_ns()
    for round_ in range(-1, args.rounds):
        for name, code in codes.items():
            result = refresh(args.tree, args.tree / args.file, code, f"{name}_{stamp}_{round_}")
            if round_ >= 0:
                runs[name].append(result)
    for name, results in runs.items():
        walls = sorted(wall for wall, _total in results)
        totals = sorted(total for _wall, total in results)
        print(f"{name:6s} wall s {statistics.median(walls):.2f} (min {walls[0]:.2f}, max "
              f"{walls[-1]:.2f}); in-process {statistics.median(totals):.2f} "
              f"(min {totals[0]:.2f}, max {totals[-1]:.2f})")


if __name__ == "__main__":
    main()
