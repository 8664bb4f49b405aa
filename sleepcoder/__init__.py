"""sleepcoder: a coding agent that maps a repository at sleep time and uses the map at task time.

Everything is imported under this namespace: `sleepcoder.tools` (the deterministic map and its
guards, including the configuration, `sleepcoder.tools.config`), `sleepcoder.agent` (the LLM
graphs), `sleepcoder.tasks` (issues and the bot), `sleepcoder.swe_features` (the benchmark), and
this package's own modules, the command line.

In a wheel those subpackages sit inside this folder. In a source checkout they are the
top-level folders `agent/`, `tools/`, `tasks/` and `swe_features/` (the project's layout), and
the lines below make the same import names find them there: the checkout that holds this file
is the one whose code runs, whatever else is installed.
"""

from pathlib import Path as _Path

__version__ = "0.1.0"

_SUBPACKAGES = ("agent", "tools", "tasks", "swe_features")
_here = _Path(__file__).resolve().parent
_root = _here.parent
if not (_here / "tools").is_dir() and (_root / "pyproject.toml").is_file() and all(
        (_root / name / "__init__.py").is_file() for name in _SUBPACKAGES):
    # A source checkout: sleepcoder.<name> is <root>/<name>. Only these names are reachable
    # this way; anything else at the root (tests, benchmarks) is not part of the package.
    # (a plain class: a meta path finder needs only find_spec, and importlib.abc would
    # import importlib.resources, 7 ms of every command's start-up)
    import importlib.machinery as _machinery
    import sys as _sys

    class _CheckoutFinder:
        def find_spec(self, fullname, path=None, target=None):
            parts = fullname.split(".")
            if len(parts) != 2 or parts[0] != __name__ or parts[1] not in _SUBPACKAGES:
                return None
            return _machinery.PathFinder.find_spec(fullname, [str(_root)])

    _sys.meta_path.insert(0, _CheckoutFinder())
