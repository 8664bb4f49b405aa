"""Localization at task time: the deterministic ranking is the backbone; the model only makes
narrow decisions about it.

Asked to pick freely among many candidates, small models keep most of them and do worse than
the plain ranking. So the model answers YES/NO per file for the automatic selection plus a few
runners-up, and its answers may only (a) drop selected files outside the top two that it says
NO to and whose probability is below `[solve] model_drop_below`, and (b) add up to
`[solve] model_may_add` runners-up it says YES to. An unusable answer changes nothing.

The defaults are measured (docs/benchmarks.md, "Model-guided localization"): on the 85-task
development set the local 1.5B model's YES votes on runners-up were mostly wrong and its NO
votes dropped as many needed files as unneeded ones, so unrestricted votes took file F1 from
0.50 to 0.46. Limited to files the localizer itself gives less than 0.2, the votes never score
below the model-free localizer. A stronger model can be given more say through the config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sleepcoder.agent.budget import BudgetExhausted
from sleepcoder.agent.llm import LLMError
from sleepcoder.agent.solve import grammars
from sleepcoder.agent.solve.context import SolveContext, prompt
from sleepcoder.tools.localize import Localization

_ANSWER = re.compile(r"\b(YES|NO)\b", re.IGNORECASE)
RUNNERS_UP = 3
PROTECTED_TOP = 2


@dataclass
class Decision:
    files: list[str]
    votes: dict[str, str] = field(default_factory=dict)  # path -> YES/NO
    dropped: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    note: str = ""


def describe(ctx: SolveContext, paths: list[str], symbols: bool = True) -> dict[str, str]:
    """One line per file from the map: its sleep-time summary or docstring, key symbols."""
    if ctx.store is None:
        return {p: "" for p in paths}
    summaries = ctx.store.file_summaries()
    out = {}
    for path in paths:
        text = summaries.get(path, ("", ""))[0]
        row = ctx.store.conn.execute(
            "SELECT b.doc, f.fid FROM files f JOIN blobs b ON b.id = f.fid WHERE f.path=?",
            (path,)).fetchone()
        if row and not text:
            text = row[0]
        names = []
        if row and symbols:
            names = [r[0] for r in ctx.store.conn.execute(
                "SELECT qname FROM defs WHERE fid=? AND kind NOT IN ('constant', 'declaration') "
                "AND qname NOT LIKE '%.%' ORDER BY start_line LIMIT 6", (row[1],))]
        out[path] = (text + (f" Defines: {', '.join(names)}." if names else "")).strip()
    return out


def refine(ctx: SolveContext, localization: Localization) -> Decision:
    selected = list(localization.chosen)
    ranked = [c.path for c in localization.candidates]
    runners = [p for p in ranked if p not in selected][:RUNNERS_UP]
    asked = selected + runners
    if not asked:
        return Decision(selected, note="nothing to decide")
    notes = describe(ctx, asked)
    reasons = {c.path: "; ".join(c.reasons[:2]) for c in localization.candidates}
    listing = "\n".join(f"- {p}: {notes.get(p) or 'no description'}"
                        + (f" (candidate: {reasons[p]})" if reasons.get(p) else "")
                        for p in asked)
    user = prompt("localize_check").format(request=ctx.task.text[:4000], candidates=listing,
                                           status=ctx.budget.status_line())
    try:
        answer = ctx.ask("localize", ctx.messages(user), max_tokens=20 * len(asked) + 40,
                         grammar=grammars.votes(asked))
    except (LLMError, BudgetExhausted) as exc:
        return Decision(selected, note=f"model not consulted: {exc}")
    votes = parse_votes(answer.text, asked)
    if not votes:
        return Decision(selected, note="the model's answer had no usable YES/NO lines")
    top = set(ranked[:PROTECTED_TOP])
    probability = {c.path: c.score for c in localization.candidates}
    settings = ctx.config.solve
    dropped = [p for p in selected if votes.get(p) == "NO" and p not in top
               and probability.get(p, 0.0) < settings.model_drop_below]
    added = [p for p in runners if votes.get(p) == "YES"][:max(0, settings.model_may_add)]
    files = [p for p in selected if p not in dropped] + added
    return Decision(files, votes, dropped, added)


def parse_votes(text: str, paths: list[str]) -> dict[str, str]:
    votes: dict[str, str] = {}
    for line in text.splitlines():
        for path in sorted(paths, key=len, reverse=True):
            if path in line and path not in votes:
                match = _ANSWER.search(line[line.index(path) + len(path):])
                if match:
                    votes[path] = match.group(1).upper()
                break
    return votes
