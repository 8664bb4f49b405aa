"""Running a command that executes model-written code (the test command) with nothing to
steal: an environment built from an allowlist, HOME and TMPDIR in a scratch folder, and, where
Linux namespaces are available (bubblewrap, else util-linux `unshare`), no network, its own
process table (so /proc shows no other process's environment), and the repository's git
folder, the map store and the usual credential files hidden behind empty mounts.

What was in effect is returned as an `Isolation` and goes into the run record; a platform
without namespaces gets the scratch clone and the allowlist only, and says so.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

from sleepcoder.tools import namespaces, tamper
from sleepcoder.tools.scratch import scratch_root
from sleepcoder.tools.secrets import is_secret_name, scrubber

SANDBOX_MODES = ("auto", "require", "off")
_ALLOWED_NAMES = frozenset("""PATH LANG LANGUAGE TERM TZ USER LOGNAME SHELL CI PYTHONPATH
VIRTUAL_ENV CONDA_PREFIX CONDA_DEFAULT_ENV CONDA_EXE PYENV_ROOT PYENV_VERSION JAVA_HOME
GOROOT GOPATH CARGO_HOME RUSTUP_HOME NODE_PATH""".split())
# credential stores in a home folder: hidden from the test command when namespaces allow
_HOME_SECRETS = (".git-credentials", ".gitconfig", ".config/git", ".config/gh", ".netrc",
                 ".ssh", ".aws", ".azure", ".config/gcloud", ".kube", ".docker/config.json",
                 ".npmrc", ".pypirc", ".config/hub", ".gnupg",
                 # package registries, secret stores and cloud tools keep tokens here too
                 ".cargo/credentials", ".cargo/credentials.toml", ".config/pip", ".pip",
                 ".gem/credentials", ".m2/settings.xml", ".m2/settings-security.xml",
                 ".gradle/gradle.properties", ".yarnrc.yml", ".composer/auth.json",
                 ".config/composer/auth.json", ".nuget/NuGet/NuGet.Config",
                 ".config/NuGet/NuGet.Config", ".config/containers/auth.json",
                 ".vault-token", ".terraformrc", ".terraform.d/credentials.tfrc.json",
                 ".pulumi/credentials.json", ".huggingface/token", ".cache/huggingface/token",
                 ".config/rclone", ".s3cfg", ".boto", ".databrickscfg", ".config/helm",
                 ".password-store", ".local/share/keyrings",
                 # shell histories hold pasted `export TOKEN=...` lines
                 ".bash_history", ".zsh_history", ".python_history")
OUTPUT_KEEP = 64_000  # bytes of output read back (the tail); the rest stays unread
SCRUB_MARGIN = 16_384  # bytes read before the tail so a secret the cut splits is found whole


class SandboxUnavailable(RuntimeError):
    """Tests must run isolated (`test_sandbox = "require"`) but this platform cannot."""


@dataclass(frozen=True)
class Isolation:
    backend: str  # bwrap, unshare, or none
    network: bool  # True: the command had no network
    processes: bool  # True: its own process table (other processes' /proc hidden)
    hidden: tuple[str, ...] = ()  # paths replaced by empty mounts
    read_only: bool = False  # True: nothing but the scratch folder could be written
    tools: tuple[str, ...] = ()  # paths under the fresh /tmp shown again read-only
    env: str = "allowlist"
    tree: str = "scratch clone without remotes or credentials"

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        if self.backend == "none":
            return ("scratch clone, allowlisted environment; NOT isolated from the network or "
                    "from other processes (no namespaces available)")
        return (f"scratch clone, allowlisted environment, {self.backend}: "
                f"{'no network' if self.network else 'network allowed'}, own process table, "
                "read-only file system outside the scratch folder, "
                f"{len(self.hidden)} credential locations hidden"
                + (f", the command's own {', '.join(self.tools)} shown read-only"
                   if self.tools else ""))


@dataclass
class CommandResult:
    returncode: int | None  # None: timed out
    output: str  # scrubbed tail of stdout and stderr
    seconds: float
    isolation: Isolation
    notes: list[str] = field(default_factory=list)
    tampered: list[str] = field(default_factory=list)  # watched files the command changed

    @property
    def passed(self) -> bool:
        return self.returncode == 0


def allowed_environment(extra_names: tuple[str, ...] = (),
                        environ: dict[str, str] | None = None) -> dict[str, str]:
    """The variables a test command may see: the allowlist, LC_*, and the names the user
    listed (`[solve] test_env`). Secret-looking names come through only when listed."""
    environ = dict(os.environ if environ is None else environ)
    out = {}
    for name, value in environ.items():
        allowed = name in _ALLOWED_NAMES or name.startswith("LC_")
        if (allowed and not is_secret_name(name)) or name in extra_names:
            out[name] = value
    return out


def command_environment(tree: Path, home: Path,
                        extra_names: tuple[str, ...] = ()) -> dict[str, str]:
    env = allowed_environment(extra_names)
    source_dirs = [str(tree)] + ([str(tree / "src")] if (tree / "src").is_dir() else [])
    # the scratch tree wins over an editable install of the user's checkout
    env["PYTHONPATH"] = os.pathsep.join([*source_dirs, *filter(None, [env.get("PYTHONPATH")])])
    env.update({"HOME": str(home), "TMPDIR": str(home / "tmp"), "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_TERMINAL_PROMPT": "0", "PYTHONDONTWRITEBYTECODE": "1"})
    env.setdefault("PATH", "/usr/bin:/bin")
    return env


def secret_locations(repo_git_dir: Path | None, store_dir: Path | None,
                     environ: dict[str, str] | None = None) -> list[Path]:
    """Paths to hide from the test command: the repository's git folder (its config may
    hold the push token), the map store, credential files in the real home, and the Actions
    runner's temp folder (newer actions/checkout keep credentials there)."""
    environ = dict(os.environ if environ is None else environ)
    paths = [p for p in (repo_git_dir, store_dir) if p is not None]
    home = environ.get("HOME")
    if home:
        paths += [Path(home) / name for name in _HOME_SECRETS]
    if environ.get("RUNNER_TEMP"):
        paths.append(Path(environ["RUNNER_TEMP"]))
    return [p for p in paths if os.path.lexists(p)]


@cache
def available_backend() -> str:
    """The strongest isolation that works here: bwrap, unshare, or none (probed once, with
    the same mounts a real run makes)."""
    with tempfile.TemporaryDirectory(prefix="sleepcoder-probe-",
                                     dir=scratch_root()) as tmp:
        for backend in ("bwrap", "unshare"):
            argv = _wrap(backend, "true", Path(tmp), [Path(tmp)], [], network=False)
            if argv is None:
                continue
            try:
                probe = subprocess.run(argv, capture_output=True, timeout=20,
                                       env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
            except (OSError, subprocess.TimeoutExpired):
                continue
            if probe.returncode == 0:
                return backend
    return "none"


def _wrap(backend: str, command: str, cwd: Path, writable: list[Path], hide: list[Path],
          network: bool, readable: list[Path] = ()) -> list[str] | None:
    build = {"bwrap": namespaces.bwrap, "unshare": namespaces.unshare}.get(backend)
    return build(command, cwd, writable, hide, network, readable) if build else None


def choose_isolation(mode: str) -> str:
    if mode not in SANDBOX_MODES:
        raise ValueError(f"test_sandbox must be one of {', '.join(SANDBOX_MODES)}, got {mode!r}")
    if mode == "off":
        return "none"
    backend = available_backend()
    if backend == "none" and mode == "require":
        raise SandboxUnavailable(
            "the test command must run isolated ([solve] test_sandbox = \"require\"), but "
            "neither bubblewrap (bwrap) nor util-linux unshare can create namespaces here; "
            "install bubblewrap, allow unprivileged user namespaces, or set test_sandbox = "
            "\"auto\" to run with the scratch clone and the allowlisted environment only")
    return backend


def run_command(command: str, cwd: Path, env: dict[str, str], timeout: float, *,
                mode: str = "auto", hide: list[Path] | None = None,
                writable: list[Path] | None = None, network: bool = False) -> CommandResult:
    """Run `command` (a shell command line) in `cwd` with `env`, isolated as far as `mode`
    and the platform allow: with namespaces, only `writable` (default: `cwd`) can be
    written. The output is scrubbed of every known secret; without namespaces the files a
    test could plant commands in (git configuration and hooks, shell start-up files) are
    watched, and a change is reported in `tampered`."""
    backend = choose_isolation(mode)
    writable = [p.resolve() for p in (writable or [cwd])]
    hidden = [p for p in (hide or []) if not any(
        w.is_relative_to(p) or p.is_relative_to(w) for w in writable)]
    # an interpreter or tool under /tmp (a virtualenv there) stays runnable, read-only
    shown = namespaces.tool_paths(command, env.get("PATH", "")) if backend != "none" else []
    argv = _wrap(backend, command, cwd, writable, hidden, network, shown) \
        if backend != "none" else None
    if argv is None:
        backend, argv, hidden, shown = "none", namespaces.plain(command), [], []
    isolation = Isolation(backend, network=backend != "none" and not network,
                          processes=backend != "none",
                          hidden=tuple(str(p) for p in hidden),
                          read_only=backend != "none",
                          tools=tuple(str(p) for p in shown))
    watch = tamper.snapshot(tamper.watched(hide or [])) if backend == "none" else None
    started = time.perf_counter()
    with tempfile.TemporaryFile() as sink:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                   stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
            _kill_group(process)
        except BaseException:  # Ctrl-C, SIGTERM: the test command does not outlive us
            _kill_group(process)
            raise
        sink.seek(0, os.SEEK_END)
        size = sink.tell()
        # read SCRUB_MARGIN bytes before the kept tail: a secret the cut splits is matched
        # whole there and redacted, not left as an unrecognisable tail
        first = max(0, size - OUTPUT_KEEP - SCRUB_MARGIN)
        sink.seek(first)
        raw = sink.read()
    margin = max(0, size - OUTPUT_KEEP) - first
    text = scrubber().scrub_from(raw.decode("utf-8", "replace"),
                                 len(raw[:margin].decode("utf-8", "replace")))
    notes = []
    if size > OUTPUT_KEEP:
        notes.append(f"output was {size:,} bytes; the last {OUTPUT_KEEP:,} are kept")
    if code is None:
        text += f"\ntimed out after {timeout:.0f} s"
    changed = tamper.changes(watch) if watch is not None else []
    if changed:
        notes.append("the test command changed files outside its scratch folder: "
                     + ", ".join(changed[:8]))
    return CommandResult(code, text, round(time.perf_counter() - started, 2), isolation,
                         notes, changed)


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
