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

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, NamedTuple
from urllib.parse import quote

import httpx

from obra_llm._version import __version__
from obra_llm.errors import ConfigError
from obra_llm.transports.http import attempt_timeout, pooled_transport, safe_url, translate_transport_errors

__all__ = ["HttpEndpoint", "OpenStream", "WireRequest", "path_segment"]

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
    ) -> None:
        self.provider = provider
        self.target = safe_url(base_url)
        self._base_url = base_url.rstrip("/")
        self._headers = httpx.Headers({**_DEFAULT_HEADERS, **(headers or {})})
        self._transport = transport or pooled_transport(self._base_url)
        self._urls: dict[str | tuple[str, tuple[tuple[str, str], ...]], httpx.URL] = {}
        self._timeout = timeout
        self._timeout_extension = {"timeout": attempt_timeout(timeout).as_dict()}
        self._errors = translate_transport_errors(provider, target=self.target, timeout=timeout)

    def send(self, request: WireRequest, *, timeout: float) -> httpx.Response:
        """Send ``request`` and return its response with the body read (and the connection released)."""
        errors, extensions = self._per_attempt(timeout)
        with errors:
            response = self._send(request, extensions)
            try:
                response.read()
            finally:
                response.close()
            return response

    def open(self, request: WireRequest, *, timeout: float) -> OpenStream:
        """Send ``request`` and return the response with its headers read and its body still to come."""
        errors, extensions = self._per_attempt(timeout)
        with errors:
            return OpenStream(self._send(request, extensions), errors)

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
    """A response whose body is read as it arrives.

    Read ``chunks()`` inside ``reading()``: there, a failure while reading is already an
    ``LLMException`` (one context for the whole read, not a generator layer per chunk).
    """

    __slots__ = ("_chunks", "_errors", "response")

    def __init__(self, response: httpx.Response, errors: AbstractContextManager[None]) -> None:
        self.response = response
        self._errors = errors
        self._chunks = response.iter_bytes()

    def reading(self) -> AbstractContextManager[None]:
        """The context that turns a failure while reading into an ``LLMException``."""
        return self._errors

    def chunks(self) -> Iterator[bytes]:
        """The body's byte chunks, as they arrive (one iterator: ``drain`` continues it)."""
        return self._chunks

    def read(self) -> httpx.Response:
        """The response with the whole body read (an error's body, say)."""
        with self._errors:
            self.response.read()
        return self.response

    def drain(self) -> None:
        """Read (and drop) what is left, so that the connection goes back to the pool."""
        with self._errors:
            for _ in self._chunks:
                pass

    def close(self) -> None:
        """Release the connection (closing it if the body was not read to its end)."""
        self.response.close()
