"""What a file's import and call resolution looked up, so a refresh re-resolves only the files
whose lookups a change answers differently (stored in the map's `graph_probes` table).

Keys: "p:" path, "m:" Python module, "b:" file name, "d:" directory, "w:" directory suffix
(import resolution, see tools.import_graph.ModuleIndex); "N:" a definition name and "B:" a file
whose import bindings a call resolution follows through re-exports (tools.callgraph).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping

from sleepcoder.tools.import_graph import Binding, python_module_names
from sleepcoder.tools.store import MapStore

_BATCH = 500
_INIT = "__init__.py"
_IMPORT_KEYS = ("p:", "m:", "b:", "d:", "w:")
_CALL_KEYS = ("N:", "B:")


def changed_import_probes(added: set[str], removed: set[str], mapped: Iterable[str]) -> set[str]:
    """Keys whose answer differs between the path set before (`mapped` - `added` + `removed`)
    and now (`mapped`)."""
    keys: set[str] = set()
    for path in added | removed:
        directory, base = posixpath.split(path)
        keys.update(("p:" + path, "b:" + base, "d:" + directory))
        if directory:  # the directory may have appeared or gone: every suffix it ends with
            parts = directory.split("/")
            keys.update("w:/" + "/".join(parts[i:]) for i in range(len(parts)))
    now = set(mapped)
    packages_now = {posixpath.dirname(p) for p in now if posixpath.basename(p) == _INIT}
    packages_before = (packages_now - {posixpath.dirname(p) for p in added
                                       if posixpath.basename(p) == _INIT}) | {
        posixpath.dirname(p) for p in removed if posixpath.basename(p) == _INIT}
    for path in added:
        keys.update(_module_keys(path, packages_now))
    for path in removed:
        keys.update(_module_keys(path, packages_before))
    moved = [d for d in packages_now ^ packages_before if d]
    if moved:  # a package appeared or went: module names of the files below it may change
        for path in now - added:  # files there before and now
            if any(path.startswith(d + "/") for d in moved):
                keys.update(_module_keys(path, packages_now) ^ _module_keys(path, packages_before))
    return keys


def _module_keys(path: str, package_dirs: set[str]) -> set[str]:
    if not path.endswith((".py", ".pyi")):
        return set()
    return {"m:" + name for name in python_module_names(path, package_dirs)}


def binding_reads(bindings: Mapping[str, Binding],
                  all_bindings: Mapping[str, Mapping[str, Binding]]) -> tuple[set[str], set[str]]:
    """(names, paths) a call resolution may look up when it follows these bindings through
    re-exports (tools.callgraph._Resolver._follow, three hops): a superset of what it reads."""
    names: set[str] = set()
    paths: set[str] = set()
    for binding in bindings.values():
        for _ in range(3):
            if binding.name is None:
                break
            names.add(binding.name)
            paths.add(binding.path)
            onward = all_bindings.get(binding.path, {}).get(binding.name)
            if onward is None:
                break
            binding = Binding(onward.path, onward.name or binding.name)
        if binding.name is not None:
            names.add(binding.name)
    return names, paths


def replace_probes(store: MapStore, kind: str, rows: dict[str, set[str]], everything: bool
                   ) -> None:
    """Store the probes of `kind` ("import" or "call") of the files in `rows` (path -> keys),
    replacing what those files (all files, with `everything`) had."""
    prefixes = _IMPORT_KEYS if kind == "import" else _CALL_KEYS
    where = f"substr(key, 1, 2) IN ({','.join('?' * len(prefixes))})"
    if everything:
        store.conn.execute(f"DELETE FROM graph_probes WHERE {where}", prefixes)
    else:
        store.conn.executemany(f"DELETE FROM graph_probes WHERE path=? AND {where}",
                               [(path, *prefixes) for path in rows])
    store.conn.executemany("INSERT INTO graph_probes VALUES (?,?)",
                           [(key, path) for path, keys in rows.items() for key in keys])


def forget_probes(store: MapStore, paths: Iterable[str]) -> None:
    store.conn.executemany("DELETE FROM graph_probes WHERE path=?", [(p,) for p in paths])


def paths_probing(store: MapStore, keys: Iterable[str]) -> set[str]:
    """Files whose stored lookups include one of `keys`."""
    keys = sorted(set(keys))
    found: set[str] = set()
    for start in range(0, len(keys), _BATCH):
        chunk = keys[start:start + _BATCH]
        found.update(row[0] for row in store.conn.execute(
            f"SELECT DISTINCT path FROM graph_probes WHERE key IN ({','.join('?' * len(chunk))})",
            chunk))
    return found
