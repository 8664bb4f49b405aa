"""Project configuration: `.sleepcoder.toml` at the repository root, overridden by CLI flags.

Only the sections the code uses are read; unknown keys are reported, not silently ignored.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from sleepcoder.tools.userfiles import UserFileError, read_user_text

CONFIG_FILE = ".sleepcoder.toml"
DEFAULT_STORE_DIR = ".sleepcoder"
MAX_CONFIG_BYTES = 1_000_000

DEFAULT_VENDORED_DIRS = (
    "vendor",
    "vendors",
    "vendored",
    "_vendor",
    "third_party",
    "thirdparty",
    "third-party",
    "node_modules",
    "bower_components",
    "site-packages",
    "external",
    "extern",
)


PERMISSION_LEVELS = ("none", "read", "triage", "write", "maintain", "admin")
SANDBOX_MODES = ("auto", "require", "off")
EDIT_FORMATS = ("auto", "symbols", "blocks", "whole")
EDIT_PROTOCOLS = ("auto", "rewrite", "blocks", "insert", "decomposed")
_RETIRED = {
    "allowed_associations": "allowed_associations is no longer used: labels and comments both "
                            "need the repository permission in min_permission (default write)",
}


MAX_BUDGET = 100_000_000  # tokens; beyond this a number is a typo, not a budget
MAX_STEPS = 100_000
MAX_WORKERS = 1024
MAX_SECONDS = 7 * 86_400  # a week: any longer wait or timeout is a typo

# The allowed values of every number in the file, (least, most), both included (a NaN is
# never allowed). Where 0 has a meaning (no limit, one per CPU, automatic) it is allowed; where
# it would stall or skip everything (no file per batch, no byte per file) it is not.
RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "map": {"max_file_bytes": (1, 1 << 30), "history_max_files_per_commit": (1, 1_000_000),
            "history_max_commits": (0, 1_000_000_000), "workers": (0, MAX_WORKERS),
            "lock_timeout": (0, MAX_SECONDS), "calibration_tasks": (0, 10_000)},
    "llm": {"max_concurrency": (0, 256), "timeout": (1, MAX_SECONDS), "retries": (0, 100)},
    "sleep": {"budget": (0, MAX_BUDGET), "batch_files": (1, 100),
              "batch_prompt_tokens": (1, 1_000_000), "subsystems": (0, 1000),
              "requests_per_subsystem": (1, 100)},
    "solve": {"test_timeout": (1, MAX_SECONDS), "test_rounds": (0, 100),
              "budget": (0, MAX_BUDGET), "max_steps": (0, MAX_STEPS), "edit_attempts": (1, 100),
              "model_drop_below": (0, 1), "model_may_add": (0, 1000)},
    "bot": {"budget": (0, MAX_BUDGET), "max_steps": (0, MAX_STEPS),
            "setup_timeout": (1, MAX_SECONDS)},
    # a pass started by a git hook always has a budget: 0 (no limit) is not allowed here
    "hooks": {"sleep_budget": (1, MAX_BUDGET), "watch_interval": (0.1, 86_400)},
}


def range_problem(name: str, value: float, least: float, most: float) -> str:
    """Why `value` is not an allowed `name` ('' when it is): below `least`, above `most`, or
    not a number at all (NaN). One wording for the configuration and the command line."""
    if least <= value <= most:
        return ""
    return f"{name} must be between {_number(least)} and {_number(most)}, got {_number(value)}"


def _number(value: float) -> str:
    if isinstance(value, float) and (not value.is_integer() or abs(value) >= 1e16):
        return f"{value:g}"  # 1e+308, not its 309 digits
    return f"{int(value):,}"


def valid_protocol(value: str) -> bool:
    parts = value.split("+")
    return value == "auto" or all(p in EDIT_PROTOCOLS[1:] for p in parts)


class ConfigError(ValueError):
    """The configuration file is malformed or has a value of the wrong type."""


@dataclass(frozen=True)
class MapConfig:
    """Settings of the static map (the `[map]` table)."""

    store_dir: str = DEFAULT_STORE_DIR  # relative to the repository root, or absolute
    max_file_bytes: int = 1_000_000
    exclude: tuple[str, ...] = ()  # gitignore-style patterns, on top of .sleepcoderignore
    vendored_dirs: tuple[str, ...] = DEFAULT_VENDORED_DIRS
    history_max_files_per_commit: int = 50  # larger commits are skipped (mass renames, format)
    history_max_commits: int = 20_000  # newest first; 0 = no limit
    workers: int = 0  # parser processes; 0 = one per CPU
    # past features replayed to calibrate the localizer for this repository when `map` or
    # `sleep` runs (tools/calibrate.py); 0 = no calibration
    calibration_tasks: int = 30
    lock_timeout: float = 600.0  # seconds to wait for another map run on the same repository

    def store_path(self, root: Path) -> Path:
        path = Path(os.path.expanduser(self.store_dir))
        return path if path.is_absolute() else root / path


@dataclass(frozen=True)
class LLMConfig:
    """Settings of the model layer (the `[llm]` table)."""

    model: str = ""  # empty: SLEEPCODER_MODEL, else the embedded local model
    api_base: str = ""  # e.g. http://127.0.0.1:11434 for Ollama, or an OpenAI-compatible URL
    cache: bool = True  # reuse responses for identical requests (SQLite in the store dir)
    max_concurrency: int = 0  # parallel requests; 0 = 1 for local models, 4 otherwise
    timeout: float = 300.0  # seconds per request (remote models)
    retries: int = 3  # on rate limits, timeouts and transient errors


@dataclass(frozen=True)
class SleepConfig:
    """Settings of the sleep-time pass (the `[sleep]` table)."""

    budget: int = 0  # sleep-time tokens per pass; 0 = no limit
    batch_files: int = 4  # small files summarized per request
    batch_prompt_tokens: int = 900  # ... up to this many tokens of file facts per request
    subsystems: int = 8  # subsystems that get anticipated feature requests
    requests_per_subsystem: int = 3


@dataclass(frozen=True)
class SolveConfig:
    """Settings of task time (the `[solve]` table). The test command comes only from here or
    the command line: never from a request."""

    test_cmd: str = ""
    test_timeout: float = 600.0
    test_rounds: int = 2  # fix rounds after failing tests
    budget: int = 0  # test-time tokens per run, 0 = no limit
    max_steps: int = 0  # model calls per run, 0 = no limit
    edit_attempts: int = 3  # answers per file (the first and its repairs)
    allow_ci_edits: bool = False  # may edits touch .github/, other CI files, this file
    protected_paths: tuple[str, ...] = ()  # paths (or folders) edits may never touch
    # The test command runs model-written code: in a scratch clone, with an allowlisted
    # environment plus these variable names, without network where namespaces allow it.
    test_env: tuple[str, ...] = ()
    test_sandbox: str = "auto"  # auto (best available), require (fail without), off
    test_network: bool = False
    # with namespaces the file system is read-only for the test command except its scratch
    # folder: paths listed here are writable too
    test_writable: tuple[str, ...] = ()
    # How the model edits: "symbols" (definition by definition), "blocks" (search/replace on
    # the file), "whole" (the whole file); "auto" = symbols for the embedded models, blocks
    # for others. The question asked per definition is edit_protocol (auto: per model).
    edit_format: str = "auto"
    edit_protocol: str = "auto"
    # What the model's YES/NO votes may change in the localizer's selection (see
    # agent/solve/localize.py for the measurements behind these defaults).
    model_drop_below: float = 0.2  # drop a selected file voted NO whose probability is below
    model_may_add: int = 0  # runners-up voted YES that may be added


@dataclass(frozen=True)
class BotConfig:
    """Settings of the GitHub bot (the `[bot]` table), read from the default branch only."""

    model: str = ""  # empty: [llm] model, SLEEPCODER_MODEL, then the embedded model
    budget: int = 0  # test-time tokens per run (0: [solve] budget)
    max_steps: int = 0
    label: str = "sleepcoder"  # adding this label to an issue starts a run
    command: str = "/sleepcoder"  # a comment starting with this starts (or updates) a run
    # the repository permission a labeler or commenter needs: write, maintain or admin
    min_permission: str = "write"
    test_env: tuple[str, ...] = ()  # empty: [solve] test_env
    # The bot holds a push token and a model key: by default its test command runs only
    # isolated (the action installs bubblewrap); "auto" also runs it without namespaces.
    test_sandbox: str = "require"
    test_cmd: str = ""  # empty: [solve] test_cmd
    setup_script: str = ""  # a script in the repository, run before the agent
    setup_timeout: float = 900.0
    protected_paths: tuple[str, ...] = ()  # paths the bot may never edit
    allow_workflow_edits: bool = False  # .github/workflows/ and .sleepcoder.toml
    closes_issue: bool = False  # write "Closes #N" in the pull request
    sleep_first: bool = True  # refresh summaries and notes before solving
    branch_prefix: str = "sleepcoder/issue-"


@dataclass(frozen=True)
class HooksConfig:
    """Keeping the map fresh while the developer works (the `[hooks]` table): what the git
    hooks of `sleepcoder hooks install` run, and how often `--watch` looks for changes."""

    sleep: bool = False  # also run the sleep pass (model calls) after a commit, merge, ...
    sleep_budget: int = 20_000  # sleep-time tokens per pass started by a hook
    watch_interval: float = 2.0  # seconds between two looks at HEAD, index and working tree


@dataclass(frozen=True)
class Config:
    map: MapConfig = field(default_factory=MapConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    sleep: SleepConfig = field(default_factory=SleepConfig)
    solve: SolveConfig = field(default_factory=SolveConfig)
    bot: BotConfig = field(default_factory=BotConfig)
    hooks: HooksConfig = field(default_factory=HooksConfig)
    warnings: tuple[str, ...] = ()

    def with_store(self, store: Path | None) -> Config:
        """This configuration with the map store in `store` (the `--store` option), resolved,
        so a symbolic link the user names is followed; unchanged for None."""
        if store is None:
            return self
        return replace(self, map=replace(self.map, store_dir=str(store.resolve())))


def load_config(root: Path) -> Config:
    """Read `.sleepcoder.toml` under `root` (defaults when absent); a file that is not a
    regular file of UTF-8 text (TOML's encoding) is a ConfigError."""
    path = root / CONFIG_FILE
    if not os.path.lexists(path):
        return Config()
    try:
        text = read_user_text(path, "the configuration file", MAX_CONFIG_BYTES)
    except UserFileError as exc:
        raise ConfigError(str(exc)) from None
    return parse_config(text, str(path))


def parse_config(text: str, where: str) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from exc
    warnings: list[str] = []
    sections = {}
    for name, default in (("map", MapConfig()), ("llm", LLMConfig()), ("sleep", SleepConfig()),
                          ("solve", SolveConfig()), ("bot", BotConfig()),
                          ("hooks", HooksConfig())):
        sections[name] = _section(default, data.get(name, {}), f"{where} [{name}]", warnings,
                                  RANGES.get(name, {}))
    warnings.extend(f"{where}: unknown section [{name}] (ignored)" for name in data
                    if name not in sections)
    if sections["solve"].test_sandbox not in SANDBOX_MODES:
        raise ConfigError(f"{where} [solve]: test_sandbox must be one of "
                          f"{', '.join(SANDBOX_MODES)}, got {sections['solve'].test_sandbox!r}")
    solve = sections["solve"]
    if solve.edit_format not in EDIT_FORMATS:
        raise ConfigError(f"{where} [solve]: edit_format must be one of "
                          f"{', '.join(EDIT_FORMATS)}, got {solve.edit_format!r}")
    if sections["bot"].test_sandbox not in SANDBOX_MODES:
        raise ConfigError(f"{where} [bot]: test_sandbox must be one of "
                          f"{', '.join(SANDBOX_MODES)}, got {sections['bot'].test_sandbox!r}")
    if not valid_protocol(solve.edit_protocol):
        raise ConfigError(f"{where} [solve]: edit_protocol must be auto, one of "
                          f"{', '.join(EDIT_PROTOCOLS[1:])}, or several joined by + (each "
                          f"tried in turn), got {solve.edit_protocol!r}")
    store_dir = sections["map"].store_dir.strip()
    if store_dir in ("", ".", "./") or Path(store_dir).parts in ((), (".",)):
        raise ConfigError(f"{where} [map]: store_dir must name a folder of its own (default "
                          f"{DEFAULT_STORE_DIR!r}), got {sections['map'].store_dir!r}: the "
                          "map's files would land in the repository's root")
    if sections["bot"].min_permission not in PERMISSION_LEVELS[3:]:
        raise ConfigError(f"{where} [bot]: min_permission must be one of "
                          f"{', '.join(PERMISSION_LEVELS[3:])}, got "
                          f"{sections['bot'].min_permission!r}")
    return Config(**sections, warnings=tuple(warnings))


def _section(default, table: dict, where: str, warnings: list[str],
             ranges: dict[str, tuple[float, float]]):
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    values = {}
    by_name = {f.name: f for f in fields(default)}
    for key, value in table.items():
        if key not in by_name:
            warnings.append(f"{where}: {_RETIRED[key]}" if key in _RETIRED
                            else f"{where}: unknown key {key!r} (ignored)")
            continue
        current = getattr(default, key)
        if isinstance(current, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}: {key} must be a list of strings")
            value = tuple(value)
        elif isinstance(current, bool) != isinstance(value, bool) or not isinstance(
                value, type(current)):
            if isinstance(current, float) and isinstance(value, int):
                value = float(value)
            else:
                raise ConfigError(f"{where}: {key} must be {type(current).__name__}, got {value!r}")
        if key in ranges:
            problem = range_problem(key, value, *ranges[key])
            if problem:
                raise ConfigError(f"{where}: {problem}")
        values[key] = value
    return replace(default, **values)
