"""Repositories that lack objects (a partial clone whose remote is gone, a mirror whose blobs
were dropped, a shallow clone): the map and the evaluation runner work with what exists, count
what they left out, and never print a traceback or a whole `git log`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from sleepcoder.swe_features.dataset import load_dataset
from sleepcoder.swe_features.runner import RunSettings, load_done, run

from tests.conftest import Repo, git, run_cli
from tests.test_swe_features import EXAMPLE, dataset_file, script_for_runner

MESSAGE_LIMIT = 1500  # a whole stderr of a failed build stays short (git log was 500 KB)


def drop(git_dir: Path, sha: str) -> None:
    """Delete a loose object (fixtures never run gc, so every object is loose)."""
    path = git_dir / "objects" / sha[:2] / sha[2:]
    assert path.exists(), f"{sha} is not a loose object"
    path.unlink()


def stats(root: Path) -> dict:
    result = run_cli("map", "stats", str(root), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_clean(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr) < MESSAGE_LIMIT, result.stderr[:3000]


@pytest.fixture
def history(repo: Repo) -> dict[str, str]:
    """Five commits: a rename, and a sub-package that exists only in two of them."""
    big = "".join(f"VALUE_{i} = {i}\n" for i in range(60))
    shas = {"init": repo.commit("init", {"app/__init__.py": "", "app/core.py": "A = 1\n",
                                         "app/big.py": big, "README.md": "x\n"})}
    shas["add sub"] = repo.commit("add sub", {"pkg/sub/x.py": "X = 1\n",
                                              "app/core.py": "A = 2\n"})
    shas["change sub"] = repo.commit("change sub", {"pkg/sub/x.py": "X = 2\n",
                                                    "app/core.py": "A = 3\n"})
    repo.git("mv", "app/big.py", "app/large.py")
    shas["rename big"] = repo.commit("rename big", {"app/large.py": big + "MORE = 1\n"})
    shas["pair"] = repo.commit("pair", {"app/core.py": "A = 5\n",
                                        "app/large.py": big + "MORE = 2\n"})
    return shas


def test_map_of_a_repository_missing_old_and_current_blobs_succeeds_without_renames(
        repo, history):
    drop(repo.root / ".git", repo.git("rev-parse", f"{history['init']}:app/big.py"))
    drop(repo.root / ".git", repo.git("rev-parse", "HEAD:app/core.py"))  # still on disk
    result = run_cli("map", str(repo.root))
    assert result.returncode == 0, result.stderr
    assert_clean(result)
    assert "history does not follow renames" in result.stderr
    assert "unable to read" in result.stderr  # git's own words, clipped
    mapped = stats(repo.root)
    assert mapped["commits"] == 5 and mapped["unreadable_commits"] == 0
    assert mapped["files_by_language"]["python"] == 4  # core.py is read from the disk
    # the history is still there, with the renamed file under its two names
    assert any(r["subject"] == "pair" for r in mapped["recipes"])


def test_commits_whose_trees_are_missing_are_skipped_and_counted(repo, history):
    drop(repo.root / ".git", repo.git("rev-parse", f"{history['add sub']}:pkg/sub"))
    result = run_cli("map", str(repo.root))
    assert result.returncode == 0, result.stderr
    assert_clean(result)
    # the sub-package's first tree is read by both diffs that touch it
    assert "2 commits skipped" in result.stderr and "2 unreadable and skipped" in result.stdout
    assert history["add sub"][:10] in result.stderr
    built = json.loads(run_cli("map", str(repo.root), "--rebuild", "--json").stdout)
    assert built["unreadable_commits"] == 2 and built["commits"] == 5
    assert stats(repo.root)["unreadable_commits"] == 2
    repo.commit("later", {"app/core.py": "A = 6\n", "app/large.py": "Z = 1\n"})
    again = json.loads(run_cli("map", str(repo.root), "--json").stdout)
    assert again["history"] == "extended" and again["unreadable_commits"] == 0
    assert stats(repo.root)["unreadable_commits"] == 2  # the stored ones stay counted
    text = run_cli("map", "stats", str(repo.root))
    assert "unreadable commits" in text.stdout


def test_history_that_cannot_be_listed_leaves_the_map_built_and_says_why(repo, history):
    drop(repo.root / ".git", history["add sub"])  # a commit object: the walk itself stops
    result = run_cli("map", str(repo.root))
    assert result.returncode == 0, result.stderr
    assert_clean(result)
    assert "history not read" in result.stderr and "not read: see the notice" in result.stdout


def test_files_whose_content_is_missing_everywhere_are_skipped_as_unavailable(repo, history):
    repo.git("sparse-checkout", "set", "--no-cone", "/*", "!/app/large.py")
    assert not (repo.root / "app/large.py").exists()
    drop(repo.root / ".git", repo.git("rev-parse", "HEAD:app/large.py"))
    result = run_cli("map", str(repo.root))
    assert result.returncode == 0, result.stderr
    assert_clean(result)
    assert "unavailable 1" in result.stdout
    assert "1 files skipped as unavailable" in result.stderr and "app/large.py" in result.stderr
    assert stats(repo.root)["skipped"] == {"unavailable": 1}


def test_shallow_clone_maps_its_visible_history(repo, history, tmp_path):
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "2", f"file://{repo.root}", str(shallow))
    result = run_cli("map", str(shallow))
    assert result.returncode == 0, result.stderr
    assert_clean(result)
    assert stats(shallow)["commits"] == 2  # the boundary commit counts as the root


# --- evaluation snapshots ------------------------------------------------------------------

@pytest.fixture
def inventory(repo: Repo) -> tuple[Repo, list[str]]:
    """The example project with two later commits; returns the repository and the bases."""
    shutil.copytree(EXAMPLE, repo.root, dirs_exist_ok=True)
    bases = [repo.commit("Initial inventory")]
    for i in range(2):
        bases.append(repo.commit(f"feature {i}", {
            "inventory/report.py": (repo.root / "inventory/report.py").read_text() + f"#{i}\n",
            "tests/test_storage.py": (repo.root / "tests/test_storage.py").read_text()
            + f"#{i}\n"}))
    return repo, bases


def tasks_at(bases: list[str], repo_name: str = "acme/inventory") -> list[dict]:
    return [{"repo": repo_name, "pr_number": n, "base_commit": base, "created_at": f"202{n}",
             "title": "Add a low-stock report command", "body": "Items below a threshold.",
             "changed_files": [{"filename": "inventory/report.py", "status": "modified"},
                               {"filename": "inventory/cli.py", "status": "modified"}]}
            for n, base in enumerate(bases, 1)]


def mirror_without(repo: Repo, tmp_path: Path, paths_at: list[tuple[str, str]]) -> Path:
    """A bare mirror (loose objects, own copies) lacking the blobs of (commit, path) pairs."""
    mirror = tmp_path / "mirror.git"
    git(tmp_path, "clone", "-q", "--mirror", "--no-hardlinks", str(repo.root), str(mirror))
    for commit, path in paths_at:
        drop(mirror, git(mirror, "rev-parse", f"{commit}:{path}"))
    return mirror


def run_eval(data: Path, out: Path, repo_path: str, *conditions: str,
             repo_name: str = "acme/inventory") -> subprocess.CompletedProcess:
    args = ["swe-features", "run", "--dataset", str(data), "--out", str(out),
            "--repo-path", f"{repo_name}={repo_path}"]
    for condition in conditions:
        args += ["--condition", condition]
    return run_cli(*args)


def rows_of(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_mirror_missing_blobs_runs_bm25_and_the_map_without_those_files(inventory, tmp_path):
    repo, bases = inventory
    # the storage tests' first version (only at the first base) and models.py everywhere
    mirror = mirror_without(repo, tmp_path, [(bases[0], "tests/test_storage.py"),
                                             (bases[2], "inventory/models.py")])
    data, out = dataset_file(tmp_path, tasks_at(bases)), tmp_path / "out"
    result = run_eval(data, out, str(mirror), "bm25", "map-localize-no-llm")
    assert result.returncode == 0, result.stderr
    assert_clean(result)
    rows = rows_of(out)
    assert len(rows) == 6 and all(r["status"] == "localized" for r in rows), rows
    left_out = {r["instance_id"]: r["unavailable_files"] for r in rows}
    assert left_out == {"acme__inventory-1": 2, "acme__inventory-2": 1, "acme__inventory-3": 1}
    assert all(r["modified_files"] for r in rows if r["condition"] == "bm25")
    assert "without up to 2 files" in result.stderr and "logs" in result.stderr
    log = (out / "logs" / "acme+inventory.log").read_text()
    assert "tests/test_storage.py" in log and "inventory/models.py" in log
    summary = json.loads((out / "summary.json").read_text())
    assert summary["unavailable_files"] == {"acme/inventory": 2}
    assert summary["failed_repositories"] == {}
    # the snapshot shares the mirror's objects; the mirror itself is left as it was
    assert git(mirror, "config", "core.bare") == "true" and not (mirror / "worktrees").exists()


def test_map_condition_solves_in_a_snapshot_of_a_mirror_missing_a_blob(inventory, tmp_path,
                                                                      scripted):
    repo, bases = inventory
    mirror = mirror_without(repo, tmp_path, [(bases[2], "inventory/models.py")])
    script_for_runner(scripted)
    out = tmp_path / "out"
    settings = RunSettings(("map", "map-localize"), (0,), "scripted/test", None,
                           {"acme/inventory": str(mirror)}, "", str(out))
    run(load_dataset(dataset_file(tmp_path, tasks_at(bases[2:]))), settings)
    rows = {r["condition"]: r for r in load_done(out).values()}
    assert rows["map"]["status"] != "error", rows["map"]["error"]
    assert rows["map"]["modified_files"] == ["inventory/cli.py"]
    assert rows["map-localize"]["status"] != "error", rows["map-localize"]["error"]
    assert rows["map"]["unavailable_files"] == 1


@pytest.fixture
def partial_clone(inventory, tmp_path) -> tuple[Path, Path, list[str]]:
    """A partial clone of the inventory (blobs over 400 bytes only on demand) at its last
    commit, its remote, and the base commits."""
    repo, bases = inventory
    source = tmp_path / "source"
    git(tmp_path, "clone", "-q", "--bare", "--no-local", str(repo.root), str(source))
    git(source, "config", "uploadpack.allowFilter", "true")
    partial = tmp_path / "partial"
    git(tmp_path, "clone", "-q", "--filter=blob:limit=400", "--no-checkout",
        f"file://{source}", str(partial))
    git(partial, "checkout", "-q", bases[2])  # fetches the current blobs only
    assert git(partial, "config", "remote.origin.promisor") == "true"
    return partial, source, bases


def test_partial_clone_whose_remote_is_gone(partial_clone, tmp_path):
    partial, source, bases = partial_clone
    shutil.rmtree(source)
    mapped = run_cli("map", str(partial))
    assert mapped.returncode == 0, mapped.stderr
    assert_clean(mapped)
    assert "partial clone: history does not follow renames" in mapped.stderr
    data, out = dataset_file(tmp_path, tasks_at(bases)), tmp_path / "out"
    result = run_eval(data, out, str(partial), "bm25", "map-localize-no-llm")
    assert result.returncode == 0, result.stderr
    assert_clean(result)
    rows = rows_of(out)
    assert all(r["status"] == "localized" for r in rows), [r["error"] for r in rows]
    # the older versions of the two files the later commits changed are not in the clone
    left_out = {r["instance_id"]: r["unavailable_files"] for r in rows}
    assert left_out == {"acme__inventory-1": 2, "acme__inventory-2": 2, "acme__inventory-3": 0}


def test_partial_clone_fetches_what_a_snapshot_lacks_from_its_remote(partial_clone, tmp_path):
    partial, _source, bases = partial_clone
    data, out = dataset_file(tmp_path, tasks_at(bases)), tmp_path / "out"
    result = run_eval(data, out, str(partial), "bm25")
    assert result.returncode == 0, result.stderr
    assert {r["unavailable_files"] for r in rows_of(out)} == {0}
    assert "without up to" not in result.stderr
    missing = git(partial, "rev-list", "--objects", "--missing=print", "--all")
    assert "?" not in missing  # fetched into the clone, as git would have on checkout


# --- failures: bounded rows, a log with the full text, the exit code -------------------------

def test_failed_cells_keep_a_short_reason_and_the_full_text_in_the_log(inventory, tmp_path,
                                                                      monkeypatch):
    import sleepcoder.swe_features.runner as runner

    repo, bases = inventory
    noise = "fatal: unable to read " + "0123456789abcdef" * 50_000  # 800 KB

    def broken(root, text, top=5):
        raise RuntimeError(noise)

    monkeypatch.setattr(runner, "bm25_files", broken)
    out = tmp_path / "out"
    run(load_dataset(dataset_file(tmp_path, tasks_at(bases[:1]))),
        RunSettings(("bm25",), (0,), None, None, {"acme/inventory": str(repo.root)}, "",
                    str(out)))
    row = rows_of(out)[0]
    assert row["status"] == "error" and len(row["error"]) < 400
    assert row["error"].startswith("RuntimeError: fatal: unable to read 0123")
    assert "logs/acme+inventory.log" in row["error"] and "traceback" not in row
    log = (out / "logs" / "acme+inventory.log").read_text()
    assert noise in log and "Traceback" in log


def test_run_fails_when_every_task_of_a_repository_failed(inventory, tmp_path):
    repo, bases = inventory
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo.root}", str(shallow))
    records = tasks_at(bases[:2], "acme/shallow") + tasks_at(bases[2:])
    for number, record in enumerate(records, 1):
        record["pr_number"] = number
    data, out = dataset_file(tmp_path, records), tmp_path / "out"
    result = run_cli("swe-features", "run", "--dataset", str(data), "--out", str(out),
                     "--condition", "bm25", "--repo-path", f"acme/shallow={shallow}",
                     "--repo-path", f"acme/inventory={repo.root}")
    assert result.returncode == 1
    assert_clean(result)
    assert "every task of acme/shallow failed" in result.stderr
    assert "acme/inventory" not in result.stderr.split("failed entirely:")[1]
    rows = {r["instance_id"]: r for r in rows_of(out)}
    assert rows["acme__inventory-3"]["status"] == "localized"
    assert all(len(r["error"]) < 400 for r in rows.values())
    assert "preparing the snapshot" in rows["acme__shallow-1"]["error"]
