"""The bot's git operations on the workspace checkout: the commit to start from, the commit of
the patch (checked once more exactly as it will be committed) and the push, which never
overwrites a branch someone else moved."""

from __future__ import annotations

import tempfile
from pathlib import Path

from sleepcoder.tools.patch_check import check_patch
from sleepcoder.tools.pathguard import PathRules
from sleepcoder.tools.secrets import scrub
from sleepcoder.tools.worktree import git

BOT_NAME = "sleepcoder[bot]"
BOT_EMAIL = "sleepcoder-bot@users.noreply.github.com"


class BotFailure(Exception):
    """A run that cannot deliver: the message is posted on the issue."""

    def __init__(self, message: str, patch: str = "") -> None:
        super().__init__(message)
        self.patch = patch


def base_commit(workspace: Path, branch: str, auth: dict[str, str]) -> str:
    """The commit to work from: the pull request's branch as it is on the remote now (also
    after someone force-pushed it: `+` takes the remote's word), else HEAD."""
    if not branch:
        return git(workspace, "rev-parse", "HEAD").stdout.strip()
    tracking = f"refs/remotes/origin/{branch}"
    fetched = git(workspace, "fetch", "--quiet", "origin", f"+refs/heads/{branch}:{tracking}",
                  env=auth, check=False)
    if fetched.returncode != 0:
        raise BotFailure(f"the branch `{branch}` of the pull request could not be fetched: "
                         + scrub(fetched.stderr.strip()[-300:]))
    return git(workspace, "rev-parse", "--verify", f"{tracking}^{{commit}}").stdout.strip()


def commit_patch(workspace: Path, base: str, patch: str, message: str, rules: PathRules) -> str:
    """A commit of `patch` on top of `base`, made in a throwaway worktree, after checking the
    patch once more (paths, modes, secrets) exactly as it will be committed."""
    _entries, refused = check_patch(patch, rules)
    if refused:
        raise BotFailure("the patch was refused before committing: " + "; ".join(
            f"{r.path}: {r.reason}" for r in refused[:5]), patch)
    with tempfile.TemporaryDirectory(prefix="sleepcoder-bot-") as tmp:
        tree = Path(tmp) / "tree"
        git(workspace, "worktree", "add", "--detach", "--force", str(tree), base)
        try:
            applied = git(tree, "apply", "--index", "-", input=patch, check=False)
            if applied.returncode != 0:
                raise BotFailure(f"the patch does not apply: {applied.stderr.strip()[:300]}",
                                 patch)
            message = scrub(message)
            identity = {"GIT_AUTHOR_NAME": BOT_NAME, "GIT_AUTHOR_EMAIL": BOT_EMAIL,
                        "GIT_COMMITTER_NAME": BOT_NAME, "GIT_COMMITTER_EMAIL": BOT_EMAIL}
            git(tree, "commit", "-q", "--no-verify", "-m", message, env=identity)
            return git(tree, "rev-parse", "HEAD").stdout.strip()
        finally:
            git(workspace, "worktree", "remove", "--force", str(tree), check=False)


def push(workspace: Path, commit: str, branch: str, auth: dict[str, str]) -> None:
    remote = git(workspace, "remote", "get-url", "origin").stdout.strip()
    extra = auth if remote.startswith("http") else {}
    # never --force: a branch someone pushed to while the bot worked is theirs to keep
    pushed = git(workspace, "push", "--quiet", "--no-verify", "--porcelain", "origin",
                 f"{commit}:refs/heads/{branch}", env=extra, check=False)
    if pushed.returncode == 0:
        return
    said = pushed.stdout + pushed.stderr
    if any(sign in said for sign in ("non-fast-forward", "fetch first", "stale info")):
        raise BotFailure(f"the push was rejected: `{branch}` moved while sleepcoder worked "
                         "(someone pushed to it), and sleepcoder never overwrites a branch. "
                         "Nothing was changed; comment again to start from its new head")
    lines = [line for line in pushed.stderr.splitlines() if line.strip()
             and not line.startswith(("hint:", "error: failed to push"))]
    lines += [line for line in pushed.stdout.splitlines() if line.startswith("!")]
    raise BotFailure("the push was refused: " + scrub(" / ".join(lines[-3:])[-500:]))
