"""`sleepcoder mcp`: the map as a stdio MCP server (official `mcp` SDK), so a coding agent
(Claude Code, Cursor, ...) can ask it for an overview, the files a request touches, a file's
definitions, co-changes, a symbol's callers and the anticipated changes. See docs/mcp.md.

stdout is the protocol channel: nothing else is printed there; logs go to stderr. Every answer,
tool error and log line goes through the secret scrubber (tools/secrets.py).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import sys
import typing
from collections.abc import Callable
from pathlib import Path

try:  # mcp 2.x renamed FastMCP to MCPServer; 1.x (>= 1.2) has FastMCP
    from mcp.server.mcpserver import MCPServer as _Server
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError:
    from mcp.server.fastmcp import FastMCP as _Server  # type: ignore[no-redef]
    from mcp.server.fastmcp.exceptions import ToolError  # type: ignore[no-redef]

from sleepcoder.mcp_tools import (
    DEFAULT_MAP_BUDGET,
    MAX_COCHANGE_LIMIT,
    MAX_LOCALIZE_LIMIT,
    MAX_MAP_BUDGET,
    MapAnswers,
    Parameter,
    QueryRefused,
    RepositoryGone,
    check_arguments,
)
from sleepcoder.tools.config import Config
from sleepcoder.tools.errors import clip
from sleepcoder.tools.secrets import ScrubbedStream, scrub

MAX_ERROR_CHARS = 1000  # one line; a path in a refusal is already cut at 120 characters

_log = logging.getLogger("sleepcoder.mcp")

INSTRUCTIONS = (
    "sleepcoder's map of one repository: files ranked by importance, their summaries and key "
    "definitions, the import/call graph and the git history. Start with `localize` for a "
    "change request or `map_overview` for orientation, then `file_info`, `symbol` and "
    "`cochanges` on what they name. Paths are relative to the repository root. Read-only."
)


def _guarded(query: Callable[[], str]) -> str:
    """Run one tool: refused input and map errors become tool errors the model can read;
    a bug is logged (stderr) and reported as one line, never as a traceback."""
    from sleepcoder.tools.lock import MapBusy
    from sleepcoder.tools.scan import ScanError
    from sleepcoder.tools.store import StoreError

    try:
        return scrub(query())  # a constant, a docstring or a summary may hold a secret
    except QueryRefused as exc:
        raise ToolError(_one_line(f"refused: {exc}")) from None
    except (StoreError, MapBusy, ScanError, RepositoryGone) as exc:
        raise ToolError(_one_line(str(exc))) from None
    except Exception as exc:
        _log.exception("tool failed")  # stderr is scrubbed (serve installs ScrubbedStream)
        raise ToolError(_one_line(f"sleepcoder failed: {type(exc).__name__}: {exc}")) from None


def _one_line(message: str) -> str:
    return clip(scrub(message), MAX_ERROR_CHARS)


def _parameters(function: Callable[..., str]) -> tuple[Parameter, ...]:
    """The parameters a tool function declares, as `check_arguments` checks them."""
    hints = typing.get_type_hints(function)
    return tuple(Parameter(name, hints[name], spec.default is inspect.Parameter.empty)
                 for name, spec in inspect.signature(function).parameters.items())


class _CheckedServer(_Server):
    """The SDK's server, with arguments checked before the SDK's own validation (whose
    errors are multi-line, carry documentation URLs and take `true` for 1), and every tool
    error scrubbed and put on one line."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.checked_parameters: dict[str, tuple[Parameter, ...]] = {}

    async def call_tool(self, name, arguments, *args, **kwargs):
        parameters = self.checked_parameters.get(name)
        try:
            if parameters is not None:
                arguments = check_arguments(name, parameters, arguments)
        except QueryRefused as exc:
            raise ToolError(_one_line(f"refused: {exc}")) from None
        try:
            return await super().call_tool(name, arguments, *args, **kwargs)
        except ToolError as exc:
            if type(exc) is not ToolError:  # the SDK's UnexpectedToolError: a bug
                _log.exception("tool %s failed", name)
            # the SDK prefixes "Error executing tool NAME: "; the client knows which it called
            message = str(exc).removeprefix(f"Error executing tool {name}: ")
            raise ToolError(_one_line(message)) from None


def build_server(root: Path, repo, config: Config) -> _Server:
    """The MCP server for the repository at `root`, with its six tools."""
    answers = MapAnswers(root, repo, config, log=_log.info)
    from sleepcoder import __version__

    try:  # the 2.x SDK reports a server version; 1.x has no such parameter
        server = _CheckedServer("sleepcoder", instructions=INSTRUCTIONS, version=__version__)
    except TypeError:
        server = _CheckedServer("sleepcoder", instructions=INSTRUCTIONS)

    def tool(description: str):
        def register(function: Callable[..., str]) -> Callable[..., str]:
            server.checked_parameters[function.__name__] = _parameters(function)
            return server.tool(description=description)(function)
        return register

    @tool(description=(
        "Overview of the repository map within a token budget: the main directories, then "
        "files most relevant first with their summaries, key definitions and co-change "
        "hints, then anticipated changes. `budget`: tokens (1 to "
        f"{MAX_MAP_BUDGET}; larger values are capped). `focus`: optional text (a request, "
        "symbols, paths) that ranks matching files first."))
    def map_overview(budget: int = DEFAULT_MAP_BUDGET, focus: str = "") -> str:
        return _guarded(lambda: answers.map_overview(budget, focus))

    @tool(description=(
        "Which files a change request will most likely modify, ranked, each with a "
        "probability and the reasons (text match, import/call links, past co-changes, "
        "anticipated requests), without any language model. `chosen` is the suggested "
        f"set. `limit`: candidates to list (1 to {MAX_LOCALIZE_LIMIT})."))
    def localize(request: str, limit: int = 10) -> str:
        return _guarded(lambda: answers.localize(request, limit))

    @tool(description=(
        "A file's summary (or docstring) and its definitions (classes, functions, methods) "
        "with line ranges, signatures and how many other files use each. `path`: relative "
        "to the repository root."))
    def file_info(path: str) -> str:
        return _guarded(lambda: answers.file_info(path))

    @tool(description=(
        "The files that usually change together with a file, learnt from the git history "
        f"(changed together in two or more commits). `limit`: 1 to {MAX_COCHANGE_LIMIT}."))
    def cochanges(path: str, limit: int = 10) -> str:
        return _guarded(lambda: answers.cochanges(path, limit))

    @tool(description=(
        "Where a symbol is defined (file and line) and which definitions call or use it, "
        "from the map's call graph. `name`: a function, class or method name, or a "
        "qualified one such as `Class.method`."))
    def symbol(name: str) -> str:
        return _guarded(lambda: answers.symbol(name))

    @tool(description=(
        "Likely changes anticipated at sleep time (feature requests the sleep pass expects, "
        "with the files each would touch), those closest to `focus` first; says so when "
        "the map has none."))
    def likely_changes(focus: str = "") -> str:
        return _guarded(lambda: answers.likely_changes(focus))

    return server


def serve(root: Path, config: Config) -> None:
    """Serve the map of the repository at `root` over stdio until the client closes the
    connection."""
    from sleepcoder.tools.scan import ScanError, resolve_root

    if not isinstance(sys.stderr, ScrubbedStream):  # the CLI installs it; a caller may not
        sys.stderr = ScrubbedStream(sys.stderr)
    root, repo = resolve_root(root)
    what = _not_a_repository(root) if repo is None else None
    if what:
        raise ScanError(f"{root} is {what}, not a repository: start `sleepcoder mcp` in the "
                        "repository to serve, or give --repo")
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="sleepcoder mcp: %(message)s")
    _log.info("serving the map of %s", root)
    build_server(root, repo, config).run()


def _not_a_repository(root: Path) -> str | None:
    """What `root` is when it is a folder a server started in the wrong place would
    otherwise map whole (every file below it): a filesystem root or the home directory."""
    if root == Path(root.anchor):
        return "the filesystem root"
    with contextlib.suppress(RuntimeError):  # no HOME and no passwd entry
        if root == Path.home().resolve():
            return "the home directory"
    return None
