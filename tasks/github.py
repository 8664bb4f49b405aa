"""The GitHub side of the bot: the triggering event, and the REST calls it makes (through
PyGithub, with a configurable API URL for GitHub Enterprise). Every text sent to GitHub goes
through `scrub`, so the token can never leave in a comment or a pull request."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

from sleepcoder.tools.errors import clip
from sleepcoder.tools.secrets import scrub
from sleepcoder.tools.userfiles import UserFileError, read_user_text

# in every comment the bot writes: a comment holding it never triggers the bot (with a personal
# token the bot comments as a user with write access, and the command may be a plain word)
BOT_MARK = "<!-- sleepcoder: bot comment -->"
ROLES = ("none", "read", "triage", "write", "maintain", "admin")  # in increasing order


class EventError(ValueError):
    """The event file is missing or is not an issue, issue-comment or review-comment
    event."""


class PermissionUnknown(RuntimeError):
    """The permissions API did not say what the user may do: nothing may start."""


@dataclass(frozen=True)
class IssueEvent:
    name: str  # issues, issue_comment, pull_request_review_comment
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
    actor_type: str = ""  # the comment author's account type: User, Bot, Organization
    path: str = ""  # the file a review comment is on
    line: int | None = None  # ... and its line (None: on the whole file, or outdated)


MAX_EVENT_BYTES = 25 * 1024 * 1024  # GitHub's cap on a webhook payload
EVENT_FILE = "the event file"


def read_event(name: str, path: Path, repo: str) -> IssueEvent:
    """The issue or issue-comment event in the event file; EventError when the file cannot be
    read, is not JSON, or holds a value of the wrong type where the bot reads one."""
    try:
        payload = json.loads(read_user_text(path, EVENT_FILE, MAX_EVENT_BYTES))
    except UserFileError as exc:
        raise EventError(str(exc)) from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, a 5,000-digit number
        raise EventError(f"cannot read {EVENT_FILE} {path}: not valid JSON: "
                         f"{clip(str(exc) or 'too deeply nested', 200)}") from None
    fields = _Fields(path)
    if not isinstance(payload, dict):
        fields.wrong("the event", "an object", payload)
    if name == "pull_request_review_comment" and isinstance(payload.get("pull_request"), dict):
        issue = payload["pull_request"]  # a pull request carries the fields an issue does
    elif name in ("issues", "issue_comment") and isinstance(payload.get("issue"), dict):
        issue = payload["issue"]
    else:
        raise EventError(f"event {name!r} is not an issue, an issue comment or a review "
                         "comment: nothing to do")
    comment = fields.object(payload, "comment")
    sender = fields.text(fields.object(payload, "sender"), "login", "sender")
    labels = issue.get("labels", [])
    if not isinstance(labels, list):
        fields.wrong("issue.labels", "a list", labels)
    locked = issue.get("locked", False)
    if not isinstance(locked, bool | None):
        fields.wrong("issue.locked", "true or false", locked)
    number = issue.get("number")
    if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
        fields.wrong("issue.number", "a positive whole number", number)
    user = fields.object(comment, "user", "comment")
    commenter = fields.text(user, "login", "comment.user")
    line = comment.get("line")
    if line is not None and (not isinstance(line, int) or isinstance(line, bool)):
        fields.wrong("comment.line", "a whole number", line)
    return IssueEvent(
        name=name, action=fields.text(payload, "action", ""),
        repo=repo or fields.text(fields.object(payload, "repository"), "full_name",
                                 "repository"),
        number=number, title=fields.text(issue, "title", "issue"),
        body=fields.text(issue, "body", "issue"),
        state=fields.text(issue, "state", "issue") or "open", locked=bool(locked),
        labels=tuple(fields.text(fields.item(label, f"issue.labels[{i}]"), "name",
                                 f"issue.labels[{i}]") for i, label in enumerate(labels)),
        actor=(commenter or sender) if comment else sender,
        association=fields.text(comment, "author_association", "comment"),
        label=fields.text(fields.object(payload, "label"), "name", "label"),
        comment=fields.text(comment, "body", "comment"),
        is_pull_request=name == "pull_request_review_comment" or "pull_request" in issue,
        actor_type=fields.text(user, "type", "comment.user"),
        path=fields.text(comment, "path", "comment"), line=line)


@dataclass(frozen=True)
class _Fields:
    """Typed reads of the event's JSON: an absent field reads as empty, a field of the wrong
    type (a null where an object belongs, a number where text belongs) is an EventError."""

    path: Path

    def wrong(self, where: str, expected: str, value: Any) -> NoReturn:
        shown = "null" if value is None else clip(json.dumps(value), 40)
        raise EventError(f"{EVENT_FILE} {self.path}: {where} must be {expected}, got {shown}")

    def object(self, data: dict, key: str, parent: str = "") -> dict:
        value = data.get(key, {})
        return self.item(value, f"{parent}.{key}" if parent else key)

    def item(self, value: Any, where: str) -> dict:
        if not isinstance(value, dict):
            self.wrong(where, "an object", value)
        return value

    def text(self, data: dict, key: str, parent: str) -> str:
        value = data.get(key)
        if value is None:  # GitHub sends a null body for an issue without text
            return ""
        if not isinstance(value, str):
            self.wrong(f"{parent}.{key}" if parent else key, "text", value)
        return value


@dataclass
class PullRequest:
    number: int
    url: str
    branch: str


@dataclass(frozen=True)
class PullDetails:
    """What the bot reads of a pull request before it touches it."""

    number: int
    url: str
    branch: str  # the head branch
    head_repo: str  # owner/name of the head branch's repository ('' when it was deleted)
    body: str
    state: str  # open, closed
    locked: bool


@dataclass(frozen=True)
class ReviewComment:
    author: str
    author_type: str
    path: str
    line: int | None
    body: str


MAX_REVIEW_COMMENTS = 100  # one page: the newest review round is what the request needs


@dataclass
class GitHub:
    """The calls the bot makes. `requests` records what was sent (for the run summary)."""

    token: str
    repo: str
    api_url: str = "https://api.github.com"
    sent: list[str] = field(default_factory=list)
    _repo: Any = None

    _client: Any = None

    def _repository(self):
        if self._repo is None:
            from github import Auth, Github

            self._client = Github(auth=Auth.Token(self.token),
                                  base_url=self.api_url.rstrip("/"), retry=None)
            self._repo = self._client.get_repo(self.repo)
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

        try:
            repo = self._repository()
            _headers, data = repo._requester.requestJsonAndCheck(
                "GET", f"{repo.url}/collaborators/{quote(login, safe='')}/permission")
        except GithubException as exc:
            if exc.status == 404:  # not a collaborator
                return "none"
            raise PermissionUnknown(f"could not check the repository permission of @{login}: "
                                    f"the permissions API answered {exc.status}") from None
        except Exception as exc:  # no answer at all (connection, timeout)
            raise PermissionUnknown(f"could not check the repository permission of @{login}: "
                                    f"{type(exc).__name__}: {clip(str(exc), 200)}") from None
        if not isinstance(data, dict):
            raise PermissionUnknown(f"could not check the repository permission of @{login}: "
                                    "the permissions API answered no object")
        role = str(data.get("role_name") or "")
        return role if role in ROLES else str(data.get("permission") or "none")

    def posted_by_us(self, number: int, mark: str) -> bool:
        """Whether the bot already left a comment holding `mark` on the issue: written by a
        bot account (GITHUB_TOKEN and GitHub Apps comment as one) or by the token's own user
        (a personal token). The same text in anyone else's comment does not count."""
        own = ""
        for comment in self._repository().get_issue(number).get_comments():
            user = comment.user
            if mark not in (comment.body or "") or user is None:
                continue
            if user.type == "Bot":
                return True
            own = own or self._own_login()
            if own and user.login == own:
                return True
        return False

    def _own_login(self) -> str:
        """The token's user ('' for an installation token, which GitHub does not let ask)."""
        from github import GithubException

        self._repository()
        try:
            return self._client.get_user().login or ""
        except GithubException:
            return ""

    def issue(self, number: int):
        return self._repository().get_issue(number)

    def comment(self, number: int, body: str) -> str:
        text = self.scrub(body) + f"\n\n{BOT_MARK}"
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

    def _get_json(self, path: str, params: dict | None = None) -> Any:
        repo = self._repository()
        _headers, data = repo._requester.requestJsonAndCheck("GET", f"{repo.url}/{path}",
                                                             parameters=params)
        return data

    def pull(self, number: int) -> PullDetails:
        data = self._get_json(f"pulls/{number}")
        head = data.get("head") or {}
        return PullDetails(number, str(data.get("html_url") or ""), str(head.get("ref") or ""),
                           str((head.get("repo") or {}).get("full_name") or ""),
                           str(data.get("body") or ""), str(data.get("state") or "open"),
                           bool(data.get("locked")))

    def review_comments(self, number: int) -> list[ReviewComment]:
        """The pull request's review comments (on lines of its diff), oldest first."""
        data = self._get_json(f"pulls/{number}/comments", {"per_page": MAX_REVIEW_COMMENTS})
        out = []
        for item in data if isinstance(data, list) else []:
            user = item.get("user") or {}
            line = item.get("line")
            out.append(ReviewComment(str(user.get("login") or ""), str(user.get("type") or ""),
                                     str(item.get("path") or ""),
                                     line if isinstance(line, int) else None,
                                     str(item.get("body") or "")))
        return out

    def create_draft_pull(self, title: str, body: str, branch: str, base: str) -> PullRequest:
        pull = self._repository().create_pull(title=self.scrub(title), body=self.scrub(body),
                                              head=branch, base=base, draft=True)
        self.sent.append(f"draft pull {branch}")
        return PullRequest(pull.number, pull.html_url, branch)
