"""A non-editable install works: the wheel holds every data file the code reads (prompts,
tree-sitter queries), and a solve runs from it (as the GitHub Action, which installs
non-editably, does)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests import test_solve
from tests.test_solve import CLI_EDIT, PLAN, REPORT_EDIT, REQUEST

SOURCE = Path(__file__).resolve().parent.parent
inventory = test_solve.inventory  # the example project with history, as a fixture here too

DRIVER = '''
import json, sys
from pathlib import Path

import sleepcoder.agent as agent
from sleepcoder.agent.llm import register_provider
from scripted_model import Script, make_provider

here = Path(__file__).parent
script = Script()
for rule in json.loads((here / "rules.json").read_text()):
    script.on(**rule)
register_provider("scripted", lambda: make_provider(script))
from sleepcoder.cli import main

sys.argv = ["sleepcoder", *sys.argv[1:]]
try:
    main()
finally:
    (here / "seen.json").write_text(json.dumps({
        "agent": agent.__file__, "nodes": script.nodes(), "unmatched": len(script.unmatched)}))
'''


def _packages() -> list[str]:
    """The source folders that become the installed `sleepcoder.*` packages."""
    found = tomllib.loads((SOURCE / "pyproject.toml").read_text())
    return sorted(set(found["tool"]["setuptools"]["package-dir"].values()))


def _data_files() -> set[str]:
    """Every file of the packages that is not Python source (what the code reads at run time),
    named where the wheel puts it: `agent/solve/prompts/x.txt` is
    `sleepcoder/agent/solve/prompts/x.txt`."""
    found = tomllib.loads((SOURCE / "pyproject.toml").read_text())
    out = set()
    for package, folder in found["tool"]["setuptools"]["package-dir"].items():
        for path in (SOURCE / folder).rglob("*"):
            if path.is_file() and path.suffix not in (".py", ".pyc") and \
                    "__pycache__" not in path.parts:
                inside = path.relative_to(SOURCE / folder).as_posix()
                out.add(f"{package.replace('.', '/')}/{inside}")
    return out


def _build_wheel(tmp_path: Path) -> Path:
    """Build from a copy, so the source tree gets no build/ or egg-info from the test."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(SOURCE / name, source / name)
    for package in _packages():
        shutil.copytree(SOURCE / package, source / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", str(source), "-w", str(out)],
                   check=True, capture_output=True, text=True)
    [wheel] = out.glob("sleepcoder-*.whl")
    return wheel


def _fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True,
                   text=True)
    # The dependencies come from this environment: one path line per site-packages folder.
    # A path line adds the folder to sys.path after the venv's own site-packages, and the
    # .pth files inside it (the editable install's finder) are not processed.
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; "
                                "print(sysconfig.get_path('purelib'))"], check=True,
                               capture_output=True, text=True).stdout.strip())
    outer = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (site / "outer-environment.pth").write_text("".join(f"{path}\n" for path in outer))
    return venv


@pytest.mark.packaging
def test_wheel_install_solves_with_the_scripted_model(inventory, tmp_path):
    """Builds the wheel (`pip wheel --no-deps`), installs it without its dependencies into a
    fresh virtualenv, and runs `sleepcoder solve` there with the scripted model.

    The dependencies are not installed again: a `.pth` file in the new venv points at this
    environment's site-packages. A real install of langgraph, litellm and the tree-sitter
    grammars takes minutes and needs the package index; what this test checks is our own
    package (its modules and data files), which comes from the new venv's site-packages, as
    the assertion on `agent.__file__` proves.
    """
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    assert _data_files() - names == set(), "data files missing from the wheel"
    venv = _fresh_venv(tmp_path, wheel)

    driver = tmp_path / "driver"
    driver.mkdir()
    shutil.copy(SOURCE / "tests" / "scripted_model.py", driver / "scripted_model.py")
    (driver / "driver.py").write_text(DRIVER)
    (driver / "rules.json").write_text(json.dumps([
        {"node": "localize", "reply": "inventory/report.py: YES\ninventory/cli.py: YES"},
        {"node": "plan", "reply": PLAN},
        {"node": "edit", "contains": "Plan for inventory/report.py", "reply": REPORT_EDIT},
        {"node": "edit", "contains": "Plan for inventory/cli.py", "reply": CLI_EDIT}]))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run([str(venv / "bin" / "python"), str(driver / "driver.py"), "solve",
                             REQUEST, "--repo", str(inventory.root), "--model", "scripted/test",
                             "--json"], cwd=driver, env=env, capture_output=True, text=True,
                            timeout=300)
    seen = json.loads((driver / "seen.json").read_text())
    assert Path(seen["agent"]).is_relative_to(venv), seen["agent"]
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads(result.stdout)
    assert record["status"] == "done"
    assert "def low_stock" in record["patch"]
    assert seen["nodes"][:2] == ["localize", "plan"] and seen["unmatched"] == 0
    version = subprocess.run([str(venv / "bin" / "sleepcoder"), "version"], env=env, cwd=driver,
                             capture_output=True, text=True)
    assert version.stdout.strip() == "sleepcoder 0.1.0", version.stderr
    option = subprocess.run([str(venv / "bin" / "sleepcoder"), "--version"], env=env,
                            cwd=driver, capture_output=True, text=True)
    assert option.returncode == 0 and option.stdout == version.stdout, option.stderr


@pytest.mark.packaging
def test_wheel_metadata_has_license_expression_urls_and_classifiers(tmp_path):
    """What an index shows: the SPDX licence, the project's links, its classifiers."""
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(name).decode()
    lines = metadata.split("\n\n", 1)[0].splitlines()  # the headers, before the README
    assert "License-Expression: MIT" in lines
    assert "Project-URL: Homepage, https://github.com/sleepcoder/sleepcoder" in lines
    assert "Classifier: Programming Language :: Python :: 3.11" in lines
    assert any(line.startswith("Requires-Dist: gitpython") for line in lines)


@pytest.mark.packaging
def test_wheel_installs_only_the_sleepcoder_namespace(tmp_path):
    """The wheel puts no generic top-level package (`agent`, `tools`, `tasks`,
    `swe_features`) into site-packages: in a fresh virtualenv `import tools` fails while
    `sleepcoder.tools` and the command line work."""
    wheel = _build_wheel(tmp_path)
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith((".dist-info", ".data"))} == {"sleepcoder"}, tops
    venv = _fresh_venv(tmp_path, wheel)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    probe = ("import importlib.util, sleepcoder.tools.config, sleepcoder.agent.llm; "
             "print(sleepcoder.tools.config.__file__); "
             "print([n for n in ('agent', 'tools', 'tasks', 'swe_features') "
             "if importlib.util.find_spec(n) is not None])")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", probe], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    where, generic = out.stdout.splitlines()
    assert Path(where).is_relative_to(venv), where
    assert generic == "[]"
    failed = subprocess.run([str(venv / "bin" / "python"), "-c", "import tools"], cwd=tmp_path,
                            env=env, capture_output=True, text=True)
    assert failed.returncode != 0 and "No module named 'tools'" in failed.stderr
