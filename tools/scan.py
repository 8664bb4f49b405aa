"""Which files the map covers: git-tracked (and untracked, not ignored) files, or a plain walk.

Decisions that need only the path and `lstat` are made here (ignored, vendored, symlink,
oversized, known-binary extension, unavailable); those that need the content (binary,
minified, unreadable) are made by `tools/extract.py` when a file is read.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sleepcoder.tools import gitutil
from sleepcoder.tools.config import MapConfig
from sleepcoder.tools.errors import git_error
from sleepcoder.tools.languages import language_for_suffix
from sleepcoder.tools.userfiles import UserFileError, read_user_bytes

if TYPE_CHECKING:  # imported where a pattern is compiled: most refreshes have none (10 ms)
    import pathspec

IGNORE_FILE = ".sleepcoderignore"
MAX_IGNORE_FILE_BYTES = 1_000_000

# Never worth reading: decided from the extension alone.
BINARY_EXTENSIONS = frozenset(
    [
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".bmp",
        ".ico",
        ".icns",
        ".webp",
        ".tif",
        ".tiff",
        ".psd",
        ".pdf",
        ".zip",
        ".gz",
        ".tgz",
        ".bz2",
        ".xz",
        ".zst",
        ".7z",
        ".rar",
        ".tar",
        ".whl",
        ".egg",
        ".jar",
        ".war",
        ".class",
        ".so",
        ".dylib",
        ".dll",
        ".exe",
        ".o",
        ".a",
        ".lib",
        ".obj",
        ".pyc",
        ".pyo",
        ".pyd",
        ".wasm",
        ".woff",
        ".woff2",
        ".ttf",
        ".otf",
        ".eot",
        ".mp3",
        ".mp4",
        ".m4a",
        ".wav",
        ".ogg",
        ".flac",
        ".avi",
        ".mov",
        ".mkv",
        ".webm",
        ".db",
        ".sqlite",
        ".sqlite3",
        ".bin",
        ".dat",
        ".pkl",
        ".pickle",
        ".npy",
        ".npz",
        ".h5",
        ".parquet",
        ".onnx",
        ".pt",
        ".pth",
        ".gguf",
        ".safetensors",
    ]
)

# Directories a plain (non-git) walk never enters.
WALK_PRUNE = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
        ".venv",
        "venv",
        ".eggs",
        ".idea",
        ".vscode",
    }
)


@dataclass(slots=True)
class ScannedFile:
    path: str  # repository-relative, "/"-separated
    size: int
    mtime_ns: int
    blob: str | None  # known git blob id when the working file matches the index
    language: str | None


@dataclass
class ScanResult:
    root: Path
    is_git: bool
    commit: str | None
    dirty: bool
    files: list[ScannedFile] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # path -> reason
    details: dict[str, str] = field(default_factory=dict)  # path -> human detail
    notices: list[str] = field(default_factory=list)

    def skip(self, path: str, reason: str, detail: str = "") -> None:
        self.skipped[path] = reason
        if detail:
            self.details[path] = detail

    def skipped_by_reason(self) -> Counter[str]:
        return Counter(self.skipped.values())


class ScanError(Exception):
    """The path cannot be mapped at all (missing, not a directory)."""


def resolve_root(path: Path) -> tuple[Path, object | None]:
    """The root to map for `path` and its git repository (None for a plain directory)."""
    if not path.exists():
        raise ScanError(f"path does not exist: {path}")
    if not path.is_dir():
        raise ScanError(f"not a directory: {path}")
    if not _storable(str(path.resolve())):
        raise ScanError(f"the path {str(path.resolve()).encode('utf-8', 'surrogateescape')!r} "
                        "is not UTF-8: the map stores paths as text; rename the folder")
    try:
        repo = gitutil.open_repo(path)
    except gitutil.NotARepository:
        return path.resolve(), None
    except gitutil.GitNotFound:
        raise ScanError(f"git is not installed (no `git` on PATH): sleepcoder needs it to "
                        f"tell whether {path} is a repository and to read one") from None
    except gitutil.GitCommandError as exc:  # a broken .git, a repository git will not trust
        raise ScanError(f"git cannot open the repository at {path}: {git_error(exc)}"
                        ) from None
    try:
        return gitutil.toplevel(repo), repo
    except gitutil.NotARepository as exc:  # a bare repository or a mirror
        raise ScanError(str(exc)) from None


class KnownFile(Protocol):
    """What the map stored for a path whose content it read (tools.store.StoredContent):
    lets a refresh skip the `lstat` of a tracked file git reports unchanged since."""

    @property
    def blob(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def mtime_ns(self) -> int: ...


def scan(root: Path, repo, config: MapConfig, store_dir: Path,
         known: Mapping[str, KnownFile] | None = None) -> ScanResult:
    """The files to map under `root`. `known`: the stored files (a refresh); a tracked file
    git reports clean whose index blob is the stored one keeps its stored size and time."""
    if repo is not None:
        try:
            result = _scan_git(root, repo, config)
        except gitutil.GitCommandError as exc:  # e.g. a corrupt index
            raise ScanError(f"git cannot list the files of {root}: {git_error(exc)}") from None
    else:
        result = ScanResult(root=root, is_git=False, commit=None, dirty=False)
        result.notices.append(
            f"{root} is not a git repository: mapping it as a plain directory "
            "(honouring .gitignore files; no history, no co-change notes)"
        )
        _walk_plain(root, result)
    _drop_unstorable_names(result)
    absent = _apply_rules(result, config, store_dir, known or {})
    if absent and repo is not None and result.commit is not None:
        _mark_unavailable(result, repo, result.commit, absent)
    return result


def _storable(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # bytes a file system allows that are not UTF-8
        return False
    return True


def _drop_unstorable_names(result: ScanResult) -> None:
    """Files whose names are not UTF-8 are left out, with a notice: the map stores paths as
    text (a name such as `f\\xfe.py` ended the map with an encoding error)."""
    bad = [item.path for item in result.files if not _storable(item.path)]
    bad += [path for path in result.skipped if not _storable(path)]
    if not bad:
        return
    result.files = [item for item in result.files if _storable(item.path)]
    for path in bad:
        result.skipped.pop(path, None)
        result.details.pop(path, None)
    shown = bad[0].encode("utf-8", "surrogateescape")
    result.notices.append(f"{len(bad)} files not mapped: their names are not UTF-8, which the "
                          f"map cannot store (e.g. {shown!r})")


def _mark_unavailable(result: ScanResult, repo, commit: str, absent: list[ScannedFile]) -> None:
    """Tracked files missing from the working tree whose content git lacks too (a partial
    clone's sparse checkout, an evaluation snapshot of a pruned mirror): skipped as
    "unavailable" and counted, where a file the user deleted is simply not mapped."""
    try:
        missing = gitutil.missing_objects(repo, commit)
    except gitutil.GitCommandError as exc:
        result.notices.append(f"could not check which files git lacks: {git_error(exc)}")
        return
    unavailable = [item.path for item in absent if item.blob in missing]
    for path in unavailable:
        result.skip(path, "unavailable", "content neither in the working tree nor in the "
                    "git object store")
    if unavailable:
        result.notices.append(
            f"{len(unavailable)} files skipped as unavailable: their content is neither in "
            "the working tree nor in the git object store (a partial clone or a mirror "
            f"without some objects), e.g. {unavailable[0]}")


def _scan_git(root: Path, repo, config: MapConfig) -> ScanResult:
    commit = gitutil.head_commit(repo)
    result = ScanResult(root=root, is_git=True, commit=commit, dirty=False)
    if commit is None:
        result.notices.append(
            "the repository has no commits yet: mapping the working tree "
            "(staged and untracked files), with no history"
        )
    modified, untracked = gitutil.worktree_changes(repo)
    files = result.files
    for path, (mode, blob) in gitutil.tracked_files(repo).items():
        if mode == "160000":
            result.skip(path, "submodule")
            continue
        if mode == "120000":
            result.skip(path, "symlink", "symbolic link (not followed)")
            continue
        if modified and path in modified:
            blob = None
            result.dirty = True
        files.append(ScannedFile(path, 0, 0, blob, None))
    result.dirty |= bool(untracked)
    result.files.extend(ScannedFile(path, 0, 0, None, None) for path in untracked)
    return result


def _walk_plain(root: Path, result: ScanResult) -> None:
    specs: list[tuple[str, pathspec.PathSpec]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        if ".gitignore" in filenames:
            spec = _read_spec(Path(dirpath) / ".gitignore")
            if spec is not None:
                specs.append((rel_dir, spec))
        kept = []
        for name in sorted(dirnames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if name in WALK_PRUNE or _ignored_by(specs, rel + "/"):
                continue
            if os.path.islink(os.path.join(dirpath, name)):
                result.skip(rel, "symlink", _link_detail(root, Path(dirpath) / name))
                continue
            kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if not _ignored_by(specs, rel):
                result.files.append(ScannedFile(rel, 0, 0, None, None))


def _ignored_by(specs: list[tuple[str, pathspec.PathSpec]], rel: str) -> bool:
    ignored = False
    for base, spec in specs:  # outer directories first, so inner files can re-include
        if base and not rel.startswith(base + "/"):
            continue
        sub = rel[len(base) + 1 :] if base else rel
        outcome = spec.check_file(sub).include
        if outcome is not None:
            ignored = outcome
    return ignored


def _read_spec(path: Path) -> pathspec.PathSpec | None:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)


def _link_detail(root: Path, link: Path) -> str:
    try:
        target = link.resolve(strict=False)
    except (OSError, RuntimeError):
        return "symbolic link loop (not followed)"
    if not target.is_relative_to(root):
        return f"symbolic link to {target}, outside the repository (not followed)"
    return "symbolic link (not followed)"


def _apply_rules(result: ScanResult, config: MapConfig, store_dir: Path,
                 known: Mapping[str, KnownFile]) -> list[ScannedFile]:
    """Filter the listed files by ignore rules, vendoring, type and size; fill in stat data.
    Returns the listed files absent from the working tree."""
    root = result.root
    prefix = f"{root}/"
    patterns = list(config.exclude)
    ignore_file = root / IGNORE_FILE
    if os.path.lexists(ignore_file):
        try:
            data = read_user_bytes(ignore_file, "the ignore file", MAX_IGNORE_FILE_BYTES)
        except UserFileError as exc:
            raise ScanError(str(exc)) from None
        patterns.extend(data.decode("utf-8", errors="replace").splitlines())
    user_spec = None
    if patterns:
        import pathspec

        user_spec = pathspec.GitIgnoreSpec.from_lines(patterns)
    store_rel = _relative_or_none(store_dir, root)
    vendored = frozenset(config.vendored_dirs)
    vendored_dir: dict[str, bool] = {}  # by directory: a tree has far fewer of them than files
    kept: list[ScannedFile] = []
    absent: list[ScannedFile] = []
    for item in result.files:
        path = item.path
        if not path.isascii() and any("\udc80" <= c <= "\udcff" for c in path):
            result.skip(path, "bad-path", "file name is not valid UTF-8")
            continue
        if store_rel and (path == store_rel or path.startswith(store_rel + "/")):
            continue  # our own store: not part of the repository
        if user_spec is not None and user_spec.match_file(path):
            result.skip(path, "excluded")
            continue
        directory = path.rpartition("/")[0]
        in_vendored = vendored_dir.get(directory)
        if in_vendored is None:
            in_vendored = vendored_dir[directory] = (
                bool(directory) and not vendored.isdisjoint(directory.split("/")))
        if in_vendored:
            result.skip(path, "vendored")
            continue
        stored = known.get(path)
        if item.blob is not None and stored is not None and stored.blob == item.blob:
            # git reports the file clean (a regular file with the index content) and the map
            # read that very content: its stored size and time stand
            size, mtime_ns = stored.size, stored.mtime_ns
        else:
            try:
                info = os.lstat(prefix + path)
            except FileNotFoundError:  # deleted in the working tree, or never checked out
                absent.append(item)
                continue
            except OSError as exc:
                result.skip(path, "unreadable", str(exc))
                continue
            if stat.S_ISLNK(info.st_mode):
                result.skip(path, "symlink", _link_detail(root, root / path))
                continue
            if not stat.S_ISREG(info.st_mode):
                result.skip(path, "not-a-file")
                continue
            size, mtime_ns = info.st_size, info.st_mtime_ns
        suffix = _suffix(path).lower()
        if suffix in BINARY_EXTENSIONS:
            result.skip(path, "binary")
            continue
        if size > config.max_file_bytes:
            result.skip(path, "oversized", f"{size:,} bytes > limit {config.max_file_bytes:,}")
            continue
        item.size = size
        item.mtime_ns = mtime_ns
        item.language = language_for_suffix(path, suffix)
        kept.append(item)
    kept.sort(key=attrgetter("path"))
    result.files = kept
    return absent


def _suffix(path: str) -> str:
    """PurePosixPath(path).suffix without building a path object (a scan does this per file)."""
    name = path.rpartition("/")[2]
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def _relative_or_none(path: Path, root: Path) -> str | None:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return None
