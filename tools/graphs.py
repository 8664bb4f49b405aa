"""Bring the stored import graph, call graph and file ranks up to date after the files changed.

Incremental: imports are re-resolved only for changed files (all files when the set of paths
changed); calls only for files whose content or imports changed, or that refer to a name
whose definitions changed. A full build resolves everything, in parallel.
"""

from __future__ import annotations

import marshal
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from sleepcoder.tools.callgraph import FileDefs, SymbolTable, names_needed, resolve_file_calls
from sleepcoder.tools.facts import unpack_names
from sleepcoder.tools.graph_probes import (
    binding_reads,
    changed_import_probes,
    forget_probes,
    paths_probing,
    replace_probes,
)
from sleepcoder.tools.import_graph import Binding, ModuleIndex, read_go_module, resolve_file_imports
from sleepcoder.tools.rank import call_weight, pagerank_arrays
from sleepcoder.tools.store import MapStore

_BATCH = 500

Edge = tuple[str, str, str, str, str, int]  # src, src_qname, dst, dst_qname, how, count


@dataclass
class GraphUpdate:
    resolved_files: int = 0
    import_files_changed: int = 0
    seconds: float = 0.0


def update_graphs(store: MapStore, root: Path, changed: set[str], removed: set[str],
                  old_fids: dict[str, int], full: bool) -> GraphUpdate:
    """`changed`: mapped paths with new content; `removed`: paths no longer mapped;
    `old_fids`: the previous blob ids of changed and removed paths (still stored)."""
    started = time.perf_counter()
    report = GraphUpdate()
    mapped = store.mapped_files()
    added = changed - set(old_fids)
    go_module = _go_module(root)
    full = (full or store.get_meta("graph_probes") != "1"  # a map from before the probes
            or store.get_meta("go_module", "") != (go_module or ""))
    if full:
        subjects = None
    else:
        subjects = set(changed)
        if added or removed:  # files whose import lookups the new path set answers otherwise
            subjects |= paths_probing(store, changed_import_probes(added, removed, mapped))
    import_changed = _update_imports(store, mapped, go_module, subjects)
    _delete_sources(store, removed)
    report.import_files_changed = len(import_changed)

    if full:
        targets = set(mapped)
    else:
        names = _changed_names(store, changed, removed, old_fids, mapped)
        targets = changed | import_changed | _files_referring_to(store, names)
        targets |= paths_probing(store, [f"N:{n}" for n in names]
                                 + [f"B:{p}" for p in import_changed | removed])
        targets &= set(mapped)
    edges = _resolve_calls(store, targets, mapped, full)
    _store_call_edges(store, targets, edges, fresh=full)
    edges_moved = _store_file_edges(store, targets, edges, fresh=full)
    report.resolved_files = len(targets)
    if edges_moved or added or removed:  # else the rank, a function of both, stands
        _rank(store, mapped)
    store.set_meta("graph_probes", "1")
    store.set_meta("go_module", go_module or "")
    report.seconds = time.perf_counter() - started
    return report


def _rank(store: MapStore, mapped: dict[str, tuple[int, str]]) -> None:
    """The global file rank, from the stored file edges; writes only the ranks that moved."""
    import numpy as np  # here: a refresh whose edges stand ranks nothing

    nodes = sorted(mapped)
    index = {node: i for i, node in enumerate(nodes)}.get
    rows = store.conn.execute("SELECT src, dst, weight FROM file_edges").fetchall()
    src = np.array([index(row[0], -1) for row in rows], dtype=np.int64)
    dst = np.array([index(row[1], -1) for row in rows], dtype=np.int64)
    weights = np.array([row[2] for row in rows], dtype=np.float64)
    keep = (src >= 0) & (dst >= 0)
    ranks = pagerank_arrays(len(nodes), src[keep], dst[keep], weights[keep])
    stored = dict(store.conn.execute("SELECT path, rank FROM files"))
    moved = [(rank, path) for path, rank in zip(nodes, ranks.tolist(), strict=True)
             if stored.get(path) != rank]
    moved.extend((0.0, path) for path, rank in stored.items() if rank and path not in mapped)
    store.conn.executemany("UPDATE files SET rank=? WHERE path=?", moved)


def _go_module(root: Path) -> str | None:
    go_mod = root / "go.mod"
    return read_go_module(go_mod.read_text(errors="replace")) if go_mod.is_file() else None


# --- imports -----------------------------------------------------------------------------------

def _update_imports(store: MapStore, mapped: dict[str, tuple[int, str]], go_module: str | None,
                    only: set[str] | None) -> set[str]:
    """Re-resolve imports of `only` (None: all files); store what changed; return those paths."""
    index = ModuleIndex(mapped, go_module)
    subjects = set(mapped) if only is None else only & set(mapped)
    old = _stored_links(store, None if only is None else subjects)
    changed: set[str] = set()
    edge_rows, link_rows = [], []
    probes: dict[str, set[str]] = {}
    imports_by_path = store.imports_by_path(None if only is None else subjects)
    for path in subjects:
        resolved = resolve_file_imports(path, mapped[path][1], imports_by_path.get(path, []),
                                        index)
        probes[path] = resolved.probes
        bindings = {k: (b.path, b.name) for k, b in resolved.bindings.items()}
        edges = sorted(resolved.edges)
        if old.get(path, ([], {})) != (edges, bindings):
            changed.add(path)
            edge_rows.extend((path, dst, line, module) for dst, line, module in edges)
            if bindings:
                link_rows.append((path, marshal.dumps(bindings)))
    stale = [(p,) for p in changed]
    store.conn.executemany("DELETE FROM import_edges WHERE src=?", stale)
    store.conn.executemany("DELETE FROM file_links WHERE path=?", stale)
    store.conn.executemany("INSERT INTO import_edges VALUES (?,?,?,?)", edge_rows)
    store.conn.executemany("INSERT INTO file_links VALUES (?,?)", link_rows)
    replace_probes(store, "import", probes, everything=only is None)
    return changed


def _stored_links(store: MapStore, paths: set[str] | None):
    """path -> (sorted import edges, bindings) as stored."""
    edges: dict[str, list] = defaultdict(list)
    links: dict[str, dict] = {}
    if paths is None:
        for src, dst, line, module in store.conn.execute(
                "SELECT src, dst, line, module FROM import_edges"):
            edges[src].append((dst, line, module))
        for path, raw in store.conn.execute("SELECT path, bindings FROM file_links"):
            links[path] = marshal.loads(raw)
    else:
        for path in paths:
            edges[path] = [tuple(r) for r in store.conn.execute(
                "SELECT dst, line, module FROM import_edges WHERE src=?", (path,))]
            row = store.conn.execute("SELECT bindings FROM file_links WHERE path=?",
                                     (path,)).fetchone()
            if row:
                links[path] = marshal.loads(row[0])
    return {p: (sorted(edges.get(p, [])), links.get(p, {})) for p in set(edges) | set(links)}


class _StoredBindings(Mapping[str, dict[str, Binding]]):
    """Every file's import bindings, read from the store on first use (a refresh follows a
    few; a full build preloads them all)."""

    def __init__(self, store: MapStore, preload: bool) -> None:
        self._store = store
        self._cache: dict[str, dict[str, Binding] | None] = {}
        if preload:
            for path, raw in store.conn.execute("SELECT path, bindings FROM file_links"):
                self._cache[path] = _bindings(raw)
        self._complete = preload

    def __getitem__(self, path: str) -> dict[str, Binding]:
        if path not in self._cache and not self._complete:
            row = self._store.conn.execute("SELECT bindings FROM file_links WHERE path=?",
                                           (path,)).fetchone()
            self._cache[path] = _bindings(row[0]) if row else None
        found = self._cache.get(path)
        if found is None:
            raise KeyError(path)
        return found

    def __iter__(self) -> Iterator[str]:
        return (row[0] for row in self._store.conn.execute("SELECT path FROM file_links"))

    def __len__(self) -> int:
        return self._store.conn.execute("SELECT COUNT(*) FROM file_links").fetchone()[0]


def _bindings(raw: bytes) -> dict[str, Binding]:
    return {k: Binding(*v) for k, v in marshal.loads(raw).items()}


def _delete_sources(store: MapStore, removed: set[str]) -> None:
    """Drop everything out of removed files (edges into them go when their sources re-resolve)."""
    rows = [(p,) for p in removed]
    for table, column in (("import_edges", "src"), ("call_edges", "src"),
                          ("file_edges", "src"), ("file_links", "path")):
        store.conn.executemany(f"DELETE FROM {table} WHERE {column}=?", rows)
    forget_probes(store, removed)


# --- calls -------------------------------------------------------------------------------------

def _def_sites(store: MapStore, fid: int | None) -> set[tuple[str, str, str]]:
    if fid is None:
        return set()
    return set(store.conn.execute("SELECT name, qname, kind FROM defs WHERE fid=?", (fid,)))


def _changed_names(store: MapStore, changed: set[str], removed: set[str],
                   old_fids: dict[str, int], mapped: dict[str, tuple[int, str]]) -> set[str]:
    """Names whose set of defining sites (with their kinds) changed: lookups of them answer
    differently, so the files making those lookups must be re-resolved."""
    names: set[str] = set()
    for path in changed | removed:
        old = _def_sites(store, old_fids.get(path))
        new = _def_sites(store, mapped[path][0]) if path in mapped else set()
        names.update(name for name, _q, _k in old ^ new)
    return names


def _files_referring_to(store: MapStore, names: set[str]) -> set[str]:
    """Mapped files whose references name one of `names`. SQLite first keeps the blobs whose
    marshalled name list contains one of the names' bytes; Python confirms."""
    if not names:
        return set()
    found: set[str] = set()
    ordered = sorted(names)
    for start in range(0, len(ordered), 50):
        chunk = [name.encode("utf-8", "surrogatepass") for name in ordered[start:start + 50]]
        # blobs first, in their table's order (CROSS JOIN keeps it): a file-by-file lookup
        # of the blobs read their long rows in random order: nearly twice as slow at 33,000 files
        rows = store.conn.execute(
            "SELECT f.path, b.ref_names FROM blobs b CROSS JOIN files f ON f.fid = b.id "
            "WHERE f.status='ok' AND (" + " OR ".join("instr(b.ref_names, ?)" for _ in chunk)
            + ")", chunk)
        found.update(path for path, raw in rows if not names.isdisjoint(unpack_names(raw)))
    return found


def _resolve_calls(store: MapStore, targets: set[str], mapped: dict[str, tuple[int, str]],
                   full: bool) -> list[Edge]:
    """The call edges out of `targets`; stores what each one's resolution looked up."""
    if not targets:
        return []
    fids: dict[int, list[str]] = defaultdict(list)  # identical files share one blob id
    for path in targets:
        fids[mapped[path][0]].append(path)
    refs_by_fid = {fid: marshal.loads(raw) if raw else [] for fid, raw in
                   _rows(store, "SELECT id, refs FROM blobs", fids, full, key="id")}
    all_bindings = _StoredBindings(store, preload=full)
    needed: set[str] = set()
    probes: dict[str, set[str]] = {}
    for fid, paths in fids.items():
        for path in paths:
            own = all_bindings.get(path, {})
            names, followed = binding_reads(own, all_bindings)
            probes[path] = {f"N:{n}" for n in names} | {f"B:{p}" for p in followed}
            if not full:
                needed |= names_needed(refs_by_fid.get(fid, ()), own) | names
    replace_probes(store, "call", probes, everything=full)
    table, defs_by_fid = _symbol_table(store, needed, fids, full)
    edges: list[Edge] = []
    for fid, paths in fids.items():
        refs = refs_by_fid.get(fid)
        for path in paths if refs else ():
            edges.extend(resolve_file_calls(path, mapped[path][1], FileDefs(defs_by_fid[fid]),
                                            refs, all_bindings.get(path, {}), all_bindings,
                                            table))
    return edges


def _rows(store: MapStore, sql: str, fids: dict[int, list[str]], full: bool,
          key: str = "fid") -> Iterable[tuple]:
    if full:
        yield from store.conn.execute(sql)
        return
    keys = sorted(fids)
    for start in range(0, len(keys), _BATCH):
        chunk = keys[start:start + _BATCH]
        yield from store.conn.execute(
            f"{sql} WHERE {key} IN ({','.join('?' * len(chunk))})", chunk)


def _symbol_table(store: MapStore, names: set[str], fids: dict[int, list[str]], full: bool):
    """Definitions named in `names` across the map (all, for a full build), and the
    definitions of the files being resolved, by blob id."""
    table = SymbolTable()
    defs_by_fid: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
    sql = ("SELECT f.path, d.fid, d.name, d.qname, d.kind FROM defs d "
           "JOIN files f ON f.fid = d.fid WHERE f.status='ok'")
    if full:
        first_path: dict[int, str] = {}  # identical files share a blob: its defs once
        for path, fid, name, qname, kind in store.conn.execute(sql):
            table.add(path, name, qname, kind)
            if first_path.setdefault(fid, path) == path:
                defs_by_fid[fid].append((name, qname, kind))
        return table, defs_by_fid
    names_list = sorted(names)
    for start in range(0, len(names_list), _BATCH):
        chunk = names_list[start:start + _BATCH]
        for path, _fid, name, qname, kind in store.conn.execute(
                f"{sql} AND d.name IN ({','.join('?' * len(chunk))})", chunk):
            table.add(path, name, qname, kind)
    for fid, name, qname, kind in _rows(store, "SELECT fid, name, qname, kind FROM defs",
                                        fids, False):
        defs_by_fid[fid].append((name, qname, kind))
    return table, defs_by_fid


def _store_call_edges(store: MapStore, sources: set[str], edges: list[Edge],
                      fresh: bool) -> None:
    if fresh:  # a full build: rebuild the index once instead of updating it per row
        store.conn.execute("DELETE FROM call_edges")
        store.conn.execute("DROP INDEX IF EXISTS call_edges_src")
    else:
        store.conn.executemany("DELETE FROM call_edges WHERE src=?", [(p,) for p in sources])
    store.conn.executemany("INSERT INTO call_edges VALUES (?,?,?,?,?,?)", edges)
    if fresh:
        store.conn.execute("CREATE INDEX call_edges_src ON call_edges(src)")


def _store_file_edges(store: MapStore, sources: set[str], edges: list[Edge],
                      fresh: bool) -> bool:
    """file -> file weights for ranking: imports plus calls (see tools.rank.call_weight).
    Returns whether the stored weights changed."""
    weights: dict[tuple[str, str], float] = defaultdict(float)
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    for src, _sq, dst, _dq, how, count in edges:
        if src != dst:
            counts[(src, dst, how)] += count
    for (src, dst, how), count in counts.items():
        weights[(src, dst)] += call_weight(how, count)
    imports = store.conn.execute("SELECT DISTINCT src, dst FROM import_edges") if fresh else (
        row for src in sources for row in store.conn.execute(
            "SELECT DISTINCT src, dst FROM import_edges WHERE src=?", (src,)))
    for src, dst in imports:
        if src != dst:
            weights[(src, dst)] += 1.0
    rows = [(s, d, w) for (s, d), w in weights.items() if s in sources]
    if fresh:
        store.conn.execute("DELETE FROM file_edges")
    else:
        before = sorted(row for path in sources for row in store.conn.execute(
            "SELECT src, dst, weight FROM file_edges WHERE src=?", (path,)))
        if before == sorted(rows):
            return False
        store.conn.executemany("DELETE FROM file_edges WHERE src=?", [(p,) for p in sources])
    store.conn.executemany("INSERT INTO file_edges VALUES (?,?,?)", rows)
    return True
