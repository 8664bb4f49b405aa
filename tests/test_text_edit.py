"""Files without a parser in the `symbols` format: the model writes only the new lines, then
picks a place among the file's sections, blocks or lines; the tool inserts them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sleepcoder.agent.solve.run import start_solve
from sleepcoder.agent.solve.syntax import EditRejected
from sleepcoder.agent.solve.text_edit import (
    MAX_PLACES,
    Place,
    data_error,
    insert,
    new_lines_from,
    places,
)

from tests.test_solve import REQUEST, inventory  # noqa: F401
from tests.test_symbol_edit import options

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


def test_a_yaml_file_that_an_insertion_breaks_is_caught_safely():
    workflow = "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
    assert data_error(".github/workflows/ci.yml", workflow) == ""
    assert data_error("ci.yml", workflow + "   steps: [\n")  # unclosed, and misindented
    assert data_error("a.yaml", "a: 1\n---\nb: [\n")  # the second document is checked too
    # a tag that would build a Python object is an error for the safe loader, never run
    assert data_error("x.yaml", "!!python/object/apply:os.system ['echo hi']\n")


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


def test_an_rst_title_right_under_another_keeps_the_first_title_whole():
    """A title directly under another's underline is not taken for an overlined title: the
    new lines never go between a title and its underline."""
    for text in ("Title\n=====\nSub\n---\n\nText.\n", "Title\n=====\nTop\n=====\n\nText.\n"):
        for place in places(text, "a.rst"):
            assert "Title\n=====\n" in insert(text, place, "NEW")


def test_markdown_places_are_never_inside_a_fenced_code_block():
    mixed = "# A\n\n~~~\n```python\n# comment\n```\n~~~\n\ntext\n\n## B\n\nx\n"
    assert [p.label for p in places(mixed, "a.md")] == [
        'end of the section "A"', 'end of the section "B", at the end of the file']
    plain = "Intro\n\n```python\ndef f():\n\n    return 1\n\nprint(f())\n```\n\nEnd.\n"
    assert [p.after for p in places(plain, "a.md")] == [1, 9, 11]  # 9: the closing fence


def test_a_block_before_an_indented_block_gives_the_new_lines_its_indentation():
    """Unindented lines between the blocks of an reST directive would end the directive."""
    text = "Intro.\n\n.. note::\n\n   first\n\n   second\n\nEnd.\n"
    first = next(p for p in places(text, "a.rst") if "first" in p.label)
    assert insert(text, first, "NEW") == (
        "Intro.\n\n.. note::\n\n   first\n\n   NEW\n\n   second\n\nEnd.\n")


def test_crlf_files_keep_their_line_endings():
    text = "# A\r\n\r\ntext\r\n\r\n## B\r\n\r\nx\r\n"
    found = places(text, "a.md")
    assert [p.after for p in found] == [3, 7]
    new = insert(text, found[0], "NEW")
    assert new == "# A\r\n\r\ntext\r\n\r\nNEW\r\n\r\n## B\r\n\r\nx\r\n"


def test_only_newlines_end_lines():
    """A form feed or a Unicode line separator inside a line is not a place to insert at."""
    text = "a\x0cb\nc\u2028d\ne\n"
    found = places(text, "a.txt")
    assert [p.after for p in found] == [1, 2, 3]
    assert insert(text, found[0], "NEW") == "a\x0cb\nNEW\nc\u2028d\ne\n"


def test_a_file_without_a_final_newline_keeps_its_last_line_when_lines_go_before_it():
    assert insert("a\nb\nc", places("a\nb\nc", "a.txt")[0], "NEW") == "a\nNEW\nb\nc"


def test_a_deeply_nested_data_file_is_an_error_not_a_crash():
    assert data_error("x.json", "[" * 100000 + "]" * 100000)


any_lines = st.lists(st.text(alphabet=st.sampled_from(["a", " ", "#", "=", "`", "~", "\r",
                                                      "\x0c", "\u2028", "\t", "é", "."]),
                             max_size=8), max_size=25)


@given(any_lines, st.booleans(), st.booleans(), st.data())
def test_insert_keeps_every_old_line_byte_for_byte(lines, crlf, final, data):
    ending = "\r\n" if crlf else "\n"
    content = ending.join(lines) + (ending if final and lines else "")
    options = places(content, data.draw(st.sampled_from(["a.md", "a.rst", "a.html"])))
    place = data.draw(st.sampled_from(options))
    new = insert(content, place, "NEW LINE")
    got = new.split("\n")
    assert sum(line.strip() == "NEW LINE" for line in got) == 1
    old = content.split("\n")
    it = iter(got)
    # every old line in order, unchanged (the last one may have gained its newline)
    assert all(any(line == want for line in it) for want in old[:-1])
    assert old[-1] in got or old[-1] + "\r" in got


def _solve_readme(repo, scripted, content: bytes, path: str = "README.md",
                  place: str = "1"):
    repo.commit("docs", {path: content})
    scripted.on(node="localize", reply=f"{path}: YES")
    scripted.on(node="plan", reply=f"EDIT {path}: document the low-stock command\n")
    scripted.on(node="edit", contains="write only the new lines",
                reply="```\nThe low-stock command lists items below a quantity.\n```")
    scripted.on(node="edit", contains="After which numbered place", reply=place)
    result = start_solve(repo.root, REQUEST, options())
    return result, {e["path"]: e for e in result.record["edits"]}[path]


def test_a_crlf_file_gets_crlf_lines_and_its_old_lines_untouched(inventory,  # noqa: F811
                                                                   scripted):
    result, edit = _solve_readme(inventory, scripted,
                                 b"# inventory\r\n\r\nStock.\r\n\r\n## Commands\r\n\r\nadd.\r\n")
    assert edit["status"] == "done", edit
    assert result.patch, result.record["events"]
    # two new lines (and the +++ line), none removed but for the --- line
    assert result.patch.count("\n+") == 3 and result.patch.count("\n-") == 1
    assert "+The low-stock command lists items below a quantity.\r\n" in result.patch


def test_a_file_that_is_not_utf8_is_left_as_it_was(inventory, scripted):  # noqa: F811
    result, edit = _solve_readme(inventory, scripted,
                                 "# inventory\n\nCafé stock.\n".encode("latin-1"))
    assert edit["status"] == "failed"
    assert "README.md is not UTF-8 text" in edit["error"]
    assert "README.md" not in result.patch


def test_an_already_invalid_json_file_may_still_get_new_lines(inventory,  # noqa: F811
                                                                scripted):
    """A JSON file with comments (tsconfig.json, VS Code settings) is not valid JSON before
    the edit either: the check refuses only what the insertion broke."""
    result, edit = _solve_readme(inventory, scripted,
                                 b'{\n  // colour\n  "a": 1\n}\n', path="settings.json")
    assert edit["status"] == "done", edit


def test_a_place_answer_in_other_digits_is_not_a_crash(inventory, scripted):  # noqa: F811
    result, edit = _solve_readme(inventory, scripted, b"# inventory\n\nStock.\n\n## B\n\nx\n",
                                 place="\u00b2")
    assert edit["status"] == "done", edit


def test_a_line_of_inline_code_is_not_a_fence():
    text = "# A\n\n```x``` runs it.\n\n## B\n\ntext\n"
    assert [p.label for p in places(text, "a.md")] == [
        'end of the section "A"', 'end of the section "B", at the end of the file']


def test_new_lines_are_not_refused_for_short_closing_lines_the_file_has():
    """A template's new element repeats `<li>` and `</li>`: those lines say nothing of a
    copy."""
    template = "<ul>\n  <li>\n    {{ a }}\n  </li>\n</ul>\n"
    assert new_lines_from("```\n<li>\n  {{ item.low_stock }}\n</li>\n```", template)
    with pytest.raises(EditRejected, match="already in the file"):
        new_lines_from("```\n<li>\n  {{ a }}\n</li>\n```", template)


def test_a_file_with_sections_is_shown_as_their_titles_only():
    """flask-687 at 0fa2542: shown docs/signals.rst whole, the 1.5B copied it back instead
    of writing new lines, on all four reST files of the dev subset."""
    from sleepcoder.agent.solve.text_edit import outline

    shown = outline(RST, "docs/signals.rst")
    assert "(reStructuredText)" in shown
    assert 'sections: "Signals"; "Core signals"; "Other".' in shown
    assert "Intro." not in shown and "Sent." not in shown
    html = outline(HTML, "t.html")
    assert html == f"Current content of t.html (an HTML template):\n{HTML}"


def test_new_lines_after_a_copied_head_are_kept():
    from sleepcoder.agent.solve.text_edit import new_lines_from

    answer = "```\n# Title\n\nIntro text.\n\nThe new --json flag prints JSON.\n```"
    assert new_lines_from(answer, MD).strip() == "The new --json flag prints JSON."


def test_the_incomplete_last_line_of_a_cut_off_answer_is_never_inserted():
    """datasette-192 at 2574b04: a copy of the template, cut off by the length limit, left
    `<select name="_filter` after its copied lines, and that was inserted."""
    template = "<h1>{{ title }}</h1>\n\n<form>\n    <select name=\"_filter\">\n</form>\n"
    copied = "```\n<h1>{{ title }}</h1>\n<form>\n    <select name=\"_filter"
    with pytest.raises(EditRejected, match="no complete new line before the length limit"):
        new_lines_from(copied, template, truncated=True)
    assert new_lines_from("```\n<p>{{ shape }}</p>\n<p>{{ sha", template,
                          truncated=True) == "<p>{{ shape }}</p>\n"


def test_an_elision_mark_is_not_a_new_line():
    with pytest.raises(EditRejected, match="already in the file"):
        new_lines_from("```\n<h1>{{ title }}</h1>\n<form>\n...\n```",
                       "<h1>{{ title }}</h1>\n<form>\n</form>\n")


def test_new_lines_that_loop_keep_what_was_written_once():
    """flask-307 at 2574b04: `.. automodule:: flask.views` with `:members: route`, over and
    over until the length limit, was inserted whole."""
    answer = ("```\nView Decorators\n===============\n\n"
              + ".. automodule:: flask.views\n    :members: route\n\n"
              + ".. automodule:: flask.app\n    :members: route\n\n"
              + ".. automodule:: flask.views\n    :members: route\n\n" * 8 + ".. au")
    text = new_lines_from(answer, "Intro\n=====\n\ntext\n", truncated=True)
    assert text.count("automodule") == 2 and text.endswith(":members: route\n")
    # lines that come again without looping (a list's closing tags) are kept
    listing = "```\n<ul>\n  <li>objects</li>\n</ul>\n<ul>\n  <li>object</li>\n</ul>\n```"
    assert new_lines_from(listing, "<p>x</p>\n").count("<ul>") == 2


def test_a_copied_title_does_not_leave_its_underline_behind():
    """flask-687 at 2574b04: the answer began with the file's title and an underline one
    character longer; the title was dropped as copied and a lone `========` was inserted."""
    rst = "Signals\n=======\n\nIntro.\n"
    text = new_lines_from("```\nSignals\n========\n\nFlashed messages send a signal.\n```",
                          rst)
    assert text.strip() == "Flashed messages send a signal."
    # a new title keeps its own underline
    fresh = new_lines_from("```\nFlashing\n========\n\nA signal.\n```", rst)
    assert fresh.startswith("Flashing\n========\n")


def test_a_fence_the_model_opens_inside_its_code_block_is_not_inserted():
    assert new_lines_from("```\n```html\n<p>{{ shape }}</p>\n```\n```",
                          "<h1>{{ title }}</h1>\n").strip() == "<p>{{ shape }}</p>"


def test_the_cut_off_last_line_is_dropped_whole_though_it_holds_a_line_separator():
    """U+2028 (in a JavaScript or JSON string) does not end a line for the file, nor for the
    cut: the whole incomplete line goes, not only its part after the separator."""
    assert new_lines_from("```\n<p>{{ shape }}</p>\n<p data-x=\"a\u2028b\">{{ sha",
                          "<h1>{{ title }}</h1>\n", truncated=True) == "<p>{{ shape }}</p>\n"


@given(st.lists(st.sampled_from(list("ab:-[]{}!&*|>'\"#\n\t ?,%@`") + ["!!python/"]),
                max_size=40).map("".join),
       st.sampled_from(["x.yaml", "x.yml", "x.json", "x.toml"]))
def test_checking_any_data_file_text_says_why_or_nothing_and_never_raises(text, path):
    assert isinstance(data_error(path, text), str)
