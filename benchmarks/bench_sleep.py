"""Benchmark of the sleep-time pass with a real model (a command, not a test).

    python benchmarks/bench_sleep.py [--repo PATH [--rev REV]] [--model M] [--raw-anchor N]

On the example project (examples/inventory, copied into a scratch git repository) and, with
--repo, on a medium real repository (a checkout or a bare mirror; a scratch clone is made at
REV), it runs three passes: full (empty store), after a one-file change (committed), and with
no change. It prints model calls, tokens and wall time per pass, summary tokens per source
line, and model seconds per summarized file against the 6 s target. As an anchor measured in
the same run, it summarizes --raw-anchor files from their raw text (the naive approach) with
the same model and prints the ratio.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com",
       "-c", "commit.gpgsign=false"]
TARGET_SECONDS_PER_FILE = 6.0


def scratch_example(work: Path) -> Path:
    target = work / "inventory"
    shutil.copytree(ROOT / "examples" / "inventory", target)
    subprocess.run([*GIT, "init", "-q"], cwd=target, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=target, check=True)
    subprocess.run([*GIT, "commit", "-qm", "example"], cwd=target, check=True)
    return target


def scratch_clone(source: Path, rev: str, work: Path) -> Path:
    target = work / source.name.removesuffix(".git")
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(source), str(target)],
                   check=True)
    subprocess.run(["git", "checkout", "-q", rev], cwd=target, check=True)
    return target


def one_file_change(repo: Path) -> str:
    from sleepcoder.tools.store import MapStore

    store, _ = MapStore.open(repo / ".sleepcoder", create=False)
    path = store.conn.execute(
        "SELECT path FROM files WHERE status='ok' AND language='python' "
        "ORDER BY rank DESC LIMIT 1 OFFSET 2").fetchone()[0]
    store.close()
    with open(repo / path, "a", encoding="utf-8") as handle:
        handle.write("\n\ndef bench_added_helper(value):\n"
                     '    """Return the value doubled (added by the benchmark)."""\n'
                     "    return value * 2\n")
    subprocess.run([*GIT, "commit", "-qam", "bench: one-file change"], cwd=repo, check=True)
    return path


def summary_tokens_per_line(repo: Path) -> float:
    from sleepcoder.tools.store import MapStore

    store, _ = MapStore.open(repo / ".sleepcoder", create=False)
    chars = sum(len(text) for text, _src in store.file_summaries().values())
    lines = store.conn.execute(
        "SELECT COALESCE(SUM(b.lines), 0) FROM files f JOIN blobs b ON b.id = f.fid "
        "WHERE f.status='ok' AND f.language != ''").fetchone()[0]
    store.close()
    return (chars / 4) / max(lines, 1)


def raw_anchor(repo: Path, model: str, count: int) -> float:
    """Seconds per file when a file is summarized from its raw text (the naive prompt)."""
    from sleepcoder.agent.llm import LLM
    from sleepcoder.agent.sleep.summaries import messages_for
    from sleepcoder.tools.store import MapStore

    store, _ = MapStore.open(repo / ".sleepcoder", create=False)
    paths = [row[0] for row in store.conn.execute(
        "SELECT path FROM files WHERE status='ok' AND language != '' ORDER BY rank DESC "
        "LIMIT ?", (count,))]
    store.close()
    llm = LLM(model)
    started = time.perf_counter()
    for path in paths:
        text = (repo / path).read_text(encoding="utf-8", errors="replace")[:6000]
        llm.complete(messages_for(f"Task: write one short sentence (at most 18 words) saying "
                                  f"what this file is for.\n\n{path}:\n{text}"),
                     phase="sleep", node="raw_anchor", max_tokens=60)
    return (time.perf_counter() - started) / max(len(paths), 1)


def run_pass(repo: Path, model: str, label: str) -> dict:
    from sleepcoder.agent.sleep.run import run_sleep

    started = time.perf_counter()
    report = run_sleep(repo, model=model)
    wall = time.perf_counter() - started
    llm = report["llm"]
    files = llm.get("by_node", {}).get("summarize_files", {})
    per_file = files.get("seconds", 0.0) / report["summarized"] if report["summarized"] else 0.0
    print(f"  {label:<22} {wall:7.1f} s wall   {llm['calls']:3d} calls   "
          f"{llm['prompt_tokens']:7,} prompt + {llm['completion_tokens']:6,} completion tokens"
          f"   {report['summarized']:3d} summarized / {report['reused']:3d} reused / "
          f"{report['skipped']} skipped" + (f"   {per_file:.1f} s per file" if per_file else ""))
    return {"report": report, "wall": wall, "per_file": per_file}


def bench(repo: Path, model: str, anchor: int, title: str) -> None:
    print(f"{title}: {repo}")
    full = run_pass(repo, model, "full pass")
    changed = one_file_change(repo)
    run_pass(repo, model, f"one file changed ({Path(changed).name})")
    run_pass(repo, model, "no change")
    print(f"  summary tokens per source line: {summary_tokens_per_line(repo):.3f}")
    per_file = full["per_file"]
    if per_file:
        verdict = "meets" if per_file <= TARGET_SECONDS_PER_FILE else "misses"
        print(f"  model time per summarized file: {per_file:.1f} s ({verdict} the "
              f"{TARGET_SECONDS_PER_FILE:.0f} s target)")
    if anchor:
        raw = raw_anchor(repo, model, anchor)
        print(f"  anchor, raw-text prompt: {raw:.1f} s per file over {anchor} files; the "
              f"map-based pass is {raw / per_file:.1f}x faster per file" if per_file else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, help="a medium real repository (checkout or mirror)")
    parser.add_argument("--rev", default="HEAD", help="revision of --repo to check out")
    parser.add_argument("--model", default="local/qwen2.5-coder-1.5b")
    parser.add_argument("--raw-anchor", type=int, default=3,
                        help="files summarized from raw text as the anchor (0: skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sleepcoder-bench-") as tmp:
        work = Path(tmp)
        bench(scratch_example(work), args.model, args.raw_anchor, "example project")
        if args.repo:
            bench(scratch_clone(args.repo.resolve(), args.rev, work), args.model,
                  args.raw_anchor, "medium repository")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
