"""The scale run of benchmarks/bench_map.py (`--scale`): a generated tree at 1x and 10x.

The tree is generated deterministically (seeded) in a temporary directory: Python,
JavaScript and TypeScript modules in packages that import each other, with docstrings, and a
short git history of feature-sized commits. The 10x tree is ten trees under different
prefixes: once exact copies of the 1x tree (every blob is shared: the map parses each once),
once distinct copies, each another draw of the generator (nothing is shared; each of the 1x
tree's expected size). For each tree: the full map, its peak RSS, a one-file refresh, localization
alone (the CLI, and `localize()` in this process) and the search index's size, printed in
seconds and as ratios to an anchor (a fixed pure-Python workload timed in the same run, so
figures from a loaded machine can be compared).
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import subprocess
import sys
import time
from array import array
from dataclasses import dataclass
from pathlib import Path

WORDS = """
account action adapter address agent alias archive array asset audit batch beacon binary
block bucket buffer bundle cache channel checksum chunk cipher client cluster codec column
command commit config context cookie counter cursor daemon dataset deadline decoder delta
device digest domain draft driver encoder engine entity event factor feature fetch
filter flag folder format frame gateway graph handler hash header histogram hook index
invoice job journal kernel key label layer ledger lease limit listener locale lock log
manifest mapper marker matrix member message meter metric mirror module monitor mutex node
notice offset option order packet page parser partition patch payload peer pipeline plugin
policy pool portal prefix probe profile prompt proxy query queue quota range reader record
region registry relay replica report request resolver resource retry revision route rule
sample scanner schema scope segment selector sensor session shard signal snapshot socket
source span stream subscriber suffix table tag task template tenant thread ticket timer token
topic trace tracker transfer trigger tunnel upload user validator vault vector version
viewer volume watcher webhook widget window worker writer zone exporter
""".split()
VERBS = """build check clear close collect compute convert create decode delete encode
ensure expand fetch find flush format group handle load lookup merge normalize open parse
prepare publish read refresh register remove render reset resolve restore save scan select
send sort split start stop store sync update validate write""".split()

GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com",
       "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"]


@dataclass(frozen=True)
class Module:
    path: str  # inside one copy, e.g. "pkg3/ledger_cursor.py"
    language: str  # py, js, ts
    nouns: tuple[str, str]


def plan_modules(files: int, seed: int) -> list[Module]:
    """The modules of one copy: about 20 per package, 60% Python, 20% JS, 20% TS."""
    rng = random.Random(seed)
    modules, seen = [], set()
    while len(modules) < files:
        package = f"pkg{len(modules) // 20}"
        nouns = (rng.choice(WORDS), rng.choice(WORDS))
        language = rng.choices(("py", "js", "ts"), (6, 2, 2))[0]
        path = f"{package}/{nouns[0]}_{nouns[1]}.{language}"
        if path not in seen:
            seen.add(path)
            modules.append(Module(path, language, nouns))
    return modules


def module_source(module: Module, modules: list[Module], rng: random.Random) -> str:
    """One module's text: imports of a few same-language modules and 4 to 10 definitions,
    about 150 lines."""
    same = [m for m in modules if m.language == module.language and m is not module]
    imported = rng.sample(same, min(3, len(same)))
    names = [f"{rng.choice(VERBS)}_{rng.choice(module.nouns)}_{rng.choice(WORDS)}"
             for _ in range(rng.randint(4, 10))]
    used = [(m, f"{VERBS[hash_index(m.path, len(VERBS))]}_{m.nouns[0]}_{m.nouns[1]}")
            for m in imported]
    head = _header(module, used)
    body = [_definition(module.language, name, used, rng) for name in names]
    own = f"{VERBS[hash_index(module.path, len(VERBS))]}_{module.nouns[0]}_{module.nouns[1]}"
    body.append(_definition(module.language, own, used, rng))  # what others import
    return "\n".join([head, *body])


def hash_index(text: str, size: int) -> int:
    """A stable index (Python's str hash is salted per process)."""
    return sum(ord(c) * (i + 1) for i, c in enumerate(text)) % size


def _header(module: Module, used: list[tuple[Module, str]]) -> str:
    if module.language == "py":
        doc = f'"""The {module.nouns[0]} {module.nouns[1]} module: keeps {module.nouns[0]}s."""'
        imports = [f"from {m.path[:-3].replace('/', '.')} import {name}" for m, name in used]
        return "\n".join([doc, "", *imports, ""])
    imports = [f'import {{ {name} }} from "../{m.path.rsplit(".", 1)[0]}";' for m, name in used]
    return "\n".join([f"// The {module.nouns[0]} {module.nouns[1]} module.", *imports, ""])


def _definition(language: str, name: str, used: list[tuple[Module, str]],
                rng: random.Random) -> str:
    words = name.split("_")
    steps = rng.sample(WORDS, rng.randint(6, 16))
    calls = [callee for _m, callee in rng.sample(used, min(2, len(used)))]
    if language == "py":
        lines = [f"def {name}(value, limit=10):",
                 f'    """{words[0].capitalize()} the {" ".join(words[1:3])} of a value."""']
        lines += [f"    {s} = value + {i}  # {rng.choice(WORDS)} {rng.choice(WORDS)}"
                  for i, s in enumerate(steps)]
        lines += [f"    value = {c}(value)" for c in calls]
        lines += [f"    return {' + '.join(steps[:3])}", "", ""]
        return "\n".join(lines)
    typed = ": number" if language == "ts" else ""
    lines = [f"/** {words[0].capitalize()} the {' '.join(words[1:3])} of a value. */",
             f"export function {name}(value{typed}, limit{typed} = 10){typed} {{"]
    lines += [f"  const {s} = value + {i}; // {rng.choice(WORDS)} {rng.choice(WORDS)}"
              for i, s in enumerate(steps)]
    lines += [f"  value = {c}(value);" for c in calls]
    lines += [f"  return {' + '.join(steps[:3])};", "}", ""]
    return "\n".join(lines)


def copy_sources(files: int, seed: int) -> tuple[list[Module], dict[str, str]]:
    """One copy of the tree, drawn with `seed`: its modules and each one's text by path."""
    modules = plan_modules(files, seed)
    rng = random.Random(seed)
    return modules, {module.path: module_source(module, modules, rng) for module in modules}


def generate_tree(target: Path, files: int, copies: int = 1, distinct: bool = False,
                  seed: int = 7, commits: int = 12) -> dict:
    """A git repository at `target` (replaced): `copies` copies of a `files`-module tree,
    under copy0/, copy1/, ... when more than one. `distinct` draws copy k with seed + k (its
    own module names, identifiers and bodies), otherwise every copy is the seed's tree. Then
    `commits` feature-sized commits. Returns its file and line counts and copy 0's modules."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    # Renaming one tree's identifiers per copy (`ledger_v3`) made each copy tokenise to more
    # search words than the 1x tree; another draw of the generator has the 1x's expected size.
    drawn = [copy_sources(files, seed + copy) for copy in range(copies if distinct else 1)]
    lines = 0
    for copy in range(copies):
        prefix = target / f"copy{copy}" if copies > 1 else target
        for path, text in drawn[copy if distinct else 0][1].items():
            dest = prefix / path
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text)
            lines += text.count("\n")
    subprocess.run([*GIT, "init", "-q"], cwd=target, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=target, check=True)
    subprocess.run([*GIT, "commit", "-qm", "generated tree"], cwd=target, check=True)
    paths = sorted(str(p.relative_to(target)) for p in target.rglob("*.*")
                   if ".git" not in p.parts)
    rng = random.Random(seed + 1)
    for number in range(commits):
        touched = rng.sample(paths, 3)
        for path in touched:
            comment = "#" if path.endswith(".py") else "//"
            with open(target / path, "a", encoding="utf-8") as handle:
                handle.write(f"\n{comment} change {number}: {rng.choice(WORDS)} limit\n")
        subject = f"Add {rng.choice(WORDS)} {rng.choice(WORDS)} support"
        subprocess.run([*GIT, "commit", "-qam", subject], cwd=target, check=True)
    return {"files": len(paths), "lines": lines, "modules": drawn[0][0]}


def request_for(modules: list[Module]) -> str:
    """A feature request naming one module's words (deterministic)."""
    module = modules[len(modules) // 3]
    return (f"Add a retry limit to the {module.nouns[0]} {module.nouns[1]} so that "
            f"{module.nouns[0]}s can be validated before they are stored")


def anchor_seconds() -> float:
    """A fixed pure-Python workload (best of three): the machine's speed right now."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        table: dict[str, int] = {}
        for i in range(400_000):
            key = f"k{i % 5003}:{i}"
            table[key[:6]] = table.get(key[:6], 0) + len(key)
        sorted(table.items())
        best = min(best, time.perf_counter() - started)
    return best


def time_cli_localize(repo: Path, request: str) -> float:
    command = [sys.executable, "-m", "sleepcoder.cli", "solve", request, "--localize-only",
               "--no-llm", "--repo", str(repo)]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"sleepcoder solve --localize-only failed:\n{result.stderr[-2000:]}")
    return wall


def time_localize(repo: Path, request: str) -> tuple[float, float]:
    """In-process `localize()` on the map: (first call, second call) seconds."""
    from sleepcoder.tools.localize import localize
    from sleepcoder.tools.store import MapStore

    store, _ = MapStore.open(repo / ".sleepcoder", create=False)
    try:
        times = []
        for _ in range(2):
            started = time.perf_counter()
            localize(store, repo, request)
            times.append(time.perf_counter() - started)
    finally:
        store.close()
    return times[0], times[1]


def search_input(repo: Path) -> dict[str, int]:
    """The search index's size in the map at `repo`: its postings per index (text, symbols,
    path) and the documents' summed lengths, the input its build is linear in."""
    conn = sqlite3.connect(f"file:{repo / '.sleepcoder' / 'map.db'}?mode=ro", uri=True)
    try:
        sizes = {f"{name} postings": 0 for name in ("text", "symbols", "path")}
        for name, code, length in conn.execute(
                "SELECT name, substr(ids, 1, 1), length(ids) FROM search_postings"):
            sizes[f"{name} postings"] += (length - 1) // array(code.decode()).itemsize
        text, symbols = conn.execute("SELECT sum(text_length), coalesce(sum(symbols_length), 0)"
                                     " FROM search_docs").fetchone()
    finally:
        conn.close()
    return {**sizes, "text length": text, "symbols length": symbols}


def measure(repo: Path, request: str, run_map, touch_files) -> dict:
    """Full map, peak RSS, one-file refresh and localization on the tree at `repo`."""
    report, wall, memory = run_map(repo, "--rebuild")
    index = search_input(repo)
    first, second = time_localize(repo, request)
    cli = time_cli_localize(repo, request)
    sources = sorted(path for path in (p.relative_to(repo).as_posix()
                                       for p in repo.rglob("*.py")) if ".git" not in path)
    touch_files(repo, sources[len(sources) // 2: len(sources) // 2 + 1], 1)
    one, one_wall, _ = run_map(repo)
    return {"map": report["seconds"]["total"], "map_wall": wall, "mapped": report["mapped"],
            "parsed": report["parsed"], "rss_mb": memory.peak_total / 2**20,
            "phases": report["seconds"], "refresh_phases": one["seconds"],
            "refresh": one["seconds"]["total"], "refresh_wall": one_wall,
            "localize": first, "localize_again": second, "cli_localize": cli, "index": index}


def scale_run(workdir: Path, files: int, factor: int, run_map, touch_files) -> None:
    """Measure the 1x tree and the `factor`x trees (copies, distinct copies); print a table."""
    anchor_before = anchor_seconds()
    rows = []
    for label, copies, distinct in (("1x", 1, False), (f"{factor}x copies", factor, False),
                                    (f"{factor}x distinct", factor, True)):
        repo = workdir / label.replace(" ", "-")
        info = generate_tree(repo, files, copies, distinct)
        print(f"{label}: {info['files']:,} files, {info['lines']:,} lines", flush=True)
        figures = measure(repo, request_for(info["modules"]), run_map, touch_files)
        rows.append((label, info, figures))
        shutil.rmtree(repo, ignore_errors=True)
    anchor = (anchor_before + anchor_seconds()) / 2
    print(f"\nanchor (fixed pure-Python workload): {anchor_before:.3f} s before, "
          f"{anchor:.3f} s mean; ratios below are seconds / anchor")
    print(f"{'tree':<16}{'files':>8}{'lines':>11}{'map s':>8}{'(/a)':>7}{'RSS MB':>8}"
          f"{'refresh s':>10}{'(/a)':>7}{'CLI':>6}{'localize s':>11}{'2nd':>7}{'(/a)':>7}"
          f"{'CLI s':>7}{'(/a)':>7}")
    for label, info, f in rows:
        print(f"{label:<16}{info['files']:>8,}{info['lines']:>11,}{f['map']:>8.2f}"
              f"{f['map'] / anchor:>7.0f}{f['rss_mb']:>8.0f}{f['refresh']:>10.2f}"
              f"{f['refresh'] / anchor:>7.1f}{f['refresh_wall']:>6.2f}{f['localize']:>11.2f}"
              f"{f['localize_again']:>7.2f}"
              f"{f['localize'] / anchor:>7.1f}{f['cli_localize']:>7.2f}"
              f"{f['cli_localize'] / anchor:>7.1f}")
    for label, _info, f in rows:  # `map` refits the calibration when the history grew
        print(f"{label}: map phases " + ", ".join(f"{k} {v:.2f}" for k, v in f["phases"].items())
              + "; refresh phases " + ", ".join(f"{k} {v:.2f}"
                                                for k, v in f["refresh_phases"].items()))
    for label, _info, f in rows:
        print(f"{label}: search index " + ", ".join(f"{k} {v:,}" for k, v in f["index"].items()))
    base = rows[0][2]
    for label, _info, f in rows[1:]:
        print(f"{label} / 1x: map {f['map'] / base['map']:.1f}x, RSS "
              f"{f['rss_mb'] / base['rss_mb']:.1f}x, refresh "
              f"{f['refresh'] / base['refresh']:.1f}x, localize "
              f"{f['localize'] / base['localize']:.1f}x, CLI localize "
              f"{f['cli_localize'] / base['cli_localize']:.1f}x, text postings "
              f"{f['index']['text postings'] / base['index']['text postings']:.1f}x, text length "
              f"{f['index']['text length'] / base['index']['text length']:.1f}x")
