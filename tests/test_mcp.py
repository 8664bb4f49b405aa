"""`sleepcoder mcp`: the server started as a subprocess and driven by the MCP SDK's own stdio
client, on fixture repositories; the path guard in-process, with hypothesis."""

from __future__ import annotations

import json
import os
import sys
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("mcp")

from mcp import ClientSession  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402

from sleepcoder.mcp_tools import (  # noqa: E402
    MAX_MAP_BUDGET,
    Parameter,
    QueryRefused,
    check_arguments,
    repo_path,
)

from .conftest import PY_PROJECT, Repo  # noqa: E402

TOOLS = {"map_overview", "localize", "file_info", "cochanges", "symbol", "likely_changes"}


@pytest.fixture
def mcp_repo(repo: Repo, tmp_path: Path) -> Repo:
    """The demo app, with history in which app/core.py and app/util.py change together, and
    a symbolic link that points out of the repository."""
    repo.commit("Initial app", PY_PROJECT)
    for n in (1, 2):
        repo.commit(f"Tune the loop {n}", {
            "app/core.py": PY_PROJECT["app/core.py"] + f"\n\nLIMIT = {n}\n",
            "app/util.py": PY_PROJECT["app/util.py"] + f"\n\nSCALE = {n}\n"})
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not yours\n")
    (repo.root / "escape").symlink_to(outside)
    repo.commit("Add a link")
    return repo


@asynccontextmanager
async def _session(root: Path, **env: str):
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "sleepcoder.cli", "mcp", "--repo", str(root)],
        cwd=str(root), env={"PATH": os.environ.get("PATH", ""), "HOME": str(root.parent), **env})
    with open(root.parent / "server-stderr.log", "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), \
                ClientSession(read, write) as session:
            started = await session.initialize()
            info = getattr(started, "server_info", None) or started.serverInfo  # 2.x / 1.x
            assert info.name == "sleepcoder" and info.version
            yield session


async def _call(session: ClientSession, tool: str, **arguments) -> tuple[str, bool]:
    result = await session.call_tool(tool, arguments)
    error = getattr(result, "is_error", None)
    if error is None:  # mcp 1.x spells it isError
        error = result.isError
    return "\n".join(part.text for part in result.content), bool(error)


def _run(scenario) -> None:
    async def bounded():
        with anyio.fail_after(120):  # a hung server fails the test instead of blocking CI
            await scenario()

    anyio.run(bounded)


def test_server_lists_six_described_tools_with_typed_parameters(mcp_repo: Repo):
    async def scenario():
        async with _session(mcp_repo.root) as session:
            listed = (await session.list_tools()).tools
        by_name = {tool.name: tool for tool in listed}
        assert set(by_name) == TOOLS
        for tool in listed:
            assert len(tool.description or "") > 60
        schema = getattr(by_name["map_overview"], "input_schema", None) or \
            by_name["map_overview"].inputSchema
        assert schema["properties"]["budget"]["type"] == "integer"
        localize = getattr(by_name["localize"], "input_schema", None) or \
            by_name["localize"].inputSchema
        assert localize["required"] == ["request"]

    _run(scenario)


def test_each_tool_answers_from_the_map(mcp_repo: Repo):
    async def scenario():
        async with _session(mcp_repo.root) as session:
            overview, error = await _call(session, "map_overview", budget=800)
            assert not error and "app/core.py" in overview and "tokens of 800" in overview
            ranked, error = await _call(session, "localize",
                                        request="change the helper in util", limit=3)
            assert not error
            answer = json.loads(ranked)
            assert answer["candidates"][0]["path"] == "app/util.py"
            assert answer["candidates"][0]["reasons"] and len(answer["candidates"]) <= 3
            one, error = await _call(session, "localize", request="change the helper in util",
                                     limit=1)
            assert not error and len(json.loads(one)["chosen"]) <= 1  # the limit holds here too
            info, error = await _call(session, "file_info", path="app/models.py")
            assert not error and "Item.value" in info and "Data models." in info
            together, error = await _call(session, "cochanges", path="app/core.py")
            assert not error and "- app/util.py: together in 2" in together
            where, error = await _call(session, "symbol", name="helper")
            assert not error and "defined in app/util.py:4" in where
            assert "app/core.py: run" in where
            notes, error = await _call(session, "likely_changes")
            assert not error and "no likely-change notes" in notes

    _run(scenario)


def test_unknown_files_and_symbols_are_reported_as_not_in_the_map(mcp_repo: Repo):
    async def scenario():
        async with _session(mcp_repo.root) as session:
            for tool, arguments in (("file_info", {"path": "app/nothing.py"}),
                                    ("cochanges", {"path": "app/nothing.py"}),
                                    ("symbol", {"name": "no_such_function"})):
                text, error = await _call(session, tool, **arguments)
                assert not error and "not in the map" in text, (tool, text)

    _run(scenario)


def test_paths_outside_the_repository_are_refused(mcp_repo: Repo):
    async def scenario():
        async with _session(mcp_repo.root) as session:
            for path in ("../outside/secret.txt", "/etc/passwd", "escape/secret.txt",
                         "app/../../outside/secret.txt"):
                for tool in ("file_info", "cochanges"):
                    text, error = await _call(session, tool, path=path)
                    assert error and "refused" in text, (tool, path, text)
                    assert "not yours" not in text

    _run(scenario)


def test_map_budget_is_capped_and_a_negative_one_refused(mcp_repo: Repo):
    async def scenario():
        async with _session(mcp_repo.root) as session:
            text, error = await _call(session, "map_overview", budget=10**9)
            assert not error and f"budget capped at {MAX_MAP_BUDGET} tokens" in text
            text, error = await _call(session, "map_overview", budget=-5)
            assert error and "budget must be at least 1" in text
            text, error = await _call(session, "localize", request="x", limit=0)
            assert error and "limit must be at least 1" in text

    _run(scenario)


def test_map_is_refreshed_after_a_commit_and_a_working_tree_change(mcp_repo: Repo):
    async def scenario():
        async with _session(mcp_repo.root) as session:
            text, _ = await _call(session, "symbol", name="export_csv")
            assert "not in the map" in text
            mcp_repo.commit("Add export", {
                "app/export.py": "def export_csv(rows):\n    return rows\n"})
            text, _ = await _call(session, "symbol", name="export_csv")
            assert "defined in app/export.py:1" in text
            (mcp_repo.root / "app" / "draft.py").write_text("def draft_feature():\n    pass\n")
            text, _ = await _call(session, "symbol", name="draft_feature")
            assert "defined in app/draft.py:1" in text

    _run(scenario)
    assert mcp_repo.git("status", "--porcelain") == "?? app/draft.py"  # nothing else written


def test_busy_map_answers_from_the_existing_map_and_says_so(mcp_repo: Repo):
    from sleepcoder.tools.config import load_config
    from sleepcoder.tools.lock import map_lock
    from sleepcoder.tools.repomap import build_map

    build_map(mcp_repo.root)
    mcp_repo.commit("Add export", {"app/export.py": "def export_csv(rows):\n    return rows\n"})
    store_dir = load_config(mcp_repo.root).map.store_path(mcp_repo.root)

    async def scenario():
        async with _session(mcp_repo.root) as session:
            with map_lock(store_dir, 0):
                text, error = await _call(session, "symbol", name="helper")
            assert not error and "another process is updating the map" in text
            assert "defined in app/util.py" in text
            text, _ = await _call(session, "symbol", name="export_csv")  # lock released
            assert "defined in app/export.py" in text and "another process" not in text

    _run(scenario)


def test_likely_changes_are_listed_when_the_map_has_them(mcp_repo: Repo):
    from sleepcoder.tools.config import load_config
    from sleepcoder.tools.repomap import build_map
    from sleepcoder.tools.store import MapStore

    build_map(mcp_repo.root)
    store, _ = MapStore.open(load_config(mcp_repo.root).map.store_path(mcp_repo.root),
                             create=True)
    with store.transaction():
        store.conn.execute(
            "INSERT INTO notes VALUES ('anticipated', 'app', 'Export items as CSV', ?, "
            "'models hold the items', 'llm', 'k')", (json.dumps(["app/models.py"]),))
    store.close()

    async def scenario():
        async with _session(mcp_repo.root) as session:
            text, error = await _call(session, "likely_changes", focus="csv")
        assert not error and "- Export items as CSV -> app/models.py" in text

    _run(scenario)


def test_damaged_map_is_a_tool_error_not_a_crash(mcp_repo: Repo):
    from sleepcoder.tools.config import load_config
    from sleepcoder.tools.repomap import build_map

    build_map(mcp_repo.root)
    store_dir = load_config(mcp_repo.root).map.store_path(mcp_repo.root)
    (store_dir / "map.db").write_bytes(b"this is not a database" * 100)
    mcp_repo.commit("Touch", {"app/extra.py": "X = 1\n"})  # stale: the server must open it

    async def scenario():
        async with _session(mcp_repo.root) as session:
            text, error = await _call(session, "file_info", path="app/core.py")
            assert error and "map --rebuild" in text, text
            text, error = await _call(session, "symbol", name="helper")  # still serving
            assert error

    _run(scenario)
    assert "Traceback" not in (mcp_repo.root.parent / "server-stderr.log").read_text()


def test_mcp_without_the_sdk_exits_with_one_line_naming_the_extra(py_repo: Repo):
    import subprocess

    # `import mcp` fails in the child as if the package were not installed
    code = ("import sys; sys.modules['mcp'] = None; from sleepcoder.cli import main; "
            f"sys.argv = ['sleepcoder', 'mcp', '--repo', {str(py_repo.root)!r}]; main()")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=120)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "sleepcoder: the MCP server needs the MCP SDK: pip install 'sleepcoder[mcp]'"]


# --- the path guard ---------------------------------------------------------------------------

_PARTS = st.sampled_from(["..", ".", "app", "escape", "core.py", "", "~", "a b", "x\\..",
                          "C:", "\x00", "/"])


@given(parts=st.lists(_PARTS, max_size=6), lead=st.sampled_from(["", "/", "./", "../"]))
def test_path_guard_returns_only_paths_that_stay_inside(parts, lead, tmp_path_factory):
    root = _guard_root(tmp_path_factory)
    text = lead + "/".join(parts)
    try:
        normal = repo_path(root, text)
    except QueryRefused as exc:
        assert str(exc)
        return
    assert not normal.startswith(("/", "..")) and "\x00" not in normal
    assert (root / normal).resolve().is_relative_to(root.resolve())


@given(text=st.text(max_size=40))
def test_path_guard_never_fails_otherwise_on_any_text(text, tmp_path_factory):
    root = _guard_root(tmp_path_factory)
    try:
        normal = repo_path(root, text)
    except QueryRefused:
        return
    assert (root / normal).resolve().is_relative_to(root.resolve())


_GUARD_ROOTS: dict[str, Path] = {}


def _guard_root(factory) -> Path:
    """One repository-like folder with a link out of it, made once per session."""
    if "root" not in _GUARD_ROOTS:
        base = factory.mktemp("guard")
        (base / "outside").mkdir()
        root = base / "repo"
        (root / "app").mkdir(parents=True)
        (root / "app" / "core.py").write_text("x = 1\n")
        (root / "escape").symlink_to(base / "outside")
        _GUARD_ROOTS["root"] = root
    return _GUARD_ROOTS["root"]


def test_path_guard_refuses_the_ways_out(tmp_path: Path):
    (tmp_path / "outside").mkdir()
    root = tmp_path / "repo"
    (root / "app").mkdir(parents=True)
    (root / "escape").symlink_to(tmp_path / "outside")
    (root / "inner").symlink_to(root / "app")
    for path in ("../x", "/etc/passwd", "~/x", "C:/x", "app/../../x", "escape/x", "escape",
                 "..\\x", "", "   ", "app\x00.py"):
        with pytest.raises(QueryRefused):
            repo_path(root, path)
    for path in (".", "./", "app", "app/", "inner"):  # refused for what they are
        with pytest.raises(QueryRefused, match="not a file"):
            repo_path(root, path)
    assert repo_path(root, "./app//core.py") == "app/core.py"
    assert repo_path(root, "app/../README.md") == "README.md"
    assert repo_path(root, "inner/core.py") == "inner/core.py"  # a link that stays inside


# --- secrets, a vanished repository, bad arguments, a wrong root ------------------------------

SECRET = "sk-live-SECRETSECRET1234567890"


def test_secrets_never_leave_the_server_in_answers_errors_or_logs(repo: Repo):
    repo.commit("Add the client", {
        "app/core.py": f'"""The client; key {SECRET} for the demo."""\n\n'
                       f'API_KEY = "{SECRET}"\n\n\ndef run():\n    """Use {SECRET}."""\n'
                       "    return API_KEY\n"})
    answers = []

    async def scenario():
        async with _session(repo.root, SLEEPCODER_API_KEY=SECRET) as session:
            for tool, arguments in (("file_info", {"path": "app/core.py"}),
                                    ("symbol", {"name": "API_KEY"}),
                                    ("symbol", {"name": "run"}),
                                    ("map_overview", {"budget": 4000, "focus": SECRET}),
                                    ("localize", {"request": f"rotate {SECRET}"}),
                                    ("file_info", {"path": f"../{SECRET}"}),
                                    ("cochanges", {"path": f"app/{SECRET}.py"}),
                                    ("symbol", {"name": SECRET}),
                                    ("map_overview", {"budget": SECRET})):
                answers.append(await _call(session, tool, **arguments))

    _run(scenario)
    assert "[REDACTED:SLEEPCODER_API_KEY]" in answers[0][0]  # the constant, scrubbed
    assert answers[5][1] and "refused" in answers[5][0]
    for text, _error in answers:
        assert SECRET not in text
    log = (repo.root.parent / "server-stderr.log").read_text()
    assert "failed" in log and SECRET not in log


@pytest.mark.parametrize("how", ["deleted", "moved", "no longer git"])
def test_a_repository_that_vanishes_while_served_is_a_one_line_tool_error(mcp_repo: Repo,
                                                                          how: str):
    import shutil

    root = mcp_repo.root

    async def scenario():
        async with _session(root) as session:
            _text, error = await _call(session, "symbol", name="helper")
            assert not error
            if how == "deleted":
                shutil.rmtree(root)
            elif how == "moved":
                root.rename(root.with_name("moved"))
            else:
                shutil.rmtree(root / ".git")
            for tool, arguments in (("symbol", {"name": "helper"}), ("map_overview", {}),
                                    ("file_info", {"path": "app/core.py"}),
                                    ("localize", {"request": "change the helper"}),
                                    ("likely_changes", {})):
                text, error = await _call(session, tool, **arguments)
                assert error and len(text.splitlines()) == 1, (tool, text)
                expected = ("is no longer a git repository" if how == "no longer git"
                            else "is gone (deleted or moved)")
                assert f"the repository at {root} {expected}" in text, (tool, text)
                assert "GitCommandError" not in text

    _run(scenario)


def test_arguments_of_the_wrong_type_get_one_line_naming_the_parameter(mcp_repo: Repo):
    async def scenario():
        async with _session(mcp_repo.root) as session:
            for tool, arguments, expected in (
                    ("map_overview", {"budget": 1.5}, "'budget' must be an integer, got 1.5"),
                    ("map_overview", {"budget": "NaN"}, "'budget' must be an integer"),
                    ("map_overview", {"budget": True}, "'budget' must be an integer, got true"),
                    ("map_overview", {"budget": None}, "'budget' must be an integer, got null"),
                    ("cochanges", {"path": "app/core.py", "limit": "abc"},
                     "'limit' must be an integer"),
                    ("localize", {"request": "x", "limit": False}, "'limit' must be an integer"),
                    ("file_info", {}, "the parameter 'path' is required (text)"),
                    ("file_info", {"path": ["a"]}, "'path' must be text, got a list"),
                    ("symbol", {"name": 3}, "'name' must be text, got 3"),
                    ("map_overview", {"budge": 800}, "unknown parameter 'budge'"),
                    ("file_info", {"path": "."}, "not a file"),
                    ("file_info", {"path": "app"}, "a directory, not a file")):
                text, error = await _call(session, tool, **arguments)
                assert error and text.startswith("refused: "), (tool, arguments, text)
                assert expected in text and len(text.splitlines()) == 1, (arguments, text)
                assert "pydantic" not in text and "http" not in text
            text, error = await _call(session, "map_overview", budget=1e308)
            assert not error and f"budget capped at {MAX_MAP_BUDGET} tokens" in text
            text, error = await _call(session, "map_overview", budget=800.0)
            assert not error and "tokens of 800" in text

    _run(scenario)


_PARAMETERS = (Parameter("path", str, True), Parameter("limit", int, False))
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


@given(arguments=st.dictionaries(st.sampled_from(["path", "limit", "other"]), _JSON)
       | _JSON)
def test_argument_check_returns_typed_values_or_refuses_in_one_line(arguments):
    try:
        checked = check_arguments("cochanges", _PARAMETERS, arguments)
    except QueryRefused as exc:
        assert str(exc) and len(str(exc).splitlines()) == 1 and len(str(exc)) < 200
        return
    assert isinstance(checked["path"], str)
    assert "limit" not in checked or type(checked["limit"]) is int  # never a bool or float
    assert set(checked) <= {"path", "limit"}


@pytest.mark.parametrize("where", ["root", "home"])
def test_a_filesystem_root_or_the_home_directory_is_refused_as_the_repository(
        tmp_path: Path, where: str):
    import subprocess

    home = tmp_path / "home"
    (home / "project").mkdir(parents=True)
    if where == "root":
        if subprocess.run(["git", "-C", "/", "rev-parse"], capture_output=True).returncode == 0:
            pytest.skip("/ is inside a git repository here")
        target, what = "/", "/ is the filesystem root"
    else:
        target, what = f"{home}/project/..", f"{home} is the home directory"
    result = subprocess.run(
        [sys.executable, "-m", "sleepcoder.cli", "mcp", "--repo", target],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
        cwd=tmp_path, env={"PATH": os.environ.get("PATH", ""), "HOME": str(home)})
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"sleepcoder: {what}, not a repository")
