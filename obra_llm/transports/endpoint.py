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

from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import httpx

from obra_llm._version import __version__
from obra_llm.errors import LLMException, LLMResponseException
from obra_llm.transports.http import (
    attempt_timeout,
    pooled_transport,
    read_error_detail,
    redactor,
    safe_url,
    translate_transport_errors,
)

__all__ = ["DEFAULT_HEADERS", "ErrorMapper", "HttpEndpoint"]

T = TypeVar("T")

#: Sent with every request; a provider's own headers (credentials, versions) are added to them.
DEFAULT_HEADERS: Mapping[str, str] = {
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

#: Builds the exception for a non-2xx response: ``(response, detail) -> exception``.
ErrorMapper = Callable[[httpx.Response, str], LLMException]


class HttpEndpoint:
    """A base URL, its credentials and a pooled, thread-safe transport, for one provider instance."""

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        secrets: Sequence[str] = (),
        error_text: Callable[[Any], str | None],
        map_error: ErrorMapper,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.provider = provider
        self.target = safe_url(base_url)
        self.redact = redactor(*secrets)
        self._base_url = base_url.rstrip("/")
        self._headers = httpx.Headers({**DEFAULT_HEADERS, **(headers or {})})
        self._transport = transport or pooled_transport(self._base_url)
        self._urls: dict[str | tuple[str, tuple[tuple[str, str], ...]], httpx.URL] = {}
        self._timeout = timeout
        self._timeout_extension = {"timeout": attempt_timeout(timeout).as_dict()}
        self._errors = translate_transport_errors(provider, target=self.target, timeout=timeout)
        self._error_text = error_text
        self._map_error = map_error

    def request_json(
        self,
        method: str,
        path: str,
        *,
        timeout: float,
        json: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request and return its parsed JSON body; errors become ``LLMException``s."""
        errors, extensions = self._per_attempt(timeout)
        with errors:
            response = self._send(method, path, json=json, params=params, extensions=extensions)
            try:
                response.read()
            finally:
                response.close()
            if response.is_error:
                raise self._error(response)
            return self._parsed(response)

    def stream(
        self,
        path: str,
        *,
        timeout: float,
        json: Any,
        process: Callable[[Iterator[bytes]], Iterator[T]],
        params: Mapping[str, str] | None = None,
    ) -> Generator[T, None, None]:
        """POST ``json`` and hand the body's byte chunks to ``process`` as they arrive.

        When ``process`` is done, whatever is left of the body is read (and dropped) so the
        connection is reused; closing the stream early closes the response instead.
        """
        errors, extensions = self._per_attempt(timeout)
        with errors:
            response = self._send("POST", path, json=json, params=params, extensions=extensions)
            try:
                if response.is_error:
                    raise self._error(response)
                chunks = response.iter_bytes()
                try:
                    yield from process(chunks)
                except LLMException as error:
                    error.provider = error.provider or self.provider  # the shared readers know no provider
                    raise
                for _ in chunks:
                    pass
            finally:
                response.close()

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

    def _send(
        self, method: str, path: str, *, json: Any, params: Mapping[str, str] | None, extensions: dict[str, Any]
    ) -> httpx.Response:
        """The response to one request, its body not read yet.

        ``handle_request`` is looked up on every call, so that vcrpy's patch of the transport class applies.
        """
        request = httpx.Request(method, self._url(path, params), headers=self._headers, json=json, extensions=extensions)
        response = self._transport.handle_request(request)
        response.request = request
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

    def _error(self, response: httpx.Response) -> LLMException:
        return self._map_error(response, read_error_detail(response, self._error_text, self.redact))

    def _parsed(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as error:
            msg = f"{self.target} answered HTTP {response.status_code} with a body that is not JSON"
            raise LLMResponseException(msg, provider=self.provider, status_code=response.status_code) from error
