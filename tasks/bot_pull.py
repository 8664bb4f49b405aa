"""The bot on its own draft pull requests: a trusted `/sleepcoder <instructions>` comment (on
the conversation, or on a line of the diff) continues the work on the pull request's branch,
from the branch as it is now, with a follow-up commit pushed without force."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sleepcoder.tasks.bot import (
    BOT_NAME,
    PULL_MARK,
    BotEnv,
    BotOutcome,
    build_request,
    deliver,
    reported,
)
from sleepcoder.tasks.github import (
    GitHub,
    IssueEvent,
    PullDetails,
    PullRequest,
    ReviewComment,
)
from sleepcoder.tools.config import Config

NOT_OURS_MARK = "<!-- sleepcoder: not a sleepcoder pull request -->"
MAX_REVIEW_CHARS = 6_000  # all review comments together; each one at most:
MAX_REVIEW_COMMENT_CHARS = 1_000


def run_on_pull(env: BotEnv, event: IssueEvent, config: Config, gh: GitHub,
                instruction: str, progress: Any, refusal: str) -> BotOutcome:
    """Handle a `/sleepcoder` comment on a pull request (the trigger and the commenter's
    trust are already checked: `refusal` says why not to act, '' to go on)."""
    if refusal:  # no reply: a review thread is no place for a stranger to make the bot talk
        return BotOutcome("refused", refusal)
    return reported(gh, event, env,
                    lambda: _continue(env, event, config, gh, instruction, progress))


def _continue(env: BotEnv, event: IssueEvent, config: Config, gh: GitHub, instruction: str,
              progress: Any) -> BotOutcome:
    pull = gh.pull(event.number)
    issue_number = our_issue(pull, config, event.repo)
    if issue_number is None:
        reason = f"pull request #{event.number} was not opened by sleepcoder"
        if not pull.locked and not gh.posted_by_us(event.number, NOT_OURS_MARK):
            # one reply per pull request, however many comments follow
            gh.comment(event.number, f"@{event.actor} sleepcoder continues only the draft pull "
                                     "requests it opened itself. To have it work on an issue, "
                                     f"label the issue `{config.bot.label}` or comment "
                                     f"`{config.bot.command} ...` on it.\n\n{NOT_OURS_MARK}")
        return BotOutcome("skipped", reason)
    if pull.state != "open":
        reason = f"pull request #{event.number} is closed: nothing to do"
        gh.comment(event.number, f"sleepcoder: {reason}.")
        return BotOutcome("skipped", reason)
    if pull.locked:
        return BotOutcome("skipped", f"pull request #{event.number} is locked")
    issue = gh.issue(issue_number)
    # the request is about the original issue; the maintainer's words come with it
    origin = replace(event, number=issue_number, title=issue.title or "",
                     body=issue.body or "")
    reviews = [r for r in gh.review_comments(event.number)
               if r.author_type != "Bot" and r.author != BOT_NAME]
    where = f" on the draft pull request #{event.number}"
    if event.path:
        where += f", about `{event.path}`" + (f" line {event.line}" if event.line else "")
    request = build_request(origin, instruction, review_context(reviews), where)
    existing = PullRequest(pull.number, pull.url, pull.branch)
    return deliver(env, origin, config, gh, pull.branch, existing, instruction, request,
                   progress, reply_to=event.number)


def our_issue(pull: PullDetails, config: Config, repo: str) -> int | None:
    """The issue a sleepcoder pull request implements, or None when the bot did not open it:
    a branch of this repository (not a fork) named `<branch_prefix><issue>` and the bot's
    mark in the body (a human's branch of that name alone does not make it ours)."""
    prefix = config.bot.branch_prefix
    number = pull.branch[len(prefix):] if pull.branch.startswith(prefix) else ""
    if pull.head_repo.casefold() != repo.casefold() or PULL_MARK not in pull.body:
        return None
    # exactly the name the bot gives its branches: no sign, no leading zero
    if not (number.isascii() and number.isdigit()) or str(int(number)) != number \
            or int(number) <= 0:
        return None
    return int(number)


def review_context(reviews: list[ReviewComment]) -> str:
    """The review comments as the request shows them: each with its file and line, newest
    last, cut to fit (the oldest are dropped first, with a notice)."""
    lines: list[str] = []
    used = 0
    for review in reversed(reviews):
        place = f"`{review.path}`" + (f" line {review.line}" if review.line else "")
        body = review.body.strip()
        if len(body) > MAX_REVIEW_COMMENT_CHARS:
            body = body[:MAX_REVIEW_COMMENT_CHARS - 1] + "…"
        line = f"- {place} (@{review.author}): " + body.replace("\n", "\n  ")
        if used + len(line) > MAX_REVIEW_CHARS:
            lines.append(f"[{len(reviews) - len(lines)} older review comment(s) left out]")
            break
        lines.append(line)
        used += len(line)
    if not lines:
        return ""
    return "Review comments on the pull request (file and line):\n" + "\n".join(reversed(lines))
