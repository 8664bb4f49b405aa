"""The no-map condition's localization: the model explores the repository with read-only tools
(list, grep, read, find), one call per step, under the same budget, until it names the files.

This is the baseline that measures what the sleep-time map saves: the same solve graph, but
every fact about the repository has to be found at task time.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from sleepcoder.agent.budget import BudgetExhausted
from sleepcoder.agent.llm import LLMError
from sleepcoder.agent.solve.context import SolveContext, prompt
from sleepcoder.tools.explore import RepoTools
from sleepcoder.tools.pathguard import EditRefused

_ACTION = re.compile(r"ACTION:\s*(list|grep|read|find)\b\s*(.*)", re.IGNORECASE)
_FILES = re.compile(r"FILES:\s*(.+)", re.IGNORECASE)
MAX_EXPLORE_STEPS = 12
MIN_LOOKS = 2  # tool calls before a FILES answer is accepted: a guess is not localization
HISTORY_KEEP = 6


@dataclass
class Exploration:
    files: list[str] = field(default_factory=list)
    transcript: list[dict] = field(default_factory=list)  # {action, result}
    note: str = ""


def explore(ctx: SolveContext, previous: dict | None = None) -> Exploration:
    """Run (or continue) the tool loop; returns the files the model settled on."""
    tools = RepoTools(ctx.workspace.root())  # a full checkout: the tools read the tree
    state = Exploration(transcript=list((previous or {}).get("transcript", [])))
    listing = tools.two_levels()
    limit = MAX_EXPLORE_STEPS
    if ctx.options.max_steps:
        limit = min(limit, max(1, ctx.options.max_steps // 2))
    while len(state.transcript) < limit:
        user = prompt("explore").format(status=ctx.budget.status_line(),
                                        request=ctx.task.text[:4000], listing=listing,
                                        history=_history(state.transcript))
        try:
            answer = ctx.ask("explore", ctx.messages(user, example="explore_example"),
                             max_tokens=60)
        except (LLMError, BudgetExhausted) as exc:
            state.note = f"exploration stopped: {exc}"
            break
        text = answer.text.strip()
        files = _FILES.search(text)
        if files:
            looked = sum(not item["result"].startswith("error") for item in state.transcript)
            chosen = _valid_paths(ctx, files.group(1))
            if looked >= MIN_LOOKS and chosen:
                state.files = chosen
                return state
            problem = "none of those files exist" if not chosen else \
                f"look at the code first (at least {MIN_LOOKS} tool calls)"
            state.transcript.append({"action": text[:200], "result": f"error: {problem}"})
            continue
        action = _ACTION.search(text)
        if action is None:
            state.transcript.append({"action": text[:200], "result":
                                     "error: reply with one ACTION line or a FILES line"})
            continue
        tool, argument = action.group(1).lower(), action.group(2).strip()
        state.transcript.append({"action": f"{tool} {argument}"[:200],
                                 "result": tools.run(tool, argument)})
    if not state.files:
        state.files = _most_seen(ctx, state.transcript)
        state.note = (state.note + "; " if state.note else "") + \
            "no FILES answer: using the files the exploration looked at most"
    return state


def _history(transcript: list[dict]) -> str:
    if not transcript:
        return ""
    shown = transcript[-HISTORY_KEEP:]
    skipped = len(transcript) - len(shown)
    lines = ["Your previous steps" + (f" (the first {skipped} omitted)" if skipped else "")
             + ":"]
    for item in shown:
        lines.append(f"ACTION: {item['action']}\n{item['result']}")
    return "\n".join(lines)


def _valid_paths(ctx: SolveContext, text: str) -> list[str]:
    out = []
    for item in re.split(r"[,\s]+", text):
        item = item.strip().strip("`'\".")
        if not item:
            continue
        try:
            path = ctx.workspace.check(item, ctx.options.rules)
        except EditRefused:
            continue
        if ctx.workspace.is_file(path) and path not in out:
            out.append(path)
    return out


def _most_seen(ctx: SolveContext, transcript: list[dict]) -> list[str]:
    counts: Counter[str] = Counter()
    for item in transcript:
        for match in re.finditer(r"^([\w./-]+\.\w+)(?::\d+:| \(lines)", item["result"], re.M):
            counts[match.group(1)] += 1
    return [p for p, _n in counts.most_common(3) if ctx.workspace.is_file(p)]
