"""The waiting spinner of ``obra-llm generate``: elapsed time on stderr, only on a terminal."""

from __future__ import annotations

import io
import threading
import time

from obra_llm.cli.output import spinner


class FakeTerminal(io.StringIO):
    def __init__(self, *, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_spinner_shows_elapsed_time_on_a_terminal_and_cleans_up() -> None:
    stream = FakeTerminal(tty=True)
    with spinner(stream, enabled=True):
        time.sleep(0.35)
    written = stream.getvalue()
    assert "waiting" in written and " s" in written
    assert written.endswith("\r" + " " * 24 + "\r"), "the line is cleared when the answer arrives"
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("obra-llm-spinner")]


def test_spinner_is_silent_when_not_a_terminal() -> None:
    stream = FakeTerminal(tty=False)
    with spinner(stream, enabled=True):
        time.sleep(0.15)
    assert stream.getvalue() == ""


def test_spinner_is_silent_when_disabled() -> None:
    stream = FakeTerminal(tty=True)
    with spinner(stream, enabled=False):
        time.sleep(0.15)
    assert stream.getvalue() == ""


def test_stop_clears_the_line_before_returning() -> None:
    stream = FakeTerminal(tty=True)
    with spinner(stream) as stop:
        time.sleep(0.25)
        stop()
        cleared = stream.getvalue()
        time.sleep(0.25)
        assert stream.getvalue() == cleared, "nothing is written after stop(): a streamed piece is never overwritten"
    assert cleared.endswith("\r" + " " * 24 + "\r")
