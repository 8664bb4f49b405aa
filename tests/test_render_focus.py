"""`map show --focus` ranks files with the localizer's model and shows the definitions that
are about the focus first, each under its class."""

from __future__ import annotations

from sleepcoder.tools.localize import localize
from sleepcoder.tools.render import render_map
from sleepcoder.tools.repomap import build_map
from sleepcoder.tools.store import MapStore

from tests.conftest import run_cli
from tests.test_calibrate import grow

WIDGETS = '''"""Widgets."""


def render_table(rows):
    """Render rows as a table."""
    return rows


def render_panel(text):
    return text


class Tree:
    """A tree of labels with guide lines."""

    def add(self, label):
        """Add a child label."""
        return label

    def render_guides(self, style):
        """Draw the tree's guide lines in a style."""
        return style

    def count(self):
        return 0
'''


def test_focused_map_ranks_files_as_the_localizer_does(repo):
    grow(repo, 8)
    build_map(repo.root)
    request = "Add a billing export option"
    store, _ = MapStore.open(repo.root / ".sleepcoder", create=False)
    try:
        ranking = localize(store, repo.root, request, limit=100)
        shown = render_map(store, budget=100_000, focus=request)
    finally:
        store.close()
    assert [f.path for f in shown.files] == [c.path for c in ranking.candidates]
    assert "shop/billing.py" in [f.path for f in shown.files[:3]]
    assert [f.score for f in shown.files] == sorted((f.score for f in shown.files),
                                                    reverse=True)


def test_the_localizers_scores_passed_in_give_the_same_map(repo):
    # the solve's plan reuses its localization's scores instead of ranking again
    grow(repo, 8)
    build_map(repo.root)
    request = "Add a billing export option"
    store, _ = MapStore.open(repo.root / ".sleepcoder", create=False)
    try:
        ranking = localize(store, repo.root, request, limit=3)
        assert len(ranking.scores) > len(ranking.candidates)  # every file, not the first 3
        again = render_map(store, budget=600, focus=request, scores=ranking.scores)
        ranked_again = render_map(store, budget=600, focus=request)
    finally:
        store.close()
    assert again.text == ranked_again.text
    assert again.files and again.files[0].path == ranking.candidates[0].path


def test_definitions_about_the_focus_come_first_under_their_class(repo):
    repo.commit("Initial widgets", {"ui/widgets.py": WIDGETS, "ui/__init__.py": ""})
    build_map(repo.root)
    store, _ = MapStore.open(repo.root / ".sleepcoder", create=False)
    try:
        focused = render_map(store, budget=100_000, focus="tree guide lines style")
        plain = render_map(store, budget=100_000)
    finally:
        store.close()
    names = [d.qname for d in next(f for f in focused.files
                                   if f.path == "ui/widgets.py").definitions]
    assert names[:3] == ["Tree", "Tree.render_guides", "Tree.add"]
    assert set(names) >= {"render_table", "render_panel"}
    in_order = [d.qname for d in next(f for f in plain.files
                                      if f.path == "ui/widgets.py").definitions]
    assert in_order[0] == "render_table"  # without a focus: the file's order


def test_cli_map_show_with_a_focus_prints_the_localizers_first_file(repo):
    grow(repo, 8)
    build_map(repo.root)
    result = run_cli("map", "show", str(repo.root), "--focus", "Add a shipping export option")
    assert result.returncode == 0, result.stderr
    files = [line.split()[0] for line in result.stdout.splitlines()
             if line.startswith("shop/")]
    assert "shop/shipping.py" in files[:3]


def test_the_map_for_a_model_names_the_repository_not_its_path(repo):
    repo.commit("Initial widgets", {"ui/widgets.py": WIDGETS, "ui/__init__.py": ""})
    build_map(repo.root)
    store, _ = MapStore.open(repo.root / ".sleepcoder", create=False)
    try:
        for_model = render_map(store, focus="tree guides", root_name_only=True).text
        for_user = render_map(store, focus="tree guides").text
    finally:
        store.close()
    assert str(repo.root) in for_user
    assert str(repo.root) not in for_model
    assert f"# Repository map of {repo.root.name} @" in for_model
