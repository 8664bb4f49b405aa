"""The GitHub Actions bot: a labelled issue (or a `/sleepcoder` comment) becomes a draft pull
request, and every failure becomes a comment on the issue.

The issue's text is data for the model and nothing else: the test command and the setup script
come only from `.sleepcoder.toml` on the default branch, the bot has no shell tool, CI workflow
files and the configuration are never edited unless the configuration allows it, and the token
is scrubbed from everything the bot writes and kept out of the commands it runs.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sleepcoder.tasks.bot_git import BOT_NAME, BotFailure, base_commit, commit_patch, push
from sleepcoder.tasks.credentials import auth_environment, held_credentials
from sleepcoder.tasks.github import (
    BOT_MARK,
    ROLES,
    EventError,
    GitHub,
    IssueEvent,
    PermissionUnknown,
    PullRequest,
    read_event,
)
from sleepcoder.tasks.markdown import fenced, inert
from sleepcoder.tasks.model_key import (
    bot_model,
    install_model_key,
    model_key_names,
    without_model_key,
)
from sleepcoder.tasks.task import MAX_REQUEST_CHARS
from sleepcoder.tools.config import CONFIG_FILE, Config, ConfigError, parse_config
from sleepcoder.tools.secrets import is_secret_name, register_secret, scrubber
from sleepcoder.tools.worktree import git

UNTRUSTED_MARK = "<!-- sleepcoder: untrusted trigger -->"
PULL_MARK = "<!-- sleepcoder: draft pull request -->"  # how the bot knows its own pulls
# the smallest share of a request any prompt shows is 4,000 characters (title first, then the
# instruction): an instruction within this limit reaches every prompt whole
MAX_INSTRUCTION_CHARS = 3_000
_SECRET_ENV = ("GITHUB_TOKEN", "INPUT_GITHUB-TOKEN", "INPUT_TOKEN", "ACTIONS_RUNTIME_TOKEN",
               "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "SLEEPCODER_GITHUB_TOKEN")


@dataclass
class BotOutcome:
    action: str  # skipped, refused, opened, updated, failed
    reason: str = ""
    pull_url: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.action == "failed" else 0


@dataclass
class BotEnv:
    event_name: str
    event_path: Path
    repo: str
    token: str
    api_url: str = "https://api.github.com"
    server_url: str = "https://github.com"
    run_id: str = ""
    workspace: Path = Path(".")

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> BotEnv:
        env = dict(os.environ if environ is None else environ)
        missing = [k for k in ("GITHUB_EVENT_NAME", "GITHUB_EVENT_PATH", "GITHUB_REPOSITORY")
                   if not env.get(k)]
        token = env.get("SLEEPCODER_GITHUB_TOKEN") or env.get("GITHUB_TOKEN", "")
        if not token:
            missing.append("GITHUB_TOKEN")
        if missing:
            raise EventError(f"not running in a GitHub Actions issue job: {', '.join(missing)} "
                             "not set")
        return cls(env["GITHUB_EVENT_NAME"], Path(env["GITHUB_EVENT_PATH"]),
                   env["GITHUB_REPOSITORY"], token,
                   env.get("GITHUB_API_URL", "https://api.github.com"),
                   env.get("GITHUB_SERVER_URL", "https://github.com"),
                   env.get("GITHUB_RUN_ID", ""),
                   Path(env.get("GITHUB_WORKSPACE", ".")))

    @property
    def run_link(self) -> str:
        if not self.run_id:
            return ""
        return f"{self.server_url.rstrip('/')}/{self.repo}/actions/runs/{self.run_id}"


def safe_env() -> dict[str, str]:
    """The environment for the setup script (trusted: it comes from the default branch):
    everything but the tokens and other credentials. The test command, which runs
    model-written code, gets far less (tools/sandbox.py)."""
    return {k: v for k, v in os.environ.items()
            if k not in _SECRET_ENV and not is_secret_name(k)}


def reported(gh: GitHub, event: IssueEvent, env: BotEnv,
             work: Callable[[], BotOutcome]) -> BotOutcome:
    """`work()`, with any failure (ours or unexpected) told on the issue or pull request."""
    try:
        return work()
    except BotFailure as exc:
        _report_failure(gh, event, env, str(exc), exc.patch)
        return BotOutcome("failed", str(exc))
    except Exception as exc:  # whatever broke, the issue or pull request hears about it
        _report_failure(gh, event, env, f"{type(exc).__name__}: {exc}", "")
        return BotOutcome("failed", gh.scrub(f"{type(exc).__name__}: {exc}"))


def run_bot(env: BotEnv, progress: Any = None, github: GitHub | None = None,
            on_config: Callable[[Config], None] | None = None) -> BotOutcome:
    """Handle one GitHub event; `on_config` is shown the configuration read from the default
    branch (the CLI warns there about keys it does not know)."""
    register_secret(env.token, "the GitHub token")
    scrubber().add_git_credentials(env.workspace)
    from sleepcoder.agent.solve.testing import nested_git_dirs

    for nested in nested_git_dirs(env.workspace):  # other checkouts (actions/checkout path:)
        scrubber().add_git_credentials(nested.parent)
    event = read_event(env.event_name, env.event_path, env.repo)
    gh = github or GitHub(env.token, event.repo, env.api_url)
    config = default_branch_config(env.workspace, gh)
    if on_config is not None:
        on_config(config)
    install_model_key(bot_model(config))
    trigger = _trigger(event, config)
    if trigger is None:
        return BotOutcome("skipped", "not a sleepcoder trigger")
    if event.actor_type == "Bot" or event.actor == BOT_NAME or BOT_MARK in event.comment:
        return BotOutcome("skipped", "a comment by the bot itself")  # no loops
    try:
        refusal = _untrusted(event, config, gh)
    except PermissionUnknown as exc:  # unknown is not allowed: nothing starts
        reason = f"{exc}; nothing was done: start it again later"
        if not event.locked:
            _report_failure(gh, event, env, reason, "")
        return BotOutcome("failed", gh.scrub(reason))
    if event.is_pull_request:
        from sleepcoder.tasks.bot_pull import run_on_pull

        return run_on_pull(env, event, config, gh, trigger, progress, refusal)
    if refusal:
        if event.name == "issue_comment" and not event.locked and not gh.posted_by_us(
                event.number, UNTRUSTED_MARK):
            # one polite reply per issue, however many comments follow
            gh.comment(event.number, f"@{event.actor} {refusal}\n\n{UNTRUSTED_MARK}")
        return BotOutcome("refused", refusal)
    if event.state != "open":
        reason = f"issue #{event.number} is closed: nothing to do"
        gh.comment(event.number, f"sleepcoder: {reason}.")
        return BotOutcome("skipped", reason)
    if event.locked:
        return BotOutcome("skipped", f"issue #{event.number} is locked")
    branch = f"{config.bot.branch_prefix}{event.number}"
    existing = gh.open_pull(branch)
    if existing and event.name == "issues":
        reason = f"a draft pull request already exists for this issue: {existing.url}"
        gh.comment(event.number, f"sleepcoder: {reason} (comment `{config.bot.command} ...` "
                                 "to update it).")
        gh.remove_label(event.number, config.bot.label)
        return BotOutcome("skipped", reason, existing.url)
    outcome = reported(gh, event, env, lambda: deliver(
        env, event, config, gh, branch, existing, trigger, build_request(event, trigger),
        progress))
    if event.name == "issues":
        gh.remove_label(event.number, config.bot.label)
    return outcome


def default_branch_config(workspace: Path, gh: GitHub) -> Config:
    """`.sleepcoder.toml` as it is on the default branch (never a pull request's copy)."""
    branch = gh.default_branch()
    # full ref names: a tag called `origin/main` must not stand in for the branch
    for ref in (f"refs/remotes/origin/{branch}", f"refs/heads/{branch}", "HEAD"):
        shown = git(workspace, "show", f"{ref}:{CONFIG_FILE}", check=False)
        if shown.returncode == 0:
            return parse_config(shown.stdout, f"{CONFIG_FILE} on {branch}")
        exists = git(workspace, "rev-parse", "--verify", "--quiet", ref, check=False)
        if exists.returncode == 0:
            return Config()  # the branch exists and has no configuration
    return Config()


def _trigger(event: IssueEvent, config: Config) -> str | None:
    """The extra instruction ('' for a label) when the event starts a run, else None."""
    # GitHub treats label names case-insensitively (one `SleepCoder` label per repository)
    if event.name == "issues" and event.action == "labeled" and \
            event.label.casefold() == config.bot.label.casefold():
        return ""
    if event.name in ("issue_comment", "pull_request_review_comment") and \
            event.action == "created":
        text = event.comment.strip()
        command = config.bot.command
        if text == command or text.startswith((command + " ", command + "\n")):
            return text[len(command):].strip()
    return None


def _untrusted(event: IssueEvent, config: Config, gh: GitHub) -> str:
    """'' when the labeler or commenter may start a run, else why not. One rule for every
    trigger: the actor's role on the repository, from the permissions API (an issue's
    `author_association` counts read-only collaborators and every organisation member)."""
    role = gh.permission(event.actor)
    needed = config.bot.min_permission
    if ROLES.index(role if role in ROLES else "none") >= ROLES.index(needed):
        return ""
    return (f"sleepcoder starts only for people with {needed} access to this repository "
            f"({event.actor} has {role}); a maintainer can start it.")


def deliver(env: BotEnv, event: IssueEvent, config: Config, gh: GitHub, branch: str,
            existing: PullRequest | None, instruction: str, request: str, progress: Any,
            reply_to: int = 0) -> BotOutcome:
    """Solve `request` and push the commit to `branch` (on top of it when it exists); the
    result comment goes to `reply_to` (default: the issue)."""
    if len(instruction) > MAX_INSTRUCTION_CHARS:
        raise BotFailure(f"the instruction after {config.bot.command} has {len(instruction):,} "
                         f"characters; at most {MAX_INSTRUCTION_CHARS:,} are accepted (put the "
                         "details in the issue text)")
    with held_credentials(env.workspace) as held:
        auth = auth_environment(held, env.token, env.server_url)
        return _solve_and_deliver(env, event, config, gh, branch, existing, request,
                                  progress, auth, reply_to or event.number)


def _solve_and_deliver(env: BotEnv, event: IssueEvent, config: Config, gh: GitHub,
                       branch: str, existing: PullRequest | None, request: str,
                       progress: Any, auth: dict[str, str], reply_to: int) -> BotOutcome:
    from sleepcoder.agent.solve.context import SolveOptions
    from sleepcoder.agent.solve.run import SolveError, start_solve

    workspace = env.workspace
    _run_setup(workspace, config)
    base = base_commit(workspace, branch if existing else "", auth)
    if config.bot.sleep_first:
        from sleepcoder.agent.sleep.run import run_sleep

        run_sleep(workspace, config, model=config.bot.model or None, progress=progress)
    protected = (*config.solve.protected_paths, *config.bot.protected_paths)
    options = SolveOptions(
        model=config.bot.model, budget=config.bot.budget or config.solve.budget,
        max_steps=config.bot.max_steps or config.solve.max_steps,
        test_cmd=config.bot.test_cmd or config.solve.test_cmd,
        test_timeout=config.solve.test_timeout, test_rounds=config.solve.test_rounds,
        edit_attempts=config.solve.edit_attempts,
        allow_ci_edits=config.bot.allow_workflow_edits, protected=protected,
        allow_ci_setting="[bot] allow_workflow_edits = true",
        test_env=without_model_key(config.bot.test_env or config.solve.test_env,
                                   bot_model(config)),
        test_sandbox=config.bot.test_sandbox, test_network=config.solve.test_network,
        test_writable=config.solve.test_writable,
        edit_format=config.solve.edit_format, edit_protocol=config.solve.edit_protocol)
    config = replace(config, solve=replace(config.solve, test_cmd=options.test_cmd))
    try:
        result = _with_safe_env(lambda: start_solve(workspace, request, options, config=config,
                                                    progress=progress, base=base))
    except SolveError as exc:
        raise BotFailure(f"the request could not be started: {exc}") from None
    record = result.record
    tampered = (record.get("test") or {}).get("tampered")
    if tampered:  # before any git command runs again: a planted hook would run with the token
        raise BotFailure("the test command changed files outside its scratch folder ("
                         + ", ".join(tampered[:5]) + "); nothing was committed or pushed. Run "
                         "the bot with namespaces (bubblewrap) to keep the test command "
                         "from writing there")
    if not result.patch:
        reasons = {"budget_exhausted": "the budget ran out before any valid edit",
                   "failed": "no valid patch was produced"}
        events = inert("; ".join(e for e in record.get("events", [])[-3:]))
        raise BotFailure(f"{reasons.get(result.status, result.status)} ({events})")
    if result.status == "tests_failed":
        could_not = (record.get("test") or {}).get("status") == "error"
        raise BotFailure(("the tests could not run" if could_not else "the tests fail with the "
                          "change") + " (`" + options.test_cmd + "`):\n\n"
                         + fenced(_tail(record)), result.patch)
    note = (f"Draft implementation of #{event.number}." if reply_to == event.number else
            f"Follow-up on #{event.number}, asked for in #{reply_to}.")
    commit = commit_patch(workspace, base, result.patch, f"sleepcoder: {event.title}\n\n{note}",
                     options.rules)
    try:
        push(workspace, commit, branch, auth)
    except BotFailure as exc:  # the patch goes with the reason: nothing is lost
        raise BotFailure(str(exc), result.patch) from None
    body = _pull_body(event, config, record, env)
    if existing:
        gh.comment(reply_to, f"sleepcoder updated {existing.url} "
                                 f"({len(record['files']['modified'])} files).{_run(env)}")
        return BotOutcome("updated", "", existing.url)
    pull = gh.create_draft_pull(f"{event.title} (sleepcoder draft for #{event.number})", body,
                                branch, gh.default_branch())
    gh.comment(event.number, f"sleepcoder opened a draft pull request: {pull.url}{_run(env)}")
    return BotOutcome("opened", "", pull.url, [result.status])


def build_request(event: IssueEvent, instruction: str, context: str = "",
                  where: str = "") -> str:
    """The request the model gets: the title, then the maintainer's instruction (whole: it is
    checked for length before; `where` says where it was written), then `context` (the review
    comments of a pull request), then the issue body, cut with a notice to fit."""
    parts = [event.title.strip() or f"Issue #{event.number}"]
    if instruction:
        parts.append(f"Instruction from @{event.actor}, who maintains this repository{where} "
                     f"(it comes before the issue text below):\n{instruction}")
    if context:
        parts.append(context)
    body = event.body.strip()
    if body:
        room = MAX_REQUEST_CHARS - len("\n\n".join(parts)) - 200
        if len(body) > room:
            body = (body[:max(0, room)] + f"\n\n[the issue text was cut here: {max(0, room):,} "
                    f"of its {len(body):,} characters are shown]")
        parts.append(f"Issue text:\n{body}")
    return "\n\n".join(parts)


def _with_safe_env(action):
    """Run `action` with the tokens removed from os.environ (tests and setup inherit it)."""
    keep = model_key_names()  # the model layer reads its key during the run (HF_TOKEN)
    saved = {k: os.environ.pop(k) for k in list(os.environ)
             if (k in _SECRET_ENV or "TOKEN" in k.upper()) and k not in keep}
    try:
        return action()
    finally:
        os.environ.update(saved)


def _run_setup(workspace: Path, config: Config) -> None:
    script = config.bot.setup_script
    if not script:
        return
    path = (workspace / script).resolve()
    if not path.is_relative_to(workspace.resolve()) or not path.is_file():
        raise BotFailure(f"the setup script {script!r} (from {CONFIG_FILE}) is not a file in "
                         "the repository")
    try:
        result = subprocess.run(["bash", str(path)], cwd=workspace, env=safe_env(),
                                capture_output=True, text=True,
                                timeout=config.bot.setup_timeout)
    except subprocess.TimeoutExpired:
        raise BotFailure(f"the setup script {script} timed out") from None
    if result.returncode != 0:
        raise BotFailure(f"the setup script {script} failed (exit {result.returncode}):\n\n"
                         + fenced((result.stdout + result.stderr)[-1500:]))


def _tail(record: dict) -> str:
    test = record.get("test") or {}
    return (test.get("output_tail") or "(no output)").strip() + \
        f"\n(still failing after {test.get('rounds', 0)} fix round(s))"


def _run(env: BotEnv) -> str:
    return f"\n\nRun: {env.run_link}" if env.run_link else ""


def _pull_body(event: IssueEvent, config: Config, record: dict, env: BotEnv) -> str:
    lines = [f"Draft implementation of #{event.number} by sleepcoder "
             f"(model `{record.get('model')}`). Review it like any contribution; comment "
             f"`{config.bot.command} <instructions>` here to have it continue.", ""]
    steps = (record.get("plan") or {}).get("steps", [])
    if steps:
        lines += ["**Plan**", *[f"- {s['action'].upper()} `{s['path']}`: {inert(s['what'])}"
                                for s in steps], ""]
    files = record["files"]
    changed = files["modified"] + files["added"]
    lines += ["**Files changed**: " + (", ".join(f"`{f}`" for f in changed) or "none")]
    test = record.get("test")
    if test:
        lines += [f"**Tests**: `{test.get('command')}` {test.get('status')}"]
    else:
        lines += ["**Tests**: no test command configured ([solve] or [bot] test_cmd)"]
    usage = record["usage"]["test"]
    cost = "unknown" if usage["cost"] is None else f"${usage['cost']:.4f}"
    lines += [f"**Usage**: {usage['steps']} model calls, {usage['tokens']:,} test-time tokens "
              f"({usage['prompt_tokens']:,} prompt + {usage['completion_tokens']:,} "
              f"completion), cost {cost}, status `{record['status']}`"]
    if env.run_link:
        lines += [f"**Run**: {env.run_link}"]
    lines += ["", f"Closes #{event.number}" if config.bot.closes_issue
              else f"Issue: #{event.number}", "", PULL_MARK]
    return "\n".join(lines)


def _report_failure(gh: GitHub, event: IssueEvent, env: BotEnv, reason: str,
                    patch: str) -> None:
    body = f"sleepcoder could not finish: {reason}"
    if patch:
        body += ("\n\n<details><summary>The patch it produced</summary>\n\n"
                 + fenced(patch[:20000], "diff") + "\n</details>")
    body += _run(env)
    with contextlib.suppress(Exception):  # the job log still shows the failure
        gh.comment(event.number, body)


__all__ = ["BotEnv", "BotOutcome", "run_bot", "ConfigError"]
