"""The scale run's generated trees: distinct copies share no content and each has the 1x
tree's size and vocabulary, exact copies share every blob, the feature commits are made."""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from pathlib import Path

from benchmarks.bench_scale import VERBS, WORDS, copy_sources, generate_tree

SEED = 7


def blobs_by_copy(repo: Path) -> dict[str, set[str]]:
    listing = subprocess.run(["git", "ls-tree", "-r", "HEAD"], cwd=repo, check=True,
                             capture_output=True, text=True).stdout
    blobs: dict[str, set[str]] = defaultdict(set)
    for line in listing.splitlines():
        meta, path = line.split("\t", 1)
        blobs[path.split("/", 1)[0]].add(meta.split()[2])
    return blobs


def test_distinct_copies_share_no_blob(tmp_path):
    generate_tree(tmp_path / "tree", 20, 3, distinct=True, commits=2)
    blobs = blobs_by_copy(tmp_path / "tree")
    assert sorted(blobs) == ["copy0", "copy1", "copy2"]
    for one in blobs:
        for other in blobs:
            if one < other:
                assert not blobs[one] & blobs[other], (one, other)


def test_exact_copies_share_every_blob_but_the_feature_commits(tmp_path):
    # the comparison above means something only if copies without `distinct` do share
    generate_tree(tmp_path / "tree", 20, 3, commits=2)
    blobs = blobs_by_copy(tmp_path / "tree")
    shared = blobs["copy0"] & blobs["copy1"] & blobs["copy2"]
    assert len(shared) >= 20 - 2 * 3  # each commit appends to three files


def test_generated_tree_has_its_feature_commits(tmp_path):
    info = generate_tree(tmp_path / "tree", 20, 2, distinct=True, commits=4)
    count = subprocess.run(["git", "rev-list", "--count", "HEAD"], cwd=tmp_path / "tree",
                           check=True, capture_output=True, text=True).stdout
    assert int(count) == 1 + 4
    assert info["files"] == 40


def test_distinct_copy_zero_is_the_1x_tree():
    assert copy_sources(50, SEED) == copy_sources(50, SEED + 0)
    assert copy_sources(50, SEED)[1] != copy_sources(50, SEED + 1)[1]


def test_each_distinct_copy_has_about_the_lines_of_the_1x_tree():
    one = sum(text.count("\n") for text in copy_sources(1000, SEED)[1].values())
    for copy in range(1, 10):
        lines = sum(text.count("\n") for text in copy_sources(1000, SEED + copy)[1].values())
        assert abs(lines / one - 1) < 0.03, (copy, lines, one)


def test_distinct_copies_name_things_with_the_1x_vocabulary():
    """No copy adds words of its own (a per-copy tag such as `ledger_v3` would), so its
    search documents have the 1x tree's word structure."""
    vocabulary = set(WORDS) | set(VERBS)
    for copy in range(10):
        texts = copy_sources(100, SEED + copy)[1].values()
        identifiers = {name for text in texts for name in re.findall(r"\b[a-z0-9_]+\b", text)
                       if "_" in name}
        assert identifiers
        parts = {part for name in identifiers for part in name.split("_")}
        assert parts <= vocabulary, (copy, sorted(parts - vocabulary)[:5])
