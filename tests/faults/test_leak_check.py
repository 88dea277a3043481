"""The leak check itself: each kind of leak is caught, named, and cleaned up; clean blocks pass."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.leaks import MARK_VARIABLE, LeakError, leak_marker_env, no_leaks

PY = sys.executable


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _gone(pid: int, within: float = 2.0) -> bool:
    """Whether ``pid`` is dead within ``within`` s (init reaps a killed orphan asynchronously)."""
    deadline = time.monotonic() + within
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    return not _alive(pid)


def test_a_clean_block_passes_and_restores_the_environment() -> None:
    with no_leaks():
        assert MARK_VARIABLE in os.environ
        done = threading.Thread(target=lambda: None)
        done.start()
        done.join()
        with open(__file__, "rb"):
            pass
        subprocess.run([PY, "-c", "pass"], check=True)

    assert MARK_VARIABLE not in os.environ


def test_a_thread_that_finishes_within_the_grace_is_not_a_leak() -> None:
    with no_leaks(grace=2.0):
        threading.Thread(target=time.sleep, args=(0.2,), name="short-lived").start()


def test_a_thread_left_running_is_named_with_where_it_waits() -> None:
    stop = threading.Event()
    with pytest.raises(LeakError) as caught, no_leaks(grace=0.1):
        threading.Thread(target=stop.wait, name="forgotten-waiter", daemon=True).start()
    stop.set()

    assert [leak.kind for leak in caught.value.leaks] == ["thread"]
    assert "'forgotten-waiter'" in str(caught.value)
    assert "wait" in caught.value.leaks[0].description


def test_an_open_file_is_named_by_its_path(tmp_path: Path) -> None:
    path = tmp_path / "kept-open.txt"
    path.write_text("x")
    with pytest.raises(LeakError) as caught, no_leaks(grace=0.1):
        kept = open(path)  # the leak under test
    kept.close()

    assert [leak.kind for leak in caught.value.leaks] == ["fd"]
    assert str(path) in str(caught.value)


def test_a_socket_is_named_by_its_addresses() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with pytest.raises(LeakError) as caught, no_leaks(grace=0.1):
            client = socket.create_connection(("127.0.0.1", port))
        client.close()
        accepted, _ = server.accept()
        accepted.close()

    assert [leak.kind for leak in caught.value.leaks] == ["socket"]
    assert f"-> 127.0.0.1:{port} (ESTABLISHED)" in str(caught.value)


def test_a_child_left_running_is_reported_and_killed() -> None:
    with pytest.raises(LeakError) as caught, no_leaks(grace=0.1):
        child = subprocess.Popen([PY, "-c", "import time; time.sleep(60)"])

    assert not _alive(child.pid)
    child.wait(1)  # already reaped by the check: only settles the Popen object
    assert [leak.kind for leak in caught.value.leaks] == ["process"]
    assert f"pid {child.pid} " in str(caught.value)


def test_an_unreaped_child_is_a_leak() -> None:
    with pytest.raises(LeakError) as caught, no_leaks(grace=0.3):
        child = subprocess.Popen([PY, "-c", "pass"])
        time.sleep(0.2)

    assert "zombie, not reaped" in str(caught.value)
    assert child.poll() is not None


def test_an_orphaned_grandchild_in_a_new_session_is_found_by_the_marker() -> None:
    script = (
        "import subprocess, sys; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True, "
        "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
        "print(child.pid)"
    )
    with pytest.raises(LeakError) as caught, no_leaks(grace=0.1):
        grandchild = int(subprocess.run([PY, "-c", script], check=True, capture_output=True, text=True).stdout)

    assert f"pid {grandchild} " in str(caught.value)
    assert _gone(grandchild)


def test_a_child_with_a_replaced_environment_is_found_through_leak_marker_env() -> None:
    script = (
        "import subprocess, sys; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
        "print(child.pid)"
    )
    with pytest.raises(LeakError) as caught, no_leaks(grace=0.1):
        env = leak_marker_env({"PATH": os.environ.get("PATH", "")})
        grandchild = int(subprocess.run([PY, "-c", script], check=True, capture_output=True, text=True, env=env).stdout)

    assert f"pid {grandchild} " in str(caught.value)
    assert _gone(grandchild)


def test_what_existed_before_the_block_is_not_judged() -> None:
    stop = threading.Event()
    keeper = threading.Thread(target=stop.wait, daemon=True)
    keeper.start()
    child = subprocess.Popen([PY, "-c", "import time; time.sleep(60)"])
    try:
        with no_leaks(grace=0.1):
            pass
    finally:
        stop.set()
        child.kill()
        child.wait()


def test_allow_excuses_a_leak() -> None:
    stop = threading.Event()
    with no_leaks(grace=0.1, allow=lambda leak: "excused" in leak.description):
        threading.Thread(target=stop.wait, name="excused", daemon=True).start()
    stop.set()


def test_the_block_s_own_error_wins_and_its_processes_still_die() -> None:
    with pytest.raises(ZeroDivisionError), no_leaks(grace=0.1):
        child = subprocess.Popen([PY, "-c", "import time; time.sleep(60)"])
        _ = 1 / 0

    assert not _alive(child.pid)
    child.wait(1)  # already reaped by the check: only settles the Popen object


class _CycleHoldingFd:
    """Holds a descriptor and a reference to itself: only the cyclic collector frees it."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY)
        self.me = self

    def __del__(self) -> None:
        os.close(self.fd)


def test_a_leak_freed_only_by_the_garbage_collector_is_reported_as_such(tmp_path: Path) -> None:
    path = tmp_path / "held-by-a-cycle"
    path.write_text("x")
    gc.disable()  # the cycle must survive the block, as it would between automatic collections
    try:
        with pytest.raises(LeakError) as caught, no_leaks(grace=0.1):
            _CycleHoldingFd(path)
    finally:
        gc.enable()

    assert [leak.kind for leak in caught.value.leaks] == ["fd"]
    assert "freed only by gc.collect()" in str(caught.value)
