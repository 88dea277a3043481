"""The process transport: run a CLI with the prompt on stdin and stream its stdout lines.

``ProcessRunner`` is the seam providers receive (they never call ``subprocess``);
``SubprocessRunner`` is the real one. A run is an iterator: stdout lines (``str``, without
their line ending), then exactly one ``ProcessExit``. Closing the iterator early, or the
timeout running out, kills the whole process group: CLIs such as the npm ``codex`` are a
launcher with a native child, and killing only the direct child leaves the real CLI running.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Generator, Mapping, Sequence
from typing import IO, Any, Protocol

import attrs

from obra_llm.errors import ConfigError, LLMConnectionException, LLMResponseException, LLMTimeoutException
from obra_llm.transports.framing import iter_lines

__all__ = ["ProcessExit", "ProcessRunner", "ProcessTimeoutError", "RunItems", "SubprocessRunner", "encode_stdin"]

logger = logging.getLogger(__name__)

#: Bytes of stderr kept (the last ones): enough for any error text, bounded for a chatty CLI.
STDERR_TAIL_BYTES = 64 * 1024
#: Seconds between SIGTERM to the group and SIGKILL to whatever is left of it.
KILL_GRACE = 0.5
#: Seconds stdout may stay open after the leader exited (a leftover helper holding the pipe).
EXIT_DRAIN = 0.5
_CHUNK = 256 * 1024


@attrs.frozen
class ProcessExit:
    """How a run ended: the last item of every run.

    ``exit_code`` is ``None`` when a signal ended the process, and ``signal`` names it then.
    ``stderr`` is the tail of what the process wrote there (at most ``STDERR_TAIL_BYTES``).
    """

    exit_code: int | None
    signal: int | None
    stderr: str
    duration: float


#: What a run yields: stdout lines, then one ``ProcessExit``; ``close()`` abandons (kills) the run.
RunItems = Generator["str | ProcessExit", None, None]


class ProcessTimeoutError(LLMTimeoutException):
    """The run outlived its timeout and its process group was killed.

    ``stderr`` (its tail) and ``duration`` say what the process did before, so that a
    recorder can keep it and a provider can quote it.
    """

    def __init__(self, message: str, *, stderr: str = "", duration: float = 0.0, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.stderr = stderr
        self.duration = duration

    def _fields(self) -> dict[str, Any]:
        return {**super()._fields(), "stderr": self.stderr, "duration": self.duration}


class ProcessRunner(Protocol):
    """Runs one command; the seam a replayer or a recorder implements or wraps."""

    def run(
        self, argv: Sequence[str], *, stdin: str, timeout: float, cwd: str | None = None, env: Mapping[str, str] | None = None
    ) -> RunItems:
        """Start ``argv``, write ``stdin`` and close it, and yield stdout lines then a ``ProcessExit``.

        ``env`` adds variables for this run only, over the runner's environment (a recorder
        keeps none of them: they may hold secrets).

        Raises ``LLMConnectionException`` when the command cannot be started and
        ``ProcessTimeoutError`` when the whole run takes longer than ``timeout`` seconds.
        Closing the iterator before the end kills the run.
        """
        ...


class SubprocessRunner:
    """The real runner: a new session per run, so the whole process tree can be killed.

    ``env`` replaces the environment of the child when given (``None`` inherits ours).
    """

    def __init__(self, *, env: Mapping[str, str] | None = None, kill_grace: float = KILL_GRACE) -> None:
        self._env = None if env is None else dict(env)
        self._kill_grace = kill_grace

    def __repr__(self) -> str:
        # The environment may hold API keys: never show it.
        return f"{type(self).__name__}(kill_grace={self._kill_grace!r})"

    def run(
        self, argv: Sequence[str], *, stdin: str, timeout: float, cwd: str | None = None, env: Mapping[str, str] | None = None
    ) -> RunItems:
        """See ``ProcessRunner.run``. The process is started when iteration starts.

        Text that cannot be encoded raises ``ConfigError`` before anything starts; a prompt
        the process did not take in whole fails a run that would otherwise look successful.
        """
        data = encode_stdin(stdin, what=f"the stdin of {_name(argv)}")
        started = time.monotonic()
        process = _start(argv, cwd=cwd, env=self._environment(env))
        stderr = _StderrTail(process)
        feeder = _StdinFeeder(process, data)
        deadline = started + timeout
        chunks = _read_stdout(process, deadline)
        finished = False
        try:
            yield from iter_lines(chunks)
            _wait_exit(process, deadline)
            # The leader has exited; anything it left in its group (a helper still holding the
            # pipes, say) goes too, before the pipes are drained to their end.
            _signal_group(process.pid, signal.SIGKILL)
            finished = True
        except _Expired:
            self._kill_group(process)
            stderr.join()
            elapsed = time.monotonic() - started
            msg = f"{_name(argv)} did not finish within {timeout:g} s; its process group was killed"
            raise ProcessTimeoutError(msg, stderr=stderr.text(), duration=elapsed) from None
        finally:
            chunks.close()
            if not finished:
                self._kill_group(process)
            _close(process.stdout)
            stderr.join()
            feeder.join(self._kill_grace)
        code = process.returncode
        if feeder.failure is not None:
            if code != 0:
                # The run failed anyway; its own account (exit status, error events) says more.
                logger.warning("%s: %s", _name(argv), feeder.failure)
            else:
                msg = f"{_name(argv)} exited with code 0, but {feeder.failure}: its answer is not to the whole prompt"
                raise LLMResponseException(msg, retryable=False)
        yield ProcessExit(
            exit_code=code if code >= 0 else None,
            signal=-code if code < 0 else None,
            stderr=stderr.text(),
            duration=time.monotonic() - started,
        )

    def _environment(self, extra: Mapping[str, str] | None) -> Mapping[str, str] | None:
        if not extra:
            return self._env
        return {**(os.environ if self._env is None else self._env), **extra}

    def _kill_group(self, process: subprocess.Popen[bytes]) -> None:
        """TERM the group, give the leader a short grace, then KILL the group and reap the leader."""
        if process.returncode is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(self._kill_grace)
            except subprocess.TimeoutExpired:
                logger.debug("process %d ignored SIGTERM for %.2f s; killing its group", process.pid, self._kill_grace)
        # Always KILL: a grandchild may ignore TERM after its parent died.
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()


class _Expired(Exception):
    """Internal: the deadline passed while reading."""


def _start(argv: Sequence[str], *, cwd: str | None, env: Mapping[str, str] | None) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    except (FileNotFoundError, PermissionError) as error:
        msg = f"cannot run {_name(argv)}: {error.strerror} ({error.filename}); check that it is installed and executable"
        raise LLMConnectionException(msg, retryable=False) from error
    except OSError as error:
        msg = f"cannot run {_name(argv)}: {error.strerror or error}"
        raise LLMConnectionException(msg) from error


def encode_stdin(text: str, *, what: str) -> bytes:
    """``text`` as UTF-8, or a ``ConfigError`` saying where it cannot be encoded (a lone surrogate)."""
    try:
        return text.encode()
    except UnicodeEncodeError as error:
        bad = error.object[error.start : error.end]
        msg = (
            f"{what} cannot be encoded as UTF-8: {bad!r} at index {error.start} is a lone surrogate "
            "(text decoded with errors='surrogateescape', or a split UTF-16 pair); nothing was run. "
            "Fix the text, or re-encode it with errors='replace'"
        )
        raise ConfigError(msg) from None


class _StdinFeeder:
    """Writes the prompt and closes stdin, in a thread (a big prompt must not block the stdout reader).

    ``failure`` says what went wrong, or is ``None``: the runner reports it, never the thread.
    """

    def __init__(self, process: subprocess.Popen[bytes], data: bytes) -> None:
        self._process = process
        self._data = data
        self.failure: str | None = None
        self._thread = threading.Thread(target=self._feed, name="obra-llm-stdin", daemon=True)
        self._thread.start()

    def _feed(self) -> None:
        pipe = self._process.stdin
        if pipe is None:
            return
        try:
            pipe.write(self._data)
        except Exception as error:  # whatever it is, the runner must hear of it
            reason = "it closed its stdin" if isinstance(error, BrokenPipeError) else f"writing failed ({error!r})"
            self.failure = f"{reason} before taking the whole prompt ({len(self._data)} bytes)"
        finally:
            _close(pipe)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def _read_stdout(process: subprocess.Popen[bytes], deadline: float) -> Generator[bytes, None, None]:
    """Yield stdout chunks until EOF; raise ``_Expired`` when ``deadline`` passes first.

    Once the leader has exited, what is left of stdout gets ``EXIT_DRAIN`` seconds: a
    helper it left behind may hold the pipe open, and its output would never end. (Linux:
    the exit is seen through a pidfd; elsewhere only EOF or the deadline end the read.)
    """
    pipe = process.stdout
    if pipe is None:
        return
    fd = pipe.fileno()
    pidfd = _pidfd(process)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            if pidfd is not None:
                selector.register(pidfd, selectors.EVENT_READ)
            drain_until: float | None = None
            while True:
                now = time.monotonic()
                until = deadline if drain_until is None else min(deadline, drain_until)
                ready = {key.fd for key, _ in selector.select(until - now)} if until > now else set()
                if pidfd is not None and pidfd in ready:
                    selector.unregister(pidfd)
                    drain_until = time.monotonic() + EXIT_DRAIN
                if fd not in ready:
                    if drain_until is not None and time.monotonic() >= drain_until:
                        return
                    if time.monotonic() >= deadline:
                        raise _Expired
                    continue
                chunk = os.read(fd, _CHUNK)
                if not chunk:
                    return
                yield chunk
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _pidfd(process: subprocess.Popen[bytes]) -> int | None:
    try:
        return os.pidfd_open(process.pid)
    except (AttributeError, OSError):
        return None


def _wait_exit(process: subprocess.Popen[bytes], deadline: float) -> None:
    """Reap the process by ``deadline`` or raise ``_Expired``.

    ``Popen.wait(timeout)`` polls with sleeps of up to 50 ms, which would add that much to
    every call; a pidfd (Linux) wakes us the moment the process exits.
    """
    left = max(deadline - time.monotonic(), 0.0)
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is not None:
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(pidfd, selectors.EVENT_READ)
                if not selector.select(left):
                    raise _Expired
        finally:
            os.close(pidfd)
        process.wait()
        return
    try:
        process.wait(left)
    except subprocess.TimeoutExpired:
        raise _Expired from None


class _StderrTail:
    """Drains stderr in a thread, keeping only the last ``STDERR_TAIL_BYTES``."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._pipe = process.stderr
        self._tail = bytearray()
        self._thread = threading.Thread(target=self._drain, name="obra-llm-stderr", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        pipe = self._pipe
        if pipe is None:
            return
        fd = pipe.fileno()
        try:
            while chunk := os.read(fd, _CHUNK):
                self._tail += chunk
                if len(self._tail) > 2 * STDERR_TAIL_BYTES:
                    del self._tail[:-STDERR_TAIL_BYTES]
        finally:
            _close(pipe)

    def join(self) -> None:
        # The group is dead or exited by now; a bounded join guards against an escaped process.
        self._thread.join(5.0)

    def text(self) -> str:
        return bytes(self._tail[-STDERR_TAIL_BYTES:]).decode(errors="replace")


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _close(pipe: IO[bytes] | None) -> None:
    if pipe is not None:
        try:
            pipe.close()
        except OSError:
            pass


def _name(argv: Sequence[str]) -> str:
    return os.path.basename(argv[0]) if argv else "<empty argv>"
