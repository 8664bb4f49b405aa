"""GBNF grammars for the embedded model's structured answers (llama.cpp constrains decoding
with them, so the answer always parses): plan lines naming real files and definitions,
YES/NO votes, exactly one fenced code block, search/replace blocks, insertions, a choice
among numbers. Other models get the same formats by prompting only (agent/llm.py drops the
grammar for them)."""

from __future__ import annotations

import json

_LINE = r'[^\n]'
# a line of code that does not start a fence: the block ends at a line "```"
_CODE = r'''code-line ::= ([^`\n] [^\n]* | "`" [^`\n] [^\n]* | "``" [^`\n] [^\n]*)? "\n"'''


# a decorator's continuation line (an argument of a multi-line decorator, or its closing
# bracket); never one that ends with a colon: an indented `def other(...):` line passed for
# one, and the 1.5B asked for `URL.__init__`'s header wrote three other methods of the class
# after a `@classmethod` (httpx-42 at a52809a)
_DECO_MORE = r'deco-more ::= ([ \t]+ [^@`\n] | [)\]}]) ([^\n]* [^:\n \t])? [ \t]* "\n"'


def literal(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _alternatives(items: list[str], fallback: str) -> str:
    unique = list(dict.fromkeys(i for i in items if i))
    return " | ".join(literal(i) for i in unique) if unique else fallback


def code_block(language: str = "", max_lines: int = 400) -> str:
    """Exactly one fenced code block and nothing else."""
    fence = literal("```" + language + "\n")
    return (f"root ::= {fence} code-line{{1,{max_lines}}} \"```\"\n{_CODE}\n")


def code_block_or_none(language: str = "", max_lines: int = 200) -> str:
    fence = literal("```" + language + "\n")
    return (f"root ::= \"NONE\" | {fence} code-line{{1,{max_lines}}} \"```\"\n{_CODE}\n")


def header_or_none(language: str, name: str, header_lines: int) -> str:
    """NONE, or one block holding only a definition's header: decorator lines, then the line
    that defines `name` (Python: `def`/`async def`/`class`; others: any line naming it), then
    at most as many continuation lines as the current header has, plus two (none for a
    one-line Python header, whose line must end with its colon). A small model asked for the
    header alone otherwise goes on into the body, or repeats one definition until the token
    limit."""
    fence = literal("```" + language + "\n")
    opener = '("async ")? ("def " | "class ") ' if language == "python" else '[^`\\n]* '
    # a one-line Python header stays one line, ending with its colon: the 1.5B otherwise goes
    # on into the body
    one_line = language == "python" and header_lines <= 1
    more = 0 if one_line else header_lines + 1
    end = '[^\\n]* ":" [ \\t]* "\\n"' if one_line else '[^\\n]* "\\n"'
    tail = f" cont{{0,{more}}}" if more else ""
    return (f"root ::= \"NONE\" | {fence} deco{{0,8}} sig{tail} \"```\"\n"
            "deco ::= [ \\t]* \"@\" [^\\n]* \"\\n\" deco-more{0,8}\n"
            f"{_DECO_MORE}\n"
            f"sig ::= [ \\t]* {opener}{literal(name)} {end}\n"
            "cont ::= [ \\t]+ [^@`\\n] [^\\n]* \"\\n\"\n")


def definition_block(language: str, name: str, max_lines: int = 400) -> str:
    """One fenced code block holding a new Python definition of `name`: decorator lines, then
    the `def`/`async def`/`class` line that defines it, then its lines. Asked to add
    `handle_cookies` after `class URL`, the 1.5B wrote `class URL:` again until the length
    limit, twice (httpx-73 at a52809a: 3,000 tokens for an answer refused at its first
    line). Other languages get `code_block`."""
    if language != "python" or name.isupper():  # a constant (`X = 1`) is no def or class
        return code_block(language, max_lines)
    fence = literal("```" + language + "\n")
    return (f"root ::= {fence} deco{{0,8}} sig code-line{{0,{max_lines}}} \"```\"\n"
            "deco ::= [ \\t]* \"@\" [^\\n]* \"\\n\" deco-more{0,8}\n"
            f"{_DECO_MORE}\n"
            # the name ends there: `(`, `:`, `[` or a space follows (not `name_more`)
            f"sig ::= [ \\t]* (\"async \")? (\"def \" | \"class \") {literal(name)} "
            "[(:\\[ ] [^\\n]* \"\\n\"\n"
            f"{_CODE}\n")


def choice(options: list[str]) -> str:
    return f"root ::= {_alternatives(options, literal('0'))}\n"


def votes(paths: list[str]) -> str:
    """One `path: YES|NO` line per candidate, in any order."""
    return (f"root ::= vote{{1,{max(1, len(paths))}}}\n"
            f"vote ::= ({_alternatives(paths, literal('x'))}) \": \" (\"YES\" | \"NO\") \"\\n\"\n")


def search_replace(max_blocks: int = 4, max_search: int = 60) -> str:
    """Search/replace blocks; SEARCH holds at most `max_search` lines."""
    return (f"root ::= block{{1,{max_blocks}}}\n"
            f"block ::= \"<<<<<<< SEARCH\\n\" plain-line{{1,{max_search}}} \"=======\\n\" "
            "plain-line{0,80} \">>>>>>> REPLACE\\n\"\n"
            "plain-line ::= ([^<=>\\n] [^\\n]* | [<=>] [^<=>\\n] [^\\n]*)? \"\\n\"\n")


def insertions(language: str = "", max_places: int = 3, lines: list[str] | None = None) -> str:
    """`AFTER: <line>` then a code block, up to `max_places` times; with `lines`, the AFTER
    line can only be one of them (the existing lines of the definition)."""
    fence = literal("```" + language + "\n")
    anchor = _alternatives([line[:200] for line in lines or []], f"{_LINE}{{1,200}}")
    return (f"root ::= place{{1,{max_places}}}\n"
            f"place ::= \"AFTER: \" anchor \"\\n\" {fence} code-line{{1,80}} \"```\\n\"\n"
            f"anchor ::= {anchor}\n" + _CODE + "\n")


def plan(paths: list[str], names: list[str], max_files: int = 8, max_units: int = 3) -> str:
    """Plan lines: EDIT of each localized file at most once, in the order given, followed by
    CHANGE/ADD lines whose names are real definitions, then CREATE of new paths. At most
    three units per file: on rich-167 the 1.5B wrote six per file, most of them one line
    repeated, until the answer's token limit (1,200 tokens, 165 s), and a 20,000-token run
    edits about five units in all. Each file once and in order: allowed to name any file
    again, the 1.5B wrote `EDIT httpcore/models.py` eight times for httpx-73 and planned no
    other file."""
    unique = list(dict.fromkeys(p for p in paths if p))[:max_files]
    edits = "".join(f"edit{i} ::= \"EDIT \" {literal(p)} \": \" text \"\\n\" "
                    f"unit{{0,{max_units}}}\n" for i, p in enumerate(unique))
    # at least one step: the first EDIT written, then only later files, then new files
    firsts = [f"edit{i} " + "".join(f"edit{j}? " for j in range(i + 1, len(unique)))
              + "create{0,3}" for i in range(len(unique))]
    return (
        f"root ::= {' | '.join([*firsts, 'create{1,3}'])}\n"
        + edits
        + "create ::= \"CREATE \" new-path \": \" text \"\\n\"\n"
        "unit ::= \"  \" (change | add | imports) \"\\n\"\n"
        "change ::= \"CHANGE \" name \": \" text\n"
        "add ::= \"ADD \" ident (\" AFTER \" name | \" IN \" name | \" AT END\") \": \" text\n"
        "imports ::= \"IMPORTS: \" text\n"
        f"name ::= {_alternatives(names, 'ident')}\n"
        "ident ::= [A-Za-z_$] [A-Za-z0-9_$]{0,60}\n"
        "new-path ::= [A-Za-z0-9_./-]{1,120}\n"
        "text ::= [^\\n]{1,200}\n")
