"""The scan's per-file rules, computed once per directory or suffix, decide as the per-path
rules they stand for."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st
from sleepcoder.tools.config import MapConfig
from sleepcoder.tools.languages import language_for_path, language_for_suffix
from sleepcoder.tools.scan import ScannedFile, ScanResult, _apply_rules, _suffix

_PARTS = st.sampled_from(["vendor", "src", "lib", "node_modules", "third_party", "a.b", "x"])
_NAMES = st.sampled_from(["m.py", "M.PY", "index.d.ts", "app.ts", "README", ".env", "a.",
                          "x.tar.gz", "Main.java", "lib.rs", "notes.txt", "img.png"])
_PATHS = st.builds(lambda dirs, name: "/".join([*dirs, name]),
                   st.lists(_PARTS, max_size=4), _NAMES)


@given(_PATHS)
def test_language_from_the_scans_suffix_is_the_paths_language(path):
    assert language_for_suffix(path, _suffix(path).lower()) == language_for_path(path)


@given(st.lists(_PATHS, unique=True, max_size=30))
def test_a_file_is_vendored_when_any_of_its_directories_is(paths):
    # known blobs: the scan takes their stored size and time, so no file need exist
    known = {path: SimpleNamespace(blob="b" * 40, size=1, mtime_ns=1) for path in paths}
    result = ScanResult(root=Path("/nonexistent"), is_git=True, commit=None, dirty=False,
                        files=[ScannedFile(path, 0, 0, "b" * 40, None) for path in paths])
    config = MapConfig()
    _apply_rules(result, config, Path("/nonexistent/.sleepcoder"), known)
    vendored = {path for path in paths
                if set(path.split("/")[:-1]) & set(config.vendored_dirs)}
    assert {p for p, reason in result.skipped.items() if reason == "vendored"} == vendored
    assert all(item.language == language_for_path(item.path) for item in result.files)
