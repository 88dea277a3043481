"""The real process runner against small Python children: kill, drain and size behaviour.

Each child prints the pids it wants checked on its first stdout line, so the tests can prove
that nothing of a run survives it. Timeouts are short (0.3-0.5 s) to keep the suite fast.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from obra_llm.errors import ConfigError, LLMConnectionException, LLMResponseException
from obra_llm.transports.process import STDERR_TAIL_BYTES, ProcessExit, ProcessTimeoutError, SubprocessRunner

PY = sys.executable


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for init to reap it counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pids: list[int], within: float = 1.0) -> list[int]:
    """Pids still alive after ``within`` seconds (reparented grandchildren die asynchronously)."""
    deadline = time.monotonic() + within
    while (left := [pid for pid in pids if _alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.01)
    return left


def _split(items: Iterator[str | ProcessExit]) -> tuple[list[str], ProcessExit]:
    lines: list[str] = []
    for item in items:
        if isinstance(item, ProcessExit):
            return lines, item
        lines.append(item)
    raise AssertionError("the run ended without a ProcessExit")


def _pids(line: str) -> list[int]:
    return [int(pid) for pid in line.split()]


def test_prompt_goes_to_stdin_and_lines_stream_back() -> None:
    script = "import sys; text = sys.stdin.read(); print(text.upper()); print('second', file=sys.stderr); sys.exit(3)"

    lines, end = _split(SubprocessRunner().run([PY, "-c", script], stdin="hello\nworld", timeout=10))

    assert lines == ["HELLO", "WORLD"]
    assert (end.exit_code, end.signal) == (3, None)
    assert end.stderr == "second\n"
    assert end.duration > 0


def test_a_runs_own_variables_go_over_the_runners_environment() -> None:
    script = "import os; print(os.environ['BASE'], os.environ['RUN'], os.environ.get('PATH', '-'))"
    runner = SubprocessRunner(env={"BASE": "base", "RUN": "runner"})

    lines, _ = _split(runner.run([PY, "-c", script], stdin="", timeout=10, env={"RUN": "this run"}))
    again, _ = _split(runner.run([PY, "-c", script], stdin="", timeout=10))

    assert (lines, again) == (["base this run -"], ["base runner -"])


def test_a_signal_death_is_reported_as_the_signal() -> None:
    script = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"

    _, end = _split(SubprocessRunner().run([PY, "-c", script], stdin="", timeout=10))

    assert (end.exit_code, end.signal) == (None, 9)


def test_a_hanging_child_is_killed_at_the_timeout() -> None:
    script = "import os, time; print(os.getpid(), flush=True); time.sleep(60)"
    seen: list[str] = []
    started = time.monotonic()

    with pytest.raises(ProcessTimeoutError) as caught:
        for item in SubprocessRunner().run([PY, "-c", script], stdin="", timeout=0.5):
            assert isinstance(item, str)
            seen.append(item)

    assert 0.5 <= time.monotonic() - started < 1.5
    assert caught.value.retryable
    assert _wait_gone(_pids(seen[0])) == []


def test_a_child_ignoring_sigterm_is_killed_after_the_grace() -> None:
    script = (
        "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print(os.getpid(), flush=True); time.sleep(60)"
    )
    seen: list[str] = []
    started = time.monotonic()

    with pytest.raises(ProcessTimeoutError):
        for item in SubprocessRunner(kill_grace=0.3).run([PY, "-c", script], stdin="", timeout=0.3):
            assert isinstance(item, str)
            seen.append(item)

    assert 0.6 <= time.monotonic() - started < 1.5
    assert _wait_gone(_pids(seen[0])) == []


@pytest.mark.parametrize("grandchild_ignores_term", [False, True])
def test_a_grandchild_holding_the_pipes_is_killed_too(grandchild_ignores_term: bool) -> None:
    grandchild = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)" if grandchild_ignores_term else "import time; time.sleep(60)"
    script = (
        "import os, subprocess, sys; "
        f"child = subprocess.Popen([sys.executable, '-c', {grandchild!r}]); "
        "print(os.getpid(), child.pid, flush=True)"
    )
    seen: list[str] = []

    with pytest.raises(ProcessTimeoutError):
        for item in SubprocessRunner().run([PY, "-c", script], stdin="", timeout=0.5):
            assert isinstance(item, str)
            seen.append(item)

    pids = _pids(seen[0])
    assert len(pids) == 2
    assert _wait_gone(pids) == []


def test_abandoning_the_iterator_kills_the_run() -> None:
    script = "import os, time; print(os.getpid(), flush=True); time.sleep(60)"
    run = SubprocessRunner().run([PY, "-c", script], stdin="", timeout=30)
    first = next(run)
    assert isinstance(first, str)

    started = time.monotonic()
    run.close()

    assert time.monotonic() - started < 1.0
    assert _wait_gone(_pids(first)) == []


def test_a_stderr_flood_neither_blocks_nor_is_kept_whole() -> None:
    script = "import sys; sys.stderr.buffer.write(b'e' * (20 * 2**20) + b'END'); sys.stderr.flush(); print('done')"

    lines, end = _split(SubprocessRunner().run([PY, "-c", script], stdin="", timeout=20))

    assert lines == ["done"]
    assert end.exit_code == 0
    assert len(end.stderr) == STDERR_TAIL_BYTES
    assert end.stderr.endswith("eeeEND")


def test_huge_stdout_and_a_2_mb_line_arrive_whole() -> None:
    script = (
        "import sys; out = sys.stdout; "
        "[out.write(f'{i:09d}' + 'x' * 90 + '\\n') for i in range(120_000)]; "
        "out.write('L' * (2 * 2**20) + '\\n'); out.write('tail')"
    )

    lines, end = _split(SubprocessRunner().run([PY, "-c", script], stdin="", timeout=30))

    assert end.exit_code == 0
    assert len(lines) == 120_002
    assert lines[0] == "000000000" + "x" * 90
    assert lines[119_999].startswith("000119999")
    assert lines[120_000] == "L" * (2 * 2**20)
    assert lines[-1] == "tail"


def test_a_big_prompt_does_not_deadlock_a_child_that_writes_first() -> None:
    script = "import sys; sys.stdout.write('o' * (4 * 2**20) + '\\n'); sys.stdout.flush(); print(len(sys.stdin.read()))"

    lines, end = _split(SubprocessRunner().run([PY, "-c", script], stdin="p" * (4 * 2**20), timeout=20))

    assert end.exit_code == 0
    assert lines[1] == str(4 * 2**20)


def test_a_child_that_exits_without_reading_its_prompt_fails_saying_so() -> None:
    run = SubprocessRunner().run([PY, "-c", "print('ok')"], stdin="p" * (2**20), timeout=10)

    with pytest.raises(LLMResponseException, match=r"exited with code 0, but it closed its stdin before taking the whole prompt \(1048576 bytes\)") as caught:
        _split(run)
    assert caught.value.retryable is False


def test_a_child_that_fails_without_reading_its_prompt_reports_its_own_failure(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="obra_llm.transports.process"):
        lines, end = _split(SubprocessRunner().run([PY, "-c", "import sys; sys.exit(3)"], stdin="p" * (2**20), timeout=10))

    assert (lines, end.exit_code) == ([], 3)
    assert "closed its stdin before taking the whole prompt" in caplog.text


def test_an_unencodable_stdin_fails_before_the_process_starts(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    run = SubprocessRunner().run([PY, "-c", f"open({str(marker)!r}, 'w')"], stdin="\udcff", timeout=10)

    with pytest.raises(ConfigError, match=r"the stdin of python\S* cannot be encoded as UTF-8: '\\udcff' at index 0"):
        next(run)
    assert not marker.exists()


def test_invalid_utf8_on_stdout_is_a_response_error() -> None:
    script = "import sys; sys.stdout.buffer.write(b'\\xff\\xfe\\n')"

    with pytest.raises(LLMResponseException, match="UTF-8"):
        _split(SubprocessRunner().run([PY, "-c", script], stdin="", timeout=10))


def test_a_missing_binary_is_a_connection_error_saying_so(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-cli")

    with pytest.raises(LLMConnectionException, match="no-such-cli") as caught:
        next(SubprocessRunner().run([missing, "exec"], stdin="", timeout=1))

    assert caught.value.retryable is False


def test_a_non_executable_file_is_a_connection_error(tmp_path: Path) -> None:
    plain = tmp_path / "cli"
    plain.write_text("not a program")

    with pytest.raises(LLMConnectionException, match="cannot run cli"):
        next(SubprocessRunner().run([str(plain)], stdin="", timeout=1))


def test_the_timeout_error_pickles_with_its_fields() -> None:
    import pickle

    error = ProcessTimeoutError("late", stderr="tail", duration=1.5, provider="p")

    copy = pickle.loads(pickle.dumps(error))

    assert (type(copy), copy.stderr, copy.duration, copy.provider, copy.retryable) == (
        ProcessTimeoutError,
        "tail",
        1.5,
        "p",
        True,
    )


def test_the_repr_never_shows_the_environment() -> None:
    assert "sk-secret" not in repr(SubprocessRunner(env={"OPENAI_API_KEY": "sk-secret"}))
