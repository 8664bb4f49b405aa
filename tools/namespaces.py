"""The command lines that isolate a test command with Linux namespaces: bubblewrap (`bwrap`)
or util-linux `unshare` + `setpriv`. In both, the whole file system is read-only except the
paths given as writable (the scratch folder); `/tmp`, `/run` and `/dev/shm` are fresh and empty
(so no Unix socket of the host, such as Docker's or an ssh agent's, can be reached); the
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


def _split(hide: list[Path]) -> tuple[list[Path], list[Path]]:
    """The hidden folders and files (what lies under a fresh mount is gone already)."""
    fresh = [Path(p) for p in fresh_mounts()]
    hide = [p for p in hide if not any(p.is_relative_to(f) for f in fresh)]
    dirs = [p for p in hide if p.is_dir() and not p.is_symlink()]
    return dirs, [p for p in hide if p not in dirs]


def bwrap(command: str, cwd: Path, writable: list[Path], hide: list[Path],
          network: bool) -> list[str] | None:
    binary = shutil.which("bwrap")
    if binary is None:
        return None
    argv = [binary, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for place in fresh_mounts():
        argv += ["--tmpfs", place]
    for path in writable:  # after the fresh mounts: a writable path under /tmp is bound back
        argv += ["--bind", str(path), str(path)]
    dirs, files = _split(hide)
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
            network: bool) -> list[str] | None:
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
    steps.append(
        "for m in $(awk '{print $5}' /proc/self/mountinfo | sort -u); do "
        f"case \"$m\" in /dev/shm|{hold}/*) continue;; esac; "
        "mount -o remount,bind,ro \"$m\" 2>/dev/null || true; done")
    steps += [f"mount -t tmpfs -o mode=1777 sleepcoder-fresh {place}"
              for place in fresh_mounts()]
    # ... and is put back in place, also under a fresh /tmp
    for index, path in enumerate(quoted):
        steps += [f"mkdir -p {path} 2>/dev/null || true", f"mount --bind {hold}/{index} {path}"]
    dirs, files = _split(hide)
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
