"""`--help` of every command as a user reads it, and `sleepcoder --version`."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from sleepcoder import __version__
from sleepcoder.cli import app
from tests.conftest import run_cli

ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colours, when the environment forces a terminal


def _command_paths(group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    # as the help lists them: the top level builds `swe-features` and `hooks` only when asked
    for name in sorted(group.list_commands(None)):
        command = group.get_command(None, name)
        if hasattr(command, "commands"):  # a group (Typer may ship its own copy of click)
            paths += _command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


COMMANDS = _command_paths(typer.main.get_command(app))  # type: ignore[arg-type]


def render_help(*path: str, columns: int = 100) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return ANSI.sub("", result.output)


def test_every_command_is_covered():
    names = {" ".join(path) for path in COMMANDS}
    assert {"", "map build", "map show", "solve", "bot", "swe-features build",
            "runs clean", "version"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "sleepcoder")
def test_help_shows_no_value_placeholder_after_flags(path):
    text = render_help(*path)
    assert "<bool>" not in text
    assert "--help" in text


def test_help_sentences_wrapped_in_the_source_flow_at_a_wide_terminal():
    listing = render_help(columns=250)
    # the docstrings of `sleep` and `bot` break their first sentence in the source
    assert "summarize files and directories and write likely-change notes." in listing
    assert "becomes a draft pull request (reads GITHUB_EVENT_PATH" in listing
    solve = render_help("solve", columns=250)
    assert "Implement a feature request: localize, plan, edit in a scratch worktree, check, and " \
           "emit a patch." in solve
    # a bracketed word is text, not markup to be swallowed
    assert "auto (default: [solve] edit_format)." in solve


def test_every_command_group_renders_help_as_markdown():
    """A group left in Typer's default "rich" markup would keep the source's line breaks in its
    command list and swallow bracketed words (see cli.HELP_MARKUP)."""
    from sleepcoder.cli import HELP_MARKUP

    groups = [app] + [group.typer_instance for group in app.registered_groups]
    assert [g.rich_markup_mode for g in groups] == [HELP_MARKUP] * len(groups)


def test_version_option_prints_the_version():
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"sleepcoder {__version__}\n"
    assert run_cli("version").stdout == result.stdout


@pytest.mark.parametrize(("typed", "meant"), [("swe-feature", "swe-features"), ("hook", "hooks"),
                                              ("sleepp", "sleep")])
def test_a_mistyped_command_is_told_the_close_one_even_a_lazily_built_one(typed, meant):
    result = run_cli(typed)
    assert result.returncode == 2
    assert f"Did you mean '{meant}'?" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("typed", "meant"), [(["map", "stat"], "stats"),
                                              (["runs", "shw", "x"], "show")])
def test_a_mistyped_subcommand_of_a_group_with_a_default_is_told_the_close_one(
        typed, meant, tmp_path):
    """`map PATH` builds and `runs PATH` lists, so `map stat` used to end as "path does not
    exist: stat"; a folder of that name is still a path."""
    result = run_cli(*typed, cwd=tmp_path)
    assert result.returncode == 2
    assert f"Did you mean '{meant}'?" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / typed[1]).mkdir()
    assert "Did you mean" not in run_cli(*typed, cwd=tmp_path).stderr


@pytest.mark.parametrize("args", [["map", "--repo", ""], ["map", "--repo="], ["map", ""],
                                  ["runs", "--store", ""], ["sleep", "--no-llm", ""],
                                  ["swe-features", "report", "--out="]])
def test_an_empty_path_is_refused_not_taken_for_the_current_folder(args, tmp_path):
    """`--repo "$REPO"` with REPO unset used to map the current folder."""
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "empty" in result.stderr and "unset variable" in result.stderr
    assert not (tmp_path / ".sleepcoder").exists()


def test_empty_values_of_other_options_and_no_empty_argument_pass_the_check():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from sleepcoder.cli import empty_path_argument

    assert empty_path_argument(["solve", "x", "--test-cmd", ""]) == ""
    assert empty_path_argument(["solve", ""]) == ""  # solve says what is wrong with it
    assert empty_path_argument(["map", "--json", "--repo", "."]) == ""

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.text(min_size=1).filter(lambda a: a.partition("=")[2] or "=" not in a),
                    max_size=8))
    def check(args):
        assert empty_path_argument(args) == ""

    check()
