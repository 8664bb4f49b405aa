"""History mining: co-change with confidence, churn, recipes, renames, and no future commits."""

from __future__ import annotations

import pytest
from sleepcoder.tools.history import HistoryView
from sleepcoder.tools.repomap import build_map
from sleepcoder.tools.store import MapStore


@pytest.fixture
def history_repo(repo):
    repo.commit("init", {"a.py": "A = 0\n", "b.py": "B = 0\n", "c.py": "C = 0\n",
                         "CHANGES.md": "0\n"})
    for i in range(1, 5):  # a and b change together four times, with the changelog
        repo.commit(f"feature {i}", {"a.py": f"A = {i}\n", "b.py": f"B = {i}\n",
                                     "CHANGES.md": f"{i}\n"})
    repo.commit("only a", {"a.py": "A = 9\n"})
    repo.commit("a and c", {"a.py": "A = 10\n", "c.py": "C = 10\n"})
    return repo


def view(root) -> tuple[MapStore, HistoryView]:
    store, _ = MapStore.open(root / ".sleepcoder", create=False)
    existing = {r[0] for r in store.conn.execute("SELECT path FROM files WHERE status='ok'")}
    return store, HistoryView(store.conn, existing=existing)


def test_cochange_counts_and_confidence_from_generated_history(history_repo):
    build_map(history_repo.root)
    store, history = view(history_repo.root)
    # a changed in 6 commits (4 features + 2); b with it in 4 (the features). The root
    # commit ("init") adds everything at once and says nothing about changes: not counted.
    assert history.change_count("a.py") == 6
    top = history.cochanges("a.py")
    assert [(c.path, c.count) for c in top[:2]] == [("CHANGES.md", 4), ("b.py", 4)]
    assert top[0].confidence == pytest.approx(4 / 6)
    # from b's side the confidence is 4/4
    assert history.cochanges("b.py")[0].confidence == pytest.approx(1.0)
    assert history.last_changed("c.py") > history.last_changed("b.py")
    recipes = history.recipes(limit=2)
    assert recipes[0].subject == "a and c" and recipes[0].files == ("a.py", "c.py")
    store.close()


def test_commits_touching_too_many_files_are_skipped(repo):
    repo.commit("init", {"README.md": "x\n"})
    repo.commit("import", {f"f{i}.py": "X = 0\n" for i in range(10)})
    repo.commit("pair", {"f0.py": "X = 1\n", "f1.py": "X = 1\n"})
    (repo.root / ".sleepcoder.toml").write_text("[map]\nhistory_max_files_per_commit = 5\n")
    repo.commit("config")
    build_map(repo.root)
    store, history = view(repo.root)
    skipped = dict(store.conn.execute("SELECT subject, skipped FROM commits"))
    assert skipped == {"init": "root", "import": "too-many-files", "pair": "", "config": ""}
    assert [(c.path, c.count) for c in history.cochanges("f0.py", min_count=1)] == [("f1.py", 1)]
    store.close()


def test_merge_commits_are_kept_for_search_but_not_counted_as_changes(repo):
    repo.commit("init", {"a.py": "A = 0\n", "b.py": "B = 0\n"})
    repo.git("checkout", "-q", "-b", "feature")
    repo.commit("feature work", {"a.py": "A = 1\n", "b.py": "B = 1\n"})
    repo.git("checkout", "-q", "main")
    repo.commit("mainline", {"c.py": "C = 1\n"})
    repo.git("merge", "-q", "--no-ff", "feature", "-m",
             "Merge pull request #3 from me/feature\n\nAdd the shiny feature")
    build_map(repo.root)
    store, history = view(repo.root)
    kinds = dict(store.conn.execute("SELECT subject, skipped FROM commits"))
    assert kinds == {"init": "root", "feature work": "", "mainline": "",
                     "Add the shiny feature": "merge"}
    assert history.change_count("a.py") == 1  # feature work: the merge is not a change
    assert [(c.path, c.count) for c in history.cochanges("a.py", min_count=1)] == [("b.py", 1)]
    (message, files), = history.merges.values()
    assert message.startswith("Add the shiny feature") and sorted(files) == ["a.py", "b.py"]
    store.close()


def test_renamed_files_keep_their_history(repo):
    repo.commit("init", {"old.py": "A = 0\n", "b.py": "B = 0\n"})
    repo.commit("together", {"old.py": "A = 1\n", "b.py": "B = 1\n"})
    repo.git("mv", "old.py", "new.py")
    repo.commit("rename")
    repo.commit("together again", {"new.py": "A = 2\n", "b.py": "B = 2\n"})
    build_map(repo.root)
    store, history = view(repo.root)
    assert history.change_count("new.py") == 3  # together, rename, together again (not init)
    assert history.cochanges("b.py")[0].path == "new.py"
    assert history.cochanges("b.py")[0].count == 2
    store.close()


def test_history_never_includes_commits_after_the_mapped_one(history_repo):
    build_map(history_repo.root)
    store, _ = view(history_repo.root)
    assert store.conn.execute("SELECT COUNT(*) FROM commits").fetchone()[0] == 7
    store.close()
    history_repo.git("checkout", "-q", "HEAD~3")
    report = build_map(history_repo.root)
    assert report.history == "rebuilt"
    store, history = view(history_repo.root)
    subjects = [r[0] for r in store.conn.execute("SELECT subject FROM commits ORDER BY seq")]
    assert subjects == ["init", "feature 1", "feature 2", "feature 3"]
    assert history.change_count("a.py") == 3
    store.close()
    history_repo.git("checkout", "-q", "main")
    report = build_map(history_repo.root)
    assert report.history == "extended" and report.new_commits == 3


def test_plain_directory_has_no_history(tmp_path):
    (tmp_path / "a.py").write_text("A = 1\n")
    report = build_map(tmp_path)
    assert report.history == "none" and report.commits == 0
