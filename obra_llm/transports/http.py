"""The HTTP seam shared by every HTTP provider: connection pool, error translation, retry hints.

Providers build requests and parse bodies; everything about sockets, timeouts, statuses
and ``Retry-After`` is decided here, once.
"""

from __future__ import annotations

import base64
import email.utils
import functools
import json
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Literal, NamedTuple

import attrs
import httpx

from obra_llm import errors
from obra_llm.transports.deadline import DEADLINE_PASSED

__all__ = [
    "attempt_timeout",
    "environment_proxy",
    "error_for_status",
    "parse_retry_after",
    "pooled_transport",
    "ErrorReply",
    "error_reply",
    "redactor",
    "redirect_refused",
    "safe_url",
    "translate_transport_errors",
]

#: Statuses worth retrying, as the OpenAI and Anthropic SDKs decide (529 is >= 500).
_RETRYABLE_STATUSES = frozenset({408, 409, 429})
_MASK = "**********"
#: How much of an error body a message quotes.
_DETAIL_CHARS = 500


def pooled_transport(base_url: str) -> httpx.HTTPTransport:
    """The connection pool for one origin, through the proxy the environment names for it.

    ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` are honoured as
    ``httpx.Client`` honours them, decided once: a provider instance talks to one origin.
    """
    proxy = environment_proxy(base_url)
    try:
        return httpx.HTTPTransport(verify=_shared_tls_context(), proxy=proxy)
    except (ValueError, ImportError) as error:  # httpx: an unknown proxy scheme; SOCKS without socksio
        if isinstance(error, ImportError):
            problem = "a SOCKS proxy needs the socksio package (pip install 'httpx[socks]')"
        else:
            problem = "its scheme is not http, https, socks5 or socks5h"
        variable = f"{httpx.URL(base_url).scheme.upper()}_PROXY"
        msg = f"the proxy {safe_url(str(proxy))} that {variable} or ALL_PROXY sets for {safe_url(base_url)} cannot be used: {problem}"
        raise errors.ConfigError(msg, problems=[f"{msg} @ ${variable}"]) from error


def environment_proxy(url: str) -> str | None:
    """The proxy URL the environment sets for ``url``, or ``None`` to connect directly."""
    parsed = httpx.URL(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parsed.scheme) or proxies.get("all")
    if not proxy:
        return None
    # The host alone too: urllib cannot split the port off a bracketed IPv6 address.
    if urllib.request.proxy_bypass(parsed.netloc.decode("ascii")) or urllib.request.proxy_bypass(parsed.host):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def attempt_timeout(seconds: float) -> httpx.Timeout:
    """Read/write/pool timeouts of ``seconds``; connecting gets at most 10 s of them."""
    return httpx.Timeout(seconds, connect=min(seconds, 10.0))


@functools.cache
def _shared_tls_context() -> ssl.SSLContext:
    """One verified TLS context for every transport: building one costs tens of milliseconds."""
    return httpx.create_ssl_context()


def safe_url(url: str) -> str:
    """``url`` fit to show: any ``user:password@`` part is masked."""
    scheme, separator, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if separator and "@" in authority:
        authority = _MASK + "@" + authority.rsplit("@", 1)[1]
    return f"{scheme}{separator}{authority}{slash}{path}" if separator else url


def redactor(*secrets: str | None) -> Callable[[str], str]:
    """A function that masks every given secret (and nothing else) in a text.

    Each secret also in the forms a server may echo it in: base64 (standard and URL-safe,
    padded or not) and URL-encoded.
    """
    values = sorted({form for secret in secrets if secret for form in _echo_forms(secret)}, key=len, reverse=True)

    def redact(text: str) -> str:
        for value in values:
            text = text.replace(value, _MASK)
        return text

    return redact


def _echo_forms(secret: str) -> set[str]:
    raw = secret.encode()
    encoded = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    return {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)} | encoded | {
        form.rstrip("=") for form in encoded
    }


def translate_transport_errors(provider: str, *, target: str, timeout: float) -> _TransportErrors:
    """A context that turns every ``httpx`` failure into the matching ``LLMException``.

    The cause is kept (``raise ... from``). ``target`` names what was being reached (a URL
    without secrets) for the message. A plain class, not ``@contextmanager``: it runs on
    every call, and a generator-based context costs several frames each time.
    """
    return _TransportErrors(provider, target, timeout)


@attrs.define
class _TransportErrors:
    provider: str
    target: str
    timeout: float

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: object) -> Literal[False]:
        if isinstance(error, _HTTPX_FAILURES):
            raise self._translate(error) from error
        return False

    def _translate(self, error: BaseException) -> errors.LLMException:
        provider, target = self.provider, self.target
        detail = str(error) or type(error).__name__
        if isinstance(error, httpx.TimeoutException):
            if detail == DEADLINE_PASSED:
                msg = f"{target} did not send its whole answer within {self.timeout:g} s (the timeout bounds an attempt from its start to its last byte)"
            else:
                msg = f"no answer from {target} within {self.timeout:g} s ({type(error).__name__})"
            return errors.LLMTimeoutException(msg, provider=provider)
        if isinstance(error, httpx.ConnectError):
            return errors.LLMConnectionException(f"cannot connect to {target}: {detail}; is the server running?", provider=provider)
        if isinstance(error, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return errors.LLMConnectionException(f"cannot use URL {target}: {detail}", provider=provider, retryable=False)
        if isinstance(error, httpx.NetworkError | httpx.RemoteProtocolError | httpx.ProxyError):
            return errors.LLMConnectionException(f"connection to {target} broke: {detail}", provider=provider)
        if isinstance(error, httpx.DecodingError | httpx.TooManyRedirects | httpx.LocalProtocolError | httpx.HTTPStatusError):
            return errors.LLMResponseException(f"unusable response from {target}: {detail}", provider=provider)
        return errors.LLMConnectionException(f"request to {target} failed: {detail}", provider=provider)


_HTTPX_FAILURES = (httpx.HTTPError, httpx.StreamError, httpx.InvalidURL, httpx.CookieConflict)


def parse_retry_after(headers: Mapping[str, str], *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, then ``retry-after``.

    ``retry-after`` may be seconds or an HTTP date. Unparseable or negative hints are
    ignored (``None``), as the OpenAI and Anthropic SDKs do.
    """
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            value = float(milliseconds) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0:
            return value
    header = headers.get("retry-after")
    if header is None:
        return None
    try:
        seconds = float(header)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - now()
        return max(seconds, 0.0)
    return seconds if seconds >= 0 else None


class ErrorReply(NamedTuple):
    """A non-2xx answer, read once: what every provider's error mapping receives.

    ``body`` is the parsed JSON (``None`` when the body is not JSON); ``detail`` is the
    readable error text (the provider's own message when it has one, else the raw body),
    already redacted and truncated.
    """

    status: int
    reason: str
    headers: httpx.Headers
    path: str
    body: Any
    detail: str


def error_reply(response: httpx.Response, extract: Callable[[Any], str | None], redact: Callable[[str], str]) -> ErrorReply:
    """The ``ErrorReply`` of a read error ``response``: its body parsed once, its text via ``extract``."""
    raw = response.content.decode("utf-8", errors="replace")
    try:
        body: Any = json.loads(raw) if raw.strip() else None
    except ValueError:
        body = None
    text = extract(body) if body is not None else None
    detail = redact(text if text else (raw.strip() or "(empty body)"))
    detail = detail if len(detail) <= _DETAIL_CHARS else detail[:_DETAIL_CHARS] + "..."
    return ErrorReply(response.status_code, response.reason_phrase or "error", response.headers, response.request.url.path, body, detail)


def redirect_refused(response: httpx.Response) -> errors.LLMResponseException:
    """The error for a 3xx answer: never an answer, never followed, never retried.

    Names only the origin the ``Location`` points to (scheme, host, port): its path and
    query may carry a token, and its userinfo a password.
    """
    location = response.headers.get("location")
    where = "without a Location"
    if location:
        try:
            target = response.request.url.join(location)
            origin = f"{target.scheme}://{target.host}" + (f":{target.port}" if target.port else "")
        except (httpx.InvalidURL, ValueError):
            origin = "an address that is not a valid URL"
        where = f"to {origin}"
    msg = (
        f"HTTP {response.status_code} {response.reason_phrase or 'redirect'} from {response.request.url.path}: a redirect "
        f"{where}, not followed (nothing is sent there): set the base URL to the address that answers"
    )
    return errors.LLMResponseException(msg, status_code=response.status_code, retryable=False)


def error_for_status(
    reply: ErrorReply,
    *,
    provider: str,
    detail: str | None = None,
    kind: type[errors.LLMException] | None = None,
    retryable: bool | None = None,
    retry_after: float | None = None,
) -> errors.LLMException:
    """The exception for a non-2xx ``reply``; providers may override text, kind and retryability.

    The default classes: 401/403 authentication (not retried); 429 rate limit, 408, 409 and
    5xx retried; any other status a non-retried response error. ``x-should-retry`` from the
    server overrides the default, and a provider's explicit ``retryable`` overrides both.
    """
    status = reply.status
    default_kind, default_retryable = _classify(status)
    should_retry = reply.headers.get("x-should-retry", "").lower()
    if should_retry in ("true", "false"):
        default_retryable = should_retry == "true"
    hint = retry_after if retry_after is not None else parse_retry_after(reply.headers)
    msg = f"HTTP {status} {reply.reason} from {reply.path}: {reply.detail if detail is None else detail}"
    return (kind or default_kind)(
        msg,
        provider=provider,
        status_code=status,
        retryable=default_retryable if retryable is None else retryable,
        retry_after=hint,
    )


def _classify(status: int) -> tuple[type[errors.LLMException], bool]:
    if status in (401, 403):
        return errors.AuthenticationError, False
    if status == 429:
        return errors.RateLimitError, True
    return errors.LLMResponseException, status in _RETRYABLE_STATUSES or status >= 500
