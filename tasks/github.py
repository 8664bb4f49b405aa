"""The GitHub side of the bot: the triggering event, and the REST calls it makes (through
PyGithub, with a configurable API URL for GitHub Enterprise). Every text sent to GitHub goes
through `scrub`, so the token can never leave in a comment or a pull request."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tools.secrets import scrub

ROLES = ("none", "read", "triage", "write", "maintain", "admin")  # in increasing order


class EventError(ValueError):
    """The event file is missing or is not an issue or issue-comment event."""


@dataclass(frozen=True)
class IssueEvent:
    name: str  # issues, issue_comment
    action: str  # labeled, created, ...
    repo: str  # owner/name
    number: int
    title: str
    body: str
    state: str  # open, closed
    locked: bool
    labels: tuple[str, ...]
    actor: str  # who labeled or commented
    association: str  # the comment author's association (comment events)
    label: str = ""  # the label just added (labeled events)
    comment: str = ""  # the comment text (comment events)
    is_pull_request: bool = False


def read_event(name: str, path: Path, repo: str) -> IssueEvent:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise EventError(f"cannot read the event file {path}: {exc}") from exc
    issue = payload.get("issue")
    if name not in ("issues", "issue_comment") or not isinstance(issue, dict):
        raise EventError(f"event {name!r} is not an issue or an issue comment: nothing to do")
    comment = payload.get("comment") or {}
    sender = (payload.get("sender") or {}).get("login", "")
    return IssueEvent(
        name=name, action=payload.get("action", ""),
        repo=repo or (payload.get("repository") or {}).get("full_name", ""),
        number=int(issue["number"]), title=issue.get("title") or "",
        body=issue.get("body") or "", state=issue.get("state", "open"),
        locked=bool(issue.get("locked")),
        labels=tuple(label.get("name", "") for label in issue.get("labels", [])),
        actor=(comment.get("user") or {}).get("login", sender) if comment else sender,
        association=comment.get("author_association", "") if comment else "",
        label=(payload.get("label") or {}).get("name", ""),
        comment=comment.get("body") or "", is_pull_request="pull_request" in issue)


@dataclass
class PullRequest:
    number: int
    url: str
    branch: str


@dataclass
class GitHub:
    """The calls the bot makes. `requests` records what was sent (for the run summary)."""

    token: str
    repo: str
    api_url: str = "https://api.github.com"
    sent: list[str] = field(default_factory=list)
    _repo: Any = None

    def _repository(self):
        if self._repo is None:
            from github import Auth, Github

            client = Github(auth=Auth.Token(self.token), base_url=self.api_url.rstrip("/"),
                            retry=None)
            self._repo = client.get_repo(self.repo)
        return self._repo

    def scrub(self, text: str) -> str:
        """`text` without the token or any other known secret (tools/secrets.py)."""
        text = scrub(text)
        return text.replace(self.token, "[REDACTED:token]") if self.token else text

    def default_branch(self) -> str:
        return self._repository().default_branch

    def permission(self, login: str) -> str:
        """The user's role on the repository: admin, maintain, write, triage, read or none.

        GitHub's `permission` field folds maintain into write and triage into read; its
        `role_name` keeps them (a custom role falls back to the folded permission)."""
        from github import GithubException

        repo = self._repository()
        try:
            _headers, data = repo._requester.requestJsonAndCheck(
                "GET", f"{repo.url}/collaborators/{quote(login, safe='')}/permission")
        except GithubException as exc:
            if exc.status == 404:  # not a collaborator
                return "none"
            raise
        role = str(data.get("role_name") or "")
        return role if role in ROLES else str(data.get("permission") or "none")

    def comments(self, number: int) -> list[str]:
        """The bodies of the issue's comments, oldest first."""
        return [c.body or "" for c in self._repository().get_issue(number).get_comments()]

    def issue(self, number: int):
        return self._repository().get_issue(number)

    def comment(self, number: int, body: str) -> str:
        text = self.scrub(body)
        self.sent.append(f"comment #{number}")
        return self._repository().get_issue(number).create_comment(text).html_url

    def remove_label(self, number: int, label: str) -> None:
        try:
            self._repository().get_issue(number).remove_from_labels(label)
            self.sent.append(f"unlabel #{number} {label}")
        except Exception:  # already removed: nothing to do
            pass

    def open_pull(self, branch: str) -> PullRequest | None:
        owner = self.repo.split("/", 1)[0]
        for pull in self._repository().get_pulls(state="open", head=f"{owner}:{branch}"):
            return PullRequest(pull.number, pull.html_url, branch)
        return None

    def create_draft_pull(self, title: str, body: str, branch: str, base: str) -> PullRequest:
        pull = self._repository().create_pull(title=self.scrub(title), body=self.scrub(body),
                                              head=branch, base=base, draft=True)
        self.sent.append(f"draft pull {branch}")
        return PullRequest(pull.number, pull.html_url, branch)
