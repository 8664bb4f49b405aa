"""A map build collects garbage less often, and leaves the process's collector as it was."""

from __future__ import annotations

import gc

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sleepcoder.tools.bulk_gc import BUILD_THRESHOLDS, fewer_collections
from sleepcoder.tools.repomap import build_map


@pytest.fixture
def saved_thresholds():
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


class _RecordThresholds:
    """A build's progress sink that notes the collector's thresholds while it parses."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int, int]] = []

    def start(self, phase: str, total: int) -> None:
        self.seen.append(gc.get_threshold())

    def advance(self, count: int = 1) -> None:
        pass

    def notice(self, message: str) -> None:
        pass


def test_build_map_collects_less_often_and_restores_the_thresholds(py_repo, saved_thresholds):
    progress = _RecordThresholds()
    build_map(py_repo.root, progress=progress)
    assert progress.seen and all(seen[0] >= BUILD_THRESHOLDS[0] for seen in progress.seen)
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
