"""A map build collects garbage less often, with a young generation that grows with the tree,
and leaves the process's collector as it was."""

from __future__ import annotations

import gc
import json
from contextlib import contextmanager

import pytest
import sleepcoder.tools.bulk_gc as bulk_gc
from hypothesis import given
from hypothesis import strategies as st
from sleepcoder.tools import repomap
from sleepcoder.tools.bulk_gc import BUILD_THRESHOLDS, fewer_collections
from sleepcoder.tools.repomap import build_map

from tests.conftest import Repo
from tests.test_calibrate import grow, open_store


@pytest.fixture
def saved_thresholds():
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


class _RecordThresholds:
    """A build's progress sink that notes the collector's thresholds while it parses."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int, int]] = []
        self.by_phase: dict[str, tuple[int, int, int]] = {}

    def start(self, phase: str, total: int) -> None:
        self.seen.append(gc.get_threshold())
        self.by_phase[phase] = gc.get_threshold()

    def advance(self, count: int = 1) -> None:
        pass

    def notice(self, message: str) -> None:
        pass


def test_build_map_collects_less_often_and_restores_the_thresholds(py_repo, saved_thresholds):
    progress = _RecordThresholds()
    build_map(py_repo.root, progress=progress)
    assert progress.seen and all(seen[0] >= BUILD_THRESHOLDS[0] for seen in progress.seen)
    assert gc.get_threshold() == saved_thresholds


def test_build_map_grows_the_young_generation_with_the_files_it_maps(py_repo, saved_thresholds,
                                                                     monkeypatch):
    # per file so many that the fixture's few files exceed the fixed young threshold
    monkeypatch.setattr(bulk_gc, "YOUNG_PER_FILE", BUILD_THRESHOLDS[0])
    progress = _RecordThresholds()
    report = build_map(py_repo.root, progress=progress)
    assert report.mapped > 1 and not report.skipped  # every file scanned is mapped
    assert progress.by_phase["parse"] == (BUILD_THRESHOLDS[0] * report.mapped,
                                          *BUILD_THRESHOLDS[1:])
    assert gc.get_threshold() == saved_thresholds


def test_thresholds_come_back_when_the_block_raises(saved_thresholds):
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("interrupted build")
    assert gc.get_threshold() == saved_thresholds


@given(st.tuples(st.integers(0, 200_000), st.integers(0, 100), st.integers(0, 100)))
def test_raised_thresholds_never_lower_any_and_keep_collection_off(before):
    saved = gc.get_threshold()
    try:
        gc.set_threshold(*before)
        with fewer_collections():
            inside = gc.get_threshold()
        after = gc.get_threshold()
    finally:
        gc.set_threshold(*saved)
    assert after == before
    if before[0] == 0:  # automatic collection off: stays off
        assert inside[0] == 0
    else:
        assert inside[0] == max(before[0], BUILD_THRESHOLDS[0])
    assert inside[1:] == tuple(max(b, t) for b, t in zip(before[1:], BUILD_THRESHOLDS[1:],
                                                          strict=True))


@given(st.tuples(st.integers(0, 200_000), st.integers(0, 100), st.integers(0, 100)),
       st.integers(0, 100_000))
def test_scaling_to_the_files_never_lowers_a_threshold_and_keeps_collection_off(before, files):
    saved = gc.get_threshold()
    try:
        gc.set_threshold(*before)
        with fewer_collections() as collections:
            raised = gc.get_threshold()
            collections.scale(files)
            scaled = gc.get_threshold()
        after = gc.get_threshold()
    finally:
        gc.set_threshold(*saved)
    assert after == before
    assert scaled[1:] == raised[1:]
    if before[0] == 0:
        assert scaled[0] == 0
    else:
        assert scaled[0] == max(raised[0], bulk_gc.YOUNG_PER_FILE * files)


def stored_tables(repo: Repo) -> dict[str, list]:
    """Every table of the map, rows sorted, blob ids named by their content; left out what
    no two builds share: their timestamps and reports, the files' mtimes, the root."""
    store = open_store(repo)
    try:
        conn = store.conn
        blob = dict(conn.execute("SELECT id, blob FROM blobs"))
        tables = {}
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({name})")]
            ids = [i for i, column in enumerate(columns)
                   if column == "fid" or (name == "blobs" and column == "id")]
            kept = [i for i, column in enumerate(columns) if column != "mtime_ns"]
            rows = []
            for row in conn.execute(f"SELECT * FROM {name}"):
                if name == "meta" and row[0] in ("updated_at", "last_build", "root"):
                    continue
                if name == "meta" and row[0] == "calibration":  # but how long it took
                    row = (row[0], {k: v for k, v in json.loads(row[1]).items()
                                    if k != "seconds"})
                rows.append(tuple(blob.get(row[i], row[i]) if i in ids else row[i]
                                  for i in kept))
            tables[name] = sorted(rows, key=repr)
        return tables
    finally:
        store.close()


def test_when_the_collector_runs_changes_nothing_the_map_stores(tmp_path, saved_thresholds,
                                                                monkeypatch):
    repos = []
    for name in ("often", "seldom"):
        (tmp_path / name).mkdir()
        repos.append(Repo(tmp_path / name))
        grow(repos[-1], 6)
        repos[-1].commit("Add checkout", {"shop/checkout.py": (
            "from shop.billing import billing_total\n\n\ndef checkout(items):\n"
            "    return billing_total(items)\n")})
    often, seldom = repos

    @contextmanager
    def python_defaults():  # collections as often as in a process that never raised them
        gc.set_threshold(700, 10, 10)
        yield bulk_gc.BulkCollections((700, 10, 10))

    with monkeypatch.context() as patch:
        patch.setattr(repomap, "fewer_collections", python_defaults)
        patch.setattr(bulk_gc, "YOUNG_PER_FILE", 0)
        build_map(often.root, calibrate=True)
    with monkeypatch.context() as patch:
        patch.setattr(bulk_gc, "YOUNG_PER_FILE", 10**6)  # none while it builds
        build_map(seldom.root, calibrate=True)
    expected = stored_tables(often)
    assert all(expected[name] for name in ("call_edges", "import_edges", "search_postings",
                                           "blob_terms", "commits"))
    assert stored_tables(seldom) == expected
