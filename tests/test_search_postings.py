"""The inverted index must score a request exactly as BM25 over every document did: the same
floats in the same order, after any sequence of document changes, and in a replay's replaced
contents; a refresh must move it with the files."""

from __future__ import annotations

import sqlite3
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sleepcoder.tools import search_postings
from sleepcoder.tools.localize import LocalizeModel, _memoised_probability, localize
from sleepcoder.tools.repomap import build_map
from sleepcoder.tools.search import BM25
from sleepcoder.tools.search_docs import load_index, path_words
from sleepcoder.tools.search_postings import (
    PathWords,
    PostingChanges,
    StoredBM25,
    StoredPathIndex,
    update_postings,
)
from sleepcoder.tools.store import _SEARCH_SCHEMA

from tests.test_calibrate import grow, open_store
from tests.test_search_docs import assert_stored_match_reference, reference_index, stored_postings

WORDS = st.sampled_from(["alpha", "beta", "gamma", "delta", "omega", "sigma", "tau", "pi"])
DOCUMENT = st.dictionaries(WORDS, st.integers(1, 300), max_size=6).map(Counter)
# a map's life: documents by path, then rounds of changes (None removes the path)
PATHS = st.sampled_from([f"pkg/mod_{i}.py" for i in range(12)])
ROUNDS = st.lists(st.dictionaries(PATHS, st.none() | DOCUMENT, max_size=12), min_size=1,
                  max_size=4)


def stored_index(rounds: list[dict[str, Counter | None]], first_id: int = 0):
    """The documents left after `rounds` of changes and their postings as a sync writes them
    (ids kept per path, new paths numbered after the others, from `first_id`)."""
    conn = sqlite3.connect(":memory:")
    conn.executescript(_SEARCH_SCHEMA)
    documents: dict[str, Counter] = {}
    ids: dict[str, int] = {}
    for changes in rounds:
        words = PostingChanges()
        for path, document in changes.items():
            if path in ids:
                words.replace(documents[path], document, ids[path])
            elif document is not None:
                ids[path] = max(ids.values(), default=first_id) + 1
                words.add(document, ids[path])
            if document is None:
                documents.pop(path, None)
                ids.pop(path, None)
            else:
                documents[path] = document
        update_postings(conn, "text", words)
    return conn, documents, ids


@pytest.mark.parametrize("edited_in_place", [64, 0])  # a word's few changes; or merged
@settings(max_examples=300, deadline=None)
@given(ROUNDS, st.lists(WORDS | st.just("absent"), max_size=6), st.permutations(range(12)),
       st.sampled_from([0, 65530]))  # ids beyond 2 bytes
def test_postings_score_exactly_as_bm25_over_every_document(edited_in_place, rounds, query,
                                                            shuffle, first_id):
    saved, search_postings._FEW_CHANGES = search_postings._FEW_CHANGES, edited_in_place
    try:
        conn, documents, ids = stored_index(rounds, first_id)
    finally:
        search_postings._FEW_CHANGES = saved
    order = sorted(documents, key=lambda p: shuffle[int(p.split("_")[1].split(".")[0])])
    position = {path: at for at, path in enumerate(order)}
    stored = StoredBM25.stored(conn, "text", {doc: path for path, doc in ids.items()},
                               {path: documents[path].total() for path in order}, position,
                               k1=2.0)
    full = BM25({path: documents[path] for path in order}, k1=2.0)
    assert list(stored.scores(query).items()) == list(full.scores(query).items())


@settings(max_examples=200, deadline=None)
@given(ROUNDS, st.lists(WORDS, max_size=6), st.dictionaries(PATHS, DOCUMENT, max_size=3))
def test_replaced_contents_score_exactly_as_bm25_replaced(rounds, query, replacements):
    conn, documents, ids = stored_index(rounds)
    order = sorted(documents)
    stored = StoredBM25.stored(conn, "text", {doc: path for path, doc in ids.items()},
                               {path: documents[path].total() for path in order},
                               {path: at for at, path in enumerate(order)})
    full = BM25({path: documents[path] for path in order})
    kept = {path: doc for path, doc in replacements.items() if path in documents}
    assert list(stored.replaced(kept).scores(query).items()) == \
        list(full.replaced(kept).scores(query).items())
    assert list(stored.scores(query).items()) == list(full.scores(query).items())


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["shop/billing.py", "shop/billing_export.py", "api/users.ts",
                                 "api/export/index.js", "docs/billing.md", "shop/users.py"]),
                unique=True, min_size=1),
       st.lists(st.sampled_from(["billing", "export", "users", "api", "shop", "index", "md"]),
                max_size=4))
def test_path_postings_score_as_the_path_words(paths, query):
    conn = sqlite3.connect(":memory:")
    conn.executescript(_SEARCH_SCHEMA)
    words = PostingChanges()
    for doc, path in enumerate(paths, 1):
        both, stem = path_words(path)
        words.add({w: 2 if w in stem else 1 for w in both}, doc)
    update_postings(conn, "path", words)
    stored = StoredPathIndex(conn, dict(enumerate(paths, 1)),
                             {path: at for at, path in enumerate(paths)})
    in_memory = PathWords({path: path_words(path) for path in paths})
    assert list(stored.scores(query).items()) == list(in_memory.scores(query).items())


REQUESTS = ("Add a billing export option", "Fix the orders total for refunds",
            "Show the api version in the users listing", "Refund invoices in billing")


def rankings(store, root, reference: bool, monkeypatch) -> list[dict]:
    import sleepcoder.tools.localize_features as features

    with monkeypatch.context() as patch:
        if reference:
            patch.setattr(features, "load_index", reference_index)
        return [localize(store, root, request, limit=1000).to_json() for request in REQUESTS]


def test_localize_ranks_as_over_every_document_before_and_after_a_refresh(repo, monkeypatch):
    grow(repo, 8)
    build_map(repo.root)
    store = open_store(repo)
    try:
        before = rankings(store, repo.root, False, monkeypatch)
        assert before == rankings(store, repo.root, True, monkeypatch)
    finally:
        store.close()
    repo.commit("Change billing, add refunds, drop a module", {
        "shop/billing.py": '"""Billing with invoices."""\n\n\ndef invoice_total(x):\n'
                           '    return x\n',
        "shop/refunds.py": '"""Refunds of invoices."""\n\n\ndef refund_invoice(order):\n'
                           '    return order\n'},
        remove=("shop/new_0.py",))
    build_map(repo.root)
    store = open_store(repo)
    try:
        assert_stored_match_reference(store, repo.root)
        after = rankings(store, repo.root, False, monkeypatch)
        assert after == rankings(store, repo.root, True, monkeypatch)
    finally:
        store.close()
    matched = [{c["path"] for c in ranking["candidates"] if c["signals"].get("text")}
               for ranking in (before[3], after[3])]
    assert "shop/refunds.py" in matched[1] - matched[0]
    assert "shop/new_0.py" in {c["path"] for c in before[3]["candidates"]} - \
        {c["path"] for c in after[3]["candidates"]}


def test_a_one_file_refresh_moves_the_postings_of_its_words(repo):
    grow(repo, 6)
    build_map(repo.root)
    (repo.root / "shop/billing.py").write_text(
        '"""Billing."""\n\n\ndef loyalty_voucher(x):\n    return x\n')
    build_map(repo.root)
    store = open_store(repo)
    try:
        text = stored_postings(store, "text")
        symbols = stored_postings(store, "symbols")
        assert text["voucher"] == {"shop/billing.py": 1}
        assert symbols["loyalty"] == {"shop/billing.py": 1}
        assert "shop/billing.py" not in text.get("invoice", {})
        assert "shop/billing.py" not in symbols.get("invoice", {})
        assert_stored_match_reference(store, repo.root)
    finally:
        store.close()


def test_each_candidate_gets_its_own_features_probability(repo):
    """Probabilities are computed once per distinct weighted-feature vector: each must still
    be exactly what the model says for that file's features."""
    grow(repo, 8)
    build_map(repo.root)
    store = open_store(repo)
    try:
        found = localize(store, repo.root, REQUESTS[0], limit=1000, calibrated=False)
    finally:
        store.close()
    model = LocalizeModel()
    assert len({c.score for c in found.candidates}) > 1
    assert [c.score for c in found.candidates] == \
        [model.probability(c.signals) for c in found.candidates]


@given(st.lists(st.fixed_dictionaries({name: st.sampled_from([0.0, 0.5, 1.0, 0.25])
                                       for name in ("text", "size", "graph", "habit")}),
                max_size=20),
       st.dictionaries(st.sampled_from(["text", "graph", "habit", "other"]),
                       st.sampled_from([0.0, -1.5, 2.0]), max_size=3))
def test_memoised_probability_is_the_models_for_any_weights(vectors, weights):
    model = LocalizeModel(weights=weights, bias=-1.0)
    probability = _memoised_probability(model)
    reordered = [dict(reversed(features.items())) for features in vectors]
    for features in [*vectors, *reordered]:
        assert probability(features) == model.probability(features)


def test_an_index_read_before_a_refresh_scores_without_the_files_it_added(repo):
    """Queries do not lock the map: a refresh may commit while one runs."""
    grow(repo, 4)
    build_map(repo.root)
    store = open_store(repo)
    try:
        files = [path for (path,) in store.conn.execute(
            "SELECT path FROM files WHERE status='ok'")]
        index = load_index(store, repo.root, files)
        (repo.root / "shop/coupons.py").write_text('"""Billing coupons."""\n')
        build_map(repo.root)
        scores = index.text.scores(["billing", "coupons"])
    finally:
        store.close()
    assert "shop/billing.py" in scores
    assert "shop/coupons.py" not in scores
