"""Where model-written code runs: a scratch clone with no credentials, an allowlisted
environment, and (where namespaces exist) no network, no view of other processes and the
credential files hidden. Each backend this machine offers is exercised for real."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from sleepcoder.tools import sandbox, scratch
from sleepcoder.tools.sandbox import (
    SandboxUnavailable,
    allowed_environment,
    command_environment,
    run_command,
    secret_locations,
)
from sleepcoder.tools.worktree import git as run_git

from tests.conftest import git

TOKEN = "ghs_SandboxT0kenValue0123456789abcd"


def backends() -> list[str]:
    found = sandbox.available_backend()
    out = ["none"]
    if found != "none":
        out.append(found)
    if found == "bwrap" and sandbox._wrap("unshare", "true", Path("/"), [], [], False):
        out.append("unshare")  # both installed: test the fallback too
    return out


@pytest.fixture
def credentialed(py_repo):
    py_repo.git("config", "http.https://github.com/.extraheader", f"AUTHORIZATION: basic {TOKEN}")
    return py_repo


def force(monkeypatch, backend: str) -> None:
    monkeypatch.setattr(sandbox, "choose_isolation", lambda mode: backend)


def test_the_environment_is_an_allowlist(monkeypatch):
    environ = {"PATH": "/bin", "LANG": "C.UTF-8", "LC_ALL": "C", "VIRTUAL_ENV": "/v",
               "OPENAI_API_KEY": "sk-x" * 4, "AWS_SECRET_ACCESS_KEY": "y" * 20,
               "GITHUB_TOKEN": TOKEN, "RANDOM_APP_SETTING": "z", "DATABASE_URL": "pg://u:p@h"}
    allowed = allowed_environment(("RANDOM_APP_SETTING",), environ)
    assert allowed == {"PATH": "/bin", "LANG": "C.UTF-8", "LC_ALL": "C", "VIRTUAL_ENV": "/v",
                       "RANDOM_APP_SETTING": "z"}


def test_scratch_clone_has_the_patch_and_nothing_of_the_repositorys_config(credentialed):
    base = credentialed.git("rev-parse", "HEAD")
    (credentialed.root / "app" / "util.py").write_text("def helper(item):\n    return 2\n")
    patch = run_git(credentialed.root, "diff").stdout
    run_git(credentialed.root, "checkout", "--", ".")
    clone = scratch.create(credentialed.root, base, patch)
    try:
        assert (clone.path / "app" / "util.py").read_text().endswith("return 2\n")
        assert (clone.path / "app" / "core.py").is_file()
        config = (clone.path / ".git" / "config").read_text()
        assert "extraheader" not in config and "remote" not in config
        alternates = clone.path / ".git" / "objects" / "info" / "alternates"
        assert not alternates.exists()
        assert not clone.path.is_relative_to(credentialed.root)
    finally:
        clone.remove()
    assert not clone.path.exists()


def test_missing_blobs_are_left_out_and_counted(py_repo):
    base = py_repo.git("rev-parse", "HEAD")
    blob = py_repo.git("rev-parse", f"{base}:app/util.py")
    (py_repo.root / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
    clone = scratch.create(py_repo.root, base, "")
    try:
        assert clone.missing == ["app/util.py"] and clone.files == len(
            py_repo.git("ls-tree", "-r", "--name-only", base).splitlines()) - 1
        assert not (clone.path / "app" / "util.py").exists()
    finally:
        clone.remove()


@pytest.mark.parametrize("backend", backends())
def test_model_written_code_finds_no_secret(backend, credentialed, monkeypatch, tmp_path):
    force(monkeypatch, backend)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-SandboxKey0123456789")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    base = credentialed.git("rev-parse", "HEAD")
    clone = scratch.create(credentialed.root, base, "")
    probe = (f"env; git config --list; cat {credentialed.root}/.git/config; "
             f"cat /proc/{os.getpid()}/environ | tr '\\0' '\\n'; umount {credentialed.root}/.git;"
             f" cat {credentialed.root}/.git/config")
    try:
        env = command_environment(clone.path, clone.home)
        result = run_command(probe, clone.path, env, 60,
                             hide=secret_locations(credentialed.root / ".git", None))
    finally:
        clone.remove()
    # the scrubber removes what the isolation let through; with namespaces nothing gets through
    assert TOKEN not in result.output and "SandboxKey" not in result.output
    assert result.isolation.backend == backend
    if backend != "none":
        assert "REDACTED" not in result.output  # nothing even reached the scrubber
        assert result.isolation.network and result.isolation.processes
        assert str(credentialed.root / ".git") in result.isolation.hidden


@pytest.mark.parametrize("backend", [b for b in backends() if b != "none"])
def test_namespaced_commands_have_no_network_but_a_loopback(backend, monkeypatch, tmp_path):
    force(monkeypatch, backend)
    script = ("import socket\n"
              "server = socket.socket(); server.bind(('127.0.0.1', 0)); server.listen()\n"
              "socket.create_connection(server.getsockname(), timeout=2)\n"
              "try:\n    socket.create_connection(('192.0.2.1', 80), timeout=2)\n"
              "except OSError as exc:\n    print('no network:', type(exc).__name__)\n")
    (tmp_path / "probe.py").write_text(script)
    result = run_command(f"{sys.executable} probe.py", tmp_path, dict(os.environ), 30)
    assert result.passed, result.output
    assert "no network" in result.output


def test_require_refuses_a_platform_without_namespaces(monkeypatch):
    monkeypatch.setattr(sandbox, "available_backend", lambda: "none")
    with pytest.raises(SandboxUnavailable, match="must run isolated"):
        sandbox.choose_isolation("require")
    assert sandbox.choose_isolation("auto") == "none"


def test_a_command_that_hangs_is_killed_with_its_children(tmp_path, monkeypatch):
    force(monkeypatch, "none")
    marker = tmp_path / "child-alive"
    command = f"(sleep 30; touch {marker}) & sleep 30"
    result = run_command(command, tmp_path, dict(os.environ), 1)
    assert result.returncode is None and "timed out after 1 s" in result.output
    import time

    time.sleep(1.5)
    assert not marker.exists()


def test_huge_output_keeps_its_tail(tmp_path, monkeypatch):
    force(monkeypatch, "none")
    result = run_command(f"{sys.executable} -c \"print('x' * 500000); print('THE END')\"",
                         tmp_path, dict(os.environ), 30)
    assert result.output.rstrip().endswith("THE END") and len(result.output) <= 64_000
    assert "last 64,000" in result.notes[0]


def test_a_secret_the_output_cut_splits_is_redacted_whole(tmp_path, monkeypatch):
    """Only the output's last 64,000 bytes are kept: a secret straddling that cut must not
    leave its tail, which no longer matches it, in clear."""
    force(monkeypatch, "none")
    key = "sk-proj-Abc123def456GHI789jklMNO"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    script = ("import os, sys; sys.stdout.write('x' * 100000 + os.environ['OPENAI_API_KEY'] "
              "+ 'y' * (64000 - 12))")
    result = run_command(f"{sys.executable} -c \"{script}\"", tmp_path, dict(os.environ), 30)
    assert key[-12:] not in result.output and key[-6:] not in result.output
    assert result.output.startswith("[REDACTED:OPENAI_API_KEY]"), result.output[:80]
    assert result.output.endswith("y" * 100)


def test_secret_locations_cover_home_credentials_and_runner_temp(tmp_path):
    home = tmp_path / "home"
    (home / ".config" / "gh").mkdir(parents=True)
    (home / ".git-credentials").write_text("https://x:y@github.com\n")
    runner = tmp_path / "runner"
    runner.mkdir()
    found = secret_locations(tmp_path / "repo-git", tmp_path / "store",
                             {"HOME": str(home), "RUNNER_TEMP": str(runner)})
    assert set(found) == {home / ".config" / "gh", home / ".git-credentials", runner}


def test_registry_and_secret_store_credentials_in_home_are_hidden(tmp_path):
    home = tmp_path / "home"
    files = [".cargo/credentials.toml", ".config/pip/pip.conf", ".vault-token",
             ".m2/settings.xml", ".config/containers/auth.json", ".gem/credentials",
             ".terraform.d/credentials.tfrc.json", ".cache/huggingface/token", ".bash_history"]
    for name in files:
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_text("secret\n")
    found = secret_locations(None, None, {"HOME": str(home)})
    for name in files:
        assert any((home / name).is_relative_to(place) for place in found), name


def test_git_in_the_scratch_clone_sees_no_user_config(credentialed, monkeypatch):
    force(monkeypatch, "none")
    clone = scratch.create(credentialed.root, credentialed.git("rev-parse", "HEAD"), "")
    try:
        env = command_environment(clone.path, clone.home)
        result = run_command("git config --list --show-origin; git log --oneline | wc -l",
                             clone.path, env, 30)
    finally:
        clone.remove()
    assert "extraheader" not in result.output and result.output.strip().endswith("1")


@pytest.mark.parametrize("backend", [b for b in backends() if b != "none"])
def test_only_the_scratch_folder_is_writable(backend, credentialed, monkeypatch, tmp_path):
    """A test that plants a git hook through ~/.gitconfig, edits the user's checkout by its
    absolute path or talks to a host socket (Docker's, an ssh agent's) gets nowhere."""
    import socket

    force(monkeypatch, backend)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    listener = socket.socket(socket.AF_UNIX)
    sock_path = Path("/tmp") / f"sleepcoder-test-{os.getpid()}.sock"
    listener.bind(str(sock_path))
    listener.listen()
    clone = scratch.create(credentialed.root, credentialed.git("rev-parse", "HEAD"), "")
    probe = clone.home / "probe.py"
    probe.write_text(
        "import socket, sys\n"
        f"for path in ({str(home / '.gitconfig')!r}, "
        f"{str(credentialed.root / 'app' / 'core.py')!r}, '/etc/sleepcoder-probe'):\n"
        "    try:\n        open(path, 'a').write('x')\n        print('WROTE', path)\n"
        "    except OSError as exc:\n        print('refused', path, exc.errno)\n"
        "try:\n    s = socket.socket(socket.AF_UNIX)\n"
        f"    s.connect({str(sock_path)!r})\n    print('CONNECTED')\n"
        "except OSError as exc:\n    print('no socket', exc.errno)\n"
        "open('inside.txt', 'w').write('ok')\n")
    try:
        env = command_environment(clone.path, clone.home)
        result = run_command(f"{sys.executable} {probe}", clone.path, env, 60,
                             writable=[clone.path.parent])
        inside = (clone.path / "inside.txt").read_text()
    finally:
        clone.remove()
        listener.close()
        sock_path.unlink()
    # what the sandbox wrote stayed in the sandbox (under a fresh /tmp a write may "work")
    assert "CONNECTED" not in result.output, result.output
    assert not (home / ".gitconfig").exists() and not Path("/etc/sleepcoder-probe").exists()
    assert "x" not in (credentialed.root / "app" / "core.py").read_text()[-3:]
    assert inside == "ok" and result.isolation.read_only


def test_without_namespaces_planted_files_are_reported(credentialed, monkeypatch, tmp_path):
    force(monkeypatch, "none")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    git_dir = credentialed.root / ".git"
    command = (f"printf '[core]\\n\\thooksPath = /tmp/x\\n' > {home / '.gitconfig'}; "
               f"touch {git_dir / 'hooks' / 'post-checkout'}")
    result = run_command(command, tmp_path, dict(os.environ), 30, hide=[git_dir])
    assert set(result.tampered) == {str(home / ".gitconfig"), str(git_dir / "hooks")}
    assert "changed files outside its scratch folder" in result.notes[-1]


def test_nested_checkouts_are_hidden_too(credentialed):
    from sleepcoder.agent.solve.testing import nested_git_dirs

    (credentialed.root / "other").mkdir()
    git(credentialed.root / "other", "init", "-q")
    (credentialed.root / "node_modules" / "x").mkdir(parents=True)
    git(credentialed.root / "node_modules" / "x", "init", "-q")
    assert nested_git_dirs(credentialed.root) == [credentialed.root / "other" / ".git"]


def test_scratch_folders_of_dead_processes_are_removed(tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("SLEEPCODER_SCRATCH_DIR", str(tmp_path))
    dead = tmp_path / "sleepcoder-test-dead"
    dead.mkdir()
    (dead / scratch.OWNER_FILE).write_text("999999999\n")
    mine = tmp_path / "sleepcoder-test-mine"
    mine.mkdir()
    (mine / scratch.OWNER_FILE).write_text(f"{os.getpid()}\n")
    old = time.time() - 2 * scratch.STALE_SECONDS
    for folder in (dead, mine):
        os.utime(folder, (old, old))
    assert scratch.remove_stale() == [dead]
    assert mine.exists() and not dead.exists()


def test_an_interrupted_run_takes_its_test_command_down(tmp_path, monkeypatch, ctrl_c):
    import threading
    import time

    force(monkeypatch, "none")
    marker = tmp_path / "survivor"
    interrupt = threading.Timer(1.0, lambda: os.kill(os.getpid(), __import__("signal").SIGINT))
    interrupt.start()
    with pytest.raises(KeyboardInterrupt):
        run_command(f"sleep 3; touch {marker}", tmp_path, dict(os.environ), 30)
    time.sleep(3.5)
    assert not marker.exists()


@pytest.fixture
def tmp_venv():
    """A virtualenv under /tmp, where the sandbox puts a fresh, empty file system."""
    import shutil
    import subprocess
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="sleepcoder-venv-", dir="/tmp"))
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder / "venv")],
                       check=True, capture_output=True)
        (folder / "beside.txt").write_text("not the command's business")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("backend", [b for b in backends() if b != "none"])
def test_an_interpreter_under_tmp_still_runs_read_only(backend, tmp_venv, monkeypatch,
                                                       tmp_path):
    """A test command run by a virtualenv under /tmp (a clone made in a temp folder) finds
    its interpreter: the virtualenv is shown again, read-only; the rest of /tmp is not."""
    force(monkeypatch, backend)
    python = tmp_venv / "venv" / "bin" / "python"
    script = (
        "import glob, os, sys\n"
        f"print('PREFIX', sys.prefix)\n"
        f"print('BESIDE', os.path.exists({str(tmp_venv / 'beside.txt')!r}))\n"
        "for path in [sys.prefix + '/planted.pth'] + glob.glob('/dev/shm/.sleepcoder-hold/r*'):\n"
        "    try:\n"
        "        target = path if not os.path.isdir(path) else path + '/planted.pth'\n"
        "        open(target, 'w').write('x')\n        print('WROTE', target)\n"
        "    except OSError as exc:\n        print('refused', exc.errno)\n")
    (tmp_path / "probe.py").write_text(script)
    env = {"PATH": "/usr/bin:/bin"}
    for command, path in ((f"{python} probe.py", "/usr/bin:/bin"),
                          ("python probe.py", f"{python.parent}:/usr/bin:/bin")):
        result = run_command(command, tmp_path, {**env, "PATH": path}, 60)
        assert result.passed, result.output
        assert f"PREFIX {tmp_venv / 'venv'}" in result.output
        assert "BESIDE False" in result.output and "WROTE" not in result.output
        assert result.isolation.tools == (str(tmp_venv / "venv"),)
        assert "shown read-only" in result.isolation.describe()
    assert not (tmp_venv / "venv" / "planted.pth").exists()


def test_tool_paths_show_a_virtualenv_whole_and_never_tmp_itself(tmp_venv):
    from sleepcoder.tools.namespaces import tool_paths

    venv = tmp_venv / "venv"
    assert tool_paths(f"{venv}/bin/python -m pytest -q", "/usr/bin") == [venv]
    assert tool_paths("pytest", f"{venv}/bin:/tmp:/usr/bin") == [venv]
    beside = tmp_venv / "beside.txt"
    # a file the command reads or writes is not a tool: it stays the fresh /tmp's (an
    # existing host log file shown read-only would make `> /tmp/out.log` fail)
    assert tool_paths(f"cat {beside}", "") == []
    assert tool_paths(f"pytest > {beside}", f"{beside}") == []
    beside.chmod(0o755)
    assert tool_paths(f"{beside} --fast", "") == [beside]  # an executable is a tool
    assert tool_paths("pytest --basetemp /tmp", str(tmp_venv)) == [tmp_venv]  # PATH folder
    assert tool_paths(f"{tmp_venv}/missing/python", "/tmp/") == []
    assert tool_paths("/tmp", "/tmp/../tmp") == []
    # an unbalanced quote is the shell's to report, not a crash here
    assert tool_paths(f"{venv}/bin/python -c 'print(1)", "") == [venv]


def test_a_secret_under_a_shown_tool_path_stays_hidden(monkeypatch, tmp_venv):
    """Hidden paths under a fresh mount are normally dropped (the mount hides them); one
    under a path shown again must still be covered."""
    from sleepcoder.tools import namespaces

    secret = tmp_venv / "venv" / ".git-credentials"
    secret.write_text("https://x:" + TOKEN + "@github.com\n")
    dirs, files = namespaces._split([secret, tmp_venv / "other"], [tmp_venv / "venv"])
    assert files == [secret] and dirs == []


def test_tool_paths_only_ever_show_existing_paths_strictly_under_a_fresh_mount(tmp_venv):
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from sleepcoder.tools.namespaces import fresh_mounts, tool_paths

    fresh = [Path(p) for p in fresh_mounts()]
    parts = st.sampled_from(["/tmp", str(tmp_venv), str(tmp_venv / "venv"), "bin", "python",
                             "..", ".", "beside.txt", "/usr/bin", "/", "'", '"', "x y",
                             "/run", "/var/tmp", "~", "$HOME"])
    word = st.lists(parts, min_size=1, max_size=5).map("/".join)

    @settings(max_examples=300, deadline=None)
    @given(st.lists(word, max_size=6), st.lists(word, max_size=4))
    def check(words, path_dirs):
        shown = tool_paths(" ".join(words), ":".join(path_dirs))
        for path in shown:
            assert path.exists() or path.is_symlink()
            assert any(path != f and path.is_relative_to(f) for f in fresh)
            real = Path(os.path.realpath(path))  # and so does what it points to
            assert any(real != f and real.is_relative_to(f) for f in fresh)
            assert not any(p != path and path.is_relative_to(p) for p in shown)

    check()


def test_a_link_under_tmp_to_a_hidden_folder_is_never_shown(tmp_venv):
    """The hidden folder is covered where it is; a bind of a link to it would show its
    content at the link's place."""
    import shutil
    import tempfile

    from sleepcoder.tools.namespaces import fresh_mounts, tool_paths

    home = Path(tempfile.mkdtemp(dir=scratch.scratch_root()))  # outside the fresh mounts
    try:
        if any(home.is_relative_to(f) for f in fresh_mounts()):
            pytest.skip("no folder outside /tmp to put the secrets in")
        secrets = home / ".ssh"
        secrets.mkdir()
        (secrets / "id_rsa").write_text("key")
        link = tmp_venv / "keys"
        link.symlink_to(secrets)
        assert tool_paths(f"cat {link}/id_rsa", f"{link}") == []
    finally:
        shutil.rmtree(home, ignore_errors=True)
    inside = tmp_venv / "venv-link"
    inside.symlink_to(tmp_venv / "venv")  # a link that stays under /tmp is fine
    assert tool_paths(f"{inside}/bin/python -V", "") != []


@pytest.mark.parametrize("backend", [b for b in backends() if b != "none"])
def test_a_secret_under_a_shown_tool_path_is_not_reachable_another_way(backend, tmp_venv,
                                                                      monkeypatch, tmp_path):
    """unshare binds each shown tool to a hold in /dev/shm first; the mounts hiding the
    secrets under it cover the tool's own place only, so the hold must be gone by then."""
    force(monkeypatch, backend)
    venv = tmp_venv / "venv"
    secret = venv / ".git-credentials"
    store = venv / "store"
    store.mkdir()
    for path in (secret, store / "token"):
        path.write_text("hidden-marker")  # not secret-shaped: the output scrubber keeps it
    probe = ("import os\n"
             "for root, _, files in os.walk('/dev/shm'):\n"
             "    for name in files:\n"
             "        path = os.path.join(root, name)\n"
             "        print('FOUND', path, b'hidden-marker' in open(path, 'rb').read())\n"
             f"for path in ({str(secret)!r}, {str(store / 'token')!r}):\n"
             "    try:\n"
             "        print('READ', path, 'hidden-marker' in open(path).read())\n"
             "    except OSError as exc:\n        print('refused', exc.errno)\n")
    (tmp_path / "probe.py").write_text(probe)
    result = run_command(f"{venv}/bin/python probe.py", tmp_path, {"PATH": "/usr/bin:/bin"},
                         60, hide=[secret, store])
    assert result.passed, result.output
    assert result.isolation.tools == (str(venv),)
    assert "True" not in result.output and "FOUND" not in result.output


@pytest.mark.parametrize("home", ["/tmp/sleepcoder-gone-{}/bin", "/tmp/odd\x00byte/bin",
                                  "/tmp/\udcff\udcfe/bin"])
def test_a_virtualenv_whose_home_is_gone_is_shown_without_it(home, tmp_venv):
    """pyvenv.cfg is read on the host: a `home` that does not exist (or cannot be a path)
    is left out instead of failing the bind or raising."""
    from sleepcoder.tools.namespaces import tool_paths

    venv = tmp_venv / "venv"
    (venv / "pyvenv.cfg").write_bytes(
        f"home = {home.format(tmp_venv.name)}\n".encode(errors="surrogateescape"))
    assert tool_paths(f"{venv}/bin/python -m pytest", "") == [venv]


@pytest.mark.parametrize("backend", [b for b in backends() if b != "none"])
def test_a_hidden_folder_stays_hidden_in_a_tool_path_named_through_a_link(backend, monkeypatch,
                                                                         tmp_path):
    """A clone in /tmp reached by the command through a link (or hidden under its link's
    name): the .git folder under the shown path is hidden at the place the command sees."""
    import shutil
    import tempfile

    force(monkeypatch, backend)
    real = Path(tempfile.mkdtemp(prefix="sleepcoder-clone-", dir="/tmp"))
    link = real.with_name(real.name + "-link")
    try:
        link.symlink_to(real)
        (real / ".git").mkdir()
        (real / ".git" / "config").write_text("extraheader hidden-marker\n")
        (real / "README").write_text("readable\n")
        for shown, hidden in ((link, real), (real, link)):
            # a folder is shown when it is on PATH (a folder the command only names is not)
            result = run_command(f"cd {shown} && cat README && cat .git/config", tmp_path,
                                 {"PATH": f"{shown}:/usr/bin:/bin"}, 60,
                                 hide=[hidden / ".git"])
            assert result.isolation.tools == (str(shown),)
            assert "readable" in result.output and "hidden-marker" not in result.output
    finally:
        link.unlink(missing_ok=True)
        shutil.rmtree(real, ignore_errors=True)


@pytest.mark.parametrize("backend", [b for b in backends() if b != "none"])
def test_a_socket_the_command_names_under_tmp_stays_unreachable(backend, monkeypatch, tmp_path):
    """Sockets and pipes in /tmp belong to other processes: naming one in the command does
    not show it again, only files and folders are tools."""
    import shutil
    import socket
    import tempfile

    force(monkeypatch, backend)
    folder = Path(tempfile.mkdtemp(prefix="sleepcoder-sock-", dir="/tmp"))
    listener = socket.socket(socket.AF_UNIX)
    try:
        listener.bind(str(folder / "agent.sock"))
        listener.listen()
        os.mkfifo(folder / "pipe")
        probe = ("import socket, sys\ns = socket.socket(socket.AF_UNIX)\n"
                 "try:\n    s.connect(sys.argv[1])\n    print('CONNECTED')\n"
                 "except OSError as exc:\n    print('refused', exc.errno)\n")
        (tmp_path / "probe.py").write_text(probe)
        result = run_command(f"{sys.executable} probe.py {folder}/agent.sock {folder}/pipe",
                             tmp_path, {"PATH": "/usr/bin:/bin"}, 60)
        assert result.passed, result.output
        assert "refused" in result.output and "CONNECTED" not in result.output
        assert result.isolation.tools == ()
    finally:
        listener.close()
        shutil.rmtree(folder, ignore_errors=True)


def test_every_hidden_path_is_covered_wherever_a_shown_path_reaches_it(tmp_venv):
    """Whatever the links between them, a hidden path that lies (really) inside a shown one
    is hidden at the place the shown path gives it, or the shown path is hidden whole."""
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from sleepcoder.tools import namespaces

    real = tmp_venv / "venv"
    (real / ".git").mkdir()
    (real / ".git" / "config").write_text("x")
    (real / "secret.txt").write_text("x")
    (tmp_venv / "link").symlink_to(real)
    (tmp_venv / "git-link").symlink_to(real / ".git")
    places = [real, tmp_venv / "link", real / ".git", tmp_venv / "link" / ".git",
              tmp_venv / "git-link", real / "secret.txt", tmp_venv / "link" / "secret.txt",
              real / "bin", tmp_venv / "link" / "bin", tmp_venv / "beside.txt"]

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.sampled_from(places), max_size=4),
           st.lists(st.sampled_from(places), min_size=1, max_size=3))
    def check(hide, shown):
        dirs, files = namespaces._split(hide, shown)
        covered = dirs + files
        for r in shown:
            real_r = Path(os.path.realpath(r))
            for p in hide:
                real_p = Path(os.path.realpath(p))
                if real_p.is_relative_to(real_r):
                    place = r / real_p.relative_to(real_r)
                elif real_r.is_relative_to(real_p):
                    place = r
                else:
                    continue
                assert any(place.is_relative_to(q) for q in covered), (p, r, covered)

    check()


def test_a_virtualenv_home_without_an_interpreter_is_not_shown(tmp_venv):
    """pyvenv.cfg's `home` shows the folder of the interpreter the virtualenv was made from;
    a home naming some other folder under a fresh mount (a runtime folder of sockets) is
    left hidden."""
    from sleepcoder.tools.namespaces import tool_paths

    venv = tmp_venv / "venv"
    runtime = tmp_venv / "runtime"
    (runtime / "bin").mkdir(parents=True)
    (runtime / "bin" / "agent.socket-ish").write_text("")
    for home in (runtime, runtime / "bin"):
        (venv / "pyvenv.cfg").write_text(f"home = {home}\n")
        assert tool_paths(f"{venv}/bin/python -m pytest", "") == [venv]
    (runtime / "bin" / "python3").write_text("")
    assert tool_paths(f"{venv}/bin/python -m pytest", "") == [venv, runtime]
