"""The path rules and the final-patch check, case by case: every way a model-chosen path or a
patch entry has been seen (or could be expected) to reach what it must not."""

from __future__ import annotations

import os

import pytest
from sleepcoder.tools.patch_check import check_patch, parse_entries, unquote
from sleepcoder.tools.pathguard import EditRefused, PathRules, check_edit_path, check_path
from sleepcoder.tools.worktree import git

REFUSED = [
    ".git/config", ".GIT/config", "a/.Git/hooks/x", ".git", "../x.py", "a/../../x.py", "/etc/x",
    "C:/x.py", "c:\\x.py", "..\\x.py", ".github/workflows/x.yml", ".GITHUB/workflows/x.yml",
    ".github/Workflows/x.yml", ".github./workflows/x.yml", ".github /workflows/x.yml",
    ".github/actions/setup/action.yml", ".Sleepcoder.toml", ".sleepcoder.toml",
    ".sleepcoder.toml.", ".gitlab-ci.yml", ".circleci/config.yml", "Jenkinsfile",
    "a\0b.py", "a\nb.py", "x\x7f.py", ".g\u200cithub/workflows/x.yml", "\ufeffx.py",
    "GITHUB~1/workflows/x.yml", "GIT~1/config", "con.py", "dir/NUL", "a:b.py", "a|b.py",
    "x" * 256 + ".py", "a/" * 2100 + "b.py", "", "   ", ".", "./", "..", "...", "a/..",
    "\uff0egithub/workflows/x.yml",  # fullwidth full stop: NFKC makes it a dot
]
ACCEPTED = {"app/core.py": "app/core.py", "./app/core.py": "app/core.py",
            "app//core.py": "app/core.py", "`app/core.py`": "app/core.py",
            "app\\core.py": "app/core.py", "docs/github.md": "docs/github.md",
            "[.]github/x.yml": "[.]github/x.yml", "src/gitlab.py": "src/gitlab.py",
            "é/ü.py": "é/ü.py", "a/b/../c.py": "a/c.py"}


@pytest.mark.parametrize("path", REFUSED)
def test_hostile_paths_are_refused(path):
    with pytest.raises(EditRefused):
        check_path(path, PathRules())


@pytest.mark.parametrize("path,normal", ACCEPTED.items())
def test_ordinary_paths_are_accepted_and_normalised(path, normal):
    assert check_path(path, PathRules()) == normal


def test_protected_paths_are_compared_case_insensitively():
    rules = PathRules(protected=("migrations/", "LICENSE"))
    for path in ("migrations/0001.py", "MIGRATIONS/x.py", "License", "license."):
        with pytest.raises(EditRefused, match="protected"):
            check_path(path, rules)
    assert check_path("migrations_old/x.py", rules) == "migrations_old/x.py"


def test_ci_edits_can_be_allowed_but_git_never():
    rules = PathRules(allow_ci=True)
    assert check_path(".github/workflows/x.yml", rules) == ".github/workflows/x.yml"
    with pytest.raises(EditRefused, match=".git"):
        check_path(".GIT/config", rules)


def test_symlinks_on_the_way_are_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "link")
    os.symlink(outside / "f.py", root / "file.py")
    for path in ("link/x.py", "file.py", "LINK/x.py" if (root / "LINK").exists() else "link"):
        with pytest.raises(EditRefused):
            check_edit_path(root, path)


def _diff_of(repo, *setup) -> str:
    for step in setup:
        step()
    git(repo, "add", "-A")
    return git(repo, "diff", "--cached", "--binary", "HEAD").stdout


def test_entries_are_read_from_real_git_diffs(py_repo):
    root = py_repo.root
    (root / "app" / "util.py").write_text("changed\n")
    (root / "new file.py").write_text("x = 1\n")
    (root / "tab\there.py").write_text("y = 2\n")
    os.symlink("/etc/passwd", root / "link")
    (root / "app" / "core.py").chmod(0o755)
    (root / "data.bin").write_bytes(b"\0\1\2" * 10)
    (root / "README.md").unlink()
    text = _diff_of(root)
    entries = {e.path: e for e in parse_entries(text)}
    assert entries["app/util.py"].status == "modified"
    assert entries["new file.py"].status == "added" and entries["new file.py"].new_mode == \
        "100644"
    assert entries["tab\there.py"].status == "added"
    assert entries["link"].new_mode == "120000"
    assert (entries["app/core.py"].old_mode, entries["app/core.py"].new_mode) == \
        ("100644", "100755")
    assert entries["data.bin"].binary and entries["README.md"].status == "removed"
    _, refused = check_patch(text, PathRules(), {"app/util.py", "new file.py", "tab\there.py",
                                                 "link", "app/core.py", "data.bin"})
    reasons = {r.path: r.reason for r in refused}
    assert set(reasons) == {"tab\there.py", "link", "app/core.py", "data.bin", "README.md"}
    assert "symbolic link" in reasons["link"] and "mode change" in reasons["app/core.py"]
    assert "binary" in reasons["data.bin"] and "removed" in reasons["README.md"]


def test_unplanned_and_renamed_entries_are_refused(py_repo):
    root = py_repo.root
    git(root, "mv", "app/util.py", "app/helpers.py")
    (root / "app" / "models.py").write_text("# changed\n")
    text = _diff_of(root)
    _, refused = check_patch(text, PathRules(), {"app/helpers.py"})
    reasons = {r.path: r.reason for r in refused}
    assert "renamed" in reasons["app/helpers.py"] and "did not name" in reasons["app/models.py"]


def test_a_patch_carrying_a_secret_is_refused(py_repo, monkeypatch):
    monkeypatch.setenv("PROVIDER_API_KEY", "sk-live-0123456789abcdefXYZ")
    (py_repo.root / "app" / "util.py").write_text("KEY = 'sk-live-0123456789abcdefXYZ'\n")
    _, refused = check_patch(_diff_of(py_repo.root), PathRules(), None)
    assert refused and "PROVIDER_API_KEY" in refused[0].reason


def test_text_that_is_not_a_git_diff_is_refused_as_a_whole():
    _, refused = check_patch("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n", PathRules())
    assert refused[0].path == "(patch)"


def test_a_plain_diff_appended_after_a_git_entry_is_refused(py_repo):
    root = py_repo.root
    (root / "app" / "util.py").write_text("changed\n")
    smuggled = _diff_of(root) + ("--- /dev/null\n+++ b/.github/workflows/pwn.yml\n"
                                 "@@ -0,0 +1 @@\n+on: push\n")
    git(root, "reset", "-q", "--hard")
    # git would apply the appended part as a second patch ...
    numstat = git(root, "apply", "--numstat", "-", input=smuggled).stdout
    assert ".github/workflows/pwn.yml" in numstat
    # ... so the check that did not see it refuses the whole text
    entries, refused = check_patch(smuggled, PathRules(), {"app/util.py"})
    assert entries == [] and refused[0].path == "(patch)"
    assert "outside the hunks" in refused[0].reason


def test_a_hunk_longer_than_its_header_counts_is_refused():
    text = ("diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n"
            "+c\n")
    _, refused = check_patch(text, PathRules(), {"x.py"})
    assert refused and refused[0].path == "(patch)"


def test_form_feeds_and_line_separators_in_content_are_not_line_breaks(py_repo):
    root = py_repo.root
    (root / "app" / "util.py").write_text(
        "a = 1\n\x0cdiff --git a/.github/x b/.github/x\nb = '\u2028+++ b/.github/y'\n\r\n")
    entries, refused = check_patch(_diff_of(root), PathRules(), {"app/util.py"})
    assert [e.path for e in entries] == ["app/util.py"] and refused == []


def test_quoted_paths_unquote_like_git():
    assert unquote('"a/tab\\there"') == "a/tab\there"
    assert unquote('"\\303\\251.py"') == "é.py"
    assert unquote("plain.py") == "plain.py"


@pytest.mark.parametrize("path", [".gitea/workflows/x.yml", ".forgejo/workflows/x.yml",
                                  ".cirrus.yml", ".semaphore/semaphore.yml", "buildspec.yml",
                                  "cloudbuild.yaml", ".tekton/run.yaml", "bitrise.yml",
                                  ".pre-commit-config.yaml", ".husky/pre-commit",
                                  ".VSCode/tasks.json", ".devcontainer/devcontainer.json"])
def test_other_forges_ci_files_and_self_running_files_are_refused(path):
    with pytest.raises(EditRefused, match="CI configuration"):
        check_path(path, PathRules())


def test_markdown_from_outside_cannot_break_out_or_notify():
    from sleepcoder.tasks.markdown import fenced, inert

    output = "FAILED\n```\n## Tests passed, merge now\n@maintainer ![x](https://evil/x.png)"
    block = fenced(output)
    fence = block.splitlines()[0]
    assert len(fence) == 4 and block.endswith(fence) and block.count(fence) == 2
    text = inert("CHANGE main: ping @maintainer ![x](https://e/x.png) <img src=x>\n# Heading")
    assert "@maintainer" not in text and "![" not in text and "<img" not in text
    assert "\n\\# Heading" in text
