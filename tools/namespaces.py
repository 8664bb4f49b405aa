"""The command lines that isolate a test command with Linux namespaces: bubblewrap (`bwrap`)
or util-linux `unshare` + `setpriv`. In both, the whole file system is read-only except the
paths given as writable (the scratch folder); `/tmp`, `/run` and `/dev/shm` are fresh and empty
(so no Unix socket of the host, such as Docker's or an ssh agent's, can be reached), except
the tools the command runs from there (see `tool_paths`), shown again read-only; the
hidden paths are covered by empty mounts; there is no network (unless allowed; loopback works),
a private process table, and no capability left to undo any of it. The process dies with
its parent (`--die-with-parent`, or `setpriv --pdeathsig`).
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

# fresh, empty file systems over the places that hold other processes' sockets and files
FRESH = ("/tmp", "/run", "/var/run", "/var/tmp")


def fresh_mounts() -> list[str]:
    """The FRESH paths that exist as real folders (a symlink such as /var/run -> /run is
    covered through its target)."""
    return [p for p in FRESH if Path(p).is_dir() and not Path(p).is_symlink()]


def _under_fresh(path: Path, fresh: list[Path]) -> Path | None:
    """The fresh mount `path` lies strictly under, if any."""
    return next((f for f in fresh if path != f and path.is_relative_to(f)), None)


def _venv_root(path: Path, stop: Path) -> Path | None:
    for folder in [path, *path.parents]:
        if folder == stop or not folder.is_relative_to(stop):
            return None
        if (folder / "pyvenv.cfg").is_file():
            return folder
    return None


def tool_paths(command: str, path_env: str) -> list[Path]:
    """What the command needs from under a fresh mount to run at all: an interpreter or tool
    it names by an absolute path (`/tmp/x/.venv/bin/python -m pytest`), and the PATH folders
    there (an activated virtualenv in /tmp). A virtualenv is shown whole (the interpreter
    needs its `pyvenv.cfg` and site-packages), with the interpreter it was made from when
    that too lies under a fresh mount; an executable file (a command word) or a folder (on
    PATH) as the path itself; nothing else (a log file the command writes to stays the
    fresh /tmp's). Read-only, and never a fresh mount itself: /tmp as a whole stays
    hidden."""
    fresh = [Path(p) for p in fresh_mounts()]
    try:
        words = shlex.split(command)
    except ValueError:  # unbalanced quotes: the shell will say so
        words = command.split()
    # (path, from PATH): a command word is shown only as a tool (an executable file, or a
    # path in a virtualenv), so `> /tmp/out.log` or `--basetemp /tmp/pt` still write into
    # the command's own fresh /tmp; a PATH entry only as a folder
    candidates = [(w, False) for w in words if w.startswith("/")]
    candidates += [(d, True) for d in path_env.split(os.pathsep) if d.startswith("/")]
    shown: list[Path] = []

    def show(path: Path) -> None:
        # a link under /tmp to a folder elsewhere (a hidden ~/.ssh) would be bound with the
        # target's content, where the mount hiding the target does not reach: never shown
        if _under_fresh(Path(os.path.realpath(path)), fresh) is None:
            return
        # another process's socket or pipe in /tmp is what the fresh mount is for: a tool is
        # a file or a folder
        if not (os.path.isfile(path) or os.path.isdir(path)):
            return
        if path not in shown and not any(path.is_relative_to(s) for s in shown):
            shown[:] = [s for s in shown if not s.is_relative_to(path)] + [path]

    for word, on_path in candidates:
        path = Path(os.path.normpath(word))
        stop = _under_fresh(path, fresh)
        if stop is None or not os.path.lexists(path):
            continue
        venv = _venv_root(path, stop)
        if venv is None and not (os.path.isdir(path) if on_path else
                                 os.path.isfile(path) and os.access(path, os.X_OK)):
            continue
        show(venv or path)
        if venv is not None:
            home = _venv_home(venv)
            # a home that is gone (or unreadable bytes) would make the bind, and so the whole
            # run, fail before the command starts
            if home is not None and _has_python(home) and _under_fresh(home, fresh):
                show(_venv_root(home, _under_fresh(home, fresh)) or home.parent
                     if home.name == "bin" else home)
    return shown


def _has_python(home: Path) -> bool:
    """`home` is where the interpreter a virtualenv was made from lives; any other folder
    there (a runtime folder full of sockets) is not shown for it."""
    try:
        return any(p.name.startswith("python") and os.path.isfile(p) for p in home.iterdir())
    except (OSError, ValueError):
        return False


def _venv_home(venv: Path) -> Path | None:
    try:
        for line in (venv / "pyvenv.cfg").read_text(errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home" and value.strip().startswith("/"):
                return Path(os.path.normpath(value.strip()))
    except OSError:
        pass
    return None


def _hidden_in_shown(hide: list[Path], readable: list[Path]) -> list[Path]:
    """Where a hidden path shows up in a shown one through a link (the command says
    /tmp/link/repo, the hidden .git is /tmp/real/repo/.git): the mount hiding it at its own
    place does not reach the shown place, so it is hidden there too (the whole shown path
    when it lies inside a hidden folder)."""
    places = []
    for shown in readable:
        real_shown = Path(os.path.realpath(shown))
        for path in hide:
            real = Path(os.path.realpath(path))
            if real.is_relative_to(real_shown):
                places.append(shown / real.relative_to(real_shown))
            elif real_shown.is_relative_to(real):
                places.append(shown)
    return places


def _split(hide: list[Path], readable: list[Path] = ()) -> tuple[list[Path], list[Path]]:
    """The hidden folders and files (what lies under a fresh mount is gone already, unless a
    tool path shows it again)."""
    fresh = [Path(p) for p in fresh_mounts()]
    linked = _hidden_in_shown(hide, readable)
    hide = [p for p in hide if not any(p.is_relative_to(f) for f in fresh)
            or any(p.is_relative_to(r) or r.is_relative_to(p) for r in readable)]
    hide += [p for p in linked if p not in hide]
    dirs = [p for p in hide if p.is_dir() and not p.is_symlink()]
    return dirs, [p for p in hide if p not in dirs]


def bwrap(command: str, cwd: Path, writable: list[Path], hide: list[Path],
          network: bool, readable: list[Path] = ()) -> list[str] | None:
    binary = shutil.which("bwrap")
    if binary is None:
        return None
    argv = [binary, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for place in fresh_mounts():
        argv += ["--tmpfs", place]
    for path in readable:  # the tools the command runs from under a fresh mount
        argv += ["--ro-bind", str(path), str(path)]
    for path in writable:  # after the fresh mounts: a writable path under /tmp is bound back
        argv += ["--bind", str(path), str(path)]
    dirs, files = _split(hide, readable)
    for path in dirs:
        argv += ["--tmpfs", str(path)]
    for path in files:
        argv += ["--ro-bind", os.devnull, str(path)]
    argv += ["--unshare-pid", "--unshare-ipc", "--die-with-parent", "--new-session",
             "--cap-drop", "ALL"]
    if not network:
        argv.append("--unshare-net")
    return [*argv, "--chdir", str(cwd), "--", "sh", "-c", command]


def unshare(command: str, cwd: Path, writable: list[Path], hide: list[Path],
            network: bool, readable: list[Path] = ()) -> list[str] | None:
    binary, setpriv = shutil.which("unshare"), shutil.which("setpriv")
    if binary is None or setpriv is None:
        return None
    quoted = [shlex.quote(str(w)) for w in writable]
    hold = "/dev/shm/.sleepcoder-hold"
    # a private /dev/shm holds a bind of each writable folder, made before the loop that makes
    # every other mount read-only (a bind made later would inherit read-only) ...
    steps = ["set -e", "mount -t tmpfs -o mode=1777 sleepcoder-shm /dev/shm"]
    for index, path in enumerate(quoted):
        steps += [f"mkdir -p {hold}/{index}", f"mount --bind {path} {hold}/{index}"]
    shown = [(shlex.quote(str(p)), p.is_dir()) for p in readable]
    for index, (path, folder) in enumerate(shown):
        make = f"mkdir -p {hold}/r{index}" if folder else f"touch {hold}/r{index}"
        steps += [make, f"mount --bind {path} {hold}/r{index}",
                  f"mount -o remount,bind,ro {hold}/r{index}"]  # /dev/shm stays reachable
    steps.append(
        "for m in $(awk '{print $5}' /proc/self/mountinfo | sort -u); do "
        f"case \"$m\" in /dev/shm|{hold}/*) continue;; esac; "
        "mount -o remount,bind,ro \"$m\" 2>/dev/null || true; done")
    steps += [f"mount -t tmpfs -o mode=1777 sleepcoder-fresh {place}"
              for place in fresh_mounts()]
    # ... and is put back in place, also under a fresh /tmp; the tools the command runs from
    # under a fresh mount come back read-only
    for index, (path, folder) in enumerate(shown):
        make = f"mkdir -p {path}" if folder else f"mkdir -p \"$(dirname {path})\"; touch {path}"
        steps += [make, f"mount --bind {hold}/r{index} {path}",
                  f"mount -o remount,bind,ro {path}"]
    for index, path in enumerate(quoted):
        steps += [f"mkdir -p {path} 2>/dev/null || true", f"mount --bind {hold}/{index} {path}"]
    # the holds go: a shown tool's hold would show the secrets hidden below at their own
    # place, where the mounts covering them do not reach
    steps += [f"umount {hold}/r{index}" for index in range(len(shown))]
    steps += [f"umount {hold}/{index}" for index in range(len(quoted))]
    steps.append(f"rm -rf {hold}")
    dirs, files = _split(hide, readable)
    steps += [f"mount -t tmpfs -o size=64k,mode=0555 sleepcoder-hidden {shlex.quote(str(p))}"
              for p in dirs]
    steps += [f"mount --bind {os.devnull} {shlex.quote(str(p))}" for p in files]
    if not network:
        steps.append("ip link set lo up 2>/dev/null || true")
    steps.append(f"cd {shlex.quote(str(cwd))}")
    # no capabilities left: the command cannot unmount what hides the secrets or remount
    # anything writable
    steps.append(f"exec {setpriv} --no-new-privs --bounding-set=-all --inh-caps=-all "
                 f"-- sh -c {shlex.quote(command)}")
    namespaces = ["--user", "--map-root-user", "--pid", "--fork", "--kill-child", "--ipc",
                  "--mount", "--mount-proc", "--propagation", "private"]
    if not network:
        namespaces.append("--net")
    return [setpriv, "--pdeathsig", "KILL", "--", binary, *namespaces, "--", "sh", "-c",
            "\n".join(steps)]


def plain(command: str) -> list[str]:
    """No namespaces: the shell dies with sleepcoder where the platform allows it."""
    setpriv = shutil.which("setpriv")
    prefix = [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []
    return [*prefix, "sh", "-c", command]
