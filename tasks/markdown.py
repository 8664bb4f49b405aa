"""Text the bot posts that it did not write (test output, a patch, the model's plan) must not
be able to change how the comment renders or whom it notifies: a code fence longer than any
run of backticks in the text, and model text with mentions, images and HTML made inert."""

from __future__ import annotations

import re

_TICKS = re.compile(r"`+")
_ZWSP = "\u200b"


def fenced(text: str, language: str = "") -> str:
    """`text` in a code block that nothing inside it can close."""
    longest = max((len(m.group(0)) for m in _TICKS.finditer(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def inert(text: str) -> str:
    """Model-written text for a comment or pull request body: no @mention notifies anyone,
    no image or HTML renders, no heading or fence starts."""
    text = text.replace("@", "@" + _ZWSP).replace("![", "!" + _ZWSP + "[")
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    text = _TICKS.sub(lambda m: m.group(0).replace("`", "'"), text) if "```" in text else text
    return re.sub(r"^(\s*)#", r"\1\\#", text, flags=re.M)
