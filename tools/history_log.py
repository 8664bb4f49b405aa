"""Reading a repository's history for the map, in a thread while the parser runs, and
whatever objects the repository lacks (a partial clone, a pruned mirror, a shallow clone):
unreadable commits are skipped and counted, never a crash.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sleepcoder.tools import gitutil, history
from sleepcoder.tools.config import Config
from sleepcoder.tools.errors import git_error
from sleepcoder.tools.history import CommitRecord
from sleepcoder.tools.store import MapStore

_MESSAGE_CHARS = 600
_BATCH = 400  # commits per `git log --no-walk` call when the history must be read piecemeal


class HistoryUnreadable(Exception):
    """Not even the list of commits can be read (a commit object is missing)."""


@dataclass
class LogResult:
    records: list[CommitRecord]
    unreadable: list[str] = field(default_factory=list)  # commits whose changes git can't read
    renames: bool = True  # renames followed; False once an old file version could not be read
    problem: str = ""  # what git said the first time it failed, clipped


def read_log(repo: gitutil.Repo, revision_range: str, max_commits: int,
             renames: bool = True) -> LogResult:
    """Commits in `revision_range`, oldest first, with their changed files: every non-merge
    commit, and the merges of the first-parent line (a merged pull request's title lives in
    its merge commit) with the files they changed against their first parent.

    Objects can be missing (a partial clone, a mirror whose largest blobs were dropped). Rename
    detection reads old file versions, so on failure the log is read again without it; if
    that fails too (a missing tree), commits are read in batches and the ones git cannot
    read are isolated and returned as `unreadable`, with no files."""
    problem = ""
    for flag in (["-M"] if renames else []) + ["--no-renames"]:
        try:
            return LogResult(_read(repo, revision_range, max_commits, flag),
                             renames=flag == "-M", problem=problem)
        except gitutil.GitCommandError as exc:
            problem = problem or git_error(exc)
    try:
        commits = _log(repo, ["--no-merges"], _range(revision_range, max_commits), False,
                       changes=False)
        merges = _log(repo, ["--merges", "--first-parent"],
                      _range(revision_range, max_commits), True, changes=False)
    except gitutil.GitCommandError as exc:
        raise HistoryUnreadable(git_error(exc)) from None
    unreadable = _read_changes(repo, commits, ["--no-merges"]) + \
        _read_changes(repo, merges, ["--merges", "--first-parent", "-m"])
    return LogResult(_interleave(commits, merges), unreadable, False, problem)


def _range(revision_range: str, max_commits: int) -> list[str]:
    limit = [f"--max-count={max_commits}"] if max_commits else []
    return ["--reverse", *limit, revision_range]


def _read(repo: gitutil.Repo, revision_range: str, max_commits: int,
          renames: str) -> list[CommitRecord]:
    revisions = _range(revision_range, max_commits)
    commits = _log(repo, ["--no-merges", renames], revisions, merge=False)
    merges = _log(repo, ["--merges", "--first-parent", "-m", renames], revisions, merge=True)
    return _interleave(commits, merges)


def _read_changes(repo: gitutil.Repo, records: list[CommitRecord], selection: list[str]
                  ) -> list[str]:
    """Fill in the changed files of `records`, a batch per `git log --no-walk` call; a batch
    that fails is halved until the commits git cannot read are single ones. Returns those."""
    by_sha = {record.sha: record for record in records}
    shas = list(by_sha)
    pending = [shas[i:i + _BATCH] for i in range(0, len(shas), _BATCH)]
    unreadable: list[str] = []
    while pending:
        batch = pending.pop()
        try:
            read = _log(repo, [*selection, "--no-renames", "--no-walk=unsorted"], batch,
                        merge=by_sha[batch[0]].merge)
        except gitutil.GitCommandError:
            if len(batch) == 1:
                by_sha[batch[0]].unreadable = True
                unreadable.append(batch[0])
            else:
                pending += [batch[: len(batch) // 2], batch[len(batch) // 2:]]
            continue
        for record in read:
            if record.sha in by_sha:
                by_sha[record.sha].files = record.files
    order = {sha: i for i, sha in enumerate(shas)}
    return sorted(unreadable, key=order.__getitem__)


def _interleave(commits: list[CommitRecord], merges: list[CommitRecord]) -> list[CommitRecord]:
    """Commits keep git's order; each merge goes before the first commit made after it."""
    out: list[CommitRecord] = []
    pending = sorted(merges, key=lambda m: m.time)
    for commit in commits:
        while pending and pending[0].time < commit.time:
            out.append(pending.pop(0))
        out.append(commit)
    return out + pending


def _log(repo: gitutil.Repo, selection: list[str], revisions: list[str], merge: bool,
         changes: bool = True) -> list[CommitRecord]:
    args = ["log", *selection, "-z", *(["--name-status"] if changes else []),
            "--format=%x01%H%x02%ct%x02%P%x02%s%x02%b%x03", *revisions]
    raw = repo.run(*args)
    commits: dict[str, CommitRecord] = {}
    for chunk in raw.split(b"\x01"):
        if not chunk:
            continue
        header, _, body = chunk.partition(b"\x03")
        sha, time, parents, subject, message = header.decode("utf-8", "replace").split(
            "\x02", 4)
        if merge:  # "Merge pull request #12 from x/y" + the PR title on the next line
            lines = [line for line in message.splitlines() if line.strip()]
            if lines and subject.startswith("Merge"):
                subject, message = lines[0], "\n".join(lines[1:])
        record = commits.get(sha) or CommitRecord(sha, int(time), subject,
                                                  message=message.strip()[:_MESSAGE_CHARS],
                                                  merge=merge, root=not parents.strip())
        commits[sha] = record
        tokens = [t.decode("utf-8", "replace") for t in body.lstrip(b"\0\n").split(b"\0")]
        tokens.append("")
        i = 0
        while i < len(tokens) - 1:
            status = tokens[i].strip()
            if not status:
                i += 1
            elif status[0] in "RC":  # rename/copy: old path, then new path
                record.files.append((status[0], tokens[i + 2], tokens[i + 1]))
                i += 3
            else:
                record.files.append((status[0], tokens[i + 1], ""))
                i += 2
    return list(commits.values())


@dataclass
class HistoryOutcome:
    new_commits: int
    mode: str  # none, unchanged, built, rebuilt, extended, failed
    unreadable: int = 0  # commits whose changes git could not read (missing objects)
    notices: list[str] = field(default_factory=list)


class HistoryJob:
    """Reads `git log` in a thread while the parser runs; stores the result at the end."""

    def __init__(self, store: MapStore, repo, commit: str | None, config: Config) -> None:
        self.repo = repo
        self.commit = commit
        self.config = config.map
        self.last = store.get_meta("history_head") or None
        self.result: LogResult | None = None
        self.error: BaseException | None = None
        self.mode = "none"
        self.partial = False
        self.thread = threading.Thread(target=self._read, daemon=True)

    def start(self) -> None:
        if self.repo is not None and self.commit is not None and self.last != self.commit:
            self.thread.start()

    def _read(self) -> None:
        try:
            # following renames in a partial clone would download old versions of files
            self.partial = gitutil.promisor_remote(self.repo) is not None
            if self.last and gitutil.is_ancestor(self.repo, self.last, self.commit):
                self.mode = "extended"
                revisions = f"{self.last}..{self.commit}"
            else:
                self.mode = "rebuilt" if self.last else "built"
                revisions = self.commit
            self.result = read_log(self.repo, revisions, self.config.history_max_commits,
                                   renames=not self.partial)
        except BaseException as exc:  # re-raised in the main thread by finish()
            self.error = exc

    def finish(self, conn) -> HistoryOutcome:
        if self.repo is None or self.commit is None:
            history.store_commits(conn, [], "rebuilt", self.config)
            conn.execute("DELETE FROM meta WHERE key='history_head'")
            return HistoryOutcome(0, "none")
        if self.last == self.commit:
            return HistoryOutcome(0, "unchanged")
        self.thread.join()
        if isinstance(self.error, HistoryUnreadable):  # the stored history stays
            return HistoryOutcome(0, "failed", notices=[
                f"history not read: git cannot list the commits ({self.error}); "
                "the map has no new history"])
        if self.error is not None:
            raise self.error
        assert self.result is not None
        history.store_commits(conn, self.result.records, self.mode, self.config)
        conn.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('history_head', ?)", (self.commit,)
        )
        return HistoryOutcome(len(self.result.records), self.mode,
                              len(self.result.unreadable), self._notices(self.result))

    def _notices(self, result: LogResult) -> list[str]:
        notices = []
        if self.partial:
            notices.append("partial clone: history does not follow renames (that would "
                           "download old versions of files)")
        elif not result.renames:
            notices.append("history does not follow renames: git could not read old "
                           f"versions of files ({result.problem})")
        if result.unreadable:
            first = ", ".join(sha[:10] for sha in result.unreadable[:3])
            notices.append(f"history: {len(result.unreadable)} commits skipped, their "
                           f"changes are unreadable (objects missing from the repository): "
                           f"{first}{' …' if len(result.unreadable) > 3 else ''}")
        return notices
