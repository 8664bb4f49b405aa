"""Per-repository calibration: past features chosen as pseudo-tasks, replayed with only their
past, the prior that holds the global model until the evidence is large, and what `map`,
`map stats` and `solve --localize-only` say about it."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from sleepcoder.tools.calibrate import (
    MIN_TASKS,
    Calibration,
    Settings,
    fit_calibration,
    fit_reference,
    refresh,
)
from sleepcoder.tools.history import HistoryView
from sleepcoder.tools.localize import LocalizeModel, localize
from sleepcoder.tools.pseudo_tasks import PseudoTask, Replay, contents_before, select_tasks
from sleepcoder.tools.repomap import build_map
from sleepcoder.tools.store import MapStore
from sleepcoder.tools.titles import is_chore, reads_like_feature

from tests.conftest import Repo, run_cli

AREAS = ["billing", "shipping", "catalog", "orders", "users", "search", "reports", "audit"]


def module(name: str, extra: str = "") -> str:
    return f'"""The {name} module."""\n\n\ndef {name}_total(items):\n    return len(items)\n' \
        + extra


def grow(repo: Repo, features: int) -> None:
    """A shop whose history has chores, one-file changes and `features` multi-file features
    (each: one area's module, the api, and the area's tests)."""
    files = {f"shop/{a}.py": module(a) for a in AREAS}
    files |= {f"tests/test_{a}.py": f"from shop.{a} import {a}_total\n" for a in AREAS}
    files |= {"shop/api.py": '"""The public api."""\n', "shop/__init__.py": "",
              "README.md": "# shop\n"}
    repo.commit("Initial shop", files)
    for i in range(6):
        repo.commit(f"Tidy {AREAS[i]} wording", {f"shop/{AREAS[i]}.py": module(AREAS[i],
                                                                               f"# {i}\n")})
    repo.commit("Fix crash in api", {"shop/api.py": '"""The api."""\n# fixed\n',
                                     "shop/orders.py": module("orders", "# fix\n"),
                                     "tests/test_orders.py": "# fix\n"})
    for i in range(features):
        area = AREAS[i % len(AREAS)]
        repo.commit(f"Add {area} export option {i}", {
            f"shop/{area}.py": module(area, f"\n\ndef {area}_export_{i}(items):\n"
                                            f"    return list(items)\n"),
            "shop/api.py": (repo.root / "shop/api.py").read_text() + f"# export {area} {i}\n",
            f"tests/test_{area}.py": (repo.root / f"tests/test_{area}.py").read_text()
            + f"# test export {i}\n",
            f"shop/new_{i}.py": "ADDED = True\n"})


def open_store(repo: Repo) -> MapStore:
    store, _ = MapStore.open(repo.root / ".sleepcoder", create=False)
    return store


def test_titles_tell_features_from_chores():
    assert reads_like_feature("Add --fts option to insert")
    assert reads_like_feature("register_routes() plugin hook")
    assert not reads_like_feature("Fix crash when the option is missing")
    assert not reads_like_feature("Upgrade to Pydantic v2")
    assert not reads_like_feature("Tidy wording")
    assert is_chore("Bump version to 2.0")


@given(st.text(max_size=80))
def test_a_title_read_as_a_feature_is_never_a_chore(title):
    assert not (reads_like_feature(title) and is_chore(title))


def test_history_before_a_commit_hides_it_what_follows_and_the_hidden(repo):
    grow(repo, 3)
    build_map(repo.root)
    store = open_store(repo)
    try:
        history = HistoryView(store.conn, existing=None)
        last = max(history.commits)
        past = history.before(last, hidden=frozenset({last - 1}))
        assert last not in past.commits and last - 1 not in past.commits
        assert set(past.commits) == {s for s in history.commits if s < last - 1}
        assert all(s < last - 1 for seqs in past.commits_by_file.values() for s in seqs)
        assert past.change_count("shop/api.py") == history.change_count("shop/api.py") - 2
    finally:
        store.close()


def test_pseudo_tasks_are_recent_multi_file_features_without_their_added_files(repo):
    grow(repo, 7)
    build_map(repo.root)
    store = open_store(repo)
    try:
        files = {p: (lang, 0.0) for p, lang in store.conn.execute(
            "SELECT path, language FROM files WHERE status='ok'")}
        history = HistoryView(store.conn, existing=set(files))
        tasks = select_tasks(store, history, files, repo.root, limit=5)
    finally:
        store.close()
    assert len(tasks) == 5
    assert all(t.title.startswith("Add ") for t in tasks)  # never the fix, nor a one-file tidy
    assert [t.title for t in tasks] == [f"Add {AREAS[i % 8]} export option {i}"
                                        for i in (6, 5, 4, 3, 2)]  # the newest first
    newest = tasks[0]
    assert newest.gold == ("shop/api.py", "shop/reports.py", "tests/test_reports.py")
    assert newest.added == frozenset({"shop/new_6.py"})


def test_a_replay_searches_the_files_it_changed_as_they_were_before_it(repo):
    grow(repo, 7)
    build_map(repo.root)
    store = open_store(repo)
    try:
        files = {p: (lang, 0.0) for p, lang in store.conn.execute(
            "SELECT path, language FROM files WHERE status='ok'")}
        history = HistoryView(store.conn, existing=set(files))
        newest = select_tasks(store, history, files, repo.root, limit=1)[0]
    finally:
        store.close()
    old = contents_before(repo.root, [newest])[newest.seq]
    assert set(old) == set(newest.gold)
    assert "reports_export_6" not in old["shop/reports.py"]  # what the change added
    assert "reports_export_6" in (repo.root / "shop/reports.py").read_text()
    assert old["shop/reports.py"]["reports_total"] == 1
    assert contents_before(None, [newest]) == {}  # no repository: today's contents


def test_a_merged_pull_request_is_replayed_without_its_own_commits(repo):
    grow(repo, 5)
    repo.git("checkout", "-q", "-b", "feature")
    first = repo.commit("Start the webhook", {"shop/api.py": "# webhook\n"})
    repo.commit("Finish the webhook", {"shop/billing.py": module("billing", "# hook\n"),
                                       "shop/orders.py": module("orders", "# hook\n"),
                                       "tests/test_billing.py": "# hook\n"})
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "feature", "-m",
             "Merge pull request #9 from someone/feature\n\nAdd webhook support")
    build_map(repo.root)
    store = open_store(repo)
    try:
        files = {p: (lang, 0.0) for p, lang in store.conn.execute(
            "SELECT path, language FROM files WHERE status='ok'")}
        history = HistoryView(store.conn, existing=set(files))
        tasks = select_tasks(store, history, files, repo.root, limit=3)
        merged = next(t for t in tasks if t.title == "Add webhook support")
        own = {history.commits[s][0] for s in merged.hidden}
    finally:
        store.close()
    assert first in own and len(own) == 2
    assert set(merged.gold) == {"shop/api.py", "shop/billing.py", "shop/orders.py",
                                "tests/test_billing.py"}
    # the pull request's commits are part of it, not separate tasks
    assert not any(t.title.endswith("the webhook") for t in tasks)


def replays(count: int, seed: int = 0) -> list[Replay]:
    """Tasks of 40 files, 4 modified, where the global model's signal is right but it is
    far too confident about every file (a repository it over-predicts)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        gold = np.zeros(40)
        gold[:4] = 1.0
        signal = np.clip(gold * 0.3 + rng.normal(0.3, 0.2, 40), 0, 1)
        task = PseudoTask(i, f"{i:040x}", f"task {i}", f"task {i}", (), frozenset(),
                          frozenset())
        out.append(Replay(task, [f"f{j}.py" for j in range(40)], signal[:, None], gold))
    return out


def test_the_prior_moves_a_little_on_five_tasks_and_a_lot_on_two_hundred():
    # too many files; replays in general calibrated as they are (a neutral reference)
    model = LocalizeModel({"text": 6.0}, -1.0, replay_reference={})
    only_scale = Settings(offsets=())
    few = fit_calibration(replays(5), model, ("text",), only_scale)
    many = fit_calibration(replays(200), model, ("text",), only_scale)
    assert few.active and many.active

    def moved(calibration: Calibration) -> float:  # change of a typical file's logit
        return (calibration.scale - 1) * typical + calibration.shift

    typical = float(np.mean([-1.0 + 6.0 * r.x.mean() for r in replays(200)]))
    assert moved(many) < moved(few) < 0  # it learns that files are less likely here
    assert abs(moved(few)) < 0.5 * abs(moved(many))
    assert many.files_after < many.files_before  # so fewer files are chosen
    assert abs(many.files_after - many.gold_files) < abs(many.files_before - many.gold_files)
    assert len(many.evidence) == 200 and many.f1_after > many.f1_before


def test_only_what_sets_a_repository_apart_from_replays_in_general_is_applied():
    model = LocalizeModel({"text": 6.0}, -1.0, replay_reference={})
    reference = fit_reference(replays(400), model, ("text",), Settings(offsets=()))
    centred = LocalizeModel({"text": 6.0}, -1.0, replay_reference=reference)
    same = fit_calibration(replays(200, seed=1), centred, ("text",), Settings(offsets=()))
    adjusted = same.apply(centred)  # a repository like the others: barely moved
    assert abs(adjusted.bias - centred.bias) < 0.3
    assert abs(adjusted.weights["text"] - 6.0) < 0.6
    assert same.in_replay(centred).bias < -1.0  # while its replays themselves get the shift


def test_too_few_pseudo_tasks_leave_the_global_model_alone():
    model = LocalizeModel({"text": 6.0}, -1.0)
    calibration = fit_calibration(replays(MIN_TASKS - 1), model, ("text",))
    assert not calibration.active and "fewer than" in calibration.note
    assert calibration.apply(model).weights == model.weights


@given(st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=3, max_size=30),
       st.integers(1, 12))
def test_calibration_of_any_tasks_gives_finite_probabilities(cells, count):
    model = LocalizeModel({"text": 3.0, "path": 1.0}, -2.0)
    x = np.array([[value, 1 - value] for value, _g in cells])
    gold = np.array([1.0 if g else 0.0 for _v, g in cells])
    gold[0] = 1.0
    items = [Replay(PseudoTask(i, "0" * 40, "t", "t", (), frozenset(), frozenset()),
                    [f"f{j}" for j in range(len(cells))], x, gold) for i in range(count)]
    calibration = fit_calibration(items, model, ("text", "path"))
    adjusted = calibration.apply(model)
    assert np.isfinite([adjusted.bias, *adjusted.weights.values()]).all()
    assert 0.0 <= adjusted.probability({"text": 1.0, "path": 0.0}) <= 1.0


def test_map_calibrates_stats_show_it_and_localization_uses_it(repo):
    grow(repo, 12)
    built = run_cli("map", str(repo.root), "--json")
    assert built.returncode == 0, built.stderr
    report = json.loads(built.stdout)
    assert report["calibration"]["tasks"] >= MIN_TASKS and report["calibration"]["recomputed"]
    stats = json.loads(run_cli("map", "stats", str(repo.root), "--json").stdout)
    calibration = stats["calibration"]
    assert calibration["tasks"] == len(calibration["evidence"]) == report["calibration"]["tasks"]
    assert {"f1_before", "f1_after", "files_before", "files_after"} <= set(
        calibration["evidence"][0])
    text = run_cli("map", "stats", str(repo.root)).stdout
    assert "past features replayed" in text
    solved = run_cli("solve", "Add a billing export option", "--repo", str(repo.root),
                     "--localize-only", "--no-llm", "--json")
    assert solved.returncode == 0, solved.stderr
    used = json.loads(solved.stdout)["localization"]["calibration"]
    assert used["used"] is True and used["tasks"] == calibration["tasks"]
    again = json.loads(run_cli("map", str(repo.root), "--json").stdout)
    assert again["calibration"]["recomputed"] is False  # same history: nothing to redo
    said = run_cli("map", str(repo.root)).stdout  # and the text report says it was kept
    assert "kept: no new past feature since the fit" in " ".join(said.split())


def test_localization_without_calibration_says_why(repo):
    grow(repo, 2)
    build_map(repo.root)  # as solve's first map: no calibration
    store = open_store(repo)
    try:
        ranking = localize(store, repo.root, "Add a billing export option")
    finally:
        store.close()
    assert ranking.calibration["used"] is False
    assert "no calibration" in ranking.calibration["note"]


def test_calibration_for_another_model_is_not_applied(repo):
    grow(repo, 8)
    build_map(repo.root)
    store, _ = MapStore.open(repo.root / ".sleepcoder", create=True)
    try:
        stored, redone = refresh(store, repo.root, 30)
        assert redone and isinstance(stored, Calibration)
        other = LocalizeModel({"text": 2.0}, -3.0)
        ranking = localize(store, repo.root, "Add a billing export option", model=other)
    finally:
        store.close()
    assert ranking.calibration["used"] is False
    assert "another model" in ranking.calibration["note"]


def test_commits_that_add_no_pseudo_task_keep_the_fit_and_a_new_feature_refits(repo):
    grow(repo, 12)
    first = json.loads(run_cli("map", str(repo.root), "--json").stdout)["calibration"]
    assert first["recomputed"] and first["tasks"] >= MIN_TASKS
    repo.commit("Tidy billing wording again", {"shop/billing.py": module("billing", "# t\n")})
    kept = json.loads(run_cli("map", str(repo.root), "--json").stdout)["calibration"]
    assert kept["recomputed"] is False
    assert kept["fitted_head"] == first["fitted_head"] != kept["history_head"]
    assert {k: kept[k] for k in ("scale", "shift", "tasks")} == \
        {k: first[k] for k in ("scale", "shift", "tasks")}
    repo.commit("Add audit export option 99", {
        "shop/audit.py": module("audit", "\n\ndef audit_export_99(items):\n    return 1\n"),
        "shop/api.py": (repo.root / "shop/api.py").read_text() + "# export audit 99\n",
        "tests/test_audit.py": "# test export 99\n"})
    refit = json.loads(run_cli("map", str(repo.root), "--json").stdout)["calibration"]
    assert refit["recomputed"] is True and refit["fitted_head"] == refit["history_head"]


def test_a_fit_is_redone_after_many_commits_even_without_a_new_feature(repo, monkeypatch):
    import sleepcoder.tools.calibrate as calibrate

    grow(repo, 8)
    build_map(repo.root)
    store, _ = MapStore.open(repo.root / ".sleepcoder", create=True)
    try:
        assert refresh(store, repo.root, 30)[1]
        monkeypatch.setattr(calibrate, "REFIT_AFTER", 2)
        repo.commit("Tidy one", {"shop/billing.py": module("billing", "# 1\n")})
        build_map(repo.root)
        assert refresh(store, repo.root, 30)[1] is False
        repo.commit("Tidy two", {"shop/billing.py": module("billing", "# 2\n")})
        build_map(repo.root)
        assert refresh(store, repo.root, 30)[1] is True
        repo.commit("Tidy three", {"shop/billing.py": module("billing", "# 3\n")})
        build_map(repo.root)
        assert refresh(store, repo.root, 10)[1] is True  # another limit: other pseudo-tasks
    finally:
        store.close()


def test_a_changed_calibration_tasks_refits_without_a_new_commit(repo):
    grow(repo, 8)
    build_map(repo.root)
    store, _ = MapStore.open(repo.root / ".sleepcoder", create=True)
    try:
        assert refresh(store, repo.root, 30)[1] is True
        assert refresh(store, repo.root, 30)[1] is False  # nothing changed: kept
        refit, redone = refresh(store, repo.root, 2)
        assert redone is True and refit.limit == 2 and refit.tasks <= 2
        off, redone = refresh(store, repo.root, 0)
        assert redone is True and not off.active
        assert refresh(store, repo.root, 0)[1] is False  # "off" is kept while it stays off
    finally:
        store.close()
