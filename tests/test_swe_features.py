"""SWE-Features: dataset loading, the scorer (cases computed by hand), the builder on a
generated history, the runner end to end with the scripted model, resume, Dask, reports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sleepcoder.swe_features.builder import BuildFilters, build
from sleepcoder.swe_features.dataset import DatasetError, load_dataset
from sleepcoder.swe_features.runner import RunSettings, load_done, run
from sleepcoder.swe_features.scorer import Prediction, load_predictions, score, score_task

from tests.conftest import run_cli

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "inventory"


def record(**fields) -> dict:
    base = {"repo": "acme/shop", "pr_number": 7, "title": "Add coupons", "body": "Coupons.",
            "base_commit": "abc123", "changed_files": [
                {"filename": "a.py", "status": "modified"},
                {"filename": "b.py", "status": "modified"},
                {"filename": "docs/coupons.md", "status": "modified"},
                {"filename": "new.py", "status": "added"}]}
    return {**base, **fields}


def dataset_file(tmp_path: Path, records: list, jsonl: bool = True) -> Path:
    path = tmp_path / ("data.jsonl" if jsonl else "data.json")
    path.write_text("".join(json.dumps(r) + "\n" for r in records) if jsonl
                    else json.dumps(records))
    return path


# --- loader ------------------------------------------------------------------------------------

def test_loader_reads_paper_jsonl_json_lists_and_swe_bench_records(tmp_path):
    patch = ("diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n"
             "diff --git a/y.py b/y.py\nnew file mode 100644\n--- /dev/null\n+++ b/y.py\n"
             "@@ -0,0 +1 @@\n+c\n")
    swe = {"instance_id": "acme__shop-9", "repo": "acme/shop", "base_commit": "def456",
           "problem_statement": "Add tags\nTags on items.", "patch": patch, "extra": 1}
    instances = load_dataset(dataset_file(tmp_path, [record(), swe]))
    assert instances[0].instance_id == "acme__shop-7"  # the default id
    assert instances[0].gold_modified == ["a.py", "b.py", "docs/coupons.md"]
    assert (instances[1].title, instances[1].body) == ("Add tags", "Tags on items.")
    assert [(f.filename, f.status) for f in instances[1].changed_files] == [
        ("x.py", "modified"), ("y.py", "added")]
    assert instances[1].extra == {"extra": 1}
    assert len(load_dataset(dataset_file(tmp_path, [record()], jsonl=False))) == 1


@pytest.mark.parametrize(("bad", "message"), [
    ({"repo": "noslash"}, "line 2: field 'repo' must be 'owner/name'"),
    ({"base_commit": None}, "line 2: missing field 'base_commit'"),
    ({"changed_files": [{"filename": "a.py", "status": "changed"}]},
     "line 2: changed_files[0]: field 'status' must be one of"),
    ({"pr_number": "7"}, "line 2: field 'pr_number' must be an integer"),
    ({"title": ""}, "line 2: field 'title' is empty"),
])
def test_malformed_records_name_the_line_and_field(tmp_path, bad, message):
    path = dataset_file(tmp_path, [record(pr_number=1), record(**bad)])
    with pytest.raises(DatasetError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_dataset(path)


def test_invalid_json_line_is_reported(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(record()) + "\n{not json\n")
    with pytest.raises(DatasetError, match="line 2: not valid JSON"):
        load_dataset(path)


# --- scorer ------------------------------------------------------------------------------------

def instance():
    return load_dataset_single(record())


def load_dataset_single(data):
    from sleepcoder.swe_features.dataset import parse_record

    return parse_record("test", data)


def test_scorer_cases_computed_by_hand():
    gold = instance()  # a.py, b.py, docs/coupons.md modified; new.py added (not scored)
    empty = score_task(gold, Prediction("acme__shop-7", []))
    assert (empty.precision, empty.recall, empty.f1) == (0.0, 0.0, 0.0)
    exact = score_task(gold, Prediction("x", ["a.py", "b.py", "docs/coupons.md"]))
    assert exact.f1 == 1.0
    extra = score_task(gold, Prediction("x", ["a.py", "b.py", "c.py", "d.py"]))
    assert (extra.precision, extra.recall) == (0.5, 2 / 3)
    assert extra.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    added = score_task(gold, Prediction("x", ["a.py", "new.py"]))  # added files are not gold
    assert (added.precision, added.recall) == (0.5, 1 / 3)
    assert added.code_f1 == pytest.approx(2 * 0.5 * 0.5 / 1.0)  # .py/.js: gold a.py, b.py


def test_renamed_files_are_not_scored_as_modified():
    gold = load_dataset_single(record(changed_files=[
        {"filename": "new_name.py", "status": "renamed"},
        {"filename": "a.py", "status": "modified"}]))
    result = score_task(gold, Prediction("x", ["a.py", "new_name.py"]))
    assert (result.precision, result.recall) == (0.5, 1.0)


def test_predictions_from_patches_count_modified_files_only(tmp_path):
    patch = ("diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x\n+y\n"
             "diff --git a/n.py b/n.py\nnew file mode 100644\n--- /dev/null\n+++ b/n.py\n"
             "@@ -0,0 +1 @@\n+z\n")
    path = tmp_path / "preds.jsonl"
    path.write_text(json.dumps({"instance_id": "acme__shop-7", "model_name_or_path": "m",
                                "model_patch": patch}) + "\n")
    predictions = load_predictions(path)
    assert predictions["acme__shop-7"].modified_files == ["a.py"]
    result = score([instance()], predictions)
    assert result["mean"]["precision"] == 1.0 and result["counts"]["missing_predictions"] == 0


def test_line_overlap_uses_gold_patches():
    gold_patch = "@@ -2,2 +2,2 @@\n x\n-old\n+new\n"
    gold = load_dataset_single(record(changed_files=[
        {"filename": "a.py", "status": "modified", "patch": gold_patch}]))
    same = ("diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -2,2 +2,2 @@\n x\n-old\n"
            "+newer\n")
    assert score_task(gold, Prediction("x", ["a.py"], same)).line_f1 == 1.0
    other = same.replace("@@ -2,2 +2,2 @@", "@@ -8,2 +8,2 @@")
    assert score_task(gold, Prediction("x", ["a.py"], other)).line_f1 == 0.0


def test_cli_score_prints_per_task_and_mean(tmp_path):
    data = dataset_file(tmp_path, [record()])
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"instance_id": "acme__shop-7",
                                 "modified_files": ["a.py", "zzz.py"]}) + "\n")
    result = run_cli("swe-features", "score", "--dataset", str(data), "--predictions",
                     str(preds), "--json")
    assert result.returncode == 0, result.stderr
    mean = json.loads(result.stdout)["mean"]
    assert mean["precision"] == 0.5 and mean["recall"] == pytest.approx(1 / 3)
    bad = run_cli("swe-features", "score", "--dataset", str(tmp_path / "nope.jsonl"),
                  "--predictions", str(preds))
    assert bad.returncode == 2 and "cannot read" in bad.stderr


# --- builder -----------------------------------------------------------------------------------

@pytest.fixture
def history(repo):
    repo.commit("init", {f"pkg/m{i}.py": f"X{i} = 0\n" for i in range(5)})
    repo.git("checkout", "-q", "-b", "feature")
    repo.commit("add caching", {"pkg/m0.py": "X0 = 1\n", "pkg/m1.py": "X1 = 1\n",
                                "pkg/m2.py": "X2 = 1\n", "pkg/new.py": "N = 1\n"})
    repo.git("checkout", "-q", "main")
    repo.commit("unrelated", {"README.md": "hi\n"})
    repo.git("merge", "-q", "--no-ff", "feature", "-m",
             "Merge pull request #12 from someone/feature\n\nAdd caching support\n\nDetails.")
    merge_base = repo.git("merge-base", "HEAD^1", "HEAD^2")
    repo.commit("Add retries to the client (#13)\n\nBody line.\n\nCo-authored-by: X <x@y>",
                {"pkg/m0.py": "X0 = 2\n", "pkg/m3.py": "X3 = 2\n", "pkg/m4.py": "X4 = 2\n"})
    squash_base = repo.git("rev-parse", "HEAD^")
    repo.commit("Fix crash in parser (#14)", {f"pkg/m{i}.py": "Y = 3\n" for i in range(3)})
    repo.commit("Add a tiny thing (#15)", {"pkg/m0.py": "Z = 4\n"})
    return repo, merge_base, squash_base


def test_builder_mines_merge_and_squash_prs_with_filters(history):
    repo, merge_base, squash_base = history
    found = {i.pr_number: i for i in build(repo.root, "acme/shop")}
    assert set(found) == {12, 13}  # 14 is a fix, 15 touches one file
    merged = found[12]
    assert merged.base_commit == merge_base
    assert merged.title == "Add caching support" and merged.body == "Details."
    assert merged.gold_modified == ["pkg/m0.py", "pkg/m1.py", "pkg/m2.py"]
    assert [f.filename for f in merged.changed_files if f.status == "added"] == ["pkg/new.py"]
    assert "-X0 = 0" in merged.gold_patches()["pkg/m0.py"]
    squash = found[13]
    assert squash.base_commit == squash_base
    assert (squash.title, squash.body) == ("Add retries to the client", "Body line.")
    loose = build(repo.root, "acme/shop", BuildFilters(title_filter=False))
    assert 14 in {i.pr_number for i in loose}


def test_cli_build_writes_a_loadable_dataset(history, tmp_path):
    repo, _m, _s = history
    out = tmp_path / "built.jsonl"
    result = run_cli("swe-features", "build", "--repo", str(repo.root), "--out", str(out),
                     "--name", "acme/shop")
    assert result.returncode == 0, result.stderr
    assert {i.instance_id for i in load_dataset(out)} == {"acme__shop-12", "acme__shop-13"}


def test_builder_feature_titles_code_suffixes_and_spread(history):
    repo, _m, _s = history
    repo.commit("Upgrade the parser (#16)", {f"pkg/m{i}.py": "W = 5\n" for i in range(3)})
    repo.commit("Add a web client (#17)", {f"web/c{i}.ts": "export const c = 1;\n"
                                          for i in range(3)})
    repo.commit("Add typed web options (#18)", {f"web/c{i}.ts": "export const c = 2;\n"
                                               for i in range(3)})
    plain = {i.pr_number for i in build(repo.root, "acme/shop", BuildFilters())}
    assert plain == {12, 13, 16}  # .ts files do not count by default
    features = {i.pr_number for i in build(repo.root, "acme/shop", BuildFilters(
        feature_titles=True, code_suffixes=(".py", ".ts")))}
    assert features == {12, 13, 18}  # no upgrade; #17 created its files, #18 modifies them
    sampled = build(repo.root, "acme/shop", BuildFilters(code_suffixes=(".py", ".ts"),
                                                         spread=2))
    assert [i.pr_number for i in sampled] == [16, 12]  # of 18, 16, 13, 12: one per half


def test_builder_skips_a_pull_request_git_cannot_read_and_names_it(history):
    from tests.test_missing_objects import drop

    repo, _m, _s = history
    blob = repo.git("rev-parse", "HEAD~2:pkg/m3.py")  # written by #13 only
    drop(repo.root / ".git", blob)
    unreadable: list[str] = []
    found = {i.pr_number for i in build(repo.root, "acme/shop", unreadable=unreadable)}
    assert found == {12}
    assert len(unreadable) == 1 and unreadable[0].startswith("#13: ")
    result = run_cli("swe-features", "build", "--repo", str(repo.root), "--name", "acme/shop",
                     "--code-suffix", "py")
    assert result.returncode == 0, result.stderr
    assert "1 PRs skipped, git cannot read their changes" in result.stderr
    bad = run_cli("swe-features", "build", "--repo", str(repo.root), "--code-suffix", "a/b")
    assert bad.returncode == 2 and "give a file ending" in bad.stderr


# --- runner ------------------------------------------------------------------------------------

@pytest.fixture
def eval_setup(tmp_path, repo):
    """A repository with the example project and a dataset of two tasks on it."""
    shutil.copytree(EXAMPLE, repo.root, dirs_exist_ok=True)
    base = repo.commit("Initial inventory")
    for i in range(5):
        repo.commit(f"feature {i}", {
            "inventory/report.py": (repo.root / "inventory/report.py").read_text() + f"#{i}\n",
            "inventory/cli.py": (repo.root / "inventory/cli.py").read_text() + f"#{i}\n"})
    base2 = repo.git("rev-parse", "HEAD")
    tasks = [
        {"repo": "acme/inventory", "pr_number": 1, "base_commit": base, "title":
         "Add a low-stock report command", "body": "List items below a threshold.",
         "created_at": "2020-01-01", "changed_files": [
             {"filename": "inventory/report.py", "status": "modified"},
             {"filename": "inventory/cli.py", "status": "modified"},
             {"filename": "tests/test_report.py", "status": "modified"}]},
        {"repo": "acme/inventory", "pr_number": 2, "base_commit": base2, "title":
         "Add a CSV export of the stock", "body": "", "created_at": "2021-01-01",
         "changed_files": [
             {"filename": "inventory/storage.py", "status": "modified"},
             {"filename": "inventory/cli.py", "status": "modified"},
             {"filename": "tests/test_storage.py", "status": "modified"}]},
    ]
    return repo, dataset_file(tmp_path, tasks), tmp_path / "out"


def script_for_runner(script):
    script.on(node="summarize_files", reply=script.per_file("Handles the {path} module."))
    script.on(node="summarize_dirs", reply="Holds the inventory code.")
    script.on(node="anticipate", reply="REQUEST: x\nFILES: inventory/cli.py\nWHY: y\n")
    script.on(node="localize", reply="inventory/report.py: YES\ninventory/storage.py: YES")
    script.on(node="explore", reply="FILES: inventory/cli.py")
    script.on(node="plan", reply="EDIT inventory/cli.py: add the command\n")
    script.on(node="edit", reply=(
        "inventory/cli.py\n<<<<<<< SEARCH\n    commands.add_parser(\"list\", help=\"show the "
        "stock table\")\n=======\n    commands.add_parser(\"list\", help=\"show the stock "
        "table\")\n    commands.add_parser(\"extra\", help=\"new\")\n>>>>>>> REPLACE\n"))


def settings_for(repo, out, conditions, budgets=(0,)) -> RunSettings:
    return RunSettings(tuple(conditions), tuple(budgets), "scripted/test", None,
                       {"acme/inventory": str(repo.root)}, "", str(out))


def test_runner_runs_every_condition_end_to_end(eval_setup, scripted):
    repo, data, out = eval_setup
    script_for_runner(scripted)
    instances = load_dataset(data)
    conditions = ["map", "no-map", "map-localize", "map-localize-no-llm", "bm25"]
    summary = run(instances, settings_for(repo, out, conditions, (0, 50_000)))
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * (2 + 2 + 1 + 1 + 1)
    assert all(r["status"] != "error" for r in rows), [r["error"] for r in rows]
    by = {(r["instance_id"], r["condition"], r["budget"]): r for r in rows}
    solved = by[("acme__inventory-1", "map", 0)]
    assert solved["modified_files"] == ["inventory/cli.py"] and "+    commands" in \
        solved["model_patch"]
    assert solved["f1"] == pytest.approx(0.5)  # 1 of 3 gold files, precision 1
    assert solved["test_tokens"] > 0 and solved["sleep_tokens"] > 0
    # the run's own localization, its plan and what landed are kept beside the scores
    assert "inventory/cli.py" in solved["localized_files"] and solved["run_id"]
    assert solved["planned_files"] == ["inventory/cli.py"]
    assert solved["landed_files"] == ["inventory/cli.py"] and solved["landing_rate"] == 1.0
    assert by[("acme__inventory-1", "bm25", 0)]["modified_files"]
    assert by[("acme__inventory-2", "map-localize-no-llm", 0)]["test_tokens"] == 0
    predictions = sorted(p.name for p in (out / "predictions").iterdir())
    assert predictions == ["bm25.jsonl", "map-0.jsonl", "map-50000.jsonl",
                           "map-localize-no-llm.jsonl", "map-localize.jsonl",
                           "no-map-0.jsonl", "no-map-50000.jsonl"]
    first = json.loads((out / "predictions" / "map-0.jsonl").read_text().splitlines()[0])
    assert set(first) >= {"instance_id", "model_name_or_path", "model_patch", "modified_files"}
    cells = {(c["condition"], c["budget"]): c for c in summary["cells"]}
    assert cells[("map", 0)]["tasks"] == 2 and cells[("map", 0)]["sleep_tokens_per_task"] > 0
    assert cells[("map", 0)]["landing_rate"] is not None and "localization_f1" in \
        cells[("map", 0)] and "landing_rate" not in cells[("bm25", 0)]
    assert json.loads((out / "summary.json").read_text())["missing_cells"] == 0
    # the snapshot never showed the map a commit after the task's base
    assert repo.git("status", "--porcelain") == ""


def test_runner_resumes_and_skips_finished_cells(eval_setup, scripted):
    repo, data, out = eval_setup
    script_for_runner(scripted)
    instances = load_dataset(data)
    run(instances[:1], settings_for(repo, out, ["map-localize-no-llm", "bm25"]))
    assert len(load_done(out)) == 2
    seen = []
    run(instances, settings_for(repo, out, ["map-localize-no-llm", "bm25"]),
        on_cell=seen.append)
    assert {r["instance_id"] for r in seen} == {"acme__inventory-2"}
    assert len(load_done(out)) == 4


def test_one_failing_task_is_recorded_and_does_not_stop_the_run(eval_setup, tmp_path):
    repo, data, out = eval_setup
    records = [json.loads(line) for line in data.read_text().splitlines()]
    records[0]["base_commit"] = "0" * 40  # not in the repository
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in records))
    run(load_dataset(bad), settings_for(repo, out, ["bm25"]))
    rows = {r["instance_id"]: r for r in load_done(out).values()}
    assert rows["acme__inventory-1"]["status"] == "error"
    assert "preparing the snapshot" in rows["acme__inventory-1"]["error"]
    assert rows["acme__inventory-2"]["status"] == "localized"


def test_runner_on_a_dask_local_cluster(eval_setup):
    pytest.importorskip("distributed")
    from dask.distributed import Client, LocalCluster

    repo, data, out = eval_setup
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        summary = run(load_dataset(data), settings_for(repo, out, ["bm25"]),
                      scheduler=client)
    assert summary["cells"][0]["tasks"] == 2 and summary["missing_cells"] == 0


def test_report_writes_table_and_plot(eval_setup):
    repo, data, out = eval_setup
    run(load_dataset(data), settings_for(repo, out, ["bm25", "map-localize-no-llm"]))
    result = run_cli("swe-features", "report", str(out))
    assert result.returncode == 0, result.stderr
    table = (out / "report.md").read_text()
    assert "| bm25 |" in table and "| map-localize-no-llm |" in table
    assert (out / "f1_vs_tokens.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](f1_vs_tokens.png)" in table
    missing = run_cli("swe-features", "report", str(out / "nothing"))
    assert missing.returncode == 2 and "no summary.json" in missing.stderr
    named = run_cli("swe-features", "report", "--out", str(out))  # as `run --out` names it
    assert named.returncode == 0, named.stderr
    both = run_cli("swe-features", "report", str(out), "--out", str(out / "other"))
    assert both.returncode == 2 and "name the evaluation folder once" in both.stderr
    neither = run_cli("swe-features", "report")
    assert neither.returncode == 2 and "name the evaluation folder" in neither.stderr


def test_report_without_matplotlib_links_no_plot_and_says_why(tmp_path, monkeypatch):
    import sys

    from typer.testing import CliRunner

    from sleepcoder.swe_cli import app

    cell = {"condition": "bm25", "budget": 0, "tasks": 2, "f1": 0.5, "precision": 0.5,
            "recall": 0.5, "code_f1": None, "test_tokens": 0, "sleep_tokens_per_task": 0,
            "cost": None, "failures": 0}
    (tmp_path / "summary.json").write_text(json.dumps({"model": "", "cells": [cell]}))
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "plot not written: matplotlib missing (pip install 'sleepcoder[eval]')" in \
        result.output
    table = (tmp_path / "report.md").read_text()
    assert "| bm25 |" in table and "f1_vs_tokens.png" not in table
    assert not (tmp_path / "f1_vs_tokens.png").exists()


def test_report_accepts_one_folder_given_as_out_and_as_argument_in_two_spellings(
        tmp_path, monkeypatch):
    import sys

    from typer.testing import CliRunner

    from sleepcoder.swe_cli import app

    cell = {"condition": "bm25", "budget": 0, "tasks": 2, "f1": 0.5, "precision": 0.5,
            "recall": 0.5, "code_f1": None, "test_tokens": 0, "sleep_tokens_per_task": 0,
            "cost": None, "failures": 0}
    (tmp_path / "summary.json").write_text(json.dumps({"model": "", "cells": [cell]}))
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # no plot: the table is enough here
    monkeypatch.chdir(tmp_path.parent)
    result = CliRunner().invoke(app, ["report", str(tmp_path), "--out", tmp_path.name])
    assert result.exit_code == 0, result.output
    assert "| bm25 |" in (tmp_path / "report.md").read_text()


def test_cli_run_rejects_unknown_conditions(eval_setup):
    _repo, data, out = eval_setup
    result = run_cli("swe-features", "run", "--dataset", str(data), "--out", str(out),
                     "--condition", "magic")
    assert result.returncode == 2 and "unknown condition" in result.stderr


def test_report_of_a_summary_with_no_finished_task_says_so_and_writes_nothing(tmp_path):
    from typer.testing import CliRunner

    from sleepcoder.swe_cli import app

    (tmp_path / "summary.json").write_text(json.dumps({"model": "", "cells": [],
                                                       "missing_cells": 2}))
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code != 0
    assert "holds no finished task yet" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "report.md").exists()
    assert not (tmp_path / "f1_vs_tokens.png").exists()
