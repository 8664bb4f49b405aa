"""The `sleepcoder map` commands as a user runs them: output, exit codes, bad input."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from sleepcoder.tools.lock import map_lock
from sleepcoder.tools.store import SCHEMA_VERSION

from tests.conftest import run_cli, write


def test_map_builds_and_reports_summary(py_repo):
    result = run_cli("map", str(py_repo.root))
    assert result.returncode == 0, result.stderr
    assert "python 5" in result.stdout
    assert "6 parsed, 0 reused" in result.stdout
    again = run_cli("map", str(py_repo.root))
    assert "0 parsed, 6 reused unchanged" in again.stdout


def test_map_json_output_is_machine_readable(py_repo):
    result = run_cli("map", str(py_repo.root), "--json")
    report = json.loads(result.stdout)
    assert report["mapped"] == 6 and report["files_by_language"]["python"] == 5


def test_missing_path_is_a_clear_error(tmp_path):
    result = run_cli("map", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert "path does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_file_instead_of_directory_is_rejected(tmp_path):
    target = tmp_path / "f.py"
    target.write_text("x = 1\n")
    result = run_cli("map", str(target))
    assert result.returncode == 2 and "not a directory" in result.stderr


def test_plain_directory_prints_notice(tmp_path):
    write(tmp_path, {"a.py": "def a():\n    pass\n"})
    result = run_cli("map", str(tmp_path))
    assert result.returncode == 0
    assert "not a git repository" in result.stderr


def test_show_without_map_says_to_build_first(py_repo):
    result = run_cli("map", "show", str(py_repo.root))
    assert result.returncode == 3 and "run `sleepcoder map` first" in result.stderr


def test_show_fits_budget_and_focus_changes_order(py_repo):
    run_cli("map", str(py_repo.root))
    small = run_cli("map", "show", str(py_repo.root), "--budget", "60", "--json")
    data = json.loads(small.stdout)
    assert data["tokens"] <= 60 and 0 < len(data["files"]) < 6
    focused = json.loads(run_cli("map", "show", str(py_repo.root), "--budget", "2000",
                                 "--focus", "test core run", "--json").stdout)
    assert focused["files"][0]["path"] in ("tests/test_core.py", "app/core.py")
    text = run_cli("map", "show", str(py_repo.root), "--budget", "2000").stdout
    assert "def helper(item)" in text and "class Item" in text


def test_show_rejects_non_positive_budget(py_repo):
    run_cli("map", str(py_repo.root))
    result = run_cli("map", "show", str(py_repo.root), "--budget", "0")
    assert result.returncode == 2 and "--budget" in result.stderr


def test_stats_reports_counts(py_repo):
    run_cli("map", str(py_repo.root))
    stats = json.loads(run_cli("map", "stats", str(py_repo.root), "--json").stdout)
    assert stats["files_by_language"] == {"python": 5, "other": 1}
    assert stats["commits"] == 1 and stats["definitions"] >= 6


def test_corrupted_database_gives_clear_error_and_rebuild_recovers(py_repo):
    run_cli("map", str(py_repo.root))
    db = py_repo.root / ".sleepcoder" / "map.db"
    for suffix in ("-wal", "-shm"):
        (py_repo.root / ".sleepcoder" / f"map.db{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    result = run_cli("map", str(py_repo.root))
    assert result.returncode == 3
    assert "corrupted" in result.stderr and "--rebuild" in result.stderr
    assert run_cli("map", "show", str(py_repo.root)).returncode == 3
    fixed = run_cli("map", str(py_repo.root), "--rebuild")
    assert fixed.returncode == 0 and "6 parsed" in fixed.stdout


def test_newer_schema_is_refused_with_upgrade_hint(py_repo):
    run_cli("map", str(py_repo.root))
    db = sqlite3.connect(py_repo.root / ".sleepcoder" / "map.db")
    db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()
    result = run_cli("map", str(py_repo.root))
    assert result.returncode == 3 and "newer" in result.stderr and "upgrade" in result.stderr
    assert run_cli("map", str(py_repo.root), "--rebuild").returncode == 0


def test_second_run_reports_busy_when_lock_is_held(py_repo):
    store_dir = py_repo.root / ".sleepcoder"
    with map_lock(store_dir, timeout=0):
        result = run_cli("map", str(py_repo.root), "--wait", "0.5")
    assert result.returncode == 4
    assert "busy" in result.stderr


def test_busy_map_names_the_process_that_holds_it(tmp_path):
    import os

    import pytest
    from sleepcoder.tools.lock import MapBusy

    store_dir = tmp_path / ".sleepcoder"
    waits: list[str] = []
    with map_lock(store_dir, timeout=0):
        with pytest.raises(MapBusy) as busy, map_lock(store_dir, timeout=0):
            pass
        with pytest.raises(MapBusy), map_lock(store_dir, timeout=0.3, on_wait=waits.append):
            pass
    assert f"is busy: process {os.getpid()} is updating it" in str(busy.value)
    assert waits == [f"the map is being updated by process {os.getpid()}; waiting for it"]
    with map_lock(store_dir, timeout=0):  # released: free again at once
        pass


def test_second_run_waits_for_the_first_and_then_succeeds(py_repo):
    store_dir = py_repo.root / ".sleepcoder"
    command = [sys.executable, "-m", "sleepcoder.cli", "map", str(py_repo.root), "--wait", "60"]
    seen = []
    with map_lock(store_dir, timeout=0):
        # hold the lock until the second run says it is waiting (however slowly it starts)
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if "waiting" in line:
                break
    out, err = proc.communicate(timeout=300)
    assert any("waiting" in line for line in seen), "".join(seen) + err
    assert proc.returncode == 0, err
    assert "files" in out


def test_two_concurrent_runs_leave_a_consistent_map(py_repo):
    write(py_repo.root, {f"extra/m{i}.py": f"def f{i}():\n    return {i}\n" for i in range(80)})
    py_repo.commit("more files")
    command = [sys.executable, "-m", "sleepcoder.cli", "map", str(py_repo.root), "--json"]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    reports = [json.loads(out) for out, _err in outputs]
    assert sorted(r["parsed"] for r in reports) == [0, 86]
    stats = json.loads(run_cli("map", "stats", str(py_repo.root), "--json").stdout)
    assert stats["files_by_language"]["python"] == 85
    db = sqlite3.connect(py_repo.root / ".sleepcoder" / "map.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def test_store_option_puts_the_map_elsewhere(py_repo, tmp_path):
    elsewhere = tmp_path / "maps" / "demo"
    assert run_cli("map", str(py_repo.root), "--store", str(elsewhere)).returncode == 0
    assert (elsewhere / "map.db").exists()
    assert not (py_repo.root / ".sleepcoder").exists()
    shown = run_cli("map", "show", str(py_repo.root), "--store", str(elsewhere))
    assert shown.returncode == 0 and "app/" in shown.stdout


def test_bad_config_file_is_reported(py_repo):
    (py_repo.root / ".sleepcoder.toml").write_text("[map]\nmax_file_bytes = 'big'\n")
    result = run_cli("map", str(py_repo.root))
    assert result.returncode == 2
    assert "max_file_bytes must be int" in result.stderr


def test_forked_workers_end_quietly_when_their_pool_terminates_them(tmp_path):
    """`main` turns SIGTERM into a clean stop; forked workers (the map's parse pool) inherit
    the handler, and a pool ends its workers with SIGTERM: that must not print a traceback per
    worker, as it did on a first `sleepcoder map`."""
    script = tmp_path / "pool.py"
    script.write_text(
        "import multiprocessing as mp, os, signal, time\n"
        "import sleepcoder.cli as cli\n"
        "cli._MAIN_PID = os.getpid()\n"
        "signal.signal(signal.SIGTERM, cli._terminated)\n"
        "def work(x):\n    time.sleep(0.5)\n    return x\n"
        "if __name__ == '__main__':\n"
        "    pool = mp.get_context('fork').Pool(2)\n"
        "    pool.map_async(work, range(4))\n"
        "    time.sleep(0.3)\n"
        "    pool.terminate(); pool.join()\n"
        "    print('done')\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "done"
    assert "Traceback" not in out.stderr and "KeyboardInterrupt" not in out.stderr


def test_map_stats_and_runs_take_the_repository_as_repo_too(py_repo, tmp_path):
    built = run_cli("map", "--repo", str(py_repo.root), "--json")
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["mapped"] == 6
    stats = run_cli("map", "stats", "--repo", str(py_repo.root), "--json")
    assert stats.returncode == 0
    assert json.loads(stats.stdout)["root"] == str(py_repo.root.resolve())
    runs = run_cli("runs", "--repo", str(py_repo.root), "--json")
    assert runs.returncode == 0 and json.loads(runs.stdout) == []
    same = run_cli("map", str(py_repo.root), "--repo", str(py_repo.root), "--json")
    assert same.returncode == 0


def test_two_different_repositories_for_one_command_are_refused(py_repo, tmp_path):
    result = run_cli("map", "stats", str(tmp_path), "--repo", str(py_repo.root))
    assert result.returncode == 2
    assert "give the repository once" in result.stderr and "Traceback" not in result.stderr


def test_one_repository_spelled_relative_and_absolute_is_accepted(py_repo):
    relative = run_cli("map", py_repo.root.name, "--repo", str(py_repo.root), "--json",
                       cwd=py_repo.root.parent)
    assert relative.returncode == 0, relative.stderr
    assert json.loads(relative.stdout)["root"] == str(py_repo.root.resolve())


def test_a_map_whose_first_build_never_finished_is_not_shown_as_an_empty_repository(py_repo):
    from sleepcoder.tools.store import MapStore

    store, _ = MapStore.open(py_repo.root / ".sleepcoder", create=True)  # as a first build
    store.close()  # interrupted before its files were committed leaves it
    for command in (("map", "stats"), ("map", "show")):
        result = run_cli(*command, str(py_repo.root))
        assert result.returncode == 3, result.stdout
        assert "no finished build" in result.stderr and "run `sleepcoder map`" in result.stderr
    assert run_cli("map", str(py_repo.root)).returncode == 0
    assert run_cli("map", "stats", str(py_repo.root)).returncode == 0
