"""Files without a parser in the `symbols` format: the model writes only the new lines, then
picks a place among the file's sections, blocks or lines; the tool inserts them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sleepcoder.agent.solve.syntax import EditRejected
from sleepcoder.agent.solve.text_edit import (
    MAX_PLACES,
    Place,
    data_error,
    insert,
    new_lines_from,
    places,
)

MD = "# Title\n\nIntro text.\n\n## Usage\n\nRun it.\n\n## Options\n\n- a\n- b\n"
RST = ("Signals\n=======\n\nIntro.\n\nCore signals\n------------\n\n.. data:: got\n\n"
       "   Sent.\n\n=====\nOther\n=====\n\nMore.\n")
HTML = "<div>\n  <p>one</p>\n  <p>two</p>\n</div>\n"


def test_markdown_places_are_the_ends_of_its_sections():
    found = places(MD, "README.md")
    assert [(p.after, p.label) for p in found] == [
        (3, 'end of the section "Title"'), (7, 'end of the section "Usage"'),
        (12, 'end of the section "Options", at the end of the file')]


def test_rst_titles_with_and_without_overlines_are_sections():
    found = places(RST, "docs/signals.rst")
    labels = [p.label for p in found]
    assert labels == ['end of the section "Signals"', 'end of the section "Core signals"',
                      'end of the section "Other", at the end of the file']
    lines = RST.splitlines()
    # the section before an overlined title ends before the overline
    assert lines[found[1].after - 1] == "   Sent."


def test_a_file_of_few_blocks_offers_its_lines_with_their_indentation():
    found = places(HTML, "t.html")
    assert [p.label for p in found][:2] == ['after "<div>"', 'after "<p>one</p>"']
    assert found[1].indent == "  " and not found[1].blank
    new = insert(HTML, found[1], "<p>new</p>")
    assert new == "<div>\n  <p>one</p>\n  <p>new</p>\n  <p>two</p>\n</div>\n"


def test_many_places_keep_those_the_request_talks_about():
    text = "".join(f"## Part {n}\n\nText.\n\n" for n in range(100)) + "## Signals\n\nx\n"
    found = places(text, "a.md", "document the signals")
    assert len(found) == MAX_PLACES
    assert any("Signals" in p.label for p in found)
    assert found[-1].label.endswith("at the end of the file")


def test_insert_at_a_section_sets_the_lines_off_with_blank_lines():
    found = places(MD, "README.md")
    new = insert(MD, found[1], "Use --json for JSON.")
    assert "Run it.\n\nUse --json for JSON.\n\n## Options" in new


def test_new_lines_are_refused_when_missing_empty_or_copied():
    with pytest.raises(EditRejected, match="no code block"):
        new_lines_from("just prose", MD)
    with pytest.raises(EditRejected, match="NONE"):
        new_lines_from("NONE", MD)
    with pytest.raises(EditRejected, match="already in the file"):
        new_lines_from("```\n## Usage\n\nRun it.\n```", MD)
    assert new_lines_from("```\n## Usage\nNew text.\nMore new.\n```", MD)


def test_data_files_that_an_insertion_breaks_are_caught():
    assert data_error("pyproject.toml", "[a]\nb = 1\n") == ""
    assert data_error("pyproject.toml", "[a]\nb = = 1\n")
    assert data_error("x.json", "{\"a\": 1,}")
    assert data_error("notes.txt", "anything {") == ""


lines_st = st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")),
                            max_size=20), max_size=30)


@given(lines_st, st.data())
def test_insert_keeps_every_old_line_in_order_and_adds_the_new_ones(lines, data):
    content = "\n".join(lines) + ("\n" if lines else "")
    options = places(content, data.draw(st.sampled_from(["a.md", "a.rst", "a.html"])))
    assert options and options[-1].label.endswith("at the end of the file")
    assert all(0 <= p.after <= len(content.splitlines()) for p in options)
    place = data.draw(st.sampled_from(options))
    new = insert(content, place, "NEW LINE 1\nNEW LINE 2")
    old_lines = [line.rstrip() for line in content.splitlines()]
    got = new.splitlines()
    assert "NEW LINE 1" in " ".join(got) and "NEW LINE 2" in " ".join(got)
    rest = [line for line in got if line.strip() not in ("NEW LINE 1", "NEW LINE 2")]
    it = iter(rest)
    assert all(any(line.rstrip() == old.rstrip() for line in it) for old in old_lines
               if old.strip())


def test_place_after_never_beyond_the_file():
    assert places("", "a.md") == [Place(0, "at the end of the file", True)]
