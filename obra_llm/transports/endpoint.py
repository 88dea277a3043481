"""``HttpEndpoint``: one provider instance's pooled connection to its HTTP API.

Everything an HTTP provider does per request that is not translation lives here once:
the connection pool, per-attempt timeouts, error translation, reading error bodies, and
streams that are read to their end so that the connection goes back to the pool.

Requests go straight to an httpx transport, not through ``httpx.Client``. An endpoint
talks to one origin with fixed headers, no cookies, no redirects and no auth flow, so
what the client does per request (merging URL, headers, cookies and parameters, running
the auth and redirect loops, storing cookies) is all overhead: it costs more than 100 µs
per call, a fifth of a local round trip (see ``docs/performance.md``). Proxies from the
environment are honoured as the client honours them (``pooled_transport``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, NamedTuple
from urllib.parse import quote

import httpx

from obra_llm._version import __version__
from obra_llm.errors import ConfigError, LLMResponseException, LLMTimeoutException
from obra_llm.transports.deadline import reading_until, with_deadlines
from obra_llm.transports.decoding import decoded_chunks
from obra_llm.transports.http import attempt_timeout, pooled_transport, safe_url, translate_transport_errors

__all__ = ["MAX_BODY_BYTES", "MAX_LINE_BYTES", "HttpEndpoint", "OpenStream", "WireRequest", "bounded_lines", "path_segment", "read_bounded"]

#: The largest decoded body a whole answer (or an error) may have: 64 MiB, beyond any real answer.
MAX_BODY_BYTES = 64 * 1024 * 1024
#: The longest decoded line a stream may send: 16 MiB (a streamed event is a few hundred bytes).
MAX_LINE_BYTES = 16 * 1024 * 1024

#: Sent with every request; a provider's own headers (credentials, versions) are added to them.
_DEFAULT_HEADERS: Mapping[str, str] = {
    "accept": "application/json",
    "accept-encoding": "gzip, deflate",
    "connection": "keep-alive",
    "user-agent": f"obra-llm/{__version__} httpx/{httpx.__version__}",
}

#: A budget this close to the configured timeout is the configured timeout: the prebuilt
#: timeout extension and error translator are reused instead of being built for every request.
_SAME_TIMEOUT = 0.05

#: How many distinct URLs an endpoint keeps parsed (a provider uses a handful: chat, probe, model).
_CACHED_URLS = 64


def read_bounded(response: httpx.Response, limit: int) -> None:
    """Read ``response``'s decoded body as ``Response.read`` does, refusing it past ``limit`` bytes.

    Decoded: a small gzip body may inflate a thousandfold. It is inflated a piece at a time
    and the read stops at the bound, so memory stays within a piece of it; the error is not
    retried (the same request gets the same answer).
    """
    parts: list[bytes] = []
    size = 0
    for part in decoded_chunks(response):
        size += len(part)
        if size > limit:
            msg = f"the answer is larger than {limit} bytes once decoded (max_response_bytes)"
            raise LLMResponseException(msg, status_code=response.status_code, retryable=False)
        parts.append(part)
    response._content = b"".join(parts)  # what Response.read() stores


def bounded_lines(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    """``chunks`` unchanged, refused once one line (between ``\\n`` or ``\\r``) runs past ``limit`` bytes.

    Every stream format obra_llm reads is line-framed, so this bounds what a reader may
    buffer; two C-level searches per chunk.
    """
    run = 0
    for chunk in chunks:
        end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        if end < 0:
            run += len(chunk)
        else:
            first = min(index for index in (chunk.find(b"\n"), chunk.find(b"\r")) if index >= 0)
            inner = len(chunk) > limit and max(map(len, chunk.replace(b"\r", b"\n").split(b"\n"))) > limit
            if run + first > limit or inner:
                run = limit + 1
            else:
                run = len(chunk) - end - 1
        if run > limit:
            msg = f"a line of the streamed answer is longer than {limit} bytes (max_line_bytes)"
            raise LLMResponseException(msg, retryable=False)
        yield chunk


def path_segment(value: str, *, key: str = "model", safe: str = "") -> str:
    """``value`` (a model name) quoted as one URL path segment, so that it stays in its place.

    ``/``, ``?`` and ``#`` are escaped; a value that is empty or a dot segment (``.``,
    ``..``, which every URL normaliser resolves upwards) names no segment and is refused.
    """
    if value in ("", ".", ".."):
        msg = f"{key}={value!r} cannot be sent as part of a URL path: name a real {key}"
        raise ConfigError(msg)
    return quote(value, safe=safe)


class WireRequest(NamedTuple):
    """One request to send: path under the base URL, JSON body, method, query parameters."""

    path: str
    json: Any = None
    method: str = "POST"
    params: Mapping[str, str] | None = None


class HttpEndpoint:
    """A base URL, its headers and a pooled, thread-safe transport, for one provider instance.

    It sends and returns responses; what a status or a body means is the caller's business.
    Every ``httpx`` failure, while sending or while reading, is already an ``LLMException``.
    """

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_line_bytes: int = MAX_LINE_BYTES,
    ) -> None:
        self.provider = provider
        self.max_body_bytes = max_body_bytes
        self.max_line_bytes = max_line_bytes
        self.target = safe_url(base_url)
        self._base_url = base_url.rstrip("/")
        self._headers = httpx.Headers({**_DEFAULT_HEADERS, **(headers or {})})
        self._transport = transport or with_deadlines(pooled_transport(self._base_url))
        self._urls: dict[str | tuple[str, tuple[tuple[str, str], ...]], httpx.URL] = {}
        self._timeout = timeout
        self._timeout_extension = {"timeout": attempt_timeout(timeout).as_dict()}
        self._errors = translate_transport_errors(provider, target=self.target, timeout=timeout)

    def send(self, request: WireRequest, *, timeout: float) -> httpx.Response:
        """Send ``request`` and return its response with the body read (and the connection released).

        ``timeout`` bounds the whole attempt, from sending to the body's last byte.
        """
        errors, extensions = self._per_attempt(timeout)
        with errors, reading_until(time.monotonic() + timeout):
            response = self._send(request, extensions)
            try:
                read_bounded(response, self.max_body_bytes)
            finally:
                response.close()
            return response

    def open(self, request: WireRequest, *, timeout: float) -> OpenStream:
        """Send ``request`` and return the response with its headers read and its body still to come.

        ``timeout`` bounds the wait for the headers and then for each useful piece (``OpenStream``).
        """
        errors, extensions = self._per_attempt(timeout)
        started = time.monotonic()
        with errors, reading_until(started + timeout):
            response = self._send(request, extensions)
        return OpenStream(response, errors, self.max_body_bytes, self.max_line_bytes, deadline=started + timeout, silence=timeout)

    def close(self) -> None:
        """Close the connection pool."""
        self._transport.close()

    def _url(self, path: str, params: Mapping[str, str] | None) -> httpx.URL:
        """The URL of ``path`` with ``params``, parsed once: parsing costs more than building the request."""
        key = (path, tuple(params.items())) if params else path
        url = self._urls.get(key)
        if url is None:
            url = httpx.URL(self._base_url + path, params=params)
            if len(self._urls) < _CACHED_URLS:
                self._urls[key] = url
        return url

    def _send(self, request: WireRequest, extensions: dict[str, Any]) -> httpx.Response:
        """The response to one request, its body not read yet.

        ``handle_request`` is looked up on every call, so that vcrpy's patch of the transport class applies.
        """
        built = httpx.Request(
            request.method,
            self._url(request.path, request.params),
            headers=self._headers,
            json=request.json,
            extensions=extensions,
        )
        response = self._transport.handle_request(built)
        response.request = built
        return response

    def _per_attempt(self, seconds: float) -> tuple[AbstractContextManager[None], dict[str, Any]]:
        """The error translator and the timeout extension for an attempt of ``seconds``.

        The configured timeout (give or take what a retry loop's clock ate) reuses both,
        prebuilt: nothing is built per request.
        """
        if abs(seconds - self._timeout) < _SAME_TIMEOUT:
            return self._errors, self._timeout_extension
        errors = translate_transport_errors(self.provider, target=self.target, timeout=seconds)
        return errors, {"timeout": attempt_timeout(seconds).as_dict()}


class OpenStream:
    """A response whose body is read as it arrives, each silence bounded.

    Read ``chunks()`` inside ``reading()``: there, a failure while reading is already an
    ``LLMException`` (one context for the whole read, not a generator layer per chunk).
    The first useful piece must come by ``deadline``, and each next one within ``silence``
    seconds of ``progressed()``: bytes that carry nothing (keep-alive lines, pings) do not
    move the deadline, so a server sending only those times out.
    """

    __slots__ = ("_chunks", "_deadline", "_errors", "_max_body_bytes", "_silence", "response")

    def __init__(
        self,
        response: httpx.Response,
        errors: AbstractContextManager[None],
        max_body_bytes: int,
        max_line_bytes: int,
        *,
        deadline: float,
        silence: float,
    ) -> None:
        self.response = response
        self._errors = errors
        self._max_body_bytes = max_body_bytes
        self._deadline = deadline
        self._silence = silence
        self._chunks = self._until_deadline(bounded_lines(decoded_chunks(response), max_line_bytes))

    def reading(self) -> AbstractContextManager[None]:
        """The context that turns a failure while reading into an ``LLMException``."""
        return self._errors

    def chunks(self) -> Iterator[bytes]:
        """The body's byte chunks, as they arrive (one iterator: ``drain`` continues it)."""
        return self._chunks

    def progressed(self) -> None:
        """A useful piece arrived (or the caller asks for the next): the next may take ``silence`` seconds."""
        self._deadline = time.monotonic() + self._silence

    def read(self) -> httpx.Response:
        """The response with the whole body read (an error's body, say)."""
        with self._errors, reading_until(self._deadline):
            read_bounded(self.response, self._max_body_bytes)
        return self.response

    def drain(self) -> None:
        """Read (and drop) what is left, so that the connection goes back to the pool."""
        self.progressed()
        with self._errors:
            for _ in self._chunks:
                pass

    def close(self) -> None:
        """Release the connection (closing it if the body was not read to its end)."""
        self.response.close()

    def _until_deadline(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """``chunks``, each read bounded by the deadline of the piece awaited then."""
        while True:
            try:
                with reading_until(self._deadline):
                    chunk = next(chunks)
            except StopIteration:
                return
            except httpx.TimeoutException as error:
                raise self._silent() from error
            yield chunk

    def _silent(self) -> LLMTimeoutException:
        target = safe_url(str(self.response.request.url.copy_with(query=None)))
        msg = f"the stream from {target} sent nothing useful within {self._silence:g} s (keep-alive lines and pings are not progress)"
        return LLMTimeoutException(msg)
