"""Refreshing a map: only changed content is parsed, and graphs and history follow."""

from __future__ import annotations

import pytest
from sleepcoder.tools.repomap import build_map
from sleepcoder.tools.store import MapStore

from tests.conftest import write


def edges(root, table="call_edges"):
    store, _ = MapStore.open(root / ".sleepcoder", create=False)
    try:
        if table == "call_edges":
            return {r[:4] for r in store.conn.execute(
                "SELECT src, src_qname, dst, dst_qname FROM call_edges")}
        return set(store.conn.execute("SELECT src, dst FROM import_edges"))
    finally:
        store.close()


def test_refresh_reparses_only_changed_files(py_repo, count_parses):
    build_map(py_repo.root)
    assert len(count_parses()) == 6
    count_parses().clear()
    py_repo.commit("tweak util", {"app/util.py": '"""Helpers."""\n\n\ndef helper(item):\n'
                                                 "    return item.value() + 1\n"})
    report = build_map(py_repo.root)
    assert count_parses() == ["app/util.py"]
    assert report.parsed == 1 and report.reused == 5
    assert report.history == "extended" and report.new_commits == 1


def test_unchanged_refresh_parses_nothing_and_resolves_nothing(py_repo, count_parses):
    build_map(py_repo.root)
    count_parses().clear()
    report = build_map(py_repo.root)
    assert count_parses() == []
    assert report.resolved_files == 0 and report.history == "unchanged"


def test_uncommitted_edit_is_picked_up(py_repo, count_parses):
    build_map(py_repo.root)
    count_parses().clear()
    write(py_repo.root, {"app/models.py": "class Item:\n    def value(self):\n        return 0\n"
                                          "\n\ndef brand_new():\n    return Item()\n"})
    report = build_map(py_repo.root)
    assert count_parses() == ["app/models.py"]
    assert report.dirty
    assert ("app/models.py", "brand_new", "app/models.py", "Item") in edges(py_repo.root)


def test_deleted_file_disappears_with_its_edges(py_repo):
    build_map(py_repo.root)
    assert any(e[2] == "app/util.py" for e in edges(py_repo.root))
    py_repo.commit("drop util", {"app/core.py": '"""Core loop."""\nfrom . import models\n\n\n'
                                                "def run(x):\n    return models.Item(x)\n"},
                   remove=("app/util.py",))
    report = build_map(py_repo.root)
    assert report.removed == 1
    assert not any("app/util.py" in (e[0], e[2]) for e in edges(py_repo.root))
    assert not any("app/util.py" in e for e in edges(py_repo.root, "import_edges"))


def test_rename_reuses_facts_and_rewires_importers(py_repo, count_parses):
    build_map(py_repo.root)
    count_parses().clear()
    py_repo.git("mv", "app/util.py", "app/helpers.py")
    py_repo.commit("rename util", {"app/core.py": PYTHON_CORE_AFTER_RENAME})
    build_map(py_repo.root)
    assert count_parses() == ["app/core.py"]  # the renamed file's blob is unchanged
    imports = edges(py_repo.root, "import_edges")
    assert ("app/core.py", "app/helpers.py") in imports
    assert not any("app/util.py" in e for e in imports)
    assert ("app/core.py", "run", "app/helpers.py", "helper") in edges(py_repo.root)


PYTHON_CORE_AFTER_RENAME = (
    '"""Core loop."""\nfrom app.helpers import helper\nfrom . import models\n\n\n'
    "def run(x):\n    return helper(models.Item(x))\n"
)


def test_new_definition_elsewhere_makes_a_global_call_ambiguous(repo):
    repo.commit("one def", {"a.py": "def caller():\n    return target()\n",
                            "b.py": "def target():\n    return 1\n"})
    build_map(repo.root)
    assert ("a.py", "caller", "b.py", "target") in edges(repo.root)
    repo.commit("second def", {"c.py": "def target():\n    return 2\n"})
    build_map(repo.root)
    store, _ = MapStore.open(repo.root / ".sleepcoder", create=False)
    hows = {(r[2], r[4]) for r in store.conn.execute("SELECT * FROM call_edges")}
    store.close()
    assert hows == {("b.py", "ambiguous"), ("c.py", "ambiguous")}


def test_added_module_resolves_a_previously_unresolved_import(repo):
    repo.commit("dangling", {"main.py": "from lib import go\n\n\ndef start():\n    go()\n"})
    build_map(repo.root)
    assert edges(repo.root, "import_edges") == set()
    repo.commit("add lib", {"lib.py": "def go():\n    pass\n"})
    build_map(repo.root)
    assert edges(repo.root, "import_edges") == {("main.py", "lib.py")}
    assert ("main.py", "start", "lib.py", "go") in edges(repo.root)


def test_interrupted_build_resumes_without_reparsing_stored_files(repo, monkeypatch,
                                                                   count_parses):
    import sleepcoder.tools.repomap as repomap

    repo.commit("twenty files", {f"m{i}.py": f"def f{i}():\n    return {i}\n" for i in range(20)})
    monkeypatch.setattr(repomap, "_COMMIT_EVERY", 5)
    original = repomap.extract_file
    calls = {"n": 0}

    def flaky(root, job):
        calls["n"] += 1
        if calls["n"] == 13:
            raise KeyboardInterrupt
        return original(root, job)

    monkeypatch.setattr(repomap, "extract_file", flaky)
    with pytest.raises(KeyboardInterrupt):
        build_map(repo.root, workers=1)
    monkeypatch.setattr(repomap, "extract_file", original)
    count_parses().clear()
    report = build_map(repo.root, workers=1)
    assert len(count_parses()) == report.parsed == 20 - 10  # two batches of five were stored
    assert report.mapped == 20


def test_identical_files_share_facts_but_keep_their_own_edges(repo):
    body = "from util import helper\n\n\ndef main():\n    return helper()\n"
    repo.commit("twins", {"one/run.py": body, "two/run.py": body,
                          "util.py": "def helper():\n    return 1\n"})
    build_map(repo.root)
    calls = edges(repo.root)
    assert ("one/run.py", "main", "util.py", "helper") in calls
    assert ("two/run.py", "main", "util.py", "helper") in calls


def test_identical_files_count_each_call_once_as_a_single_file_would(repo):
    """Copies of one file share a blob; a full build used to load the blob's definitions once
    per copy, so a local call in each of three copies counted three uses."""
    body = "def dup():\n    return 1\n\n\ndef use():\n    return dup()\n"
    repo.commit("copies", {f"m{i}.py": body for i in range(3)})
    build_map(repo.root)
    store, _ = MapStore.open(repo.root / ".sleepcoder", create=False)
    rows = sorted(store.conn.execute("SELECT src, dst, dst_qname, count FROM call_edges"))
    store.close()
    assert rows == [(f"m{i}.py", f"m{i}.py", "dup", 1) for i in range(3)]


def test_identical_files_are_stored_once(repo):
    body = "def same():\n    return 1\n"
    repo.commit("copies", {"a.py": "def first():\n    pass\n", "b/one.py": body,
                           "c.py": "def middle():\n    pass\n", "d/two.py": body})
    build_map(repo.root)
    store, _ = MapStore.open(repo.root / ".sleepcoder", create=False)
    fids = dict(store.conn.execute("SELECT path, fid FROM files"))
    assert fids["b/one.py"] == fids["d/two.py"]
    assert store.conn.execute("SELECT COUNT(*) FROM defs WHERE name='same'").fetchone()[0] == 1
    store.close()


def _per_path(root):
    store, _ = MapStore.open(root / ".sleepcoder", create=False)
    try:
        files = {path: (status, lang, fid) for path, status, lang, fid in store.conn.execute(
            "SELECT path, status, language, fid FROM files")}
        calls = sorted(store.conn.execute("SELECT src, src_qname, dst, dst_qname FROM call_edges"))
        return files, calls
    finally:
        store.close()


def test_identical_copies_are_parsed_once_and_mapped_per_path(repo, count_parses):
    body = "from util import helper\n\n\ndef main():\n    return helper()\n"
    copies = {f"copy{i}/run.py": body for i in range(10)}
    repo.commit("copies", {**copies, "util.py": "def helper():\n    return 1\n"})
    report = build_map(repo.root, workers=1)
    assert sorted(count_parses()).count("copy0/run.py") == 1
    assert len(count_parses()) == report.parsed == 2  # one copy and util.py
    assert report.mapped == 11
    files, calls = _per_path(repo.root)
    assert len({files[path] for path in copies}) == 1  # one shared parse, ok, python
    assert {c[0] for c in calls if c[2:] == ("util.py", "helper")} == set(copies)


def test_new_untracked_copies_of_mapped_content_are_not_parsed(py_repo, count_parses):
    build_map(py_repo.root)
    count_parses().clear()
    util = (py_repo.root / "app/util.py").read_text()
    write(py_repo.root, {f"vendor{i}/util.py": util for i in range(10)})  # not committed
    report = build_map(py_repo.root)
    assert count_parses() == []
    assert report.mapped == 6 + 10
    files, _calls = _per_path(py_repo.root)
    assert {files[f"vendor{i}/util.py"] for i in range(10)} == {files["app/util.py"]}


def _reads(root):
    from sleepcoder.tools.search_docs import _stale

    store, _ = MapStore.open(root / ".sleepcoder", create=False)
    try:
        return store.blobs_head(), store.counts(), store.file_state(), _stale(store)
    finally:
        store.close()


def test_blob_head_index_changes_no_read_and_a_refresh_restores_it(py_repo):
    import sqlite3

    build_map(py_repo.root)
    conn = sqlite3.connect(py_repo.root / ".sleepcoder" / "map.db")
    conn.execute("DELETE FROM search_docs")  # every file's documents stale: read them all
    conn.commit()
    hint, *indexed = _reads(py_repo.root)
    assert hint and len(indexed[1][1]) == 6 and len(indexed[2][0]) == 6
    conn.execute("DROP INDEX blobs_head")  # a map from before the index
    conn.commit()
    conn.close()
    hint, *plain = _reads(py_repo.root)
    assert hint == "" and plain == indexed
    report = build_map(py_repo.root)
    hint, *_rest = _reads(py_repo.root)
    assert hint and report.parsed == 0 and report.references == indexed[0]["refs"]


def test_terms_of_a_few_files_are_read_from_the_same_path_as_from_the_whole_list(
        repo, monkeypatch):
    """Copies share a blob and its terms are read from one of them: the first in the file
    list, whether the list is read whole or the few files are looked up."""
    from sleepcoder.tools import search_index

    repo.commit("copies", {f"c{i}/same.py": "def shared():\n    return 1\n" for i in range(4)})
    build_map(repo.root)
    write(repo.root, {"c1/same.py": "def second():\n    return 1\n",
                      "c2/same.py": "def third():\n    return 2\n"})  # not refreshed
    store, _ = MapStore.open(repo.root / ".sleepcoder", create=True)
    try:
        store.conn.execute("DELETE FROM blob_terms")
        wanted = ["c3/same.py", "c2/same.py", "c1/same.py"]
        def terms():
            missing = search_index._missing(store, wanted)
            return dict(search_index._read_terms(str(repo.root), list(missing.items())))

        looked_up = terms()
        monkeypatch.setattr(search_index, "_LOOKUP_MAX", 0)
        listed = terms()
    finally:
        store.close()
    assert looked_up == listed and "second" in next(iter(listed.values()))
