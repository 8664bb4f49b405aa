"""A hostile world around the map store: bare and read-only repositories, damaged databases,
a store deleted mid-build, odd store paths, and the last-resort handler for anything else.
Each must end in one clear line and its documented exit code, never a traceback."""

from __future__ import annotations

import functools
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sleepcoder.cli import app
from tests.conftest import git, run_cli

EXIT_BAD_INPUT, EXIT_STORE = 2, 3
REBUILD = "run `sleepcoder map --rebuild`"

# the commands of this scope, each pointed at the repository {repo}
COMMANDS = {
    "map": ["map", "{repo}"],
    "map show": ["map", "show", "{repo}"],
    "map stats": ["map", "stats", "{repo}"],
    "sleep": ["sleep", "{repo}", "--no-llm"],
    "solve": ["solve", "change the helper", "--repo", "{repo}", "--localize-only", "--no-llm"],
}


def command(name: str, repo: Path, *extra: str) -> list[str]:
    return [arg.format(repo=repo) for arg in COMMANDS[name]] + list(extra)


def invoke(*args: str):
    """Run the CLI in this process (exceptions the CLI does not handle stay in .exception)."""
    return CliRunner().invoke(app, [str(arg) for arg in args])


def error_line(stderr: str) -> str:
    """The one `sleepcoder: ...` line of stderr (fails unless there is exactly one)."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("sleepcoder: ")]
    assert len(lines) == 1, stderr
    return lines[0]


def assert_fails(result, code: int, *phrases: str) -> str:
    """`result` (CliRunner or subprocess) exited with `code` and one line saying `phrases`."""
    exit_code = getattr(result, "exit_code", getattr(result, "returncode", None))
    exception = getattr(result, "exception", None)
    assert exception is None or isinstance(exception, SystemExit), repr(exception)
    assert exit_code == code, (exit_code, result.stdout, result.stderr)
    line = error_line(result.stderr)
    for phrase in phrases:
        assert phrase in line, line
    return line


def build(repo: Path, *extra: str) -> None:
    result = invoke("map", repo, *extra)
    assert result.exit_code == 0, result.stderr


def map_db(repo: Path) -> Path:
    return repo / ".sleepcoder" / "map.db"


# --- 1. bare repositories --------------------------------------------------------------------


@pytest.mark.parametrize("name", list(COMMANDS))
def test_bare_repository_is_refused_with_a_hint_to_map_a_checkout(tmp_path, name):
    bare = tmp_path / "bare.git"
    bare.mkdir()
    git(bare, "init", "-q", "--bare")
    result = invoke(*command(name, bare))
    assert_fails(result, EXIT_BAD_INPUT, "is a bare repository", "checkout", "worktree")


def test_mirror_clone_is_refused_like_a_bare_repository(py_repo, tmp_path):
    mirror = tmp_path / "mirror.git"
    git(tmp_path, "clone", "-q", "--mirror", str(py_repo.root), str(mirror))
    result = run_cli("map", str(mirror))
    assert_fails(result, EXIT_BAD_INPUT, "is a bare repository", "worktree add")
    assert not (mirror / ".sleepcoder").exists()


# --- 2. read-only repositories ---------------------------------------------------------------


@functools.cache
def _bind_mount_problem() -> str:
    """'' when a read-only bind mount in a private mount namespace works here, else why not."""
    if shutil.which("unshare") is None:
        return "no unshare(1)"
    with tempfile.TemporaryDirectory() as probe:
        check = subprocess.run(["unshare", "-m", "sh", "-c", _MOUNT_RO + ' && ! touch "$1/x"',
                                "sh", probe], capture_output=True, text=True)
        return "" if check.returncode == 0 else check.stderr.strip() or "mount failed"


_MOUNT_RO = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1"'


def run_read_only(target: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the CLI while `target` (a repository, or a store in one) cannot be written: chmod
    for a normal user; as root, where chmod does not stop writes, a read-only bind mount in a
    private mount namespace (skipped when the machine does not allow one)."""
    cli = [sys.executable, "-m", "sleepcoder.cli", *args]
    if os.geteuid() != 0:
        paths = [target, *target.rglob("*")]
        modes = {p: p.stat().st_mode for p in paths if not p.is_symlink()}
        try:
            for path, mode in modes.items():
                path.chmod(mode & ~0o222)
            return subprocess.run(cli, capture_output=True, text=True, timeout=300)
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
    problem = _bind_mount_problem()
    if problem:
        pytest.skip("running as root, where chmod does not stop writes, and a read-only bind "
                    f"mount is not possible here ({problem})")
    return subprocess.run(["unshare", "-m", "sh", "-c", _MOUNT_RO + ' && shift && exec "$@"',
                           "sh", str(target), *cli], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name", ["map", "sleep"])
def test_read_only_repository_says_so_and_offers_the_store_option(py_repo, name):
    result = run_read_only(py_repo.root, *command(name, py_repo.root))
    line = assert_fails(result, EXIT_STORE, "the map store", "--store DIR")
    assert "read-only file system" in line or "permission denied" in line


def test_solve_in_a_read_only_repository_asks_for_a_writable_clone(py_repo, tmp_path):
    # --store cannot help: the scratch worktree is recorded in .git
    result = run_read_only(py_repo.root, *command("solve", py_repo.root, "--store",
                                                  str(tmp_path / "store")))
    line = assert_fails(result, EXIT_BAD_INPUT, "cannot write the git directory",
                        "writable clone")
    assert "read-only file system" in line or "permission denied" in line


def test_read_only_repository_still_shows_its_map_and_maps_elsewhere(py_repo, tmp_path):
    build(py_repo.root)
    shown = run_read_only(py_repo.root, "map", "show", str(py_repo.root))
    assert shown.returncode == 0 and "app/core.py" in shown.stdout, shown.stderr
    stats = run_read_only(py_repo.root, "map", "stats", str(py_repo.root))
    assert stats.returncode == 0, stats.stderr
    refresh = run_read_only(py_repo.root, "map", str(py_repo.root))
    assert_fails(refresh, EXIT_STORE, "cannot write the map store", "--store DIR")
    elsewhere = tmp_path / "maps"
    moved = run_read_only(py_repo.root, "map", str(py_repo.root), "--store", str(elsewhere))
    assert moved.returncode == 0, moved.stderr
    assert (elsewhere / "map.db").exists()


def test_unwritable_store_in_a_writable_repository_can_be_moved_with_store(py_repo, tmp_path):
    build(py_repo.root)
    store = py_repo.root / ".sleepcoder"
    refused = run_read_only(store, *command("solve", py_repo.root))
    assert_fails(refused, EXIT_STORE, f"cannot write the map store {store}", "--store DIR")
    solved = run_read_only(store, *command("solve", py_repo.root, "--store",
                                           str(tmp_path / "store")))
    assert solved.returncode == 0, solved.stderr
    assert "Files to change" in solved.stdout


def test_read_only_git_info_still_maps_and_says_the_store_is_not_excluded(py_repo):
    info = py_repo.root / ".git" / "info"
    info.mkdir(exist_ok=True)
    result = run_read_only(info, "map", str(py_repo.root))
    assert result.returncode == 0, result.stderr
    assert "could not add /.sleepcoder/ to .git/info/exclude" in result.stderr


# --- 3. a database damaged inside ------------------------------------------------------------


def overwrite_page_of(db: Path, table: str, seed: int = 7) -> None:
    """Overwrite the root page of `table` (in the middle of the file) with random bytes."""
    conn = sqlite3.connect(db)
    page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name=?", (table,)).fetchone()[0]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    assert 1 < page < db.stat().st_size // size, "the page should be inside the file"
    with db.open("r+b") as handle:
        handle.seek((page - 1) * size)
        handle.write(random.Random(seed).randbytes(size))


@pytest.mark.parametrize("name", list(COMMANDS))
def test_damaged_map_is_reported_with_the_rebuild_command(py_repo, name):
    build(py_repo.root)
    overwrite_page_of(map_db(py_repo.root), "files")
    result = invoke(*command(name, py_repo.root))
    assert_fails(result, EXIT_STORE, f"the map at {map_db(py_repo.root)} is damaged (", REBUILD)


def test_damaged_map_says_what_quick_check_found_and_rebuild_repairs_it(py_repo):
    build(py_repo.root)
    overwrite_page_of(map_db(py_repo.root), "files")
    result = run_cli("map", "show", str(py_repo.root))
    assert_fails(result, EXIT_STORE, "is damaged (quick_check: ", REBUILD)
    assert run_cli("map", str(py_repo.root), "--rebuild").returncode == 0
    shown = run_cli("map", "show", str(py_repo.root))
    assert shown.returncode == 0 and "app/core.py" in shown.stdout


@pytest.mark.parametrize("keep", [0.5, 0.0])
def test_truncated_map_is_reported_as_damaged(py_repo, keep):
    build(py_repo.root)
    db = map_db(py_repo.root)
    os.truncate(db, int(db.stat().st_size * keep))
    for name in ("map show", "map"):
        assert_fails(invoke(*command(name, py_repo.root)), EXIT_STORE, "is damaged (", REBUILD)


def test_garbage_wal_file_is_ignored_and_the_map_still_reads(py_repo):
    build(py_repo.root)
    Path(f"{map_db(py_repo.root)}-wal").write_bytes(random.Random(3).randbytes(50_000))
    shown = invoke("map", "show", py_repo.root)
    assert shown.exit_code == 0 and "app/core.py" in shown.stdout, shown.stderr
    assert invoke("map", py_repo.root).exit_code == 0


def test_wal_with_damaged_frames_still_reads_as_the_last_intact_map(py_repo, tmp_path):
    build(py_repo.root)
    # a WAL holding a committed change, copied while its writer still has it open
    writer = sqlite3.connect(map_db(py_repo.root))
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("UPDATE files SET rank = rank + 1")
    writer.commit()
    copy = tmp_path / "copy"
    copy.mkdir()
    for suffix in ("", "-wal"):
        shutil.copy(f"{map_db(py_repo.root)}{suffix}", copy / f"map.db{suffix}")
    writer.close()
    wal = copy / "map.db-wal"
    assert wal.stat().st_size > 0
    with wal.open("r+b") as handle:
        handle.seek(wal.stat().st_size // 2)
        handle.write(random.Random(5).randbytes(2000))
    shown = invoke("map", "show", py_repo.root, "--store", copy)
    assert shown.exit_code == 0 and "app/core.py" in shown.stdout, shown.stderr


@pytest.fixture
def larger_repo(repo):
    """Forty modules that import and call each other: a map of a few dozen pages, so damage
    can land in one table while the others still read."""
    files = {}
    for i in range(40):
        before = f"from pkg.m{i - 1} import f{i - 1}\n" if i else ""
        files[f"pkg/m{i}.py"] = (
            f'"""Module {i}."""\n{before}\n\nclass C{i}:\n    """Class {i}."""\n\n'
            f"    def method_{i}(self, x):\n        return x + {i}\n\n\n"
            f"def f{i}(x):\n    return {f'f{i - 1}(x)' if i else 'x'} + C{i}().method_{i}(x)\n")
    files["pkg/__init__.py"] = ""
    repo.commit("forty modules", files)
    build(repo.root)
    return repo


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offset=st.floats(0, 1), garbage=st.binary(min_size=1, max_size=4096))
def test_any_damage_to_the_map_ends_in_a_working_map_or_one_clear_line(larger_repo, offset,
                                                                      garbage):
    pristine = map_db(larger_repo.root)
    with tempfile.TemporaryDirectory() as store:
        db = Path(store) / "map.db"
        shutil.copy(pristine, db)
        with db.open("r+b") as handle:
            handle.seek(int(offset * (db.stat().st_size - 1)))
            handle.write(garbage)
        for args in (["map", "show"], ["map", "stats"], ["map"]):
            result = invoke(*args, larger_repo.root, "--store", store)
            if result.exit_code != 0:
                line = assert_fails(result, EXIT_STORE)
                assert REBUILD in line, line


@pytest.mark.parametrize("name", ["sleep", "solve"])
def test_damaged_database_beside_the_map_is_named_with_its_remedy(py_repo, scripted, name):
    build(py_repo.root)
    cache = py_repo.root / ".sleepcoder" / "llm_cache.db"
    cache.write_bytes(random.Random(2).randbytes(8192))
    args = command(name, py_repo.root)
    args = [a for a in args if a not in ("--no-llm", "--localize-only")]
    result = invoke(*args, "--model", "scripted/test")
    assert_fails(result, EXIT_STORE, f"the database {cache} is damaged (", "delete it")


def sqlite_error(conn: sqlite3.Connection, statement: str) -> sqlite3.DatabaseError:
    """The real SQLite error `statement` raises on `conn`."""
    with pytest.raises(sqlite3.DatabaseError) as raised:
        conn.execute(statement)
    return raised.value


def test_sqlite_failures_that_are_not_damage_are_named_as_what_they_are(py_repo):
    from sleepcoder.tools.lock import MapBusy
    from sleepcoder.tools.store import StoreError, explain_failure

    build(py_repo.root)
    store, db = py_repo.root / ".sleepcoder", map_db(py_repo.root)
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    second = sqlite3.connect(db, timeout=0, isolation_level=None)
    busy = explain_failure(store, sqlite_error(second, "BEGIN IMMEDIATE"))
    writer.execute("ROLLBACK")
    assert isinstance(busy, MapBusy) and "is busy" in str(busy)

    reader = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, isolation_level=None)
    read_only = explain_failure(store, sqlite_error(reader, "DELETE FROM meta"))
    assert isinstance(read_only, StoreError) and "--store DIR" in str(read_only)

    pages = writer.execute("PRAGMA page_count").fetchone()[0]
    writer.execute(f"PRAGMA max_page_count={pages}")
    full = explain_failure(store, sqlite_error(
        writer, "INSERT INTO meta VALUES ('big', hex(randomblob(100000)))"))
    assert isinstance(full, StoreError) and "is full" in str(full)
    for conn in (writer, second, reader):
        conn.close()


# --- 4. a dropped table ----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(COMMANDS))
def test_dropped_table_is_reported_and_rebuild_repairs_it(py_repo, name):
    build(py_repo.root)
    conn = sqlite3.connect(map_db(py_repo.root))
    conn.execute("DROP TABLE defs")
    conn.commit()
    conn.close()
    result = invoke(*command(name, py_repo.root))
    assert_fails(result, EXIT_STORE, "is damaged (missing tables: defs)", REBUILD)
    assert invoke("map", py_repo.root, "--rebuild").exit_code == 0
    assert "def helper(item)" in invoke("map", "show", py_repo.root).stdout


# --- 5. the store deleted during a build -----------------------------------------------------


@pytest.mark.parametrize("stage", ["_plan", "update_graphs"])
def test_store_deleted_during_a_build_is_not_reported_as_success(py_repo, monkeypatch, stage):
    import sleepcoder.tools.repomap as repomap

    store = py_repo.root / ".sleepcoder"
    original = getattr(repomap, stage)

    def delete_then_run(*args, **kwargs):
        shutil.rmtree(store)
        return original(*args, **kwargs)

    if stage == "update_graphs":
        build(py_repo.root)  # a refresh this time: deleted just before its last transaction
        (py_repo.root / "app" / "new.py").write_text("def new():\n    return 1\n")
    monkeypatch.setattr(repomap, stage, delete_then_run)
    result = invoke("map", py_repo.root)
    assert_fails(result, EXIT_STORE, f"the map store {store} was deleted", "run the command again")
    assert not store.exists()
    monkeypatch.setattr(repomap, stage, original)
    assert invoke("map", py_repo.root).exit_code == 0
    assert "app/core.py" in invoke("map", "show", py_repo.root).stdout


def test_transaction_refuses_to_commit_into_a_deleted_store(py_repo):
    from sleepcoder.tools.store import MapStore, StoreError

    build(py_repo.root)
    store, _notice = MapStore.open(py_repo.root / ".sleepcoder", create=True)
    shutil.rmtree(py_repo.root / ".sleepcoder")
    with pytest.raises(StoreError, match="was deleted or replaced"), store.transaction():
        store.set_meta("sleep_status", "done")
    store.close()


# --- 6. odd store paths ----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(COMMANDS))
def test_store_path_that_is_a_file_is_refused(py_repo, name):
    (py_repo.root / ".sleepcoder").write_text("not a directory\n")
    result = invoke(*command(name, py_repo.root))
    assert_fails(result, EXIT_STORE, "is a file, not a directory", "--store DIR")
    assert (py_repo.root / ".sleepcoder").read_text() == "not a directory\n"


def test_store_option_under_a_file_is_refused(py_repo, tmp_path):
    (tmp_path / "afile").write_text("x")
    result = invoke("map", py_repo.root, "--store", tmp_path / "afile" / "store")
    assert_fails(result, EXIT_STORE, "a part of that path is a file")


def test_store_option_creates_its_missing_parent_directories(py_repo, tmp_path):
    store = tmp_path / "not" / "yet" / "there"
    build(py_repo.root, "--store", str(store))
    assert (store / "map.db").exists()


@pytest.mark.parametrize("name", list(COMMANDS))
def test_symlinked_store_is_refused_and_nothing_is_written_through_it(py_repo, tmp_path, name):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (py_repo.root / ".sleepcoder").symlink_to(target)
    result = invoke(*command(name, py_repo.root))
    assert_fails(result, EXIT_STORE, "is a symbolic link", f"--store {target}")
    assert list(target.iterdir()) == []


@pytest.mark.parametrize("name", list(COMMANDS))
@pytest.mark.parametrize("inside", ["map.db", "map.lock", "runs", "llm_cache.db"])
def test_a_link_inside_the_store_is_refused_and_nothing_is_written_through_it(
        py_repo, tmp_path, name, inside):
    """A repository that commits `.sleepcoder/map.db -> ../../victim` must not make the map
    (or its lock, runs or cache) write outside the repository."""
    victim = tmp_path / "victim"
    victim.mkdir()
    store = py_repo.root / ".sleepcoder"
    store.mkdir()
    (store / inside).symlink_to(victim / "target")
    result = invoke(*command(name, py_repo.root))
    assert_fails(result, EXIT_STORE, "holds a symbolic link", inside)
    assert list(victim.iterdir()) == []


def test_links_inside_a_runs_checkout_are_the_repositorys_own(tmp_path):
    from sleepcoder.tools.store_location import linked_entry

    store = tmp_path / "store"
    (store / "worktrees" / "run-1").mkdir(parents=True)
    (store / "worktrees" / "run-1" / "docs").symlink_to("README.md")
    assert linked_entry(store) is None
    (store / "worktrees" / "run-2").symlink_to(tmp_path)
    assert linked_entry(store) == store / "worktrees" / "run-2"


def test_symlinked_store_named_with_store_option_is_followed(py_repo, tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    build(py_repo.root, "--store", str(link))
    assert (target / "map.db").exists()


# --- the last resort -------------------------------------------------------------------------


def test_unexpected_error_is_one_line_and_its_traceback_goes_to_a_crash_log(
        py_repo, tmp_path, monkeypatch, capsys):
    import sleepcoder.tools.stats as stats_module

    from sleepcoder.cli import main

    build(py_repo.root)

    def broken(store):
        raise RuntimeError("boom at stage two\nsecond line of the message")

    monkeypatch.setattr(stats_module, "map_stats", broken)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "argv", ["sleepcoder", "map", "stats", str(py_repo.root)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    line = error_line(capsys.readouterr().err)
    assert line.startswith("sleepcoder: unexpected error: RuntimeError: boom at stage two (")
    assert "second line" not in line
    logs = list((tmp_path / "cache" / "sleepcoder" / "crash").iterdir())
    assert len(logs) == 1 and f"details in {logs[0]}" in line
    text = logs[0].read_text()
    assert "Traceback" in text and "second line of the message" in text and "map stats" in text


def test_corrupt_git_index_ends_in_one_line_with_git_s_words(py_repo, tmp_path):
    (py_repo.root / ".git" / "index").write_bytes(random.Random(1).randbytes(300))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-m", "sleepcoder.cli", "map", str(py_repo.root)],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 2
    line = error_line(result.stderr)
    assert f"git cannot list the files of {py_repo.root.resolve()}" in line
    assert "index" in line and "Traceback" not in result.stderr
    assert not (tmp_path / "cache" / "sleepcoder" / "crash").exists()


def test_crash_log_falls_back_to_the_temp_dir(tmp_path, monkeypatch):
    from sleepcoder.crash import write_crash_log

    (tmp_path / "not-a-dir").write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-dir"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    path = write_crash_log(ValueError("bad"), ["sleepcoder", "map"])
    assert path is not None and path.parent == tmp_path / "tmp" / "sleepcoder-crash"
    assert "ValueError: bad" in path.read_text()


@given(message=st.text(max_size=2000))
def test_unexpected_error_description_is_one_bounded_line(message):
    from sleepcoder.crash import describe

    text = describe(KeyError(message) if len(message) % 2 else ValueError(message))
    assert "\n" not in text and "\r" not in text
    assert len(text) <= len("ValueError: ") + 200
