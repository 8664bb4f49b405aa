"""An incremental refresh leaves the same graphs and ranks as mapping from scratch, whatever
the sequence of edits (add, remove, modify, rename files; change imports; add packages)."""

from __future__ import annotations

import marshal
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sleepcoder.tools.repomap import build_map
from sleepcoder.tools.store import MapStore

from tests.conftest import Repo, write

# A small vocabulary, so that edits collide: the same module names in several packages,
# re-exports through __init__ files, aliases, ambiguous and global names.
DIRS = ["", "pkg/", "pkg/sub/", "lib/"]
MODULES = ["m0", "m1", "m2"]
NAMES = ["f0", "f1", "f2"]

PY_IMPORTS = [
    "import pkg.m1",
    "import pkg.sub.m0 as alias",
    "from pkg import m2",
    "from pkg.m0 import f1",
    "from pkg.m1 import f2 as g",
    "from . import m0",
    "from .m1 import f0",
    "from .. import m2",
    "from m0 import f1",
    "from sub.m2 import f0",
    "from pkg import f0",
    "from lib.m2 import *",
]
PY_CALLS = ["f0()", "f1()", "f2()", "g()", "m0.f1()", "m2.f2()", "alias.f0()",
            "pkg.m1.f2()", "self.f1()", "Box().f2()", "obj.f0()"]
JS_IMPORTS = ["import { f0 } from './m1'", "import m from '../m2.js'",
              "import { f2 as g } from './sub/m0'", "import * as ns from './m0'"]
JS_CALLS = ["f0()", "f1()", "g()", "m.f2()", "ns.f1()"]


@st.composite
def python_source(draw) -> str:
    lines = draw(st.lists(st.sampled_from(PY_IMPORTS), max_size=3, unique=True))
    for name in draw(st.lists(st.sampled_from(NAMES), max_size=2, unique=True)):
        calls = draw(st.lists(st.sampled_from(PY_CALLS), max_size=3))
        lines += ["", "", f"def {name}():", *[f"    {c}" for c in calls], "    return 1"]
    if draw(st.booleans()):
        method = draw(st.sampled_from(NAMES))
        calls = draw(st.lists(st.sampled_from(PY_CALLS), max_size=2))
        lines += ["", "", "class Box:", f"    def {method}(self):",
                  *[f"        {c}" for c in calls], "        return 2"]
    return "\n".join(lines) + "\n"


@st.composite
def js_source(draw) -> str:
    lines = draw(st.lists(st.sampled_from(JS_IMPORTS), max_size=2, unique=True))
    for name in draw(st.lists(st.sampled_from(NAMES), max_size=2, unique=True)):
        calls = draw(st.lists(st.sampled_from(JS_CALLS), max_size=3))
        lines += [f"export function {name}() {{", *[f"  {c};" for c in calls], "}"]
    return "\n".join(lines) + "\n"


@st.composite
def a_file(draw) -> tuple[str, str]:
    directory = draw(st.sampled_from(DIRS))
    kind = draw(st.sampled_from(["py", "py", "py", "init", "js"]))
    if kind == "init":
        return f"{directory}__init__.py", draw(python_source())
    module = draw(st.sampled_from(MODULES))
    if kind == "js":
        return f"{directory}{module}.js", draw(js_source())
    return f"{directory}{module}.py", draw(python_source())


EDIT = st.one_of(
    st.tuples(st.just("write"), a_file()),  # adds a file, or changes one
    st.tuples(st.just("remove"), st.integers(0, 50)),
    st.tuples(st.just("rename"), st.integers(0, 50), a_file()),
)


def apply(root: Path, edit) -> None:
    present = sorted(str(p.relative_to(root)) for p in root.rglob("*")
                     if p.is_file() and ".git" not in p.parts and ".sleepcoder" not in p.parts)
    if edit[0] == "write":
        write(root, {edit[1][0]: edit[1][1]})
    elif present:
        victim = root / present[edit[1] % len(present)]
        if edit[0] == "rename":
            target = root / edit[2][0]
            target.parent.mkdir(parents=True, exist_ok=True)
            victim.replace(target)
        else:
            victim.unlink()


def snapshot(root: Path) -> dict:
    store, _ = MapStore.open(root / ".sleepcoder", create=False)
    try:
        conn = store.conn
        return {
            "files": sorted(conn.execute("SELECT path, status, language FROM files")),
            "import_edges": sorted(conn.execute("SELECT * FROM import_edges")),
            "call_edges": sorted(conn.execute("SELECT * FROM call_edges")),
            "links": {path: marshal.loads(raw) for path, raw in
                      conn.execute("SELECT path, bindings FROM file_links")},
            "file_edges": {(s, d): pytest.approx(w) for s, d, w in
                           conn.execute("SELECT src, dst, weight FROM file_edges")},
            "ranks": {path: pytest.approx(rank, rel=1e-6, abs=1e-12) for path, rank in
                      conn.execute("SELECT path, rank FROM files")},
        }
    finally:
        store.close()


def from_scratch(root: Path) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "copy"
        shutil.copytree(root, copy, ignore=shutil.ignore_patterns(".sleepcoder"))
        build_map(copy, workers=1)
        return snapshot(copy)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=st.lists(a_file(), min_size=1, max_size=6),
       rounds=st.lists(st.tuples(st.lists(EDIT, min_size=1, max_size=3), st.booleans()),
                       min_size=1, max_size=3))
def test_incremental_refresh_equals_a_full_rebuild(start, rounds):
    with tempfile.TemporaryDirectory() as scratch:
        repo = Repo(Path(scratch))
        repo.commit("start", dict(start))
        build_map(repo.root, workers=1)
        for edits, commit in rounds:
            for edit in edits:
                apply(repo.root, edit)
            if commit:  # committed edits come through git's index, the others through status
                repo.commit("edit")
            build_map(repo.root, workers=1)
            assert snapshot(repo.root) == from_scratch(repo.root)


def test_refresh_after_adding_a_module_rewires_only_its_importers(repo):
    files = {f"pkg/m{i}.py": f"def f{i}():\n    return {i}\n" for i in range(30)}
    files["pkg/__init__.py"] = ""
    files["main.py"] = "from pkg.extra import go\n\n\ndef start():\n    go()\n"
    repo.commit("start", files)
    build_map(repo.root, workers=1)
    repo.commit("add extra", {"pkg/extra.py": "def go():\n    return 0\n"})
    report = build_map(repo.root, workers=1)
    assert report.resolved_files == 2  # the new module and its one importer, not all 32
    assert snapshot(repo.root) == from_scratch(repo.root)


def test_refresh_follows_a_re_export_that_changed(repo):
    """The caller's own content and imports are unchanged; only the package it imports from
    stops re-exporting the name (and no definition changed anywhere)."""
    repo.commit("start", {
        "pkg/__init__.py": "from .impl import work as job\n",
        "pkg/impl.py": "def work():\n    return 1\n",
        "pkg/other.py": "def work():\n    return 2\n",
        "main.py": "from pkg import job\n\n\ndef start():\n    job()\n",
    })
    build_map(repo.root, workers=1)
    repo.commit("re-export the other", {"pkg/__init__.py": "from .other import work as job\n"})
    build_map(repo.root, workers=1)
    assert ("main.py", "start", "pkg/other.py", "work", "import", 1) in (
        snapshot(repo.root)["call_edges"])
    assert snapshot(repo.root) == from_scratch(repo.root)


def test_map_without_recorded_lookups_resolves_everything_once(repo):
    """A map from before graph_probes (or one whose table was dropped) cannot tell which
    files an added module affects: its next refresh resolves every file, then records."""
    repo.commit("start", {"main.py": "from lib import go\n\n\ndef start():\n    go()\n",
                          "other.py": "def unrelated():\n    return 0\n"})
    build_map(repo.root, workers=1)
    store, _ = MapStore.open(repo.root / ".sleepcoder", create=True)
    store.conn.execute("DROP TABLE graph_probes")
    store.close()
    repo.commit("add lib", {"lib.py": "def go():\n    pass\n"})
    report = build_map(repo.root, workers=1)
    assert report.resolved_files == 3
    assert snapshot(repo.root) == from_scratch(repo.root)
    repo.commit("touch other", {"other.py": "def unrelated():\n    return 1\n"})
    assert build_map(repo.root, workers=1).resolved_files == 1
