"""The `owner/name` that `swe-features build` writes into its records, from a remote URL or a
fetched mirror's folder, and its progress output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sleepcoder.swe_features.naming import name_from_folder, name_from_url, repo_name

from tests.conftest import git, run_cli
from tests.test_swe_features import history  # noqa: F401 - a fixture: merged PRs in a repo

PART = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,30}", fullmatch=True).filter(
    lambda s: not s.endswith(".git") and s not in (".", ".."))


@pytest.mark.parametrize("url", [
    "https://github.com/pallets/flask", "https://github.com/pallets/flask.git",
    "https://github.com/pallets/flask/", "git@github.com:pallets/flask.git",
    "ssh://git@github.com/pallets/flask.git", "ssh://git@github.com:22/pallets/flask",
    "git://github.com/pallets/flask.git", "https://user@gitlab.example/pallets/flask.git",
])
def test_hosted_urls_name_owner_and_repository(url):
    assert name_from_url(url) == "pallets/flask"


@pytest.mark.parametrize("url", [
    "/srv/mirrors/pallets+flask/repo", "../pallets+flask/repo", "./flask", "file:///srv/flask",
    "C:\\mirrors\\flask", "", "https://github.com/flask", "git@github.com:flask.git",
])
def test_local_paths_and_incomplete_urls_name_nothing(url):
    assert name_from_url(url) is None


@given(owner=PART, name=PART, form=st.sampled_from([
    "https://github.com/{}/{}", "https://github.com/{}/{}.git", "git@github.com:{}/{}.git",
    "ssh://git@example.org:2222/{}/{}.git", "https://host.example/group/{}/{}/"]))
def test_any_hosted_url_gives_back_its_owner_and_name(owner, name, form):
    assert name_from_url(form.format(owner, name)) == f"{owner}/{name}"


@given(text=st.text(max_size=80))
def test_any_text_gives_a_name_of_two_parts_or_none(text):
    found = name_from_url(text)
    assert found is None or (found.count("/") >= 1 and all(found.split("/")))


def test_mirror_folders_follow_the_owner_plus_name_convention():
    assert name_from_folder(Path("/m/pallets+flask/repo")) == "pallets/flask"
    assert name_from_folder(Path("/m/pallets+flask")) == "pallets/flask"
    assert name_from_folder(Path("/m/flask")) is None
    assert name_from_folder(Path("/m/repo")) is None


def test_a_clone_of_a_fetched_mirror_is_named_after_the_mirror_not_its_path(history, tmp_path):  # noqa: F811
    source, _merged, _squashed = history
    mirror = tmp_path / "mirrors" / "pallets+flask" / "repo"
    git(tmp_path, "clone", "-q", "--mirror", str(source.root), str(mirror))
    # origin is a local path that names nothing: the mirror's own folder does
    assert repo_name(mirror) == "pallets/flask"
    copy = tmp_path / "work" / "copy"
    git(tmp_path, "clone", "-q", "--mirror", str(mirror), str(copy))
    assert repo_name(copy) == "pallets/flask"  # its origin is .../pallets+flask/repo
    git(copy, "remote", "set-url", "origin", "git@github.com:acme/shop.git")
    assert repo_name(copy) == "acme/shop"  # a hosted URL comes first
    git(copy, "remote", "remove", "origin")
    assert repo_name(copy) == "local/copy"  # nothing names it


def test_cli_build_names_records_after_the_mirror_folder(history, tmp_path):  # noqa: F811
    source, _merged, _squashed = history
    mirror = tmp_path / "DIR" / "pallets+flask" / "repo"
    git(tmp_path, "clone", "-q", "--mirror", str(source.root), str(mirror))
    git(mirror, "remote", "remove", "origin")
    result = run_cli("swe-features", "build", "--repo", str(mirror))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records and {r["repo"] for r in records} == {"pallets/flask"}
    assert {r["instance_id"].rsplit("-", 1)[0] for r in records} == {"pallets__flask"}
    # stderr is not a terminal here: no progress bar in the output a script reads
    assert "mining" not in result.stderr and "\r" not in result.stderr


def test_build_progress_bar_is_drawn_on_a_terminal(monkeypatch):
    import io

    from rich.console import Console

    import sleepcoder.swe_cli as swe_cli

    screen = io.StringIO()
    monkeypatch.setattr(swe_cli, "_err", Console(file=screen, force_terminal=True, width=80))
    with swe_cli._bar("mining acme/shop") as advance:
        advance(3, 7)
    assert "mining acme/shop" in screen.getvalue() and "3/7" in screen.getvalue()


@pytest.mark.parametrize("url", ["https://github.com/../..", "https://h/o/n\x1b[31mRED",
                                 "https://h/o/ n ", "git@h:../../etc", "https://h/./x"])
def test_a_remote_url_that_names_no_real_repository_is_not_taken_as_one(url):
    assert name_from_url(url) is None


@given(st.text(max_size=40), st.text(max_size=40))
def test_names_from_urls_are_always_safe_path_parts(owner, name):
    got = name_from_url(f"https://github.com/{owner}/{name}")
    if got is not None:
        for part in got.split("/"):
            assert part not in (".", "..") and re.fullmatch(r"[A-Za-z0-9_.-]+", part)
