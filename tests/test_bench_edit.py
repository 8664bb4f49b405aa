"""The edit benchmark: cutting tasks from a reference change, scoring edited files, and the
harness with the scripted model. A tiny repository stands in for the mirrors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks import bench_edit
from benchmarks.edit_protocols import PROTOCOLS, splice_reference, target_text
from benchmarks.edit_score import overlap, score_edit
from benchmarks.edit_tasks import (
    BenchInputError,
    check_outside_work_tree,
    collect,
    main,
    read_tasks,
    sample_tasks,
)
from benchmarks.edit_units import code_tokens, same_code, split_lines
from tests.conftest import Repo

BASE = '''"""Core."""
import os


def helper(x):
    return x + 1


def greet(name):
    # say hello
    return "Hello " + name


@decorate
def decorated(a):
    return a


def outer():
    def inner():
        return 1
    return inner


class Greeter:
    """Greets."""

    def __init__(self, name):
        self.name = name

    def hello(self):
        return greet(self.name)
'''

HEAD = '''"""Core."""
import os


def helper(x):
    return   x + 1


def greet(name, punctuation="!"):
    # say hello
    return "Hello " + name + punctuation


@decorate
def decorated(a):
    return a * 2


def outer():
    def inner():
        return 2
    return inner


class Greeter:
    """Greets."""

    def __init__(self, name):
        self.name = name  # kept

    def hello(self):
        return greet(self.name)

    def shout(self):
        return greet(self.name).upper()
'''

GREET_EDITED = BASE.replace('''def greet(name):
    # say hello
    return "Hello " + name''', '''def greet(name, punctuation="!"):
    # say hello
    return "Hello " + name + punctuation''')


def make_mirror(tmp_path: Path, base: dict[str, str], head: dict[str, str]) -> tuple[Path, Path]:
    """A mirrors directory holding demo/app, whose PR #7 (a squash commit) turns `base` into
    `head`, and a one-record dataset in the development set's format."""
    root = tmp_path / "mirrors" / "demo+app" / "repo"
    root.mkdir(parents=True)
    repo = Repo(root)
    base_commit = repo.commit("Start", base)
    repo.commit("Greet loudly (#7)", head)
    record = {"instance_id": "app-7", "repo": "demo/app", "pr_number": 7,
              "title": "Greet loudly", "body": "Add shouting.", "base_commit": base_commit,
              "created_at": "2024-01-01T00:00:00+00:00",
              "changed_files": [{"filename": path, "status": "modified"} for path in head],
              "gold_modified": sorted(head)}
    dataset = tmp_path / "dev.jsonl"
    dataset.write_text(json.dumps(record) + "\n")
    return dataset, tmp_path / "mirrors"


@pytest.fixture
def mirrors(tmp_path: Path) -> tuple[Path, Path]:
    return make_mirror(
        tmp_path, {"app/core.py": BASE, "tests/test_core.py": "def test_a():\n    assert True\n"},
        {"app/core.py": HEAD, "tests/test_core.py": "def test_a():\n    assert 1\n"})


def by_qname(tasks):
    return {t.qname: t for t in tasks}


def test_cut_finds_the_definitions_the_reference_changed_or_added(mirrors):
    tasks = by_qname(collect(*mirrors).tasks)
    # helper (whitespace) and Greeter.__init__ (a comment) changed no code: no task
    assert {q: t.kind for q, t in tasks.items()} == {
        "greet": "change", "decorated": "change", "outer": "change", "Greeter.shout": "add"}
    greet = tasks["greet"]
    assert greet.request == "Greet loudly\n\nAdd shouting."
    assert greet.base_text.startswith("def greet(name):") and greet.base_span == (9, 11)
    assert "punctuation" in greet.reference_text and greet.imports == "import os\n"
    assert set(greet.other_changed) == {"decorated", "outer", "Greeter.shout"}


def test_cut_definition_text_includes_its_decorators(mirrors):
    decorated = by_qname(collect(*mirrors).tasks)["decorated"]
    assert decorated.base_text == "@decorate\ndef decorated(a):\n    return a\n"
    assert decorated.base_span == (14, 16)
    assert decorated.reference_text.startswith("@decorate\n")


def test_added_method_records_its_anchor_and_class_header(mirrors):
    shout = by_qname(collect(*mirrors).tasks)["Greeter.shout"]
    assert shout.def_kind == "method" and shout.base_text == "" and shout.base_span is None
    assert (shout.anchor.kind, shout.anchor.qname, shout.anchor.line) == \
        ("after", "Greeter.hello", 32)
    assert shout.class_header == "class Greeter:\n"
    assert target_text(shout) == ("add a new method `shout` to class `Greeter`, after "
                                  "`Greeter.hello`")


def test_added_definitions_without_an_earlier_sibling_are_anchored_otherwise(tmp_path):
    base = {"app/first.py": "import os\n\n\ndef old():\n    pass\n\n\nclass K:\n"
                            "    x = 1\n\n    def m(self):\n        pass\n",
            "app/empty.py": '"""Nothing yet."""\nimport os\n'}
    head = {"app/first.py": "import os\n\n\ndef new():\n    pass\n\n\ndef old():\n"
                            "    pass\n\n\nclass K:\n    x = 1\n\n    def start(self):\n"
                            "        pass\n\n    def m(self):\n        pass\n",
            "app/empty.py": '"""Nothing yet."""\nimport os\n\n\ndef made():\n    return 1\n'}
    tasks = by_qname(collect(*make_mirror(tmp_path, base, head)).tasks)
    anchors = {q: (t.anchor.kind, t.anchor.qname, t.anchor.line) for q, t in tasks.items()}
    assert anchors == {"new": ("before", "old", 3), "K.start": ("class", "K", 10),
                       "made": ("module_end", "", 2)}
    for task in tasks.values():  # the reference spliced in at its anchor scores the ceiling
        score = score_edit(task, splice_reference(task))
        assert score.touches_only_target and score.reference_overlap == 1.0


def test_cut_skips_nested_tests_and_long_definitions_and_says_why(mirrors):
    cut = collect(*mirrors)
    assert cut.skipped[("demo/app", "nested definition")] == 1  # outer.inner
    assert cut.skipped[("demo/app", "in a test file")] == 1  # test_a
    short = collect(*mirrors, max_def_lines=3)
    assert {t.qname for t in short.tasks} == {"greet", "decorated", "Greeter.shout"}
    assert short.skipped[("demo/app", "longer than 3 lines")] == 1  # outer
    with_tests = collect(*mirrors, include_tests=True)
    assert "test_a" in {t.qname for t in with_tests.tasks}


def test_sample_alternates_kinds_and_is_reproducible(mirrors):
    tasks = collect(*mirrors).tasks
    first = sample_tasks(tasks, per_repo=2, seed=3)
    assert sorted(t.kind for t in first) == ["add", "change"]
    assert [t.task_id for t in sample_tasks(tasks, per_repo=2, seed=3)] == \
        [t.task_id for t in first]
    assert len(sample_tasks(tasks, per_repo=10)) == 4


def test_sample_takes_one_task_of_each_repository_in_turn(mirrors):
    from dataclasses import replace

    tasks = collect(*mirrors).tasks
    both = tasks + [replace(t, repo="zz/other", task_id="other:" + t.task_id) for t in tasks]
    repos = [t.repo for t in sample_tasks(both, per_repo=3, seed=1)]
    assert repos[:4] == [repos[0], "zz/other", repos[0], "zz/other"] and repos[0] != "zz/other"


def test_cli_writes_tasks_outside_the_work_tree_and_refuses_inside(mirrors, tmp_path, capsys):
    dataset, mirrors_dir = mirrors
    out = tmp_path / "derived" / "tasks.jsonl"
    assert main(["--dataset", str(dataset), "--mirrors", str(mirrors_dir), "--out", str(out),
                 "--per-repo", "3"]) == 0
    assert len(read_tasks(out)) == 3
    assert "| demo/app |" in capsys.readouterr().out
    inside = mirrors_dir / "demo+app" / "repo" / "tasks.jsonl"
    assert main(["--dataset", str(dataset), "--mirrors", str(mirrors_dir),
                 "--out", str(inside)]) == 2
    assert "inside the git work tree" in capsys.readouterr().err
    assert not inside.exists()


def test_cli_names_a_missing_mirror(mirrors, tmp_path, capsys):
    dataset, _ = mirrors
    assert main(["--dataset", str(dataset), "--mirrors", str(tmp_path / "none"),
                 "--out", str(tmp_path / "t.jsonl")]) == 2
    assert "demo/app: no git mirror under" in capsys.readouterr().err


def test_output_check_refuses_any_path_in_a_work_tree(repo):
    with pytest.raises(BenchInputError, match="inside the git work tree"):
        check_outside_work_tree(repo.root / "deep" / "er" / "x.jsonl")


# --- scoring ---------------------------------------------------------------------------------

@pytest.fixture
def greet_task(mirrors):
    return by_qname(collect(*mirrors).tasks)["greet"]


def test_score_of_no_edit_is_all_false(greet_task):
    score = score_edit(greet_task, None)
    assert not (score.applied or score.parses or score.changes_code or score.touches_target)
    assert score.reference_overlap == 0.0


def test_score_of_a_comment_only_edit_changes_no_code(greet_task):
    score = score_edit(greet_task, BASE.replace("# say hello", "# greet someone\n    # here"))
    assert score.applied and score.parses
    assert not score.changes_code and not score.touches_target
    assert score_edit(greet_task, BASE).changes_code is False  # an unchanged file


def test_score_of_the_reference_edit_touches_only_the_target(greet_task):
    score = score_edit(greet_task, GREET_EDITED)
    assert score.applied and score.parses and score.changes_code
    assert score.touches_target and score.touches_only_target and score.others == []
    assert score.reference_overlap == 1.0 and not score.module_changed


def test_score_names_other_definitions_the_edit_changed(greet_task):
    edited = GREET_EDITED.replace("return x + 1", "return x + 2").replace(
        "import os\n", "import os\nimport sys\n")
    score = score_edit(greet_task, edited)
    assert score.touches_target and not score.touches_only_target
    assert score.others == ["helper"] and score.module_changed
    assert 0.0 < score.reference_overlap < 1.0


def test_score_flags_new_syntax_errors(greet_task):
    score = score_edit(greet_task, GREET_EDITED.replace('punctuation="!"):', 'punctuation="!"'))
    assert score.applied and not score.parses


def test_score_of_an_add_needs_the_new_definition(mirrors):
    shout = by_qname(collect(*mirrors).tasks)["Greeter.shout"]
    added = BASE + "\n    def shout(self):\n        return self.name.upper()\n"
    score = score_edit(shout, added)
    assert score.touches_target and score.touches_only_target
    elsewhere = BASE + "\n\ndef shout():\n    return 1\n"  # a function, not the method
    assert not score_edit(shout, elsewhere).touches_target
    assert score_edit(shout, elsewhere).others == ["+shout"]


def test_deleting_the_target_is_not_touching_it(greet_task):
    gone = BASE.replace('def greet(name):\n    # say hello\n    return "Hello " + name\n', "")
    score = score_edit(greet_task, gone)
    assert score.changes_code and not score.touches_target and score.others == ["-greet"]


# --- properties of the guards ------------------------------------------------------------------

_statement = st.tuples(st.sampled_from(["a", "b", "value"]), st.integers(0, 999))


@given(st.lists(_statement, min_size=1, max_size=8), st.lists(st.booleans(), max_size=8),
       st.integers(0, 3))
def test_comments_blank_lines_and_trailing_spaces_are_not_code(statements, noise, spaces):
    plain = "".join(f"{name} = {number}\n" for name, number in statements)
    noisy = ""
    for index, (name, number) in enumerate(statements):
        if index < len(noise) and noise[index]:
            noisy += "# a comment\n\n"
        noisy += f"{name} = {number}{' ' * spaces}  # why\n"
    assert same_code(plain, noisy)
    assert code_tokens(plain) == code_tokens(noisy)
    changed = plain.replace(f"= {statements[0][1]}\n", f"= {statements[0][1] + 1}\n", 1)
    assert not same_code(plain, changed)


@given(st.text(max_size=200), st.text(max_size=200))
def test_code_comparison_never_raises_and_is_reflexive(a, b):
    assert same_code(a, a)
    assert same_code(a, b) == same_code(b, a)


@given(st.lists(st.text(max_size=30), max_size=5), st.lists(st.text(max_size=30), max_size=5))
def test_overlap_is_a_symmetric_similarity(model, reference):
    value = overlap(model, reference)
    assert 0.0 <= value <= 1.0 and value == overlap(reference, model)
    assert overlap(model, model) == 1.0


# --- the harness -------------------------------------------------------------------------------

GREET_BLOCK = '''app/core.py
<<<<<<< SEARCH
def greet(name):
    # say hello
    return "Hello " + name
=======
def greet(name, punctuation="!"):
    # say hello
    return "Hello " + name + punctuation
>>>>>>> REPLACE
'''


def test_harness_runs_file_blocks_with_the_scripted_model_and_resumes(
        mirrors, tmp_path, scripted, capsys):
    tasks_path = tmp_path / "derived" / "tasks.jsonl"
    assert main(["--dataset", str(mirrors[0]), "--mirrors", str(mirrors[1]),
                 "--out", str(tasks_path)]) == 0
    greet = [t for t in read_tasks(tasks_path) if t.qname == "greet"]
    tasks_path.write_text(json.dumps(greet[0].to_dict()) + "\n")
    scripted.on(node="edit", contains="change the function `greet`", reply=GREET_BLOCK)
    out = tmp_path / "results"
    args = ["--tasks", str(tasks_path), "--out", str(out), "--model", "scripted/test",
            "--protocol", "file-blocks"]
    assert bench_edit.main([*args, "--report"]) == 0
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(records) == 1
    record = records[0]
    assert record["applied"] and record["touches_only_target"] and not record["crashed"]
    assert record["reference_overlap"] == 1.0 and record["tokens"] > 0
    assert record["info"]["answers"] == [GREET_BLOCK]
    assert "| file-blocks | scripted/test | 1 | 1.00 | 1.00 | 1.00 | 1.00 | 1.00 |" in \
        capsys.readouterr().out
    assert bench_edit.main(args) == 0  # resumed: the cell is done, the model is not asked
    assert len(scripted.calls) == 1
    assert len((out / "results.jsonl").read_text().splitlines()) == 1


def test_harness_records_a_failed_edit_and_a_crashing_protocol(
        greet_task, tmp_path, scripted, monkeypatch):
    scripted.on(node="edit", reply="I cannot do that.")

    def crashing(llm, task):
        raise RuntimeError("protocol bug")

    monkeypatch.setitem(PROTOCOLS, "crashing", crashing)
    out = tmp_path / "results"
    bench_edit.run([greet_task], ["file-blocks", "crashing"], ["scripted/test"], out,
                   say=lambda line: None)
    results = {r["protocol"]: r for r in bench_edit.load_results(out)}
    failed = results["file-blocks"]
    # today's method: the answer, two repairs, the last one a whole-file rewrite (small file)
    assert not failed["applied"] and "no code block with the new content" in failed["error"]
    assert failed["calls"] == 3 and failed["info"]["answers"] == ["I cannot do that."] * 3
    crashed = results["crashing"]
    assert crashed["crashed"] and crashed["error"] == "RuntimeError: protocol bug"
    assert "| file-blocks | scripted/test | 1 | 0.00 |" in bench_edit.report(
        bench_edit.load_results(out))
    rerun = bench_edit.run([greet_task], ["crashing"], ["scripted/test"], out,
                           retry_errors=True, say=lambda line: None)
    assert rerun == 1


def test_harness_refuses_unknown_protocols_and_results_inside_a_work_tree(
        repo, tmp_path, capsys):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("")
    assert bench_edit.main(["--tasks", str(tasks), "--out", str(tmp_path / "o"),
                            "--protocol", "nope"]) == 2
    assert "unknown protocol nope" in capsys.readouterr().err
    assert bench_edit.main(["--out", str(repo.root / "results"), "--report"]) == 2
    assert "inside the git work tree" in capsys.readouterr().err
    assert bench_edit.main(["--out", str(tmp_path / "empty"), "--report"]) == 2
    assert "no results in" in capsys.readouterr().err


def test_reference_protocol_scores_the_ceiling_without_a_model(mirrors, tmp_path):
    tasks = collect(*mirrors).tasks
    out = tmp_path / "results"
    bench_edit.run(tasks, ["reference"], ["local/not-installed"], out, say=lambda line: None)
    results = bench_edit.load_results(out)
    assert len(results) == 4 and all(r["calls"] == 0 for r in results)
    assert all(r["parses"] and r["touches_only_target"] and r["reference_overlap"] == 1.0
               for r in results)


@given(st.lists(st.sampled_from(["a", "b\r", "\x0c", "", "c\u2028d", " "]), max_size=8))
def test_split_lines_follows_newlines_only(parts):
    text = "\n".join(parts)
    lines = split_lines(text)
    assert "".join(lines) == text
    assert len(lines) == text.count("\n") + (0 if text.endswith("\n") or not text else 1)
