"""The example project and its feature requests stay consistent: every reference patch applies
to the example and its tests pass with it (the benchmark scores against these patches)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
REQUESTS = json.loads((EXAMPLES / "requests.json").read_text())


@pytest.mark.parametrize("request_id", [r["id"] for r in REQUESTS])
def test_reference_patch_applies_and_the_example_tests_pass(tmp_path, request_id):
    item = next(r for r in REQUESTS if r["id"] == request_id)
    target = tmp_path / "inventory"
    shutil.copytree(EXAMPLES / "inventory", target)
    patch = (EXAMPLES / item["reference_patch"]).read_text()
    subprocess.run(["git", "apply", "-"], cwd=target, input=patch, text=True, check=True)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                            cwd=target, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:]
    assert len(set(line[6:] for line in patch.splitlines() if line.startswith("+++ b/"))) == 3
