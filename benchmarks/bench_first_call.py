"""Time from the start of a solve to its first model request, on mapped trees of different
sizes (a command, not a test). Issue 14: a solve's time before its first model call must not
grow with the repository beyond the map lookup.

    python -m benchmarks.bench_first_call TREE [TREE ...] [--rounds 3] [--request TEXT]

Each TREE is a mapped git repository (e.g. the tree `bench_refresh.py --workdir` leaves, or
the scale run's). The solve runs in this process with a stub model, `stopwatch/first`: a
litellm provider that notes the moment of the first request and refuses it as a refused
connection, which ends the run at once (no model is needed, and nothing is edited). Printed
per tree: its tracked files, the seconds to the first request (median and range over the
rounds, after one unreported warm-up round), and both divided by an anchor, a fixed
pure-Python workload timed in the same run (`bench_scale.anchor_seconds`).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.bench_scale import anchor_seconds

REQUEST = "fix the parser error handling"


class _Stopwatch:
    """The provider's state: when the first request of the current round came."""

    first: float | None = None


def _provider():
    import litellm

    class FirstCall(litellm.CustomLLM):
        def completion(self, *args, **kwargs):
            if _Stopwatch.first is None:
                _Stopwatch.first = time.perf_counter()
            raise ConnectionRefusedError("stopwatch: the run ends at its first model request")

    return FirstCall()


def first_call_seconds(tree: Path, request: str) -> float:
    from sleepcoder.agent.solve.context import SolveOptions
    from sleepcoder.agent.solve.run import SolveError, start_solve

    _Stopwatch.first = None
    started = time.perf_counter()
    try:
        start_solve(tree, request, SolveOptions(model="stopwatch/first", budget=20_000))
    except SolveError:
        pass
    except Exception as exc:  # noqa: BLE001 - the refused request, however it surfaces
        if _Stopwatch.first is None:
            raise
        del exc
    if _Stopwatch.first is None:
        sys.exit(f"{tree}: the solve ended before any model request")
    return _Stopwatch.first - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trees", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--request", default=REQUEST)
    args = parser.parse_args()
    from sleepcoder.agent.llm import register_provider

    register_provider("stopwatch", _provider)
    anchor = anchor_seconds()
    print(f"anchor workload {anchor:.3f} s")
    rows = []
    for tree in args.trees:
        files = len(subprocess.run(["git", "ls-files", "-z"], cwd=tree, capture_output=True,
                                   check=True).stdout.split(b"\0")) - 1
        first_call_seconds(tree, args.request)  # warm-up: the map's freshness, imports
        times = [first_call_seconds(tree, args.request) for _ in range(args.rounds)]
        rows.append((tree, files, times))
    anchor = (anchor + anchor_seconds()) / 2
    print(f"anchor workload, mean of start and end {anchor:.3f} s")
    print(f"{'tree':<40} {'files':>7} {'to 1st request s':>18} {'/anchor':>8}")
    for tree, files, times in rows:
        median = statistics.median(times)
        print(f"{str(tree):<40} {files:>7} {median:>8.2f} ({min(times):.2f}-{max(times):.2f})"
              f" {median / anchor:>8.1f}")
    if len(rows) > 1:
        (_t, small_files, small), (_u, large_files, large) = rows[0], rows[-1]
        print(f"{large_files / small_files:.1f}x the files: "
              f"{statistics.median(large) / statistics.median(small):.2f}x the time")


if __name__ == "__main__":
    main()
