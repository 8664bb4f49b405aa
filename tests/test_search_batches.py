"""The map's search documents and their postings are built and written in batches (a full
build of a large tree holds one batch, not every file's words): one file per batch, with the
held postings written after each, must store exactly the map one batch stores."""

from __future__ import annotations

import sqlite3
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sleepcoder.tools import search_docs
from sleepcoder.tools.repomap import build_map
from sleepcoder.tools.search_postings import PostingChanges, update_postings
from sleepcoder.tools.store import _SEARCH_SCHEMA

from tests.conftest import Repo
from tests.test_calibrate import grow, open_store


def stored_search_tables(repo: Repo) -> dict[str, list]:
    """The search tables as stored, byte for byte (blobs named by content, not by id)."""
    store = open_store(repo)
    try:
        conn = store.conn
        return {
            "docs": conn.execute(
                "SELECT d.id, d.path, d.blob, b.blob, d.summary, d.text_length, "
                "d.symbols_length FROM search_docs d LEFT JOIN blobs b ON b.id = d.fid "
                "ORDER BY d.id").fetchall(),
            "words": conn.execute("SELECT * FROM search_words ORDER BY id").fetchall(),
            "postings": conn.execute(
                "SELECT * FROM search_postings ORDER BY name, word").fetchall(),
            "terms": sorted(conn.execute(
                "SELECT b.blob, t.terms FROM blob_terms t JOIN blobs b ON b.id = t.fid")),
        }
    finally:
        store.close()


def twins(tmp_path) -> tuple[Repo, Repo]:
    """Two repositories with the same history."""
    pair = []
    for name in ("one-batch", "batches-of-one"):
        (tmp_path / name).mkdir()
        pair.append(Repo(tmp_path / name))
        grow(pair[-1], 6)
    return pair[0], pair[1]


def batches_of_one(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every document in its own batch, held postings written after each; returns the
    indexes written, one entry per write."""
    writes: list[str] = []
    original = search_docs.update_postings

    def recording(conn, name, changes):
        writes.append(name)
        return original(conn, name, changes)

    monkeypatch.setattr(search_docs, "BATCH", 1)
    monkeypatch.setattr(search_docs, "HELD_POSTINGS", 1)
    monkeypatch.setattr(search_docs, "update_postings", recording)
    return writes


def test_a_full_build_in_batches_of_one_file_stores_the_same_map(tmp_path, monkeypatch):
    one_batch, batches = twins(tmp_path)
    build_map(one_batch.root)
    with monkeypatch.context() as patch:
        writes = batches_of_one(patch)
        build_map(batches.root)
    expected = stored_search_tables(one_batch)
    assert expected["postings"] and expected["terms"]
    assert stored_search_tables(batches) == expected
    files = len(expected["docs"])
    assert writes.count("text") >= files  # the postings were written as the batches went


def test_refreshes_in_batches_of_one_file_store_the_same_map(tmp_path, monkeypatch):
    one_batch, batches = twins(tmp_path)
    build_map(one_batch.root)
    build_map(batches.root)
    added = {f"shop/extra_{i}.py": f'"""Extra {i}."""\n\n\ndef extra_{i}(order):\n'
                                   f"    return order.total + {i}\n" for i in range(4)}
    changed = {"shop/api.py": '"""The api, with refunds."""\n\n\ndef refund(order):\n'
                              "    return order\n", "shop/late.py": "LATE = 1\n"}
    # only new files (their postings are appended to the stored ones as the batches go),
    # then a change, a new file and a removal together
    for message, files, remove in (("Add extras", added, ()),
                                   ("Refunds", changed, ("shop/extra_1.py",))):
        for repo in (one_batch, batches):
            repo.commit(message, files, remove=remove)
        build_map(one_batch.root)
        with monkeypatch.context() as patch:
            batches_of_one(patch)
            build_map(batches.root)
        assert stored_search_tables(batches) == stored_search_tables(one_batch)


def postings_written(documents: list[Counter], first_id: int, steps: list[int]) -> list:
    """The stored postings of new `documents` numbered from `first_id`, written after each
    document whose position is in `steps` and at the end."""
    conn = sqlite3.connect(":memory:")
    conn.executescript(_SEARCH_SCHEMA)
    changes = PostingChanges()
    for at, document in enumerate(documents):
        if at in steps:
            update_postings(conn, "text", changes)
            changes = PostingChanges()
        changes.add(document, first_id + at)
    update_postings(conn, "text", changes)
    return conn.execute("SELECT * FROM search_postings ORDER BY name, word").fetchall()


@st.composite
def written_in_steps(draw) -> tuple[list[Counter], list[int]]:
    """Documents in up to three steps, each with its own largest count (a later step's
    counts may fit in fewer bytes than the stored ones), sharing few words so that a word
    gains more than the 64 documents edited in place at one write."""
    documents: list[Counter] = []
    steps = []
    for _ in range(draw(st.integers(1, 3))):
        if documents:
            steps.append(len(documents))
        counts = st.integers(1, draw(st.sampled_from([3, 300])))
        size = draw(st.sampled_from([1, 20, 65, 150]))
        documents += draw(st.lists(st.dictionaries(st.sampled_from(["alpha", "beta"]), counts,
                                                   min_size=1).map(Counter),
                                   min_size=size, max_size=size))
    return documents, steps


@settings(max_examples=100, deadline=None)
@given(written_in_steps(), st.sampled_from([1, 65450]))  # ids beyond 2 bytes
def test_postings_written_as_they_come_are_those_written_at_once(steps, first_id):
    documents, written_after = steps
    assert postings_written(documents, first_id, written_after) == postings_written(
        documents, first_id, [])
