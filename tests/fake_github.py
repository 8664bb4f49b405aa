"""A small local stand-in for the GitHub REST API: the endpoints the bot uses (repository,
issue, comments, labels, pulls and their review comments, collaborator permission), with
GitHub's payload shapes, and a record of every request it received."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse


@dataclass
class Recorded:
    method: str
    path: str
    body: str
    headers: dict[str, str]


@dataclass
class FakeGitHub:
    repo: str = "acme/inventory"
    default_branch: str = "main"
    issues: dict[int, dict] = field(default_factory=dict)
    comments: dict[int, list[dict]] = field(default_factory=dict)
    pulls: list[dict] = field(default_factory=list)
    review_comments: dict[int, list[dict]] = field(default_factory=dict)  # by pull number
    permissions: dict[str, str] = field(default_factory=dict)
    # the user a personal token belongs to; "" acts as GITHUB_TOKEN (an installation token,
    # which comments as a bot account and may not read /user)
    token_user: str = ""
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""

    def add_issue(self, number: int, title: str, body: str, *, state: str = "open",
                  locked: bool = False, labels: tuple[str, ...] = ()) -> dict:
        issue = {"number": number, "title": title, "body": body, "state": state,
                 "locked": locked, "labels": [{"name": n} for n in labels]}
        self.issues[number] = issue
        return issue

    def add_pull(self, number: int, branch: str, body: str, *, title: str = "A change",
                 head_repo: str = "", state: str = "open") -> dict:
        """A pull request someone opened (the bot's own are made through the API)."""
        pull = {"id": 9000 + number, "number": number, "state": state, "title": title,
                "body": body, "draft": False, "locked": False,
                "user": {"login": "someone", "type": "User"},
                "head": {"ref": branch, "label": branch,
                         "repo": {"full_name": head_repo or self.repo}},
                "base": {"ref": self.default_branch},
                "url": f"{self.url}/repos/{self.repo}/pulls/{number}",
                "html_url": f"https://github.example/{self.repo}/pull/{number}"}
        self.pulls.append(pull)
        return pull

    def start(self) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, payload) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                fake.requests.append(Recorded(method, self.path, body, dict(self.headers)))
                status, payload = fake.route(method, self.path, json.loads(body) if body else {})
                self._send(status, payload)

            def do_GET(self):  # noqa: N802
                self._handle("GET")

            def do_POST(self):  # noqa: N802
                self._handle("POST")

            def do_DELETE(self):  # noqa: N802
                self._handle("DELETE")

            def do_PATCH(self):  # noqa: N802
                self._handle("PATCH")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    # --- payloads ----------------------------------------------------------------------------

    def _repo_json(self) -> dict:
        owner, name = self.repo.split("/")
        return {"id": 1, "name": name, "full_name": self.repo, "private": False,
                "default_branch": self.default_branch, "owner": {"login": owner, "id": 1},
                "url": f"{self.url}/repos/{self.repo}",
                "html_url": f"https://github.example/{self.repo}"}

    def _issue_json(self, issue: dict) -> dict:
        n = issue["number"]
        base = f"{self.url}/repos/{self.repo}/issues/{n}"
        return {**issue, "id": 1000 + n, "url": base, "comments_url": f"{base}/comments",
                "labels_url": f"{base}/labels{{/name}}",
                "html_url": f"https://github.example/{self.repo}/issues/{n}",
                "user": {"login": "reporter", "id": 7}}

    def route(self, method: str, raw_path: str, body: dict):
        parsed = urlparse(raw_path)
        path = parsed.path.removeprefix("/api/v3")
        query = parse_qs(parsed.query)
        prefix = f"/repos/{self.repo}"
        if method == "GET" and path == prefix:
            return 200, self._repo_json()
        if method == "GET" and path == "/user":
            if not self.token_user:
                return 403, {"message": "Resource not accessible by integration"}
            return 200, {"login": self.token_user, "id": 8, "type": "User"}
        match = re.fullmatch(prefix + r"/issues/(\d+)", path)
        if match and method == "GET":
            number = int(match.group(1))
            issue = self.issues.get(number)
            if issue is None:  # GitHub serves every pull request as an issue too
                pull = next((p for p in self.pulls if p["number"] == number), None)
                issue = pull and {"number": number, "title": pull["title"],
                                  "body": pull["body"], "state": pull["state"],
                                  "locked": pull["locked"], "labels": [],
                                  "pull_request": {"url": pull["url"]}}
            return (200, self._issue_json(issue)) if issue else (404, {"message": "Not Found"})
        match = re.fullmatch(prefix + r"/issues/(\d+)/comments", path)
        if match and method == "POST":
            number = int(match.group(1))
            items = self.comments.setdefault(number, [])
            comment_id = 5000 + len(items) + 100 * number
            comment = {"id": comment_id, "body": body.get("body", ""),
                       "user": ({"login": self.token_user, "id": 8, "type": "User"}
                                if self.token_user else
                                {"login": "sleepcoder[bot]", "id": 9, "type": "Bot"}),
                       "url": f"{self.url}{prefix}/issues/comments/{comment_id}",
                       "html_url": f"https://github.example/{self.repo}/issues/{number}"
                                   f"#issuecomment-{comment_id}"}
            items.append(comment)
            return 201, comment
        if match and method == "GET":
            return 200, self.comments.get(int(match.group(1)), [])
        match = re.fullmatch(prefix + r"/issues/(\d+)/labels/(.+)", path)
        if match and method == "DELETE":
            issue = self.issues.get(int(match.group(1)))
            name = unquote(match.group(2))
            if issue is None or name not in [label["name"] for label in issue["labels"]]:
                return 404, {"message": "Label does not exist"}
            issue["labels"] = [label for label in issue["labels"] if label["name"] != name]
            return 200, issue["labels"]
        if path == prefix + "/pulls" and method == "GET":
            head = query.get("head", [""])[0].split(":", 1)[-1]
            state = query.get("state", ["open"])[0]
            found = [p for p in self.pulls if (not head or p["head"]["ref"] == head)
                     and (state == "all" or p["state"] == state)]
            return 200, found
        if path == prefix + "/pulls" and method == "POST":
            number = 100 + len(self.pulls)
            pull = {"id": 9000 + number, "number": number, "state": "open",
                    "title": body.get("title"), "body": body.get("body"),
                    "draft": body.get("draft", False),
                    "locked": False, "user": {"login": "sleepcoder[bot]", "type": "Bot"},
                    "head": {"ref": body.get("head"), "label": body.get("head"),
                             "repo": {"full_name": self.repo}},
                    "base": {"ref": body.get("base")},
                    "url": f"{self.url}{prefix}/pulls/{number}",
                    "html_url": f"https://github.example/{self.repo}/pull/{number}"}
            self.pulls.append(pull)
            return 201, pull
        match = re.fullmatch(prefix + r"/pulls/(\d+)", path)
        if match and method == "GET":
            number = int(match.group(1))
            found = [p for p in self.pulls if p["number"] == number]
            return (200, found[0]) if found else (404, {"message": "Not Found"})
        match = re.fullmatch(prefix + r"/pulls/(\d+)/comments", path)
        if match and method == "GET":
            return 200, self.review_comments.get(int(match.group(1)), [])
        match = re.fullmatch(prefix + r"/collaborators/([^/]+)/permission", path)
        if match and method == "GET":
            login = unquote(match.group(1))
            if login not in self.permissions:
                return 404, {"message": "Not Found"}
            role = self.permissions[login]
            legacy = {"maintain": "write", "triage": "read"}.get(role, role)
            return 200, {"permission": legacy, "role_name": role, "user": {"login": login}}
        return 404, {"message": f"no route for {method} {path}"}
