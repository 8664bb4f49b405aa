"""Telling an answer caught in a loop: a small model at temperature 0 can write the same few
lines until the length limit (rich-65: a parameter list of seven lines, over and over, for
700 tokens and 70 seconds, three times). The embedded model's answers are streamed and cut
where this holds, and the solve step refuses such an answer instead of continuing it."""

from __future__ import annotations

LOOP_LINES = 12  # a loop is at least this many lines...
MAX_PERIOD = 40  # ...of a cycle of at most this many, seen at least three times


def ends_in_loop(text: str) -> bool:
    """Whether the last non-blank lines of `text` are one cycle of 1..MAX_PERIOD lines, the
    same to the character (indentation included), repeated to at least LOOP_LINES lines and
    three turns. Code that lists similar lines differs in a name or a value; a loop does
    not."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    count = len(lines)
    for period in range(1, MAX_PERIOD + 1):
        need = max(LOOP_LINES, 3 * period)
        if need > count:
            return False
        tail = lines[count - need:]
        if all(tail[i] == tail[i + period] for i in range(need - period)):
            return True
    return False
