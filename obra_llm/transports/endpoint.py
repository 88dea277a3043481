"""``HttpEndpoint``: one provider instance's pooled connection to its HTTP API.

Everything an HTTP provider does per request that is not translation lives here once:
the client, per-attempt timeouts, error translation, reading error bodies, and streams
that are read to their end so that the connection goes back to the pool.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import httpx

from obra_llm.errors import LLMException, LLMResponseException
from obra_llm.transports.http import (
    attempt_timeout,
    build_client,
    read_error_detail,
    redactor,
    safe_url,
    translate_transport_errors,
)

__all__ = ["ErrorMapper", "HttpEndpoint"]

T = TypeVar("T")

#: A budget this close to the configured timeout is the configured timeout: the client's own
#: ``Timeout`` and error translator are reused instead of being built for every request.
_SAME_TIMEOUT = 0.05

#: Builds the exception for a non-2xx response: ``(response, detail) -> exception``.
ErrorMapper = Callable[[httpx.Response, str], LLMException]


class HttpEndpoint:
    """A base URL, its credentials and a pooled, thread-safe client, for one provider instance."""

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
        self._client = build_client(base_url=base_url, timeout=timeout, headers=headers, transport=transport)
        self._timeout = timeout
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
        errors, timeout_argument = self._per_attempt(timeout)
        with errors:
            response = self._client.request(method, path, json=json, params=params, **timeout_argument)
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
        errors, timeout_argument = self._per_attempt(timeout)
        with errors:
            request = self._client.build_request("POST", path, json=json, params=params, **timeout_argument)
            response = self._client.send(request, stream=True)
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
        self._client.close()

    def _per_attempt(self, seconds: float) -> tuple[AbstractContextManager[None], dict[str, Any]]:
        """The error translator and the ``timeout=`` argument for an attempt of ``seconds``.

        The configured timeout (give or take what a retry loop's clock ate) reuses the
        client's own timeout and a prebuilt translator: nothing is built per request.
        """
        if abs(seconds - self._timeout) < _SAME_TIMEOUT:
            return self._errors, {}
        errors = translate_transport_errors(self.provider, target=self.target, timeout=seconds)
        return errors, {"timeout": attempt_timeout(seconds)}

    def _error(self, response: httpx.Response) -> LLMException:
        return self._map_error(response, read_error_detail(response, self._error_text, self.redact))

    def _parsed(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as error:
            msg = f"{self.target} answered HTTP {response.status_code} with a body that is not JSON"
            raise LLMResponseException(msg, provider=self.provider, status_code=response.status_code) from error
