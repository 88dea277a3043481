"""Prove that nothing outlives a call: threads, file descriptors (sockets named), processes.

``no_leaks()`` measures before and after its block, never in absolute terms, so pytest's
own descriptors and threads, and whatever a fixture opened before the block, are ignored::

    with no_leaks():
        llm.generate("hi")

At the end of the block it waits up to ``grace`` seconds for the count to come back
(handler threads finishing, a killed grandchild being reaped by init), then raises
``LeakError`` listing every thread (with where it is blocked), descriptor (sockets with
their addresses) and process (pid, state, command line) left over. Leaked processes are
SIGKILLed after being reported, so one failing test does not poison the next.

Processes are found three ways, read from ``/proc``: descendants of this process (by
parent pid; unreaped zombies count), processes carrying this block's marker in their
environment (``OBRA_LLM_LEAK_MARK``, set in ``os.environ`` for the block, so inherited by
every child and grandchild, even one reparented to init after its parent died), and members
of the process groups and sessions of those. A child started with a replaced environment
and reparented away escapes the marker: pass it ``leak_marker_env()``.

As a fixture, ``leak_check`` wraps a whole test (register this module in ``pytest_plugins``).
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import attrs
import pytest

__all__ = ["MARK_VARIABLE", "Leak", "LeakError", "Snapshot", "leak_check", "leak_marker_env", "no_leaks", "snapshot"]

#: The environment variable whose value marks every process started inside a ``no_leaks`` block.
MARK_VARIABLE = "OBRA_LLM_LEAK_MARK"
_POLL = 0.01


@attrs.frozen
class Leak:
    """One thing that outlived the block: ``kind`` is ``thread``, ``fd``, ``socket`` or ``process``."""

    kind: str
    description: str


class LeakError(AssertionError):
    """Something outlived a ``no_leaks`` block; ``leaks`` lists what."""

    def __init__(self, leaks: list[Leak], *, grace: float) -> None:
        self.leaks = leaks
        lines = "\n".join(f"  - {leak.kind}: {leak.description}" for leak in leaks)
        super().__init__(f"{len(leaks)} resource(s) outlived the block (after a {grace:g} s grace):\n{lines}")


@attrs.frozen
class _Proc:
    pid: int
    start: int  # start time in clock ticks: tells a reused pid from the original
    ppid: int
    pgid: int
    sid: int
    state: str
    comm: str


@attrs.frozen
class Snapshot:
    """What this process holds at one moment."""

    threads: frozenset[threading.Thread]
    fds: frozenset[tuple[int, str]]
    processes: frozenset[tuple[int, int]]  # (pid, start time) of the processes we are tracking


def snapshot(marker: str | None = None) -> Snapshot:
    """Threads alive, descriptors open (with their targets) and tracked processes now."""
    return Snapshot(
        threads=frozenset(thread for thread in threading.enumerate() if thread.is_alive()),
        fds=frozenset(_open_fds().items()),
        processes=frozenset((proc.pid, proc.start) for proc in _tracked_processes(marker)),
    )


def leak_marker_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: ``os.environ``) plus the current block's marker, for a replaced child environment."""
    env = dict(os.environ if base is None else base)
    marker = os.environ.get(MARK_VARIABLE)
    if marker:
        env[MARK_VARIABLE] = marker
    return env


@contextlib.contextmanager
def no_leaks(*, grace: float = 3.0, allow: Callable[[Leak], bool] | None = None) -> Iterator[Snapshot]:
    """Fail with ``LeakError`` if a thread, descriptor or process started in the block survives it.

    ``allow`` may excuse a leak (say, a server thread the test itself keeps running). When the
    block raises, leaked processes are still killed, but the block's own error is what propagates.
    """
    outer = os.environ.get(MARK_VARIABLE)
    marker = outer or uuid.uuid4().hex
    os.environ[MARK_VARIABLE] = marker
    try:
        before = snapshot(marker)
        try:
            yield before
        except BaseException:
            leaks = _settle(before, marker, grace=min(grace, 1.0), allow=allow)
            _kill([leak for leak in leaks if leak.kind == "process"], before, marker)
            raise
        leaks = _settle(before, marker, grace=grace, allow=allow)
        if leaks:
            leaks = _mark_cyclic(leaks, before, marker, allow=allow)
            _kill(leaks, before, marker)
            raise LeakError(leaks, grace=grace)
    finally:
        if outer is None:
            del os.environ[MARK_VARIABLE]


@pytest.fixture
def leak_check() -> Iterator[Snapshot]:
    """Fail the test (at teardown) if anything it started is still there."""
    with no_leaks() as before:
        yield before


# -- comparing ---------------------------------------------------------------------------


def _settle(before: Snapshot, marker: str, *, grace: float, allow: Callable[[Leak], bool] | None) -> list[Leak]:
    """Poll until nothing new remains or ``grace`` runs out; the leaks found last."""
    deadline = time.monotonic() + grace
    while True:
        leaks = [leak for leak in _leaks_since(before, marker) if allow is None or not allow(leak)]
        if not leaks or time.monotonic() >= deadline:
            return leaks
        time.sleep(_POLL)


def _mark_cyclic(leaks: list[Leak], before: Snapshot, marker: str, *, allow: Callable[[Leak], bool] | None) -> list[Leak]:
    """Say which leaks a ``gc.collect()`` frees: held only by a reference cycle (often an error's traceback).

    They are still leaks: until the cyclic collector happens to run, the resource stays open.
    """
    gc.collect()
    remaining = {leak for leak in _leaks_since(before, marker) if allow is None or not allow(leak)}
    note = " [freed only by gc.collect(): held by a reference cycle, e.g. a kept exception's traceback]"
    return [leak if leak in remaining else attrs.evolve(leak, description=leak.description + note) for leak in leaks]


def _leaks_since(before: Snapshot, marker: str) -> list[Leak]:
    leaks: list[Leak] = []
    frames = sys._current_frames()
    for thread in sorted(threading.enumerate(), key=lambda t: t.name):
        if thread in before.threads or not thread.is_alive() or thread is threading.current_thread():
            continue
        leaks.append(Leak("thread", _describe_thread(thread, frames)))
    sockets = _socket_table()
    for fd, target in sorted(_open_fds().items()):
        if (fd, target) in before.fds:
            continue
        if target.startswith("socket:["):
            inode = target[len("socket:[") : -1]
            leaks.append(Leak("socket", f"fd {fd}: {sockets.get(inode, target)}"))
        else:
            leaks.append(Leak("fd", f"fd {fd} -> {target}"))
    for proc in _tracked_processes(marker):
        if (proc.pid, proc.start) in before.processes:
            continue
        leaks.append(Leak("process", _describe_process(proc)))
    return leaks


def _describe_thread(thread: threading.Thread, frames: dict[int, FrameType]) -> str:
    text = f"{thread.name!r} (ident {thread.ident}, daemon={thread.daemon})"
    frame = frames.get(thread.ident) if thread.ident is not None else None
    if frame is not None:
        stack = traceback.format_stack(frame)
        where = " <- ".join(line.strip().splitlines()[0] for line in reversed(stack[-3:]))
        text += f" at {where}"
    return text


# -- file descriptors --------------------------------------------------------------------


def _open_fds() -> dict[int, str]:
    """``fd -> readlink target`` for this process; the descriptor listing the directory is skipped."""
    found: dict[int, str] = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            found[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor, or another thread's)
    return found


def _socket_table() -> dict[str, str]:
    """``inode -> description`` of this network namespace's TCP, UDP and Unix sockets."""
    table: dict[str, str] = {}
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        try:
            lines = Path(f"/proc/self/net/{proto}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10:
                continue
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            table[inode] = f"{proto} {_address(local)} -> {_address(remote)} ({_TCP_STATES.get(state, state)})"
    try:
        lines = Path("/proc/self/net/unix").read_text().splitlines()[1:]
    except OSError:
        lines = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 7:
            path = fields[7] if len(fields) > 7 else "(unnamed)"
            table[fields[6]] = f"unix {path}"
    return table


_TCP_STATES = {
    "01": "ESTABLISHED",
    "02": "SYN_SENT",
    "03": "SYN_RECV",
    "04": "FIN_WAIT1",
    "05": "FIN_WAIT2",
    "06": "TIME_WAIT",
    "07": "CLOSE",
    "08": "CLOSE_WAIT",
    "09": "LAST_ACK",
    "0A": "LISTEN",
    "0B": "CLOSING",
}


def _address(hex_address: str) -> str:
    """``0100007F:1F90`` -> ``127.0.0.1:8080`` (IPv6 shown as its hex words)."""
    host, _, port = hex_address.partition(":")
    if len(host) == 8:
        shown = ".".join(str(int(host[i : i + 2], 16)) for i in (6, 4, 2, 0))
    else:
        words = [host[i : i + 8] for i in range(0, len(host), 8)]
        shown = "[" + ":".join(bytes.fromhex(word)[::-1].hex() for word in words) + "]"
    return f"{shown}:{int(port, 16)}"


# -- processes -----------------------------------------------------------------------------


def _all_processes() -> dict[int, _Proc]:
    found: dict[int, _Proc] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry)] = _Proc(
            pid=int(entry),
            start=int(fields[19]),
            ppid=int(fields[1]),
            pgid=int(fields[2]),
            sid=int(fields[3]),
            state=fields[0],
            comm=comm,
        )
    return found


def _tracked_processes(marker: str | None) -> list[_Proc]:
    """Our descendants, processes carrying ``marker``, and the members of their groups and sessions.

    Zombies count only when they are ours to reap (our direct children).
    """
    me = os.getpid()
    everything = _all_processes()
    children: dict[int, list[int]] = {}
    for proc in everything.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    tracked: set[int] = set()
    pending = list(children.get(me, []))
    while pending:
        pid = pending.pop()
        if pid not in tracked:
            tracked.add(pid)
            pending += children.get(pid, [])
    if marker:
        needle = f"{MARK_VARIABLE}={marker}\0".encode()
        for pid in everything:
            if pid != me and pid not in tracked and _environ_has(pid, needle):
                tracked.add(pid)
    groups = {everything[pid].pgid for pid in tracked} | {everything[pid].sid for pid in tracked}
    my_group = {everything[me].pgid, everything[me].sid} if me in everything else set()
    groups -= my_group  # our own group and session hold pytest's parent shell: not ours to judge
    tracked |= {proc.pid for proc in everything.values() if proc.pgid in groups or proc.sid in groups}
    tracked.discard(me)
    return [
        everything[pid]
        for pid in sorted(tracked)
        if everything[pid].state not in ("Z", "X") or everything[pid].ppid == me
    ]


def _environ_has(pid: int, needle: bytes) -> bool:
    try:
        return needle in Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False


def _describe_process(proc: _Proc) -> str:
    try:
        argv = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        command = " ".join(part.decode(errors="replace") for part in argv if part)[:200]
    except OSError:
        command = ""
    state = "zombie, not reaped" if proc.state == "Z" else f"state {proc.state}"
    return f"pid {proc.pid} ({proc.comm}, {state}, parent {proc.ppid}, group {proc.pgid}) {command}".rstrip()


def _kill(leaks: list[Leak], before: Snapshot, marker: str) -> None:
    """SIGKILL the leaked processes still running and reap those that are our children."""
    if not any(leak.kind == "process" for leak in leaks):
        return
    me = os.getpid()
    for proc in _tracked_processes(marker):
        if (proc.pid, proc.start) in before.processes:
            continue
        if proc.state != "Z":
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(proc.pid, signal.SIGKILL)
        if proc.ppid == me:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc.pid, 0)
