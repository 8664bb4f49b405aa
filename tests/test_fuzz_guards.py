"""Generated hostile inputs against the guards: the path rules with the edit writer, the
search/replace applier, and the final-patch check. Each property runs 10,000 cases; the
counts are in docs/security.md. Nothing may be written outside the scratch root and nothing
may crash with anything but the guard's own refusal."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sleepcoder.tools.edits import ApplyError, EditFormatError, apply_blocks, parse_blocks
from sleepcoder.tools.patch_check import PatchEntry, check_entries, check_patch, parse_entries
from sleepcoder.tools.pathguard import CI_PATHS, EditRefused, PathRules, check_edit_path, fold

pytestmark = pytest.mark.fuzz
CASES = 10_000
FUZZ = settings(max_examples=CASES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

NASTY = [".", "..", ".git", ".GIT", ".Git", ".github", ".GITHUB", "workflows", "Workflows",
         ".sleepcoder.toml", ".Sleepcoder.toml", "link", "dirlink", "a", "b.py", "src", "\0",
         "\n", "\u200c", "\ufeff", "\u0130", "\u0131", "\uff0e", "~1", "GITHUB~1", "GIT~1",
         ":", "::$DATA", "CON", "nul.txt", " ", ".github.", ".git ", "\\", "*", "[.]github",
         ":(top)", ":!x", ":(glob)**", "é", "e\u0301", "x" * 300, ".circleci", "Jenkinsfile",
         "...", "/", "//", "C:", "~", "$HOME", "%2e%2e", "..%2f", "\u2024\u2024", "\ufe52"]
component = st.one_of(st.sampled_from(NASTY), st.text(min_size=1, max_size=12))
hostile_path = st.builds(
    lambda prefix, parts, sep: prefix + sep.join(parts),
    st.sampled_from(["", "", "", "/", "./", "../", "C:\\", "\\\\server\\", "~/", "`", "\""]),
    st.lists(component, min_size=1, max_size=6), st.sampled_from(["/", "/", "\\", "//"]))


@pytest.fixture(scope="module")
def arena():
    """A scratch root with symbolic links leading out of it, and an outside folder to watch."""
    with tempfile.TemporaryDirectory() as top:
        top_path = Path(top)
        outside = top_path / "outside"
        outside.mkdir()
        (outside / "secret.txt").write_text("keep")
        root = top_path / "root"
        (root / "src").mkdir(parents=True)
        (root / "src" / "a.py").write_text("x = 1\n")
        os.symlink(outside, root / "dirlink")
        os.symlink(outside / "secret.txt", root / "link")
        yield root, outside


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _accepted_is_safe(root: Path, normal: str, rules: PathRules) -> None:
    assert "\0" not in normal and not normal.startswith("/")
    resolved = (root / normal).resolve()
    assert resolved.is_relative_to(root.resolve())
    folded = fold(normal).split("/")
    assert ".git" not in folded
    if not rules.allow_ci:
        joined = "/".join(folded)
        assert not any(joined == r.rstrip("/") or joined.startswith(r.rstrip("/") + "/")
                       for r in CI_PATHS)
    current = root
    for part in Path(normal).parts:
        current = current / part
        assert not current.is_symlink()


@FUZZ
@given(path=hostile_path, content=st.text(max_size=40), allow_ci=st.booleans())
def test_generated_paths_never_write_outside_the_root(arena, path, content, allow_ci):
    root, outside = arena
    before = _snapshot(outside)
    rules = PathRules(allow_ci=allow_ci, protected=("protected/",))
    try:
        normal = check_edit_path(root, path, allow_ci=allow_ci, protected=rules.protected)
    except EditRefused:
        return
    _accepted_is_safe(root, normal, rules)
    target = root / normal
    if target.is_dir():
        return
    try:  # what the edit step does with an accepted path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8", errors="surrogateescape")
    except (NotADirectoryError, IsADirectoryError, FileExistsError):
        pass  # a file where a folder is needed: an OS error the edit step reports
    assert _snapshot(outside) == before


lines = st.lists(st.sampled_from(["x = 1", "    return x", "def f():", "", "  ", "\tpass",
                                  "# SEARCH", "=======", "y = 2  ", "class A:"]),
                 max_size=12).map(lambda ls: "\n".join(ls) + "\n")
marker = st.sampled_from(["<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE", "<<<<< SEARCH",
                          ">>>>>>>>> REPLACE", "```", "```python", "path.py", "../x.py"])
answer = st.lists(st.one_of(marker, lines, hostile_path), max_size=12).map("\n".join)


@FUZZ
@given(original=lines, reply=answer)
def test_generated_edit_answers_apply_or_are_refused(original, reply):
    try:
        blocks = parse_blocks(reply)
        new = apply_blocks(original, blocks, "src/a.py")
    except (EditFormatError, ApplyError) as exc:
        assert str(exc)  # every refusal says why (the message goes back to the model)
        return
    assert isinstance(new, str)
    for block in blocks:
        if block.search.strip() and block.search in original and block.replace == block.search:
            assert block.search in new


def _quote(path: str) -> str:
    if any(c in path for c in '"\\\t\n') or any(ord(c) < 32 for c in path):
        body = path.encode("utf-8", "surrogateescape")
        out = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else f"\\{ord(c):03o}"
                      for c in body.decode("latin-1"))
        return f'"{out}"'
    return path


@st.composite
def diff_sections(draw) -> str:
    path = draw(hostile_path)
    kind = draw(st.sampled_from(["modified", "added", "removed", "mode", "symlink",
                                 "submodule", "binary", "rename"]))
    quoted_a, quoted_b = _quote("a/" + path), _quote("b/" + path)
    head = f"diff --git {quoted_a} {quoted_b}\n"
    body = {"modified": "index 1111111..2222222 100644\n",
            "added": f"new file mode {draw(st.sampled_from(['100644', '100755']))}\n"
                     "index 0000000..2222222\n",
            "removed": "deleted file mode 100644\nindex 1111111..0000000\n",
            "mode": "old mode 100644\nnew mode 100755\n",
            "symlink": "new file mode 120000\nindex 0000000..2222222\n",
            "submodule": "new file mode 160000\nindex 0000000..2222222\n",
            "binary": "index 1111111..2222222 100644\nGIT binary patch\nliteral 3\nKcmZQz\n",
            "rename": f"similarity index 90%\nrename from {_quote(path)}\nrename to "
                      f"{_quote(path + '2')}\n"}[kind]
    hunk = ("" if kind in ("binary", "mode", "rename") else
            f"--- {quoted_a}\n+++ {quoted_b}\n@@ -1 +1 @@\n-a\n+b\n")
    return head + body + hunk


@FUZZ
@given(sections=st.lists(diff_sections(), min_size=1, max_size=4),
       planned=st.lists(hostile_path, max_size=3), noise=st.text(max_size=20))
def test_generated_patches_pass_only_clean_planned_text_entries(sections, planned, noise):
    text = "".join(sections) + noise
    rules = PathRules()
    entries, refused = check_patch(text, rules, set(planned))
    refused_paths = [r.path for r in refused]
    for entry in entries:
        if entry.path in refused_paths:
            continue
        # what passes is a plain text change or new text file, planned, by the rules
        assert entry.path in planned
        assert entry.status in ("modified", "added")
        assert not entry.binary and entry.new_mode == "100644"
        assert entry.old_mode in ("", "100644")
        assert not check_entries([entry], rules, set(planned))


def test_parser_agrees_with_its_own_format():
    entry = parse_entries('diff --git "a/t\\tab" "b/t\\tab"\nindex 1..2 100644\n')[0]
    assert entry == PatchEntry("t\tab", "t\tab", "modified", "100644", "100644", False,
                               'diff --git "a/t\\tab" "b/t\\tab"\nindex 1..2 100644\n')
