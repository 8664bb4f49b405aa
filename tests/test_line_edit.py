"""The `symbols` format's line question for files without sections (templates, configuration):
the line the request names is rewritten by the model, the tool splices it."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sleepcoder.agent.solve.line_edit import focus_lines, replace_line, rewritten
from sleepcoder.agent.solve.run import start_solve
from sleepcoder.agent.solve.syntax import EditRejected

from tests.test_solve import REQUEST, inventory  # noqa: F401
from tests.test_symbol_edit import options

TEMPLATE = ("{% extends \"base.html\" %}\n"
            "{% block content %}\n"
            "<div class=\"items\">\n"
            "    <p>Export as <a href=\"{{ url_csv }}\">.csv</a></p>\n"
            "    <p>{{ count }} items</p>\n"
            "</div>\n"
            "{% endblock %}\n")


def test_the_line_sharing_the_rarest_request_words_comes_first():
    lines = ["<div>", "<p>stock items</p>", "<p>low stock threshold</p>", "<div>items</div>"]
    assert focus_lines(lines, "low-stock threshold report", count=3) == [2, 1]


def test_a_line_without_any_request_word_is_never_a_candidate():
    assert focus_lines(["<div>", "</div>"], "low-stock report") == []


def test_a_very_long_line_is_not_offered_for_rewriting():
    """A minified line would have to be copied whole to be rewritten."""
    assert focus_lines(["stock " * 200, "<p>stock</p>"], "stock") == [1]


def test_a_rewritten_line_takes_the_old_lines_indentation():
    lines = TEMPLATE.splitlines()
    answer = ("```\n<p>Export as <a href=\"{{ url_csv }}\">.csv</a>,\n"
              "   <a href=\"{{ url_json }}\">.json</a></p>\n```")
    assert rewritten(answer, lines, 3) == [
        "    <p>Export as <a href=\"{{ url_csv }}\">.csv</a>,",
        "       <a href=\"{{ url_json }}\">.json</a></p>"]


@pytest.mark.parametrize("answer, error", [
    ("no block", "no code block"),
    ("```\n    <p>Export as <a href=\"{{ url_csv }}\">.csv</a></p>\n```", "unchanged"),
    ("```\n<p>Export as <a href=\"{{url_csv}}\">.csv</a></p>\n```", "unchanged"),
    ("```\n{% extends \"base.html\" %}\n```", "only repeats lines"),
    ("```\n<p>{{ count }} items</p>\n```", "no line of the change"),  # the line after it
    ("```\n\n\n```", "no code block|no line of the change"),
])
def test_answers_that_change_nothing_are_refused(answer, error):
    with pytest.raises(EditRejected, match=error):
        rewritten(answer, TEMPLATE.splitlines(), 3)


def test_context_the_model_copies_around_the_line_is_not_duplicated():
    lines = TEMPLATE.splitlines()
    answer = ("```\n<div class=\"items\">\n<p>Export as <a href=\"{{ url_csv }}\">.csv</a>, "
              "<a href=\"{{ url_json }}\">.json</a></p>\n<p>{{ count }} items</p>\n```")
    new = rewritten(answer, lines, 3)
    assert len(new) == 1 and ".json" in new[0]


def test_a_line_kept_with_new_lines_after_it_is_an_addition():
    lines = TEMPLATE.splitlines()
    answer = ("```\n<p>Export as <a href=\"{{ url_csv }}\">.csv</a></p>\n"
              "<p>Low stock: {{ low_stock }}</p>\n```")
    assert rewritten(answer, lines, 3)[1] == "    <p>Low stock: {{ low_stock }}</p>"


@given(st.lists(st.text(st.characters(blacklist_characters="\n\r"), max_size=12), min_size=1,
                max_size=8),
       st.booleans(), st.booleans(), st.data())
def test_replace_line_keeps_every_other_line_byte_for_byte(lines, crlf, final, data):
    ending = "\r\n" if crlf else "\n"
    content = ending.join(lines) + (ending if final else "")
    index = data.draw(st.integers(0, len(lines) - 1))
    new = data.draw(st.lists(st.text(st.characters(blacklist_characters="\n\r"), max_size=8),
                             min_size=1, max_size=3))
    got = replace_line(content, index, new)
    ending = ending if ending in content else "\n"  # a file of one unended line: LF
    assert got.split(ending)[:index] == content.split(ending)[:index]
    if index == 0 and content.startswith("\ufeff") and not new[0].startswith("\ufeff"):
        new = ["\ufeff" + new[0], *new[1:]]  # the file's byte order mark stays
    assert got.split(ending)[index:index + len(new)] == new
    assert got.split(ending)[index + len(new):] == content.split(ending)[index + 1:]


def _solve_template(repo, scripted, content: str, *replies: str):
    repo.commit("template", {"templates/items.html": content})
    scripted.on(node="localize", reply="templates/items.html: YES")
    scripted.on(node="plan", reply="EDIT templates/items.html: link to the low-stock report\n")
    for reply in replies:
        scripted.on(node="edit", contains="as it reads after the change", reply=reply,
                    times=1)
    result = start_solve(repo.root, REQUEST, options())
    return result, {e["path"]: e for e in result.record["edits"]}["templates/items.html"]


def test_a_template_gets_its_line_rewritten_and_nothing_else(inventory,  # noqa: F811
                                                             scripted):
    template = ("<ul>\n  <li><a href=\"/\">home</a></li>\n"
                "  <li><a href=\"/report\">report</a></li>\n</ul>\n")
    result, edit = _solve_template(
        inventory, scripted, template,
        "```\n<li><a href=\"/report\">report</a></li>\n"
        "<li><a href=\"/report/low-stock\">low stock</a></li>\n```")
    assert edit["status"] == "done" and edit["method"] == "symbols/line", edit
    assert result.patch.count("\n+  <li>") == 1 and result.patch.count("\n-  <li>") == 0
    assert "+  <li><a href=\"/report/low-stock\">low stock</a></li>" in result.patch


def test_an_unchanged_line_moves_on_to_the_next_line(inventory, scripted):  # noqa: F811
    template = ("<ul>\n  <li><a href=\"/report\">report</a></li>\n"
                "  <li><a href=\"/stock\">stock</a></li>\n</ul>\n")
    result, edit = _solve_template(
        inventory, scripted, template,
        "```\n<li><a href=\"/report\">report</a></li>\n```",
        "```\n<li><a href=\"/stock\">stock</a> (<a href=\"/stock/low\">low</a>)</li>\n```")
    assert edit["status"] == "done" and edit["attempts"] == 2, edit
    assert "/stock/low" in result.patch
    prompts = [c.prompt for c in scripted.calls if "as it reads after the change" in c.prompt]
    assert len(prompts) == 2 and "(line 2)" in prompts[0] and "(line 3)" in prompts[1]


def test_a_line_rewrite_that_breaks_a_toml_file_leaves_it_as_it_was(inventory,  # noqa: F811
                                                                    scripted):
    inventory.commit("config", {"stock.toml": "[stock]\nlow = 5\n"})
    scripted.on(node="localize", reply="stock.toml: YES")
    scripted.on(node="plan", reply="EDIT stock.toml: a low-stock threshold\n")
    scripted.on(node="edit", contains="as it reads after the change", reply="```\nlow = [\n```")
    result = start_solve(inventory.root, REQUEST, options())
    edit = {e["path"]: e for e in result.record["edits"]}["stock.toml"]
    assert edit["status"] == "failed" and "make stock.toml invalid" in edit["error"], edit
    assert "stock.toml" not in result.patch


def test_a_rewrite_the_length_limit_cut_off_is_never_spliced(inventory, scripted):  # noqa: F811
    """A cut-off rewrite would splice its incomplete last line (`<a href="/report/low`) in
    place of the whole line, or drop what it had not copied yet."""
    template = "<ul>\n  <li><a href=\"/report\">report</a></li>\n</ul>\n"
    inventory.commit("template", {"templates/items.html": template})
    scripted.on(node="localize", reply="templates/items.html: YES")
    scripted.on(node="plan", reply="EDIT templates/items.html: link to the low-stock report\n")
    scripted.on(node="edit", contains="as it reads after the change", truncated=True,
                reply="```\n<li><a href=\"/report/low-stock\">low stock</a></li>\n"
                      "<li><a href=\"/rep")
    result = start_solve(inventory.root, REQUEST, options())
    edit = {e["path"]: e for e in result.record["edits"]}["templates/items.html"]
    assert edit["status"] == "failed" and "cut off by the length limit" in edit["error"], edit
    assert "templates/items.html" not in result.patch


def test_a_closing_line_the_rewrite_needs_is_kept_though_a_nearby_line_reads_the_same():
    """The line wrapped in a new element: its `</div>` is the rewrite's, not a copy of the
    `</div>` two lines below (dropped, the template was left with an unclosed element)."""
    answer = ("```\n<div class=\"export\">\n  <p>Export as <a href=\"{{ url_json }}\">.json</a>"
              "</p>\n</div>\n```")
    assert rewritten(answer, TEMPLATE.splitlines(), 3) == [
        "    <div class=\"export\">",
        "      <p>Export as <a href=\"{{ url_json }}\">.json</a></p>",
        "    </div>"]


def test_context_copied_before_and_after_the_line_in_order_is_dropped():
    lines = TEMPLATE.splitlines()
    answer = ("```\n{% block content %}\n<div class=\"items\">\n<p>Export as .json</p>\n"
              "<p>{{ count }} items</p>\n</div>\n```")
    assert rewritten(answer, lines, 3) == ["    <p>Export as .json</p>"]


_WORDS = st.text("ab</>{} \t", min_size=1, max_size=8)


@given(st.lists(_WORDS, min_size=1, max_size=7), st.lists(st.text("xyz=\"", min_size=1,
                                                                  max_size=6),
                                                          min_size=1, max_size=3), st.data())
def test_a_copy_of_the_shown_lines_around_the_rewrite_is_dropped_and_nothing_else(
        lines, added, data):
    """The lines the model writes (`added`, none of them a line of the file) are what
    replaces the line, whether the answer copies the shown lines before and after it or not."""
    index = data.draw(st.integers(0, len(lines) - 1))
    head = data.draw(st.integers(0, min(index, 2)))
    tail = data.draw(st.integers(0, 2))
    shown = (lines[index - head:index], lines[index + 1:index + 1 + tail])
    # a shown line that reads as the line itself: the answer may keep the line and add to it
    assume(lines[index].strip() not in {line.strip() for line in [*shown[0], *shown[1]]})
    answer = "```\n" + "\n".join([*shown[0], *added, *shown[1]]) + "\n```"
    try:
        new = rewritten(answer, lines, index)
    except EditRejected:
        return  # `added` is the line itself, whitespace aside: refused, rightly
    assert [line.strip() for line in new] == added


@given(st.lists(_WORDS, min_size=1, max_size=6), st.data())
def test_a_rewrite_never_leaves_the_line_as_it_was(lines, data):
    index = data.draw(st.integers(0, len(lines) - 1))
    pieces = st.sampled_from([*lines, "```", "\n", "x", " ", "\r\n"])
    answer = "```\n" + "".join(data.draw(st.lists(pieces, max_size=10))) + "\n```"
    try:
        new = rewritten(answer, lines, index)
    except EditRejected:
        return
    assert "".join(new).split() != lines[index].split() or \
        "".join("".join(new).split()) != "".join(lines[index].split())
    assert any(line.strip() not in {x.strip() for x in lines} for line in new)


@pytest.mark.parametrize("answer", [
    "```\n```html\n<p>Export as <a href=\"{{ url_json }}\">.json</a></p>\n```\n```",
    "```html\n```\n<p>Export as <a href=\"{{ url_json }}\">.json</a></p>\n```",
])
def test_a_fence_the_model_opens_inside_its_code_block_is_not_spliced(answer):
    assert rewritten(answer, TEMPLATE.splitlines(), 3) == [
        "    <p>Export as <a href=\"{{ url_json }}\">.json</a></p>"]


def test_an_elision_mark_for_the_lines_around_is_not_spliced():
    """`...` for the shown lines the model did not copy would replace them in the file."""
    answer = "```\n...\n<p>Export as .json</p>\n\u2026\n```"
    assert rewritten(answer, TEMPLATE.splitlines(), 3) == ["    <p>Export as .json</p>"]


def test_a_line_of_the_longest_length_is_offered_whatever_the_files_line_ending():
    line = "stock " + "x" * 394
    assert focus_lines([line], "stock") == focus_lines([line + "\r"], "stock") == [0]


@given(st.lists(st.tuples(st.text("ab \t", max_size=5), st.sampled_from(["\n", "\r\n"])),
                min_size=1, max_size=6),
       st.booleans(), st.data())
def test_new_lines_take_the_replaced_lines_ending_in_a_file_of_mixed_endings(lines, ended,
                                                                             data):
    """A CRLF line elsewhere (a pasted block) does not put carriage returns into a rewrite
    of an LF line, nor the reverse."""
    content = "".join(text + ending for text, ending in lines)
    if not ended:
        content = content[: -len(lines[-1][1])]
    index = data.draw(st.integers(0, len(lines) - 1))
    new = data.draw(st.lists(st.text("xy", min_size=1, max_size=3), min_size=1, max_size=3))
    got = replace_line(content, index, new)
    ending = lines[index][1] if ended or index < len(lines) - 1 else \
        (lines[index - 1][1] if index else "\n")
    before = "".join(text + end for text, end in lines[:index])
    assert got.startswith(before + ending.join(new))
    assert got == before + ending.join(new) + content[len(before) + len(lines[index][0]):]


def test_a_first_line_answered_as_it_was_without_the_files_byte_order_mark_is_unchanged(
        inventory, scripted):  # noqa: F811
    """The model cannot see a BOM: `[stock]` for `\\ufeff[stock]` is the line unchanged, not a
    rewrite that drops the BOM; and a rewrite of the first line keeps it."""
    inventory.commit("config", {"stock.toml": "\ufeff[stock]\nlow = 5\n"})
    scripted.on(node="localize", reply="stock.toml: YES")
    scripted.on(node="plan", reply="EDIT stock.toml: a low-stock threshold\n")
    scripted.on(node="edit", contains="as it reads after the change", reply="```\n[stock]\n```",
                times=1)
    scripted.on(node="edit", contains="as it reads after the change",
                reply="```\nlow = 5\nthreshold = 3\n```", times=1)
    result = start_solve(inventory.root, REQUEST, options())
    edit = {e["path"]: e for e in result.record["edits"]}["stock.toml"]
    assert edit["status"] == "done" and edit["attempts"] == 2, edit
    assert "-\ufeff[stock]" not in result.patch and "+threshold = 3" in result.patch
    assert replace_line("\ufeff[stock]\nlow = 5\n", 0, ["[stock]", "high = 9"]) == \
        "\ufeff[stock]\nhigh = 9\nlow = 5\n"
