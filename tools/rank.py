"""File ranking: PageRank over the import and call graphs, optionally focused on a text.

A file that many others import or call into ranks high; a focus text (a feature request, a
symbol, a path) moves the restart mass onto the files that match it, as aider's repo map does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from sleepcoder.tools.callgraph import EDGE_WEIGHTS
from sleepcoder.tools.search import split_identifier, tokenize

if TYPE_CHECKING:  # numpy is imported where it is used: a map refresh that ranks
    import numpy as np  # nothing does not pay for importing it

# request boilerplate that says nothing about which files matter
_FOCUS_NOISE = frozenset({"add", "new", "support", "get", "set", "test", "tests", "py", "js",
                          "ts"})


def call_weight(how: str, count: int) -> float:
    """Weight of `count` calls from one file into another, resolved as `how`.

    Many calls count sub-linearly (sqrt), so one chatty pair does not drown the rest.
    """
    return EDGE_WEIGHTS.get(how, 0.1) * count**0.5


def pagerank(
    nodes: list[str],
    weights: Mapping[tuple[str, str], float],
    personalization: Mapping[str, float] | None = None,
    damping: float = 0.85,
    iterations: int = 60,
    tolerance: float = 1e-9,
) -> dict[str, float]:
    """Weighted PageRank; mass flows from a file to the files it depends on."""
    import numpy as np

    n = len(nodes)
    if n == 0:
        return {}
    index = {node: i for i, node in enumerate(nodes)}
    pairs = [
        (index[s], index[d], w)
        for (s, d), w in weights.items()
        if s in index and d in index and w > 0
    ]
    src = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
    dst = np.fromiter((p[1] for p in pairs), dtype=np.int64, count=len(pairs))
    wts = np.fromiter((p[2] for p in pairs), dtype=np.float64, count=len(pairs))
    restart = None
    if personalization:
        restart = np.zeros(n)
        for node, value in personalization.items():
            if node in index and value > 0:
                restart[index[node]] = value
    rank = pagerank_arrays(n, src, dst, wts, restart, damping, iterations, tolerance)
    return {node: float(rank[i]) for node, i in index.items()}


def pagerank_arrays(
    n: int,
    src: np.ndarray,
    dst: np.ndarray,
    wts: np.ndarray,
    restart: np.ndarray | None = None,
    damping: float = 0.85,
    iterations: int = 60,
    tolerance: float = 1e-9,
) -> np.ndarray:
    """`pagerank` over nodes 0..n-1 and edges as arrays (no per-edge Python objects); edges
    of weight 0 or less are ignored."""
    import numpy as np

    if n == 0:
        return np.zeros(0)
    keep = wts > 0
    src, dst, wts = src[keep], dst[keep], wts[keep]
    out_weight = np.bincount(src, weights=wts, minlength=n)
    norm = np.where(out_weight[src] > 0, wts / np.maximum(out_weight[src], 1e-300), 0.0)
    dangling = out_weight == 0
    restart = np.ones(n) if restart is None or restart.sum() == 0 else restart.copy()
    restart /= restart.sum()
    rank = restart.copy()
    for _ in range(iterations):
        spread = np.bincount(dst, weights=rank[src] * norm, minlength=n)
        new = damping * (spread + rank[dangling].sum() * restart) + (1 - damping) * restart
        delta = np.abs(new - rank).sum()
        rank = new
        if delta < tolerance:
            break
    return rank


def _word_tokens(word: str) -> frozenset[str]:
    return frozenset(t for t in split_identifier(word) if len(t) > 2 and t not in _FOCUS_NOISE)


def focus_tokens(text: str) -> set[str]:
    """Words of a focus text as the map's search splits them ("parseHTTPRequest_v2" -> parse,
    http, request, parsehttprequest_v2), without short and boilerplate words."""
    return {t for t in tokenize(text) if len(t) > 2 and t not in _FOCUS_NOISE}


def focus_scores(focus: str, paths: Iterable[str],
                 names_by_path: Mapping[str, Iterable[str]]) -> dict[str, float]:
    """How well each file matches a focus text: IDF-weighted overlap of the focus words with
    the file's path words (counted double) and definition-name words; an explicitly named
    path scores highest."""
    wanted = focus_tokens(focus)
    if not wanted:
        return {}
    path_tokens: dict[str, set[str]] = {}
    name_tokens: dict[str, set[str]] = {}
    df: dict[str, int] = {}
    paths = list(paths)
    for path in paths:
        in_path = focus_tokens(path.replace("/", " ").replace(".", " ")) & wanted
        in_names: set[str] = set()
        for name in names_by_path.get(path, ()):
            in_names |= _word_tokens(name) & wanted
        path_tokens[path], name_tokens[path] = in_path, in_names
        for token in in_path | in_names:
            df[token] = df.get(token, 0) + 1
    total = len(paths)
    idf = {t: math.log(1 + total / n) for t, n in df.items()}
    scores = {}
    for path in paths:
        score = sum(2 * idf[t] for t in path_tokens[path]) + sum(
            idf[t] for t in name_tokens[path])
        if path in focus:
            score += 10 * max(idf.values(), default=1.0)
        if score > 0:
            scores[path] = score
    return scores
