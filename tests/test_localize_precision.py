"""Signals that fire on most files of an active repository (how recently and how often a file
changed) lift a file only together with the request's own pointers to it."""

from __future__ import annotations

from sleepcoder.tools.localize import LABELS, localize
from sleepcoder.tools.localize_features import compute_features
from sleepcoder.tools.repomap import build_map

from tests.test_calibrate import grow, open_store


def test_a_recent_change_alone_does_not_lift_an_unrelated_file(repo):
    grow(repo, 8)
    for i in range(3):  # the most recent commits all touch the readme and the users module
        repo.commit(f"Tweak users {i}", {"README.md": f"# shop {i}\n",
                                          "shop/users.py": f'"""Users."""\n# {i}\n'})
    build_map(repo.root)
    request = "Add a billing export option"
    store = open_store(repo)
    try:
        features, _kinds, _habits, _seeds = compute_features(store, repo.root, request)
        ranking = localize(store, repo.root, request, limit=100)
    finally:
        store.close()
    users = features["shop/users.py"]
    # changed last, but the request hardly points at it (only past "export option" commits)
    assert users["recency"] == 1.0 and users["relevance"] < 0.1
    assert users["recency_relevant"] < 0.1 and users["churn_relevant"] < 0.1
    assert "shop/users.py" not in ranking.chosen and "README.md" not in ranking.chosen
    billing = features["shop/billing.py"]
    assert billing["recency_relevant"] > 5 * users["recency_relevant"]  # named by the request
    reasons = [r for c in ranking.candidates for r in c.reasons]
    assert not any(r.startswith("changed recently (") for r in reasons)
    assert "recency" not in LABELS and "churn" not in LABELS
