"""Building a map: what is mapped, what is skipped and why, and what the graphs contain."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sleepcoder.tools.repomap import build_map
from sleepcoder.tools.store import MapStore

from tests.conftest import write


def open_store(root: Path) -> MapStore:
    store, _ = MapStore.open(root / ".sleepcoder", create=False)
    return store


def statuses(root: Path) -> dict[str, str]:
    store = open_store(root)
    try:
        return dict(store.conn.execute("SELECT path, status FROM files"))
    finally:
        store.close()


def test_build_maps_python_project_with_graphs(py_repo):
    report = build_map(py_repo.root)
    assert report.is_git and report.commit
    assert report.files_by_language == {"python": 5, "other": 1}
    assert report.parsed == 6 and report.reused == 0
    store = open_store(py_repo.root)
    imports = set(store.conn.execute("SELECT src, dst FROM import_edges"))
    assert ("app/core.py", "app/util.py") in imports
    assert ("app/core.py", "app/models.py") in imports
    assert ("app/__init__.py", "app/core.py") in imports
    assert ("tests/test_core.py", "app/core.py") in imports
    calls = {(s, sq, d, dq, how) for s, sq, d, dq, how, _n in
             store.conn.execute("SELECT * FROM call_edges")}
    assert ("app/core.py", "run", "app/util.py", "helper", "import") in calls
    assert ("app/core.py", "run", "app/models.py", "Item", "import") in calls
    assert ("tests/test_core.py", "test_run", "app/core.py", "run", "import") in calls
    ranks = dict(store.conn.execute("SELECT path, rank FROM files WHERE status='ok'"))
    assert ranks["app/models.py"] > ranks["tests/test_core.py"]
    store.close()


def test_store_folder_goes_to_info_exclude_not_gitignore(py_repo):
    build_map(py_repo.root)
    exclude = (py_repo.root / ".git" / "info" / "exclude").read_text()
    assert "/.sleepcoder/" in exclude
    assert not (py_repo.root / ".gitignore").exists()
    assert py_repo.git("status", "--porcelain") == ""
    build_map(py_repo.root)  # a second run does not add the line twice
    assert (py_repo.root / ".git" / "info" / "exclude").read_text().count("/.sleepcoder/") == 1


def test_files_are_skipped_and_counted_by_reason(repo, tmp_path):
    big = "x = 1\n" * 200_000  # 1.2 MB
    minified = "var a=" + ",".join(str(i) for i in range(3000)) + ";\n"
    write(repo.root, {
        "src/ok.py": "def f():\n    return 1\n",
        "src/data.bin": b"\x00\x01\x02" * 100,
        "src/blob.dat": b"not actually binary",  # skipped by extension
        "src/nul.txt": b"text\x00with nul",
        "src/big.py": big,
        "static/app.min.js": "var a=1;\n",
        "static/bundle.js": minified,
        "vendor/lib.py": "def v():\n    pass\n",
        "node_modules/x/index.js": "module.exports = 1;\n",
        "gen/skip_me.py": "def g():\n    pass\n",
        "notes.txt": "plain text\n",
        ".sleepcoderignore": "gen/\n",
    })
    os.symlink("/etc/hostname", repo.root / "src" / "outside_link")
    os.symlink("loop_b", repo.root / "src" / "loop_a")
    os.symlink("loop_a", repo.root / "src" / "loop_b")
    repo.commit("files of every kind")
    report = build_map(repo.root)
    status = statuses(repo.root)
    assert status["src/ok.py"] == "ok"
    assert status["notes.txt"] == "ok"
    assert status["src/data.bin"] == "binary"
    assert status["src/blob.dat"] == "binary"
    assert status["src/nul.txt"] == "binary"
    assert status["src/big.py"] == "oversized"
    assert status["static/app.min.js"] == "minified"
    assert status["static/bundle.js"] == "minified"
    assert status["vendor/lib.py"] == "vendored"
    assert status["node_modules/x/index.js"] == "vendored"
    assert status["gen/skip_me.py"] == "excluded"
    assert status["src/outside_link"] == "symlink"
    assert status["src/loop_a"] == "symlink"
    assert report.skipped["symlink"] == 3  # the link leaving the repository and both loop links
    assert report.skipped["binary"] == 3
    assert report.skipped["minified"] == 2


def test_oversized_limit_comes_from_config(repo):
    write(repo.root, {"a.py": "x = 1\n" * 50, ".sleepcoder.toml": "[map]\nmax_file_bytes = 100\n"})
    repo.commit("small limit")
    build_map(repo.root)
    assert statuses(repo.root)["a.py"] == "oversized"


def test_config_excludes_use_gitignore_patterns(repo):
    write(repo.root, {
        "keep/a.py": "A = 1\n", "docs/b.py": "B = 1\n", "x/deep/c_test.py": "C = 1\n",
        ".sleepcoder.toml": '[map]\nexclude = ["docs/", "*_test.py"]\n',
    })
    repo.commit("excludes")
    build_map(repo.root)
    status = statuses(repo.root)
    assert status["keep/a.py"] == "ok"
    assert status["docs/b.py"] == "excluded"
    assert status["x/deep/c_test.py"] == "excluded"


def test_gitignored_files_are_not_mapped_but_untracked_ones_are(py_repo):
    write(py_repo.root, {".gitignore": "build/\n", "build/out.py": "X = 1\n",
                         "app/new_module.py": "def fresh():\n    return 2\n"})
    report = build_map(py_repo.root)
    status = statuses(py_repo.root)
    assert "build/out.py" not in status
    assert status["app/new_module.py"] == "ok"
    assert report.dirty


def test_non_utf8_and_syntax_errors_are_counted_and_keep_partial_facts(repo):
    write(repo.root, {
        "latin.py": "# caf\xe9\ndef ok():\n    return 'd\xe9j\xe0'\n".encode("latin-1"),
        "broken.py": "def good():\n    pass\n\ndef bad(:\n    pass\n\ndef later():\n    pass\n",
    })
    repo.commit("odd files")
    report = build_map(repo.root)
    assert report.decode_replaced_files == 1
    assert report.parse_error_files == 1
    store = open_store(repo.root)
    names = {row[0] for row in store.conn.execute(
        "SELECT d.name FROM defs d JOIN files f ON f.fid = d.fid WHERE f.path='broken.py'")}
    assert {"good", "later"} <= names
    assert {row[0] for row in store.conn.execute(
        "SELECT d.name FROM defs d JOIN files f ON f.fid = d.fid WHERE f.path='latin.py'")} == {
        "ok"}
    store.close()


def test_unreadable_file_is_skipped_with_reason(py_repo, monkeypatch):
    import builtins

    real_open = builtins.open

    def guarded_open(path, *args, **kwargs):
        if str(path).endswith("app/util.py"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("sleepcoder.tools.extract.open", guarded_open, raising=False)
    report = build_map(py_repo.root, workers=1)
    assert statuses(py_repo.root)["app/util.py"] == "unreadable"
    assert report.skipped == {"unreadable": 1}


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_chmod_000_file_is_unreadable(py_repo):
    (py_repo.root / "app" / "util.py").chmod(0)
    try:
        build_map(py_repo.root, workers=1)
        assert statuses(py_repo.root)["app/util.py"] == "unreadable"
    finally:
        (py_repo.root / "app" / "util.py").chmod(0o644)


def test_plain_directory_is_mapped_with_a_notice(tmp_path):
    root = tmp_path / "plain"
    write(root, {"a.py": "def a():\n    return b()\n", "b.py": "def b():\n    return 1\n",
                 ".gitignore": "ignored.py\n", "ignored.py": "X = 1\n",
                 "__pycache__/a.cpython-311.pyc": b"\x00\x00"})
    report = build_map(root)
    assert not report.is_git and report.commit is None
    assert any("not a git repository" in n for n in report.notices)
    status = statuses(root)
    assert set(status) == {"a.py", "b.py", ".gitignore"}
    store = open_store(root)
    assert ("a.py", "a", "b.py", "b") in {r[:4] for r in store.conn.execute(
        "SELECT src, src_qname, dst, dst_qname FROM call_edges")}
    store.close()


def test_repository_without_commits_maps_working_tree(repo):
    write(repo.root, {"a.py": "def a():\n    pass\n"})
    report = build_map(repo.root)
    assert report.commit is None and report.commits == 0
    assert any("no commits yet" in n for n in report.notices)
    assert report.files_by_language == {"python": 1}


def test_subdirectory_path_maps_the_whole_repository(py_repo):
    report = build_map(py_repo.root / "app")
    assert Path(report.root) == py_repo.root.resolve()
    assert report.mapped == 6


def test_large_build_uses_worker_processes_and_matches_inline(repo):
    files = {f"pkg/m{i}.py": f"from pkg.m{(i + 1) % 60} import f{(i + 1) % 60}\n\n\n"
                             f"def f{i}():\n    return f{(i + 1) % 60}()\n" for i in range(60)}
    files["pkg/__init__.py"] = ""
    repo.commit("many modules", files)
    parallel = build_map(repo.root, workers=2)
    store = open_store(repo.root)
    edges_parallel = sorted(store.conn.execute("SELECT * FROM call_edges"))
    store.close()
    inline = build_map(repo.root, workers=1, rebuild=True)
    store = open_store(repo.root)
    assert sorted(store.conn.execute("SELECT * FROM call_edges")) == edges_parallel
    store.close()
    assert parallel.parsed == inline.parsed == 61
    assert len(edges_parallel) == 60
