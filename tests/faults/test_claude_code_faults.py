"""claude-code under faults, beyond the shared CLI suite: nothing of a run outlives it.

The fake ``claude`` (the shared suite's, speaking stream-json through the ``CLAUDE_CODE``
kit) writes what the real 2.1.332 writes: ``.claude.json`` and a backup in
``$CLAUDE_CONFIG_DIR``, an fswatch probe and ``cc-socks`` in ``$TMPDIR``. Whatever ends the
call (an answer, a failure retried, a timeout, a kill, an abandoned stream), those
directories, the working directory and every process are gone afterwards, and HOME stays
empty. The usage-limit tests feed the CLI's own subscription wording.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from obra_llm.errors import LLMException, LLMResponseException, RateLimitError
from tests.faults.cli_kits import CLAUDE_CODE
from tests.faults.test_cli_faults import SleepsAreFake, _alive, provider, write_fake
from tests.support.leaks import no_leaks

#: What the fake does first in every run: write the files the real CLI writes, log where.
_WRITES_LIKE_CLAUDE = """
CONFIG, TMP = os.environ["CLAUDE_CONFIG_DIR"], os.environ["TMPDIR"]
os.makedirs(os.path.join(CONFIG, "backups"), exist_ok=True)
for name in (".claude.json", "backups/.claude.json.backup.1"):
    with open(os.path.join(CONFIG, name), "w") as file:
        file.write("{}")
os.makedirs(os.path.join(TMP, "claude-0", "fswatch-probe-x"), exist_ok=True)
open(os.path.join(TMP, "claude-0", "fswatch-probe-x", "probe"), "w").close()
open(os.path.join(TMP, "cc-socks"), "w").close()
log(event="dirs", pid=os.getpid(), config=CONFIG, tmp=TMP, cwd=os.getcwd(), home=os.environ.get("HOME"))
"""

SCENARIOS = {
    "answer": "answer('fine')\n",
    "failure-retried": f"fail({CLAUDE_CODE.rate_limited!r})\n",
    "timeout": "begin()\ntime.sleep(60)\n",
    "killed": "begin()\npiece('par')\nos.kill(os.getpid(), signal.SIGKILL)\n",
    "garbage": "print('{not json')\njunk()\n",
}


@pytest.fixture
def clock() -> SleepsAreFake:
    return SleepsAreFake()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME for the fake (the provider's environment seam keeps the kit's key)."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    return path


def _leftovers() -> set[str]:
    """obra_llm's Claude Code scratch folders in the shared temp dir (other processes' come and go)."""
    return {name for name in os.listdir(tempfile.gettempdir()) if name.startswith("obra-claude-")}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_nothing_of_a_run_outlives_the_call(tmp_path: Path, clock: SleepsAreFake, home: Path, scenario: str) -> None:
    fake = write_fake(tmp_path, CLAUDE_CODE, _WRITES_LIKE_CLAUDE + SCENARIOS[scenario])
    llm = provider(CLAUDE_CODE, fake, clock, retry_attempts=2, timeout=1.0)
    before = _leftovers()

    with no_leaks():
        try:
            llm.generate("hi")
        except LLMException:
            pass

    dirs = [entry for entry in fake.entries() if entry["event"] == "dirs"]
    assert len(dirs) == fake.runs >= 1
    for entry in dirs:
        assert entry["config"] == os.path.join(entry["tmp"], "config")
        assert entry["cwd"] != entry["tmp"]
        assert not any(os.path.exists(entry[key]) for key in ("config", "tmp", "cwd")), entry
        assert entry["home"] == str(home)
    assert len({entry["tmp"] for entry in dirs}) == len(dirs)  # a fresh one per run
    assert list(home.iterdir()) == []
    assert _leftovers() <= before  # none new: another process's may have gone meanwhile
    assert not any(_alive(pid) for pid in fake.pids())


def test_an_abandoned_stream_leaves_nothing_either(tmp_path: Path, clock: SleepsAreFake, home: Path) -> None:
    fake = write_fake(tmp_path, CLAUDE_CODE, _WRITES_LIKE_CLAUDE + "begin()\npiece('first')\ntime.sleep(60)\n")
    llm = provider(CLAUDE_CODE, fake, clock, timeout=30)
    before = _leftovers()

    with no_leaks():
        stream = llm.generate_stream("hi")
        assert next(stream) == "first"
        stream.close()

    [entry] = [entry for entry in fake.entries() if entry["event"] == "dirs"]
    assert not os.path.exists(entry["tmp"])
    assert _leftovers() <= before  # none new: another process's may have gone meanwhile
    assert not any(_alive(pid) for pid in fake.pids())


def test_the_cli_gets_its_retries_off_and_the_attempt_timeout(tmp_path: Path, clock: SleepsAreFake, home: Path) -> None:
    body = (
        "ours = {k: v for k, v in os.environ.items() if k.startswith(('CLAUDE_CODE_', 'API_TIMEOUT'))}\n"
        "log(event='env', pid=os.getpid(), env=ours)\n"
        "answer('ok')\n"
    )
    fake = write_fake(tmp_path, CLAUDE_CODE, body)
    llm = provider(CLAUDE_CODE, fake, clock, timeout=7.5, max_tokens=64)

    with no_leaks():
        assert llm.generate("hi") == "ok"

    [entry] = [entry["env"] for entry in fake.entries() if entry["event"] == "env"]
    assert entry == {
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
        "CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK": "1",
        "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "64",
        "API_TIMEOUT_MS": "7500",
    }


#: What a spent Pro/Max allowance prints (2.1.332 against a 429 with the unified rate-limit headers).
_SPENT = """
begin()
emit({"type": "rate_limit_event", "rate_limit_info": {"status": "rejected", "resetsAt": int(time.time()) + 3600,
      "rateLimitType": "five_hour", "isUsingOverage": False}})
result(True, "You've hit your 5-hour limit · resets 10:53pm (UTC)", 429)
sys.exit(1)
"""


@pytest.mark.parametrize(
    ("body", "retry_after"),
    [
        (_SPENT, 3600.0),
        ("begin()\nresult(True, 'Claude AI usage limit reached|1893456000', 429)\nsys.exit(1)\n", None),
        ("begin()\nresult(True, 'Credit balance is too low', 400)\nsys.exit(1)\n", None),
    ],
    ids=["five-hour-limit", "old-wording", "credit-balance"],
)
def test_a_usage_limit_is_not_retried_and_says_when_it_resets(
    tmp_path: Path, clock: SleepsAreFake, home: Path, body: str, retry_after: float | None
) -> None:
    fake = write_fake(tmp_path, CLAUDE_CODE, body)
    llm = provider(CLAUDE_CODE, fake, clock, retry_attempts=3)

    with no_leaks(), pytest.raises(RateLimitError, match="usage limit is reached") as caught:
        llm.generate("hi")

    assert caught.value.retryable is False
    assert fake.runs == 1
    assert clock.sleeps == []
    if retry_after is None:
        assert caught.value.retry_after is None
    else:
        assert caught.value.retry_after is not None and abs(caught.value.retry_after - retry_after) < 60


@pytest.mark.parametrize(
    ("event", "match"),
    [
        ({"type": "result", "is_error": False, "result": 42, "num_turns": 1}, "without asking the model"),
        ({"type": "result", "result": "no is_error field"}, "claude failed: no is_error field"),
        ({"type": "result", "is_error": True}, "claude failed: no message"),
    ],
    ids=["result-not-text", "is-error-missing", "error-without-text"],
)
def test_a_malformed_result_is_never_an_answer(
    tmp_path: Path, clock: SleepsAreFake, home: Path, event: dict[str, Any], match: str
) -> None:
    fake = write_fake(tmp_path, CLAUDE_CODE, f"begin()\nemit(json.loads({json.dumps(event)!r}))\n")
    llm = provider(CLAUDE_CODE, fake, clock, retry_attempts=2)

    with no_leaks(), pytest.raises(LLMResponseException, match=match) as caught:
        llm.generate("hi")

    assert caught.value.retryable is False
    assert fake.runs == 1


def test_a_request_timed_out_inside_the_cli_is_retried(tmp_path: Path, clock: SleepsAreFake, home: Path) -> None:
    text = "Request timed out. If the API is slow to answer, set API_TIMEOUT_MS above 1000."
    body = f"if RUN == 1:\n    begin()\n    result(True, {text!r})\n    sys.exit(1)\nanswer('late')\n"
    fake = write_fake(tmp_path, CLAUDE_CODE, body)
    llm = provider(CLAUDE_CODE, fake, clock, retry_attempts=2)
    started = time.monotonic()

    with no_leaks():
        assert llm.generate("hi") == "late"

    assert time.monotonic() - started < 5
    assert fake.runs == 2
    assert (llm.metrics["retries"], llm.metrics["errors"], llm.metrics["timeouts"]) == (1, 0, 0)
