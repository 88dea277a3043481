"""Every CLI provider under CLI faults: small fake CLIs through the real process runner.

Each fake is a Python script written to ``tmp_path`` with a ``#!python`` shebang and set as
the provider's command; it logs every run (its pid, argv, and the pid of any grandchild) to
a file, so a test knows how many attempts the CLI saw and which processes must be gone.
The fake speaks the provider's own output format through its kit (``cli_kits.py``): each
test runs once per CLI provider. Backoff sleeps go to a fake clock (instant, recorded);
only the run timeouts take real time, a fraction of a second each. Every case runs inside
``no_leaks()``: no thread, descriptor, socket or process may outlive the call.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import stat
import sys
import time
import tracemalloc
import urllib.parse
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest

from obra_llm.errors import (
    AuthenticationError,
    ConfigError,
    LLMConnectionException,
    LLMException,
    LLMResponseException,
    LLMTimeoutException,
    RateLimitError,
)
from obra_llm.protocol import MetricsSnapshot
from obra_llm.providers.cli_base import CliLLM
from obra_llm.transports.process import EXIT_DRAIN, ProcessTimeoutError, SubprocessRunner
from tests.faults.cli_kits import CLI_KITS, CliFaultKit
from tests.support.fakes import FakeClock
from tests.support.leaks import LeakError, no_leaks

_PREAMBLE = '''#!{python} -I
"""A fake {tool} for obra_llm's fault tests."""
import json, os, signal, subprocess, sys, time

LOG = {log!r}


def log(**entry):
    with open(LOG, "a", encoding="utf-8") as file:
        file.write(json.dumps(entry) + "\\n")


def emit(event):
    sys.stdout.write(json.dumps(event) + "\\n")
    sys.stdout.flush()
'''

_RUN = '''

def answer(text, input_tokens=11, output_tokens=5):
    begin()
    piece(text)
    finish(input_tokens, output_tokens)


log(event="run", pid=os.getpid(), argv=sys.argv[1:], cwd=os.getcwd())
RUN = sum(1 for line in open(LOG, encoding="utf-8") if '"event": "run"' in line)
PROMPT = sys.stdin.read()
'''


@pytest.fixture(params=CLI_KITS, ids=lambda kit: kit.name)
def kit(request: pytest.FixtureRequest) -> CliFaultKit:
    chosen: CliFaultKit = request.param
    return chosen


@attrs.frozen
class FakeCLI:
    """A fake CLI executable and the log of what it did."""

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


def write_fake(tmp_path: Path, kit: CliFaultKit, body: str) -> FakeCLI:
    """A fake CLI speaking ``kit``'s format whose behaviour after reading the prompt is ``body`` (Python source)."""
    assert " " not in sys.executable, "a shebang cannot hold a path with spaces"
    log = tmp_path / "runs.jsonl"
    tool = kit.provider_type.identity.tool
    path = tmp_path / f"fake-{tool}"
    preamble = _PREAMBLE.format(python=sys.executable, tool=tool, log=str(log))
    path.write_text(preamble + kit.events + _RUN + body, encoding="utf-8")
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


def provider(kit: CliFaultKit, fake: FakeCLI, clock: FakeClock, *, runner: SubprocessRunner | None = None, **config: Any) -> CliLLM[Any]:
    """``kit``'s provider over the real ``SubprocessRunner``, running ``fake``."""
    llm = kit.provider_type(runner=runner or SubprocessRunner(), environ=kit.environ, clock=clock, sleep=clock.sleep)
    llm.initialize({kit.command_key: str(fake.path), **config})
    return llm


E = TypeVar("E", bound=Exception)


def generate_fails(llm: CliLLM[Any], kind: type[E], match: str | None = None) -> E:
    """What ``generate`` raises: exactly a ``kind``, with no process, thread or descriptor left behind."""
    with no_leaks(), pytest.raises(kind, match=match) as caught:
        llm.generate("hi")
    assert type(caught.value) is kind
    return caught.value


def assert_metrics(
    llm: CliLLM[Any],
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
        "structured_repairs": 0,
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


def test_missing_binary_fails_at_initialize_with_the_install_hint(tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit) -> None:
    llm = kit.provider_type(environ=kit.environ, clock=clock, sleep=clock.sleep)
    identity = kit.provider_type.identity

    with no_leaks(), pytest.raises(LLMConnectionException, match=re.escape(identity.install_hint)) as caught:
        llm.initialize({kit.command_key: str(tmp_path / "no-such-cli")})

    assert type(caught.value) is LLMConnectionException
    assert caught.value.retryable is False
    assert caught.value.provider == kit.name
    assert clock.sleeps == []


def test_binary_removed_after_initialize_is_not_retried(tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit) -> None:
    fake = write_fake(tmp_path, kit, "answer('never')\n")
    llm = provider(kit, fake, clock, retry_attempts=3)
    fake.path.unlink()

    error = generate_fails(llm, LLMConnectionException, f"cannot run {fake.path.name}")

    assert error.retryable is False
    assert error.provider == kit.name
    assert fake.runs == 0
    assert clock.sleeps == []
    assert_metrics(llm, clock, errors=1)


# -- hangs, deadlines, kills --------------------------------------------------------------------


def test_a_hang_times_out_each_attempt_and_is_retried_once(tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit) -> None:
    fake = write_fake(tmp_path, kit, "begin()\ntime.sleep(60)\n")
    llm = provider(kit, fake, clock, retry_attempts=2, timeout=0.5)
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


def test_the_retry_deadline_cuts_the_last_attempt_short_and_stops_the_retries(
    tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit
) -> None:
    fake = write_fake(tmp_path, kit, "time.sleep(60)\n")
    llm = provider(kit, fake, clock, retry_attempts=5, timeout=0.6, retry_deadline=1.0, retry_backoff_base=0.01)

    error = generate_fails(llm, LLMTimeoutException)

    elapsed = clock()
    cause = error.__cause__
    assert isinstance(cause, ProcessTimeoutError)
    assert cause.duration < 0.55  # the second attempt got what was left of the 1 s, not its 0.6 s
    assert error.retryable is True
    assert any("would cross the 1 s retry deadline" in note for note in error.__notes__)
    assert fake.runs == 2
    assert 1.0 <= elapsed < 2.5  # the 1 s deadline plus process start-up on a loaded machine (CI saw 1.8 s)
    assert_metrics(llm, clock, errors=1, timeouts=1, retries=1)


def test_a_cli_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit) -> None:
    fake = write_fake(tmp_path, kit, "signal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)\n")
    llm = provider(kit, fake, clock, runner=SubprocessRunner(kill_grace=0.3), retry_attempts=1, timeout=0.4)
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
    tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit, grandchild_ignores_term: bool
) -> None:
    """The CLI answers and exits, but a helper it spawned keeps stdout open.

    The run drains stdout for ``EXIT_DRAIN`` seconds after the leader's exit, then kills
    what is left of the group and returns the answer: no waiting for the whole timeout.
    """
    ignore = "signal.signal(signal.SIGTERM, signal.SIG_IGN); " if grandchild_ignores_term else ""
    fake = write_fake(
        tmp_path,
        kit,
        "helper = subprocess.Popen([sys.executable, '-I', '-c', "
        f"'import signal, time; {ignore}time.sleep(60)'])\n"
        "log(event='grandchild', pid=helper.pid)\n"
        "answer('in time')\n",
    )
    llm = provider(kit, fake, clock, retry_attempts=1, timeout=10.0)
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
def test_a_helper_that_escapes_into_its_own_session_does_not_survive(
    tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit
) -> None:
    fake = write_fake(
        tmp_path,
        kit,
        "helper = subprocess.Popen([sys.executable, '-I', '-c', 'import time; time.sleep(60)'], "
        "start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "log(event='daemon', pid=helper.pid)\n"
        "answer('ok')\n",
    )
    llm = provider(kit, fake, clock, retry_attempts=1, timeout=5)

    with no_leaks(grace=0.5):  # on failure, the check kills the survivor
        assert llm.generate("hi") == "ok"


def test_abandoning_a_stream_kills_the_cli(tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit) -> None:
    fake = write_fake(tmp_path, kit, "begin()\npiece('first')\ntime.sleep(60)\n")
    llm = provider(kit, fake, clock, timeout=30)
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


def test_garbage_stdout_is_no_answer_and_not_retried(tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit) -> None:
    fake = write_fake(
        tmp_path,
        kit,
        "print('Reading prompt from stdin...')\n"
        "print('{not json')\n"
        "print('[1, 2, 3]')\n"
        "print('null')\n"
        "print('\\x1b[31mcolour\\x1b[0m')\n"
        "junk()\n",
    )
    llm = provider(kit, fake, clock, retry_attempts=3)

    error = generate_fails(llm, LLMResponseException, "no answer")

    assert error.retryable is False
    assert fake.runs == 1
    assert clock.sleeps == []
    assert_metrics(llm, clock, errors=1)


INVALID_UTF8 = "begin()\nsys.stdout.flush()\nsys.stdout.buffer.write(b'\\xff\\xfe\\n')\n"


def test_invalid_utf8_on_stdout_is_a_response_error(tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit) -> None:
    fake = write_fake(tmp_path, kit, INVALID_UTF8)
    llm = provider(kit, fake, clock, retry_attempts=3)

    with no_leaks():
        with pytest.raises(LLMResponseException, match="UTF-8") as caught:
            llm.generate("hi")
        error = caught.value
        assert type(error) is LLMResponseException
        assert error.retryable is False
        assert error.provider == kit.name

    assert fake.runs == 1
    assert_metrics(llm, clock, errors=1)


def test_a_decode_error_holds_no_descriptor_while_the_error_is_kept(tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit) -> None:
    fake = write_fake(tmp_path, kit, INVALID_UTF8)
    llm = provider(kit, fake, clock, retry_attempts=1)
    kept: list[BaseException] = []

    with no_leaks(grace=0.2):
        try:
            llm.generate("hi")
        except LLMResponseException as error:
            kept.append(error)  # as an application logging or re-raising it later would

    assert len(kept) == 1


def test_a_cut_last_line_is_no_answer(tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit) -> None:
    fake = write_fake(tmp_path, kit, "begin()\ncut('Hello there')\n")
    llm = provider(kit, fake, clock, retry_attempts=3)

    error = generate_fails(llm, LLMResponseException, "no answer")

    assert error.retryable is False
    assert fake.runs == 1
    assert_metrics(llm, clock, errors=1)


def test_a_missing_finish_keeps_the_answer_without_usage(tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit) -> None:
    if not kit.answer_survives_a_missing_finish:
        pytest.skip(f"{kit.name} gives its answer only in its closing events")
    fake = write_fake(tmp_path, kit, "begin()\npiece('echo: ' + PROMPT)\n")
    llm = provider(kit, fake, clock)

    with no_leaks():
        assert llm.generate("the prompt") == "echo: the prompt"

    assert fake.runs == 1
    assert_metrics(llm, clock)


def test_a_cli_killed_before_it_finished_is_retried(tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit) -> None:
    fake = write_fake(tmp_path, kit, "begin()\npiece('partial')\nos.kill(os.getpid(), signal.SIGKILL)\n")
    llm = provider(kit, fake, clock, retry_attempts=2)

    error = generate_fails(llm, LLMResponseException, "killed by signal 9")

    assert error.retryable is True
    assert fake.runs == 2
    assert len(clock.sleeps) == 1
    assert_metrics(llm, clock, errors=1, retries=1)


def test_20_mb_of_stderr_neither_blocks_nor_stays_in_memory(tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit) -> None:
    fake = write_fake(
        tmp_path,
        kit,
        "block = b'progress: thinking hard\\n' * 4096\n"
        "for _ in range((20 * 2**20) // len(block)):\n"
        "    sys.stderr.buffer.write(block)\n"
        "sys.stderr.flush()\n"
        "answer('done after the noise')\n",
    )
    llm = provider(kit, fake, clock, timeout=20)

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


def test_12_mb_of_stdout_with_a_2_mb_answer_line_works(tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit) -> None:
    fake = write_fake(
        tmp_path,
        kit,
        "begin()\n"
        "for _ in range(10_000):\n"
        "    noise()\n"
        f"piece({BIG_ANSWER!r})\n"
        "finish(900, 700_000)\n",
    )
    llm = provider(kit, fake, clock, timeout=30)

    with no_leaks():
        text = llm.generate("hi")

    assert text == BIG_ANSWER
    assert fake.runs == 1
    assert_metrics(llm, clock, prompt=900, completion=700_000, within=10)


# -- how the CLI fails ------------------------------------------------------------------------------


def test_a_usage_error_exit_is_not_retried(tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit) -> None:
    fake = write_fake(
        tmp_path,
        kit,
        "sys.stderr.write(\"error: unexpected argument '--bogus' found\\n\\nUsage: cli [OPTIONS] [PROMPT]\\n\")\n"
        f"sys.exit({kit.usage_exit_code})\n",
    )
    llm = provider(kit, fake, clock, retry_attempts=3)

    error = generate_fails(llm, LLMResponseException, "usage error")

    assert error.retryable is False
    assert error.exit_code == kit.usage_exit_code
    assert "unexpected argument '--bogus'" in str(error)
    assert fake.runs == 1
    assert clock.sleeps == []
    assert_metrics(llm, clock, errors=1)


def test_a_429_failure_is_retried_until_the_attempts_run_out(tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit) -> None:
    fake = write_fake(tmp_path, kit, f"fail({kit.rate_limited!r})\n")
    llm = provider(kit, fake, clock, retry_attempts=3)

    error = generate_fails(llm, RateLimitError, "429")

    assert error.retryable is True
    assert error.exit_code == kit.failure_exit_code
    assert fake.runs == 3
    assert len(clock.sleeps) == 2
    assert 0.375 <= clock.sleeps[0] <= 0.5 and 0.75 <= clock.sleeps[1] <= 1.0
    assert clock() < 5  # the backoff was fake; the three runs took real time only
    assert_metrics(llm, clock, errors=1, retries=2)


@pytest.mark.parametrize("streamed", [False, True], ids=["generate", "generate_stream"])
def test_a_429_then_success_returns_the_second_answer(
    tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit, streamed: bool
) -> None:
    fake = write_fake(tmp_path, kit, f"if RUN == 1:\n    fail({kit.rate_limited!r})\nanswer('second time lucky')\n")
    llm = provider(kit, fake, clock, retry_attempts=3)

    with no_leaks():
        text = "".join(llm.generate_stream("hi")) if streamed else llm.generate("hi")

    assert text == "second time lucky"
    assert fake.runs == 2
    assert len(clock.sleeps) == 1
    assert_metrics(llm, clock, retries=1, prompt=11, completion=5)


def test_a_401_failure_is_an_authentication_error_not_retried(tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit) -> None:
    fake = write_fake(tmp_path, kit, f"fail({kit.unauthorized!r})\n")
    llm = provider(kit, fake, clock, retry_attempts=3)

    error = generate_fails(llm, AuthenticationError, re.escape(kit.auth_fix))

    assert error.retryable is False
    assert error.exit_code == kit.failure_exit_code
    assert fake.runs == 1
    assert clock.sleeps == []
    assert_metrics(llm, clock, errors=1)


# -- what goes in: the prompt ------------------------------------------------------------------------


def test_the_prompt_reaches_the_cli_on_stdin_never_in_argv(tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit) -> None:
    fake = write_fake(tmp_path, kit, "answer('echo: ' + PROMPT)\n")
    llm = provider(kit, fake, clock)
    prompt = "multi-line\nprompt with a secret-looking --flag"

    with no_leaks():
        assert llm.generate(prompt) == f"echo: {prompt}"

    argv = fake.entries()[0]["argv"]
    assert all(prompt not in arg for arg in argv)
    assert_metrics(llm, clock, prompt=11, completion=5)


@pytest.mark.parametrize("streamed", [False, True], ids=["generate", "generate_stream"])
def test_an_unencodable_prompt_is_refused_before_any_process_starts(
    tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit, streamed: bool
) -> None:
    fake = write_fake(tmp_path, kit, "answer('an answer to nothing')\n")
    llm = provider(kit, fake, clock)
    prompt = "rate this diff: caf\udce9"  # bytes decoded with errors="surrogateescape"

    with no_leaks(), pytest.raises(ConfigError, match=r"cannot be encoded as UTF-8: '\\udce9' at index 19"):
        if streamed:
            list(llm.generate_stream(prompt))
        else:
            llm.generate(prompt)

    assert fake.runs == 0


def test_a_cli_exiting_without_reading_the_whole_prompt_is_not_a_success(
    tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit
) -> None:
    fake = write_fake(tmp_path, kit, "")
    # This fake reads no stdin at all: it answers at once and exits 0.
    fake.path.write_text(fake.path.read_text(encoding="utf-8").replace("PROMPT = sys.stdin.read()", "PROMPT = ''") + "answer('half')\n")
    llm = provider(kit, fake, clock, retry_attempts=3)

    with no_leaks(), pytest.raises(LLMResponseException, match="before taking the whole prompt") as caught:
        llm.generate("p" * 2**20)  # more than a pipe holds: the write fails when the CLI exits

    assert caught.value.retryable is False
    assert fake.runs == 1
    assert_metrics(llm, clock, errors=1)


# -- secrets: whatever the CLI prints, the key never shows ----------------------------------------------


def _forms(secret: str) -> dict[str, str]:
    return {
        "bare": secret,
        "base64": base64.b64encode(f"user:{secret}".encode()).decode(),
        "url-encoded": urllib.parse.quote(secret, safe=""),
    }


def _everything_shown(error: BaseException, log: str) -> str:
    """Every text a user could see of ``error``: str, repr, notes, its causes' (with their fields), the log."""
    shown = [log]
    current: BaseException | None = error
    while current is not None:
        shown += [str(current), repr(current), *getattr(current, "__notes__", [])]
        shown += [str(value) for value in vars(current).values()]
        current = current.__cause__ or current.__context__
    return "\n".join(shown)


SECRET_SCENARIOS = {
    "failure-event": "fail('bad key ' + KEY)\n",
    "stderr-on-usage-error": "sys.stderr.write('error: key ' + KEY + '\\n')\nsys.exit({usage})\n",
    "noise-then-no-answer": "print('debug: using key ' + KEY)\njunk()\n",
    "hang-after-stderr": "sys.stderr.write('auth header ' + KEY + '\\n')\nsys.stderr.flush()\ntime.sleep(60)\n",
    "killed": "sys.stderr.write('key ' + KEY + '\\n')\nsys.stderr.flush()\nos.kill(os.getpid(), signal.SIGKILL)\n",
}


@pytest.mark.parametrize("form", ["bare", "base64", "url-encoded"])
@pytest.mark.parametrize("scenario", sorted(SECRET_SCENARIOS))
def test_a_key_the_cli_prints_never_shows(
    tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit, caplog: pytest.LogCaptureFixture, scenario: str, form: str
) -> None:
    secret = kit.secret
    if secret is None:
        pytest.skip(f"{kit.name} reads no key")
    key = _forms(secret)[form]
    body = SECRET_SCENARIOS[scenario].format(usage=kit.usage_exit_code)
    fake = write_fake(tmp_path, kit, f"KEY = {key!r}\n" + body)
    llm = provider(kit, fake, clock, retry_attempts=2, timeout=0.5)

    with caplog.at_level(logging.DEBUG), no_leaks(), pytest.raises(LLMException) as caught:
        llm.generate("hi")

    shown = _everything_shown(caught.value, caplog.text)
    assert fake.runs >= 1
    assert {name: text in shown for name, text in _forms(secret).items()} == dict.fromkeys(_forms(secret), False)


# -- interrupted calls ------------------------------------------------------------------------------

INTERRUPTS_ITS_CALLER = "begin()\npiece('first')\nos.kill(os.getppid(), signal.SIGINT)\ntime.sleep(60)\n"


@pytest.mark.parametrize("streamed", [False, True], ids=["generate", "generate_stream"])
def test_a_keyboard_interrupt_mid_run_kills_the_cli_and_removes_its_directory(
    tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit, streamed: bool
) -> None:
    """Ctrl-C while the CLI runs (the fake sends SIGINT to us): nothing of the run survives it."""
    fake = write_fake(tmp_path, kit, INTERRUPTS_ITS_CALLER)
    llm = provider(kit, fake, clock, timeout=30)
    started = time.monotonic()

    with no_leaks(), pytest.raises(KeyboardInterrupt):
        if streamed:
            for _ in llm.generate_stream("hi"):
                pass
        else:
            llm.generate("hi")

    assert time.monotonic() - started < 5
    assert fake.runs == 1
    assert not any(_alive(pid) for pid in fake.pids())
    workdir = Path(fake.entries()[0]["cwd"])
    assert workdir.name.startswith(f"obra-{kit.provider_type.identity.tool}-")  # the fresh one, now gone
    assert not workdir.exists()


def test_a_keyboard_interrupt_mid_run_is_counted_once(tmp_path: Path, clock: SleepsAreFake, kit: CliFaultKit) -> None:
    fake = write_fake(tmp_path, kit, INTERRUPTS_ITS_CALLER)
    llm = provider(kit, fake, clock, timeout=30)

    with no_leaks(), pytest.raises(KeyboardInterrupt):
        llm.generate("hi")

    # Counted once; whether an interrupt is an error is CallRunner's rule, not the CLI's.
    assert (llm.metrics["calls"], llm.metrics["timeouts"], llm.metrics["retries"]) == (1, 0, 0)
