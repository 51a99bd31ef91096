"""Progress bars are drawn on a terminal or in a live notebook, never into a log file or a headless run."""

from __future__ import annotations

import io
import sys

import pytest

from tsin_nb.core import ENV, show_progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bars_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a pipe or a log file
    assert not show_progress(True)
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert show_progress(True)
    assert not show_progress(False)


@pytest.mark.parametrize(("value", "expected"), [("0", False), ("off", False), ("1", True), ("yes", True)])
def test_environment_decides_when_set(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv(ENV, value)
    for stream in (io.StringIO(), _Terminal()):
        monkeypatch.setattr(sys, "stderr", stream)
        assert show_progress(True) is expected
    assert not show_progress(False)


def test_a_fold_trained_into_a_log_draws_no_bar(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """tqdm writes carriage-return updates to stderr; none may reach a file."""
    from tqdm.auto import tqdm

    monkeypatch.delenv(ENV, raising=False)
    for _ in tqdm(range(3), desc="epochs", disable=not show_progress(True)):
        pass
    assert "epochs" not in capsys.readouterr().err
