"""Every number in `.sleepcoder.toml` has a declared range: a value outside it (a negative
count, a NaN timeout, a budget beyond 2^63) is a ConfigError naming the key, exit 2."""

from __future__ import annotations

import math
from dataclasses import fields

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sleepcoder.tools.config import (
    RANGES,
    BotConfig,
    ConfigError,
    HooksConfig,
    LLMConfig,
    MapConfig,
    SleepConfig,
    SolveConfig,
    parse_config,
)

from tests.test_store_robustness import assert_fails, invoke

SECTIONS = {"map": MapConfig, "llm": LLMConfig, "sleep": SleepConfig, "solve": SolveConfig,
            "bot": BotConfig, "hooks": HooksConfig}
NUMBERS = sorted((section, f.name) for section, kind in SECTIONS.items()
                 for f in fields(kind) if f.type in ("int", "float"))


def test_every_number_of_the_configuration_has_a_range():
    declared = sorted((section, key) for section, keys in RANGES.items() for key in keys)
    assert declared == NUMBERS


def test_every_default_is_within_its_range():
    for section, key in NUMBERS:
        least, most = RANGES[section][key]
        assert least <= getattr(SECTIONS[section](), key) <= most, (section, key)


def _toml(value) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


@st.composite
def _setting(draw):
    section, key = draw(st.sampled_from(NUMBERS))
    least, most = RANGES[section][key]
    is_float = isinstance(getattr(SECTIONS[section](), key), float)
    near = st.sampled_from([least, most, least - 1, most + 1, 0, -1, 2**63])
    value = draw(near | st.integers(-2**70, 2**70)
                 | (st.floats(allow_nan=True, allow_infinity=True) if is_float else st.nothing()))
    return section, key, value


@given(setting=_setting())
def test_a_number_is_accepted_exactly_when_it_is_within_its_range(setting):
    section, key, value = setting
    least, most = RANGES[section][key]
    text = f"[{section}]\n{key} = {_toml(value)}\n"
    if least <= value <= most:
        assert getattr(getattr(parse_config(text, "x.toml"), section), key) == value
    else:
        with pytest.raises(ConfigError) as refused:
            parse_config(text, "x.toml")
        assert str(refused.value).startswith(f"x.toml [{section}]: {key} must be between")


@pytest.mark.parametrize("table", [
    "[map]\nworkers = -5", "[map]\nmax_file_bytes = -1", "[map]\nlock_timeout = -1",
    "[map]\nhistory_max_files_per_commit = -1", "[solve]\ntest_timeout = -1",
    "[solve]\ntest_timeout = nan", "[solve]\nbudget = 9223372036854775808",
    "[solve]\nbudget = -5", "[solve]\nedit_attempts = 0", "[solve]\nmodel_drop_below = 7",
    "[llm]\nmax_concurrency = -1", "[llm]\ntimeout = -1", "[llm]\nretries = -1",
    "[sleep]\nbatch_files = 0", "[sleep]\nsubsystems = -1", "[sleep]\nbudget = -5",
])
def test_the_trials_out_of_range_settings_stop_the_map_with_one_line(py_repo, table):
    (py_repo.root / ".sleepcoder.toml").write_text(table + "\n")
    key = table.split("\n")[1].split(" =")[0]
    assert_fails(invoke("map", py_repo.root), 2, f"{key} must be between")
    assert not (py_repo.root / ".sleepcoder" / "map.db").exists()


def test_zero_is_accepted_where_it_means_automatic_or_no_limit(py_repo):
    config = parse_config("[map]\nworkers = 0\nhistory_max_commits = 0\nlock_timeout = 0\n"
                          "[llm]\nmax_concurrency = 0\nretries = 0\n[solve]\nbudget = 0\n"
                          "max_steps = 0\ntest_rounds = 0\n[sleep]\nbudget = 0\nsubsystems = 0\n",
                          "x.toml")
    assert (config.map.workers, config.llm.max_concurrency, config.solve.budget) == (0, 0, 0)


def test_a_huge_number_is_shown_in_short_form_in_the_error():
    with pytest.raises(ConfigError) as info:
        parse_config("[solve]\ntest_timeout = 1e308\n", "x.toml")
    assert "got 1e+308" in str(info.value) and len(str(info.value)) < 150


@pytest.mark.parametrize("value", ["", ".", "./", " "])
def test_a_store_dir_that_is_the_repository_root_is_refused(value):
    from sleepcoder.tools.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match="store_dir must name a folder of its own"):
        parse_config(f'[map]\nstore_dir = "{value}"\n', ".sleepcoder.toml")
