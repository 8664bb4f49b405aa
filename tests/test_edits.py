"""Search/replace blocks (tools/edits.py): whole-line matching, indentation the model got
wrong, tabs, CRLF, files without a final newline, and the refusals the model gets back."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sleepcoder.tools.edits import (
    ApplyError,
    EditBlock,
    EditFormatError,
    apply_block,
    apply_blocks,
    parse_blocks,
    whole_file,
)


def block(search: str, replace: str, path: str = "") -> EditBlock:
    return EditBlock(path, search, replace)


def apply(content: str, search: str, replace: str) -> str:
    return apply_blocks(content, [block(search, replace)], "m.py")


# --- parse_blocks ----------------------------------------------------------------------------

def test_blocks_are_parsed_with_the_path_named_before_them():
    answer = ("Here is the change.\n\n`app/core.py`\n```python\n<<<<<<< SEARCH\nx = 1\n"
              "=======\nx = 2\n>>>>>>> REPLACE\n```\napp/util.py\n<<<<<<< SEARCH\n"
              "=======\nnew = True\n>>>>>>> REPLACE\n")
    assert parse_blocks(answer) == [block("x = 1\n", "x = 2\n", "app/core.py"),
                                    block("", "new = True\n", "app/util.py")]


def test_crlf_answers_and_odd_marker_lengths_parse_like_plain_ones():
    answer = "a.py\r\n<<<<< SEARCH\r\nx = 1\r\n=========\r\nx = 2\r\n>>>>>>>>> REPLACE\r\n"
    assert parse_blocks(answer) == [block("x = 1\n", "x = 2\n", "a.py")]


def test_a_form_feed_inside_a_line_does_not_split_it():
    assert parse_blocks("<<<<<<< SEARCH\na\x0cb\n=======\nc\n>>>>>>> REPLACE\n")[0].search \
        == "a\x0cb\n"


@pytest.mark.parametrize("answer, missing", [
    ("<<<<<<< SEARCH\nx = 1\n", "======="),
    ("<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n", ">>>>>>> REPLACE"),
    ("<<<<<<< SEARCH\nx\n<<<<<<< SEARCH\ny\n=======\nz\n>>>>>>> REPLACE\n", "======="),
])
def test_unclosed_blocks_say_which_marker_is_missing(answer, missing):
    with pytest.raises(EditFormatError, match=f"edit block 1 is not closed: expected a line "
                                              f"`{missing}`"):
        parse_blocks(answer)


def test_an_answer_without_blocks_gives_no_blocks():
    assert parse_blocks("I would add a function to app/core.py.") == []


# --- whole_file -------------------------------------------------------------------------------

def test_whole_file_takes_the_fenced_content():
    assert whole_file("The file:\n```python\ndef f():\n    pass\n```\nDone.") == \
        "def f():\n    pass\n"


def test_whole_file_refuses_an_answer_cut_off_inside_the_fence():
    assert whole_file("```python\ndef f():\n    pa") is None
    assert whole_file("no code at all") is None


# --- whole lines --------------------------------------------------------------------------------

def test_search_never_matches_inside_a_longer_line():
    assert apply("xx = 10\nx = 1\n", "x = 1\n", "x = 2\n") == "xx = 10\nx = 2\n"
    with pytest.raises(ApplyError, match="not found"):
        apply("xx = 10\n", "x = 1\n", "x = 2\n")


def test_exact_match_wins_over_a_whitespace_tolerant_one():
    content = "def f():\n    x = 1\nx = 1\n"
    assert apply(content, "x = 1\n", "x = 2\n") == "def f():\n    x = 1\nx = 2\n"


def test_a_search_found_twice_is_refused_with_the_line_numbers():
    with pytest.raises(ApplyError, match=r"block 1: the SEARCH text occurs 2 times in m.py, "
                                         r"at lines 1, 3; include more"):
        apply("x = 1\ny = 2\nx = 1\n", "x = 1\n", "x = 3\n")
    with pytest.raises(ApplyError, match=r"occurs 2 times in m.py \(ignoring indentation\)"):
        apply("if a:\n    x = 1\nif b:\n        x = 1\n", "  x = 1\n", "  x = 3\n")


def test_trailing_spaces_in_the_search_still_match():
    assert apply("def f():\n    return 1\n", "def f():   \n    return 1\n",
                 "def f():\n    return 2\n") == "def f():\n    return 2\n"


def test_blank_lines_around_the_search_neither_block_the_match_nor_add_lines():
    content = "a = 1\nb = 2\nc = 3\n"
    assert apply(content, "\nb = 2\n\n", "\nb = 20\n\n") == "a = 1\nb = 20\nc = 3\n"


def test_a_unique_partial_line_on_word_boundaries_is_replaced_in_place():
    assert apply("    total = price(item) + tax\n", "price(item)\n", "price(item, 2)\n") == \
        "    total = price(item, 2) + tax\n"


@pytest.mark.parametrize("content, search", [
    ("xx = 10\n", "x = 1\n"),  # starts and ends inside words
    ("a = price(item)\nb = price(item)\n", "price(item)\n"),  # not unique
    ("total = prices\n", "total = price\n"),  # ends inside a word
])
def test_partial_lines_inside_words_or_found_twice_are_refused(content, search):
    with pytest.raises(ApplyError, match="not found"):
        apply(content, search, "changed\n")


def test_a_partial_line_is_not_replaced_by_several_lines():
    with pytest.raises(ApplyError, match="not found"):
        apply("    total = price(item) + tax\n", "price(item)\n", "price(\n    item)\n")


def test_the_hint_names_the_most_similar_lines():
    with pytest.raises(ApplyError) as caught:
        apply("def valuation_report(inventory):\n    return 1\n",
              "def valuation(inventory):\n    return 1\n", "x\n")
    assert "The most similar lines are 1-2; copy them exactly:\n" \
           "def valuation_report(inventory):" in str(caught.value)


def test_later_blocks_see_the_earlier_blocks_changes_and_the_failing_one_is_named():
    blocks = [block("a = 1\n", "a = 2\n"), block("a = 2\n", "a = 3\n")]
    assert apply_blocks("a = 1\n", blocks, "m.py") == "a = 3\n"
    with pytest.raises(ApplyError, match="^block 2: "):
        apply_blocks("a = 1\n", [blocks[0], block("zzz\n", "y\n")], "m.py")


# --- indentation ---------------------------------------------------------------------------------

CLASS = "class A:\n    def f(self):\n        return 1\n"


def test_an_over_indented_block_is_shifted_back():
    got = apply(CLASS, "        def f(self):\n            return 1\n",
                "        def f(self):\n            return 2\n\n        def g(self):\n"
                "            if True:\n                return 3\n")
    assert got == ("class A:\n    def f(self):\n        return 2\n\n    def g(self):\n"
                   "        if True:\n            return 3\n")


def test_an_under_indented_block_is_shifted_forward():
    got = apply(CLASS, "def f(self):\n    return 1\n", "def f(self):\n    return 2\n")
    assert got == "class A:\n    def f(self):\n        return 2\n"


def test_a_search_whose_first_line_lost_its_indentation_keeps_the_body_where_it_is():
    got = apply(CLASS, "def f(self):\n        return 1\n", "def f(self):\n        return 2\n")
    assert got == "class A:\n    def f(self):\n        return 2\n"


HTTP = ("class C:\n    async def send(self, request):\n        event = start(request)\n"
        "        async for data in request.stream():\n            await put(data)\n"
        "        return event\n")


def test_a_replace_shifted_against_its_own_search_is_shifted_back():
    # httpx-73 at a11421e: SEARCH at the class's indentation, REPLACE 4 spaces deeper; the
    # loop's old body was left under-indented and the file did not parse
    got = apply(HTTP, "    async def send(self, request):\n        event = start(request)\n"
                "        async for data in request.stream():\n",
                "        async def send(self, request):\n            event = start(request)\n"
                "            request.cookies.apply()\n"
                "            async for data in request.stream():\n")
    assert got == HTTP.replace("        async for", "        request.cookies.apply()\n"
                               "        async for")


def test_a_replace_that_only_starts_like_its_search_keeps_its_indentation():
    # the first line differs: wrapping lines in a new block is meant
    got = apply(CLASS, "        return 1\n", "        if x:\n            return 1\n")
    assert got == "class A:\n    def f(self):\n        if x:\n            return 1\n"
    # a line indented less than the repeated first line: not a shift of the whole
    got = apply(CLASS, "        return 1\n", "            return 1\n        return 2\n")
    assert got == "class A:\n    def f(self):\n            return 1\n        return 2\n"


def test_tab_indented_files_get_tabs_when_the_model_writes_spaces():
    go = "func f() {\n\tif x {\n\t\treturn 1\n\t}\n}\n"
    got = apply_blocks(go, [block("    if x {\n        return 1\n    }\n",
                                  "    if x {\n        y()\n        return 1\n    }\n")], "f.go")
    assert got == "func f() {\n\tif x {\n\t\ty()\n\t\treturn 1\n\t}\n}\n"


def test_tab_indented_files_keep_tabs_when_the_model_writes_tabs_off_by_one():
    go = "func f() {\n\tif x {\n\t\treturn 1\n\t}\n}\n"
    got = apply_blocks(go, [block("\t\tif x {\n\t\t\treturn 1\n",
                                  "\t\tif x {\n\t\t\treturn 2\n")], "f.go")
    assert got == "func f() {\n\tif x {\n\t\treturn 2\n\t}\n}\n"


def test_space_indented_files_get_spaces_when_the_model_writes_tabs():
    got = apply(CLASS, "\tdef f(self):\n\t\treturn 1\n", "\tdef f(self):\n\t\treturn 2\n")
    assert got == "class A:\n    def f(self):\n        return 2\n"


# --- special blocks and files -------------------------------------------------------------------

def test_a_block_that_changes_nothing_leaves_the_file_alone_even_if_it_does_not_match():
    assert apply("a = 1\n", "a = 1\n", "a = 1\n") == "a = 1\n"
    assert apply("a = 1\n", "zzz\n", "zzz\n") == "a = 1\n"


def test_an_empty_search_writes_a_new_or_empty_file():
    assert apply("", "", "print('hi')\n") == "print('hi')\n"
    assert apply("\n  \n", "\n", "x = 1\n") == "x = 1\n"


def test_an_empty_search_on_a_file_with_content_is_refused():
    with pytest.raises(ApplyError, match="the SEARCH part is empty, which only works for a "
                                         "new or empty file"):
        apply("a = 1\n", "", "b = 2\n")


def test_crlf_files_keep_crlf_line_endings():
    content = "a = 1\r\nb = 2\r\nc = 3\r\n"
    assert apply(content, "b = 2\n", "b = 20\nb2 = 21\n") == \
        "a = 1\r\nb = 20\r\nb2 = 21\r\nc = 3\r\n"


def test_a_file_without_a_final_newline_keeps_lacking_it():
    assert apply("a = 1\nb = 2", "b = 2\n", "b = 3\nc = 4\n") == "a = 1\nb = 3\nc = 4"
    assert apply("a = 1\nb = 2", "a = 1\n", "a = 0\n") == "a = 0\nb = 2"
    assert apply("a = 1\nb = 2", "b = 2\n", "") == "a = 1"


def test_deleting_lines_in_the_middle():
    assert apply("a\nb\nc\n", "b\n", "") == "a\nc\n"


def test_apply_block_is_the_one_block_step():
    assert apply_block("a = 1\n", block("a = 1\n", "a = 2\n"), "m.py", 7) == "a = 2\n"
    with pytest.raises(ApplyError, match="^block 7: "):
        apply_block("a = 1\n", block("b\n", "c\n"), "m.py", 7)


# --- properties -----------------------------------------------------------------------------------

names = st.text("abcdefghij", min_size=1, max_size=6)
text_line = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
                    max_size=20).filter(lambda s: s.strip() == s)


@st.composite
def files(draw, tabs: bool = False):
    """Lines `<indent>name_i = value` whose stripped content is unique (so any run of them
    matches in one place), as (levels, texts)."""
    count = draw(st.integers(1, 12))
    keys = draw(st.lists(names, min_size=count, max_size=count, unique=True))
    levels = draw(st.lists(st.integers(0, 3), min_size=count, max_size=count))
    texts = [f"{key} = {i}" for i, key in enumerate(keys)]
    return levels, texts


def render(levels: list[int], texts: list[str], unit: str) -> list[str]:
    return [unit * level + text if text else "" for level, text in zip(levels, texts,
                                                                         strict=True)]


@st.composite
def replacements(draw):
    count = draw(st.integers(0, 5))
    texts = draw(st.lists(st.one_of(st.just(""), text_line.filter(bool).map(
        lambda s: "r" + s)), min_size=count, max_size=count))
    levels = draw(st.lists(st.integers(0, 4), min_size=count, max_size=count))
    return levels, texts


def join(lines: list[str], end: str = "\n") -> str:
    return "".join(line + end for line in lines)


@given(data=st.data(), file=files(), new=replacements(), end=st.sampled_from(["\n", "\r\n"]))
def test_a_run_of_whole_lines_is_replaced_exactly(data, file, new, end):
    lines = render(*file, "    ")
    start = data.draw(st.integers(0, len(lines) - 1))
    stop = data.draw(st.integers(start + 1, len(lines)))
    replace = render(*new, "    ")
    got = apply(join(lines, end), join(lines[start:stop]), join(replace))
    assert got == join(lines[:start] + replace + lines[stop:], end)


@given(data=st.data(), file=files(), new=replacements())
def test_a_shifted_block_lands_at_the_files_indentation(data, file, new):
    levels, texts = file
    lines = render(levels, texts, "    ")
    start = data.draw(st.integers(0, len(lines) - 1))
    stop = data.draw(st.integers(start + 1, len(lines)))
    new_levels, new_texts = new
    lowest = min(levels[start:stop] + [lv for lv, t in zip(*new, strict=True) if t])
    shift = data.draw(st.integers(-lowest, 3).filter(lambda s: s != 0))
    model_search = render([lv + shift for lv in levels[start:stop]], texts[start:stop], "    ")
    model_replace = render([lv + shift for lv in new_levels], new_texts, "    ")
    got = apply(join(lines), join(model_search), join(model_replace))
    assert got == join(lines[:start] + render(new_levels, new_texts, "    ") + lines[stop:])


@given(data=st.data(), file=files(), new=replacements())
def test_a_replace_shifted_against_its_search_lands_as_if_it_were_not(data, file, new):
    # the REPLACE repeats the SEARCH's first line and adds lines, all shifted by the same
    # amount against the SEARCH (which matches the file exactly)
    levels, texts = file
    lines = render(levels, texts, "    ")
    start = data.draw(st.integers(0, len(lines) - 1))
    stop = data.draw(st.integers(start + 1, len(lines)))
    new_levels, new_texts = new
    first = levels[start]
    body = [max(first, lv) for lv, _t in zip(new_levels, new_texts, strict=True)]
    replace_levels, replace_texts = [first, *body], [texts[start], *new_texts]
    shift = data.draw(st.integers(-first, 3).filter(lambda s: s != 0))
    model_replace = render([lv + shift for lv in replace_levels], replace_texts, "    ")
    got = apply(join(lines), join(lines[start:stop]), join(model_replace))
    assert got == join(lines[:start] + render(replace_levels, replace_texts, "    ")
                       + lines[stop:])


@given(data=st.data(), file=files(), new=replacements())
def test_spaces_written_for_a_tab_indented_file_become_tabs(data, file, new):
    levels, texts = file
    levels = [*levels, 1]  # the file has at least one indented line
    texts = [*texts, "last = True"]
    lines = render(levels, texts, "\t")
    start = data.draw(st.integers(0, len(lines) - 1))
    stop = data.draw(st.integers(start + 1, len(lines)))
    model_search = render(levels[start:stop], texts[start:stop], "    ")
    got = apply_blocks(join(lines), [block(join(model_search),
                                           join(render(*new, "    ")))], "f.go")
    assert got == join(lines[:start] + render(*new, "\t") + lines[stop:])


markers = st.sampled_from(["<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE", "<<<<< SEARCH",
                           ">>>>>>>>> REPLACE", "```", "```python", "a.py", "`b/c.py`:",
                           "x = 1", "", "\r", "\x0c", " ======= "])


@given(st.lists(st.one_of(markers, st.text(max_size=30)), max_size=20))
def test_parse_blocks_raises_only_edit_format_errors(lines):
    try:
        blocks = parse_blocks("\n".join(lines))
    except EditFormatError as exc:
        assert str(exc).startswith("edit block ")
        return
    for parsed in blocks:
        assert isinstance(parsed, EditBlock)


@given(content=st.text(max_size=200), search=st.text(max_size=40),
       replace=st.text(max_size=40))
def test_apply_raises_only_apply_errors_and_changes_only_what_it_reports(content, search,
                                                                          replace):
    assume("\r" not in search + replace)
    try:
        got = apply(content, search, replace)
    except ApplyError as exc:
        assert str(exc).startswith("block 1: ")
        return
    assert isinstance(got, str)
