"""The openai-codex provider under CLI faults: small fake CLIs through the real process runner.

Each fake is a Python script written to ``tmp_path`` with a ``#!python`` shebang and set as
``codex_command``; it logs every run (its pid, argv, and the pid of any grandchild) to a
file, so a test knows how many attempts the CLI saw and which processes must be gone.
Backoff sleeps go to a fake clock (instant, recorded); only the run timeouts take real
time, a fraction of a second each. Every case runs inside ``no_leaks()``: no thread,
descriptor, socket or process may outlive the call.
"""

from __future__ import annotations

import json
import stat
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest

from obra_llm.errors import (
    AuthenticationError,
    LLMConnectionException,
    LLMResponseException,
    LLMTimeoutException,
    RateLimitError,
)
from obra_llm.protocol import MetricsSnapshot
from obra_llm.providers.codex import CodexCLI
from obra_llm.transports.process import EXIT_DRAIN, ProcessTimeoutError, SubprocessRunner
from tests.support.fakes import FakeClock
from tests.support.leaks import LeakError, no_leaks

#: Only the dummy key: enough for the provider's auth pre-check, never sent anywhere.
ENVIRON = {"OPENAI_API_KEY": "sk-dummy-for-the-fake-cli"}

_PREAMBLE = '''#!{python} -I
"""A fake codex for obra_llm's fault tests."""
import json, os, signal, subprocess, sys, time

LOG = {log!r}


def log(**entry):
    with open(LOG, "a", encoding="utf-8") as file:
        file.write(json.dumps(entry) + "\\n")


def emit(event):
    sys.stdout.write(json.dumps(event) + "\\n")
    sys.stdout.flush()


def answer(text, input_tokens=11, output_tokens=5):
    emit({{"type": "thread.started", "thread_id": "t-1"}})
    emit({{"type": "turn.started"}})
    emit({{"type": "item.completed", "item": {{"id": "item_0", "type": "agent_message", "text": text}}}})
    emit({{"type": "turn.completed", "usage": {{"input_tokens": input_tokens, "output_tokens": output_tokens}}}})


def fail(message):
    emit({{"type": "thread.started", "thread_id": "t-1"}})
    emit({{"type": "turn.started"}})
    emit({{"type": "error", "message": message}})
    emit({{"type": "turn.failed", "error": {{"message": message}}}})
    sys.exit(1)


log(event="run", pid=os.getpid(), argv=sys.argv[1:])
RUN = sum(1 for line in open(LOG, encoding="utf-8") if '"event": "run"' in line)
PROMPT = sys.stdin.read()
'''


@attrs.frozen
class FakeCLI:
    """A fake ``codex`` executable and the log of what it did."""

    path: Path
    log: Path

    def entries(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines()]

    @property
    def runs(self) -> int:
        """How many times the CLI was started: the attempts it saw."""
        return sum(1 for entry in self.entries() if entry["event"] == "run")

    def pids(self) -> list[int]:
        """Every process the fake started or was: the runs and their grandchildren."""
        return [int(entry["pid"]) for entry in self.entries()]


def write_fake(tmp_path: Path, body: str) -> FakeCLI:
    """A fake codex whose behaviour after reading the prompt is ``body`` (Python source)."""
    assert " " not in sys.executable, "a shebang cannot hold a path with spaces"
    log = tmp_path / "runs.jsonl"
    path = tmp_path / "fake-codex"
    path.write_text(_PREAMBLE.format(python=sys.executable, log=str(log)) + body, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return FakeCLI(path, log)


class SleepsAreFake(FakeClock):
    """Real monotonic time plus the recorded, instant sleeps: attempts take their real time, backoff none."""

    def __init__(self) -> None:
        super().__init__(start=0.0)
        self._origin = time.monotonic()

    def __call__(self) -> float:
        return self.now + (time.monotonic() - self._origin)


@pytest.fixture
def clock() -> SleepsAreFake:
    return SleepsAreFake()


def provider(fake: FakeCLI, clock: FakeClock, *, runner: SubprocessRunner | None = None, **config: Any) -> CodexCLI:
    """A ``CodexCLI`` over the real ``SubprocessRunner``, running ``fake``."""
    llm = CodexCLI(runner=runner or SubprocessRunner(), environ=ENVIRON, clock=clock, sleep=clock.sleep)
    llm.initialize({"codex_command": str(fake.path), **config})
    return llm


E = TypeVar("E", bound=Exception)


def generate_fails(llm: CodexCLI, kind: type[E], match: str | None = None) -> E:
    """What ``generate`` raises: exactly a ``kind``, with no process, thread or descriptor left behind."""
    with no_leaks(), pytest.raises(kind, match=match) as caught:
        llm.generate("hi")
    assert type(caught.value) is kind
    return caught.value


def assert_metrics(
    llm: CodexCLI,
    clock: SleepsAreFake,
    *,
    errors: int = 0,
    timeouts: int = 0,
    retries: int = 0,
    prompt: int = 0,
    completion: int = 0,
    within: float = 3.0,
) -> None:
    """Exactly one call with these counters, and the deadline held.

    The call's latency is positive and no more than the test's elapsed time on ``clock``
    (real time plus the fake backoff sleeps), which must be under ``within`` seconds.
    """
    snapshot: MetricsSnapshot = llm.metrics
    counters = {key: value for key, value in snapshot.items() if key != "total_latency_ms"}
    assert counters == {
        "calls": 1,
        "errors": errors,
        "timeouts": timeouts,
        "retries": retries,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    elapsed = clock()
    assert 0 < snapshot["total_latency_ms"] <= elapsed * 1000
    assert elapsed < within, f"the call took {elapsed:.2f} s (real time plus fake sleeps), more than {within:g} s"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# -- missing binary -----------------------------------------------------------------------------


def test_missing_binary_fails_at_initialize_with_the_install_hint(tmp_path: Path, clock: SleepsAreFake) -> None:
    llm = CodexCLI(environ=ENVIRON, clock=clock, sleep=clock.sleep)

    with no_leaks(), pytest.raises(LLMConnectionException, match="npm install -g @openai/codex") as caught:
        llm.initialize({"codex_command": str(tmp_path / "no-such-codex")})

    assert type(caught.value) is LLMConnectionException
    assert caught.value.retryable is False
    assert caught.value.provider == "openai-codex"
    assert clock.sleeps == []


def test_binary_removed_after_initialize_is_not_retried(tmp_path: Path, clock: SleepsAreFake) -> None:
    fake = write_fake(tmp_path, "answer('never')\n")
    llm = provider(fake, clock, retry_attempts=3)
    fake.path.unlink()

    error = generate_fails(llm, LLMConnectionException, "cannot run fake-codex")

    assert error.retryable is False
    assert error.provider == "openai-codex"
    assert fake.runs == 0
    assert clock.sleeps == []
    assert_metrics(llm, clock, errors=1)


# -- hangs, deadlines, kills --------------------------------------------------------------------


def test_a_hang_times_out_each_attempt_and_is_retried_once(tmp_path: Path, clock: SleepsAreFake) -> None:
    fake = write_fake(tmp_path, "emit({'type': 'thread.started', 'thread_id': 't'})\ntime.sleep(60)\n")
    llm = provider(fake, clock, retry_attempts=2, timeout=0.5)
    started = time.monotonic()

    error = generate_fails(llm, LLMTimeoutException, r"within 0\.5 s \(timeout\)")

    real = time.monotonic() - started
    assert error.retryable is True
    assert isinstance(error.__cause__, ProcessTimeoutError)
    assert fake.runs == 2
    assert len(clock.sleeps) == 1 and 0.375 <= clock.sleeps[0] <= 0.5
    assert 1.0 <= real < 2.5  # two real 0.5 s timeouts; the backoff took no real time
    assert_metrics(llm, clock, errors=1, timeouts=1, retries=1)
    assert llm.metrics["total_latency_ms"] >= 1000 * (1.0 + clock.sleeps[0])  # backoff counts in latency
    assert not any(_alive(pid) for pid in fake.pids())


def test_the_retry_deadline_cuts_the_last_attempt_short_and_stops_the_retries(tmp_path: Path, clock: SleepsAreFake) -> None:
    fake = write_fake(tmp_path, "time.sleep(60)\n")
    llm = provider(fake, clock, retry_attempts=5, timeout=0.6, retry_deadline=1.0, retry_backoff_base=0.01)

    error = generate_fails(llm, LLMTimeoutException)

    elapsed = clock()
    cause = error.__cause__
    assert isinstance(cause, ProcessTimeoutError)
    assert cause.duration < 0.55  # the second attempt got what was left of the 1 s, not its 0.6 s
    assert error.retryable is True
    assert any("would cross the 1 s retry deadline" in note for note in error.__notes__)
    assert fake.runs == 2
    assert 1.0 <= elapsed < 1.4
    assert_metrics(llm, clock, errors=1, timeouts=1, retries=1)


def test_a_cli_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path, clock: SleepsAreFake) -> None:
    fake = write_fake(tmp_path, "signal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)\n")
    llm = provider(fake, clock, runner=SubprocessRunner(kill_grace=0.3), retry_attempts=1, timeout=0.4)
    started = time.monotonic()

    error = generate_fails(llm, LLMTimeoutException)

    real = time.monotonic() - started
    assert error.retryable is True
    assert fake.runs == 1
    assert 0.7 <= real < 1.5  # timeout, then the whole grace (TERM ignored), then KILL
    assert clock.sleeps == []
    assert_metrics(llm, clock, errors=1, timeouts=1)
    assert not any(_alive(pid) for pid in fake.pids())


@pytest.mark.parametrize("grandchild_ignores_term", [False, True], ids=["grandchild", "grandchild-ignoring-sigterm"])
def test_a_grandchild_holding_the_pipes_is_killed_with_the_group(
    tmp_path: Path, clock: SleepsAreFake, grandchild_ignores_term: bool
) -> None:
    """The CLI answers and exits, but a helper it spawned keeps stdout open.

    The run drains stdout for ``EXIT_DRAIN`` seconds after the leader's exit, then kills
    what is left of the group and returns the answer: no waiting for the whole timeout.
    """
    ignore = "signal.signal(signal.SIGTERM, signal.SIG_IGN); " if grandchild_ignores_term else ""
    fake = write_fake(
        tmp_path,
        "helper = subprocess.Popen([sys.executable, '-I', '-c', "
        f"'import signal, time; {ignore}time.sleep(60)'])\n"
        "log(event='grandchild', pid=helper.pid)\n"
        "answer('in time')\n",
    )
    llm = provider(fake, clock, retry_attempts=1, timeout=10.0)
    started = time.monotonic()

    with no_leaks():
        assert llm.generate("hi") == "in time"

    real = time.monotonic() - started
    assert fake.runs == 1
    assert len(fake.pids()) == 2
    assert EXIT_DRAIN <= real < 3.0
    assert_metrics(llm, clock, prompt=11, completion=5)
    assert not any(_alive(pid) for pid in fake.pids())


@pytest.mark.xfail(
    strict=True,
    raises=LeakError,
    reason="library limitation: SubprocessRunner kills the run's process group, and a helper that starts its own "
    "session (a daemon) is outside it, so it survives a successful run",
)
def test_a_helper_that_escapes_into_its_own_session_does_not_survive(tmp_path: Path, clock: SleepsAreFake) -> None:
    fake = write_fake(
        tmp_path,
        "helper = subprocess.Popen([sys.executable, '-I', '-c', 'import time; time.sleep(60)'], "
        "start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "log(event='daemon', pid=helper.pid)\n"
        "answer('ok')\n",
    )
    llm = provider(fake, clock, retry_attempts=1, timeout=5)

    with no_leaks(grace=0.5):  # on failure, the check kills the survivor
        assert llm.generate("hi") == "ok"


def test_abandoning_a_stream_kills_the_cli(tmp_path: Path, clock: SleepsAreFake) -> None:
    fake = write_fake(
        tmp_path,
        "emit({'type': 'item.completed', 'item': {'id': 'i', 'type': 'agent_message', 'text': 'first'}})\n"
        "time.sleep(60)\n",
    )
    llm = provider(fake, clock, timeout=30)
    started = time.monotonic()

    with no_leaks():
        stream = llm.generate_stream("hi")
        assert next(stream) == "first"
        stream.close()

    assert time.monotonic() - started < 2.0
    assert fake.runs == 1
    assert_metrics(llm, clock)  # an abandoned stream is a call, not an error
    assert not any(_alive(pid) for pid in fake.pids())


# -- what the CLI prints ---------------------------------------------------------------------------


def test_garbage_stdout_is_no_answer_and_not_retried(tmp_path: Path, clock: SleepsAreFake) -> None:
    fake = write_fake(
        tmp_path,
        "print('Reading prompt from stdin...')\n"
        "print('{not json')\n"
        "print('[1, 2, 3]')\n"
        "print('null')\n"
        "print('\\x1b[31mcolour\\x1b[0m')\n"
        "print(json.dumps({'type': 'item.completed', 'item': ['not', 'an', 'item']}))\n"
        "print(json.dumps({'type': 'item.completed', 'item': {'type': 'agent_message', 'text': 42}}))\n",
    )
    llm = provider(fake, clock, retry_attempts=3)

    error = generate_fails(llm, LLMResponseException, "no answer")

    assert error.retryable is False
    assert fake.runs == 1
    assert clock.sleeps == []
    assert_metrics(llm, clock, errors=1)


INVALID_UTF8 = "sys.stdout.buffer.write(b'{\"type\": \"turn.started\"}\\n\\xff\\xfe\\n')\n"


def test_invalid_utf8_on_stdout_is_a_response_error(tmp_path: Path, clock: SleepsAreFake) -> None:
    fake = write_fake(tmp_path, INVALID_UTF8)
    llm = provider(fake, clock, retry_attempts=3)

    with no_leaks():
        with pytest.raises(LLMResponseException, match="UTF-8") as caught:
            llm.generate("hi")
        error = caught.value
        assert type(error) is LLMResponseException
        assert error.retryable is False
        assert error.provider == "openai-codex"

    assert fake.runs == 1
    assert_metrics(llm, clock, errors=1)


def test_a_decode_error_holds_no_descriptor_while_the_error_is_kept(tmp_path: Path, clock: SleepsAreFake) -> None:
    fake = write_fake(tmp_path, INVALID_UTF8)
    llm = provider(fake, clock, retry_attempts=1)
    kept: list[BaseException] = []

    with no_leaks(grace=0.2):
        try:
            llm.generate("hi")
        except LLMResponseException as error:
            kept.append(error)  # as an application logging or re-raising it later would

    assert len(kept) == 1


def test_a_cut_last_line_is_no_answer(tmp_path: Path, clock: SleepsAreFake) -> None:
    fake = write_fake(
        tmp_path,
        "emit({'type': 'thread.started', 'thread_id': 't'})\n"
        "emit({'type': 'turn.started'})\n"
        "sys.stdout.write('{\"type\": \"item.completed\", \"item\": {\"type\": \"agent_message\", \"text\": \"Hel')\n",
    )
    llm = provider(fake, clock, retry_attempts=3)

    error = generate_fails(llm, LLMResponseException, "no answer")

    assert error.retryable is False
    assert fake.runs == 1
    assert_metrics(llm, clock, errors=1)


def test_a_missing_turn_completed_keeps_the_answer_without_usage(tmp_path: Path, clock: SleepsAreFake) -> None:
    fake = write_fake(
        tmp_path,
        "emit({'type': 'thread.started', 'thread_id': 't'})\n"
        "emit({'type': 'item.completed', 'item': {'id': 'i', 'type': 'agent_message', 'text': 'echo: ' + PROMPT}})\n",
    )
    llm = provider(fake, clock)

    with no_leaks():
        assert llm.generate("the prompt") == "echo: the prompt"

    assert fake.runs == 1
    assert_metrics(llm, clock)


def test_a_cli_killed_before_turn_completed_is_retried(tmp_path: Path, clock: SleepsAreFake) -> None:
    fake = write_fake(
        tmp_path,
        "emit({'type': 'item.completed', 'item': {'id': 'i', 'type': 'agent_message', 'text': 'partial'}})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n",
    )
    llm = provider(fake, clock, retry_attempts=2)

    error = generate_fails(llm, LLMResponseException, "killed by signal 9")

    assert error.retryable is True
    assert fake.runs == 2
    assert len(clock.sleeps) == 1
    assert_metrics(llm, clock, errors=1, retries=1)


def test_20_mb_of_stderr_neither_blocks_nor_stays_in_memory(tmp_path: Path, clock: SleepsAreFake) -> None:
    fake = write_fake(
        tmp_path,
        "block = b'progress: thinking hard\\n' * 4096\n"
        "for _ in range((20 * 2**20) // len(block)):\n"
        "    sys.stderr.buffer.write(block)\n"
        "sys.stderr.flush()\n"
        "answer('done after the noise')\n",
    )
    llm = provider(fake, clock, timeout=20)

    tracemalloc.start()
    try:
        with no_leaks():
            assert llm.generate("hi") == "done after the noise"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < 4 * 2**20  # 20 MB went through; the kept tail is 64 KB
    assert fake.runs == 1
    # No deadlock: an undrained stderr would block the CLI until the 20 s timeout.
    assert_metrics(llm, clock, prompt=11, completion=5, within=10)


#: A 2 MB answer of 1- to 4-byte UTF-8 characters, so reads of any size split some of them.
BIG_ANSWER = "Zürich→東京🙂 " * (2 * 2**20 // len("Zürich→東京🙂 ".encode()) + 1)


def test_12_mb_of_stdout_with_a_2_mb_answer_line_works(tmp_path: Path, clock: SleepsAreFake) -> None:
    fake = write_fake(
        tmp_path,
        "filler = json.dumps({'type': 'item.completed', 'item': {'id': 'r', 'type': 'reasoning', 'text': 'r' * 1000}})\n"
        "sys.stdout.write((filler + '\\n') * 10_000)\n"
        f"answer({BIG_ANSWER!r}, input_tokens=900, output_tokens=700_000)\n",
    )
    llm = provider(fake, clock, timeout=30)

    with no_leaks():
        text = llm.generate("hi")

    assert text == BIG_ANSWER
    assert fake.runs == 1
    assert_metrics(llm, clock, prompt=900, completion=700_000, within=10)


# -- how the CLI fails ------------------------------------------------------------------------------


def test_exit_code_2_is_a_usage_error_and_not_retried(tmp_path: Path, clock: SleepsAreFake) -> None:
    fake = write_fake(
        tmp_path,
        "sys.stderr.write(\"error: unexpected argument '--bogus' found\\n\\nUsage: codex exec [OPTIONS] [PROMPT]\\n\")\n"
        "sys.exit(2)\n",
    )
    llm = provider(fake, clock, retry_attempts=3)

    error = generate_fails(llm, LLMResponseException, "usage error")

    assert error.retryable is False
    assert error.exit_code == 2
    assert "unexpected argument '--bogus'" in str(error)
    assert fake.runs == 1
    assert clock.sleeps == []
    assert_metrics(llm, clock, errors=1)


RATE_LIMITED = "exceeded retry limit, last status: 429 Too Many Requests"
UNAUTHORIZED = "unexpected status 401 Unauthorized: Incorrect API key provided., url: http://127.0.0.1:9/v1/responses"


def test_a_429_turn_failure_is_retried_until_the_attempts_run_out(tmp_path: Path, clock: SleepsAreFake) -> None:
    fake = write_fake(tmp_path, f"fail({RATE_LIMITED!r})\n")
    llm = provider(fake, clock, retry_attempts=3)

    error = generate_fails(llm, RateLimitError, "429")

    assert error.retryable is True
    assert error.exit_code == 1
    assert fake.runs == 3
    assert len(clock.sleeps) == 2
    assert 0.375 <= clock.sleeps[0] <= 0.5 and 0.75 <= clock.sleeps[1] <= 1.0
    assert clock() < 5  # the backoff was fake; the three runs took real time only
    assert_metrics(llm, clock, errors=1, retries=2)


@pytest.mark.parametrize("streamed", [False, True], ids=["generate", "generate_stream"])
def test_a_429_then_success_returns_the_second_answer(tmp_path: Path, clock: SleepsAreFake, streamed: bool) -> None:
    fake = write_fake(tmp_path, f"if RUN == 1:\n    fail({RATE_LIMITED!r})\nanswer('second time lucky')\n")
    llm = provider(fake, clock, retry_attempts=3)

    with no_leaks():
        text = "".join(llm.generate_stream("hi")) if streamed else llm.generate("hi")

    assert text == "second time lucky"
    assert fake.runs == 2
    assert len(clock.sleeps) == 1
    assert_metrics(llm, clock, retries=1, prompt=11, completion=5)


def test_a_401_turn_failure_is_an_authentication_error_not_retried(tmp_path: Path, clock: SleepsAreFake) -> None:
    fake = write_fake(tmp_path, f"fail({UNAUTHORIZED!r})\n")
    llm = provider(fake, clock, retry_attempts=3)

    error = generate_fails(llm, AuthenticationError, "codex login")

    assert error.retryable is False
    assert error.exit_code == 1
    assert fake.runs == 1
    assert clock.sleeps == []
    assert_metrics(llm, clock, errors=1)


def test_the_prompt_reaches_the_cli_on_stdin_never_in_argv(tmp_path: Path, clock: SleepsAreFake) -> None:
    fake = write_fake(tmp_path, "answer('echo: ' + PROMPT)\n")
    llm = provider(fake, clock)
    prompt = "multi-line\nprompt with a secret-looking --flag"

    with no_leaks():
        assert llm.generate(prompt) == f"echo: {prompt}"

    argv = fake.entries()[0]["argv"]
    assert argv[0] == "exec" and argv[-1] == "-"
    assert all(prompt not in arg for arg in argv)
    assert_metrics(llm, clock, prompt=11, completion=5)
