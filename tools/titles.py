"""What a commit or pull-request title says about the change: a chore (fix, bump, refactor,
lint...) or new functionality. Used to mine feature tasks (swe_features/builder.py) and to
pick a repository's own past features as calibration tasks (tools/pseudo_tasks.py)."""

from __future__ import annotations

import re

# Titles that read like maintenance, not a feature.
CHORE_TITLES = re.compile(
    r"\b(fix(e[sd]|ing)?|bug(s|fix|fixes)?|typos?|revert(s|ed)?|bump(s|ed)?|"
    r"refactor(s|ed|ing)?|lint(ing)?|docs?|documentation|ci|tests?|release|version|"
    r"dependenc(y|ies)|deps|pin(s|ned)?|chore|cleanup|clean up)\b", re.IGNORECASE)

# Stricter: also upgrades, formatting, typing, moves and removals, which the development set's
# hand selection never took as features.
NOT_FEATURE_TITLES = re.compile(
    r"\b(upgrade[sd]?|update[sd]?|format(ting|ted)?|reformat|typing|type (hints?|"
    r"annotations?|checks?)|mypy|ruff|flake8|isort|pre-commit|move[sd]?|rename[sd]?|"
    r"remov(e[sd]?|ing)|drop(s|ped)?|deprecat(e[sd]?|ion)|merge|sync|backport|wip|"
    r"changelog|readme|benchmarks?|tweak|simplif(y|ied|ies)|speed ?up|perf|performance|"
    r"optimi[sz]e)\b", re.IGNORECASE)

# Titles that say something new can be done (or name a new option: "--fts").
FEATURE_TITLES = re.compile(
    r"\b(add(s|ed|ing)?|support(s|ed|ing)?|allow(s|ed|ing)?|new|options?|optional(ly)?|"
    r"implement(s|ed|ation)?|introduc(e[sd]?|ing)|enabl(e[sd]?|ing)|expose[sd]?|features?|"
    r"(sub)?commands?|hooks?|flags?|param(eter)?s?|arguments?|configurable|"
    r"custom(i[sz]e|i[sz]able)?|extend(s|ed)?|feat|ability|can now|plugins?|methods?|"
    r"helpers?|endpoints?|api)\b|(^|\s)--[a-z]", re.IGNORECASE)


def is_chore(title: str) -> bool:
    return bool(CHORE_TITLES.search(title))


def reads_like_feature(title: str) -> bool:
    """A title that names new functionality and no maintenance work."""
    return bool(FEATURE_TITLES.search(title)) and not CHORE_TITLES.search(title) \
        and not NOT_FEATURE_TITLES.search(title)
