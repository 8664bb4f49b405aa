"""Progress where stderr is not a terminal (a CI log, a redirect): plain lines at a phase's
start, every PLAIN_EVERY seconds and at its end, so a long sleep pass is never silent; none
with --json."""

from __future__ import annotations

from types import SimpleNamespace

import sleepcoder.progress as progress
from sleepcoder.progress import RichProgress


def test_a_phase_is_reported_in_plain_lines_without_a_terminal(capsys, monkeypatch):
    monkeypatch.setattr(progress, "PLAIN_EVERY", 0.0)
    with RichProgress() as bar:
        assert bar.plain and not bar.enabled  # pytest's stderr is not a terminal
        bar.start("summarize", 3)
        bar.advance()
        bar.advance()
        bar.start("parse", 2)  # a new phase ends the last one
        bar.advance(2)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "summarize: 3 files"
    assert lines[1].startswith("summarize: 1 of 3 files, ")
    assert lines[2].startswith("summarize: 2 of 3 files, ")
    assert lines[3].startswith("summarize: 2 of 3 files done in ")
    assert lines[4] == "parse: 2 files"
    assert lines[5].startswith("parse: 2 of 2 files done in ")
    assert len(lines) == 6  # the last advance completes the phase: no "2 of 2" progress line


def test_progress_lines_are_spaced_and_json_output_has_none(capsys, monkeypatch):
    monkeypatch.setattr(progress, "PLAIN_EVERY", 3600.0)
    with RichProgress() as bar:
        bar.start("parse", 1000)
        bar.advance(500)
    assert len(capsys.readouterr().err.splitlines()) == 2  # started, done: nothing between
    with RichProgress(enabled=False) as bar:
        bar.start("parse", 10)
        bar.advance(10)
        bar.notice("hidden")
    assert capsys.readouterr().err == ""


def test_an_interrupted_phase_is_reported_stopped_not_done(capsys):
    try:
        with RichProgress() as bar:
            bar.start("parse", 1)
            bar.start("search", 2)
            bar.advance()
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "parse: 1 file"
    assert lines[1].startswith("parse: 0 of 1 file done in ")  # a new phase ends the last one
    assert lines[2] == "search: 2 files"
    assert lines[3].startswith("search: 1 of 2 files stopped after ")
    assert len(lines) == 4


def test_a_completed_phase_is_reported_done_when_its_last_file_is(capsys, monkeypatch):
    times = [0.0, 5.0]  # the phase's start, its last file; later steps take 100 s
    monkeypatch.setattr(progress, "time",
                        SimpleNamespace(monotonic=lambda: times.pop(0) if times else 100.0))
    try:
        with RichProgress() as bar:
            bar.start("parse", 1)
            bar.advance()
            raise KeyboardInterrupt  # a later step is interrupted, not the parse
    except KeyboardInterrupt:
        pass
    assert capsys.readouterr().err.splitlines()[1] == "parse: 1 of 1 file done in 5 s"
