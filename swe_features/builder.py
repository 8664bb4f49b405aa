"""Mine a SWE-Features set from a repository's history: merged pull requests that add
functionality and modify several existing source files.

A merge commit "Merge pull request #N from ..." gives base = merge-base of its parents and
head = its second parent; a squash commit whose subject ends in "(#N)" gives base = its
parent. Title and body come from the commit message. Kept: at least `min_code_files` existing
code files modified (.py/.js unless `code_suffixes` says otherwise), fewer than `max_lines`
changed lines and `max_files` files, and a title that does not read like a fix, revert,
version bump, refactor or chore (with `feature_titles`, one that also names new
functionality: tools/titles.py). An optional model filter asks whether the change adds new
functionality, as the paper did; `spread` keeps a sample evenly spaced over the history.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sleepcoder.swe_features.dataset import CODE_SUFFIXES, ChangedFile, Instance
from sleepcoder.tools.titles import CHORE_TITLES, reads_like_feature

_MERGE = re.compile(r"^Merge pull request #(\d+) from (\S+)")
_SQUASH = re.compile(r"^(.*?)\s*\(#(\d+)\)\s*$")
_TRAILERS = re.compile(r"^(Co-authored-by|Signed-off-by|Reviewed-by|Acked-by):", re.I)
EXCLUDE_TITLES = CHORE_TITLES  # the negative filter (kept under its old name)
_STATUS = {"M": "modified", "A": "added", "D": "removed", "R": "renamed", "C": "added",
           "T": "modified"}


@dataclass(frozen=True)
class BuildFilters:
    min_code_files: int = 3
    max_lines: int = 1500
    max_files: int = 40
    title_filter: bool = True
    since: str = ""  # only PRs merged after this date (git's --since syntax)
    limit: int = 0  # newest first; 0 = all
    with_patches: bool = True
    # what counts as a code file for `min_code_files` (a TypeScript repository needs .ts/.tsx)
    code_suffixes: tuple[str, ...] = CODE_SUFFIXES
    spread: int = 0  # keep at most this many, evenly spaced over the history; 0 = all
    # also require a title that names new functionality (add, support, option...) and no
    # upgrade, formatting, typing, move or removal (tools/titles.py): closer to a hand selection
    feature_titles: bool = False


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), "-c", "core.quotepath=off", *args],
                            capture_output=True, text=True, errors="replace",
                            env={**os.environ, "GIT_LITERAL_PATHSPECS": "1"})
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:2])} failed: {result.stderr.strip()[:300]}")
    return result.stdout


def _clean_body(lines: list[str]) -> str:
    kept = [line for line in lines if not _TRAILERS.match(line.strip())]
    while kept and kept[-1].strip() in ("", "---"):
        kept.pop()
    while kept and not kept[0].strip():
        kept.pop(0)
    return "\n".join(kept).strip()


def since_problem(repo: Path, since: str) -> str:
    """Why `since` cannot select merges of `repo` ('' when it can). Git reads almost any text
    as a date and what it cannot read as now, so a typo would silently select nothing: a date
    that git places now or later is refused."""
    import time

    before = int(time.time())
    result = subprocess.run(["git", "-C", str(repo), "rev-parse", f"--since={since}"],
                            capture_output=True, text=True, errors="replace")
    stamp = result.stdout.strip().removeprefix("--max-age=")
    if result.returncode == 0 and stamp.isdigit() and int(stamp) < before:
        return ""
    return (f"--since {since!r} is not a date in the past as git reads it (e.g. 2024-01-31, "
            "'6 months ago')")


def candidate_prs(repo: Path, since: str = "") -> list[dict]:
    """Merged PRs found in the history of HEAD, newest first."""
    args = ["log", "--format=%H%x00%P%x00%cI%x00%an%x00%B%x01"]
    if since:
        args.append(f"--since={since}")
    out = []
    for raw in _git(repo, *args, "HEAD").split("\x01"):
        raw = raw.strip("\n")
        if not raw:
            continue
        sha, parents, date, author, message = raw.split("\x00", 4)
        parents_list = parents.split()
        lines = message.strip("\n").splitlines()
        subject = lines[0] if lines else ""
        merge = _MERGE.match(subject)
        if merge and len(parents_list) == 2:
            rest = lines[1:]
            while rest and not rest[0].strip():
                rest.pop(0)
            title = rest[0].strip() if rest else merge.group(2)
            out.append({"number": int(merge.group(1)), "kind": "merge", "head": parents_list[1],
                        "parents": parents_list, "date": date, "author": author,
                        "title": title, "body": _clean_body(rest[1:]), "commit": sha})
            continue
        squash = _SQUASH.match(subject)
        if squash and len(parents_list) == 1:
            out.append({"number": int(squash.group(2)), "kind": "squash", "head": sha,
                        "parents": parents_list, "date": date, "author": author,
                        "title": squash.group(1).strip(), "body": _clean_body(lines[1:]),
                        "commit": sha})
    return out


def build(repo: Path, repo_name: str, filters: BuildFilters | None = None,
          is_feature: Callable[[str, str], bool] | None = None,
          progress: Callable[[int, int], None] | None = None,
          unreadable: list[str] | None = None) -> list[Instance]:
    """Instances mined from `repo` (a checkout or a bare mirror). A PR whose changes git
    cannot read (objects missing from a pruned mirror) is skipped and, when `unreadable` is
    given, named there with git's reason."""
    filters = filters or BuildFilters()
    found: list[Instance] = []
    seen: set[int] = set()
    prs = candidate_prs(repo, filters.since)
    for index, pr in enumerate(prs):
        if progress:
            progress(index + 1, len(prs))
        if pr["number"] in seen:
            continue
        if filters.title_filter and EXCLUDE_TITLES.search(pr["title"]):
            continue
        if filters.feature_titles and not reads_like_feature(pr["title"]):
            continue
        try:
            if pr["kind"] == "merge":
                base = _git(repo, "merge-base", *pr["parents"]).strip()
            else:
                base = pr["parents"][0]
            files, lines = _changes(repo, base, pr["head"])
        except RuntimeError as exc:
            if unreadable is not None:
                unreadable.append(f"#{pr['number']}: {exc}")
            continue
        code = [f for f in files if f.status == "modified"
                and f.filename.endswith(filters.code_suffixes)]
        if len(code) < filters.min_code_files or len(files) >= filters.max_files or \
                lines >= filters.max_lines:
            continue
        if is_feature is not None and not is_feature(pr["title"], pr["body"]):
            continue
        if filters.with_patches:
            try:
                files = [ChangedFile(f.filename, f.status,
                                     _file_patch(repo, base, pr["head"], f)) for f in files]
            except RuntimeError as exc:
                if unreadable is not None:
                    unreadable.append(f"#{pr['number']}: {exc}")
                continue
        seen.add(pr["number"])
        found.append(Instance(f"{repo_name.replace('/', '__')}-{pr['number']}", repo_name,
                              pr["number"], pr["title"], pr["body"], base, files, pr["date"],
                              pr["author"], "merged", {"merge_commit": pr["commit"],
                                                       "kind": pr["kind"]}))
        if filters.limit and len(found) >= filters.limit:
            break
    return spread(found, filters.spread) if filters.spread else found


def spread(instances: list[Instance], count: int) -> list[Instance]:
    """At most `count` of `instances` (newest first), evenly spaced over them, so that a
    repository's old and recent code are both represented; the order is kept."""
    if len(instances) <= count:
        return instances
    step = len(instances) / count
    return [instances[int(i * step + step / 2)] for i in range(count)]


def _changes(repo: Path, base: str, head: str) -> tuple[list[ChangedFile], int]:
    statuses = _git(repo, "diff", "-M", "--name-status", "-z", base, head).split("\x00")
    files: list[ChangedFile] = []
    i = 0
    while i < len(statuses) - 1:
        code = statuses[i]
        if not code:
            i += 1
            continue
        if code[0] in "RC":
            files.append(ChangedFile(statuses[i + 2], _STATUS[code[0]]))
            i += 3
        else:
            files.append(ChangedFile(statuses[i + 1], _STATUS.get(code[0], "modified")))
            i += 2
    lines = 0
    for row in _git(repo, "diff", "-M", "--numstat", base, head).splitlines():
        added, removed, _path = row.split("\t", 2)
        if added.isdigit() and removed.isdigit():
            lines += int(added) + int(removed)
    return files, lines


def _file_patch(repo: Path, base: str, head: str, changed: ChangedFile) -> str:
    if changed.status != "modified":
        return ""
    return _git(repo, "diff", base, head, "--", changed.filename)


def ask_model_is_feature(llm) -> Callable[[str, str], bool]:
    """The paper's filter: the model says whether a PR adds new functionality."""
    def decide(title: str, body: str) -> bool:
        answer = llm.complete([
            {"role": "system", "content": "You classify pull requests. Answer YES or NO."},
            {"role": "user", "content": "Does this pull request add new functionality (a "
             "feature, option, command, hook or support for something new), rather than fix a "
             f"bug, refactor, document or maintain?\n\nTitle: {title}\n\n{body[:2000]}\n\n"
             "Answer YES or NO."}], phase="sleep", node="feature_filter", max_tokens=4)
        return answer.text.strip().upper().startswith("YES")
    return decide
