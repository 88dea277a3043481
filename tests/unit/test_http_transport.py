"""The HTTP seam: Retry-After parsing, status classification, httpx error translation, redaction."""

from __future__ import annotations

import email.utils
import inspect
from typing import Any

import httpx
import pytest

from obra_llm.errors import (
    AuthenticationError,
    LLMConnectionException,
    LLMException,
    LLMResponseException,
    LLMTimeoutException,
    ModelNotFoundError,
    RateLimitError,
)
from obra_llm.transports.http import (
    ErrorReply,
    error_for_status,
    error_reply,
    parse_retry_after,
    redactor,
    safe_url,
    translate_transport_errors,
)

KEY = "sk-ant-api03-Hq2Lm9Xv7Tb4Nc1Rz8Wd"
REQUEST = httpx.Request("POST", "http://gpu-box:11434/ollama/api/chat")


def _response(status: int, *, headers: dict[str, str] | None = None, body: bytes = b"") -> httpx.Response:
    return httpx.Response(status, headers=headers, content=body, request=REQUEST)


def _reply(status: int, *, headers: dict[str, str] | None = None) -> ErrorReply:
    return error_reply(_response(status, headers=headers), lambda body: None, redactor())


# -- parse_retry_after -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "0"}, 0.0),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"retry-after-ms": "-5", "retry-after": "9"}, 9.0),
        ({"retry-after-ms": "-5"}, None),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "-1"}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after": ""}, None),
        ({"retry-after": "nan"}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_http_date_uses_the_injected_now() -> None:
    when = 1_445_412_480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    header = email.utils.formatdate(when, usegmt=True)
    assert header == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert parse_retry_after({"retry-after": header}, now=lambda: when - 30.0) == 30.0


def test_parse_retry_after_http_date_in_the_past_is_zero() -> None:
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=lambda: 2_000_000_000.0) == 0.0


def test_parse_retry_after_reads_httpx_headers_case_insensitively() -> None:
    assert parse_retry_after(httpx.Headers({"Retry-After-Ms": "100"})) == 0.1
    assert parse_retry_after(httpx.Headers({"RETRY-AFTER": "7"})) == 7.0


# -- error_for_status --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "retryable", "reason"),
    [
        (400, LLMResponseException, False, "Bad Request"),
        (401, AuthenticationError, False, "Unauthorized"),
        (403, AuthenticationError, False, "Forbidden"),
        (404, LLMResponseException, False, "Not Found"),
        (408, LLMResponseException, True, "Request Timeout"),
        (409, LLMResponseException, True, "Conflict"),
        (422, LLMResponseException, False, "Unprocessable Entity"),
        (429, RateLimitError, True, "Too Many Requests"),
        (500, LLMResponseException, True, "Internal Server Error"),
        (502, LLMResponseException, True, "Bad Gateway"),
        (503, LLMResponseException, True, "Service Unavailable"),
        (529, LLMResponseException, True, "error"),
    ],
)
def test_status_classification(status: int, kind: type[LLMException], retryable: bool, reason: str) -> None:
    error = error_for_status(_reply(status), provider="anthropic", detail="details here")
    assert type(error) is kind
    assert (error.retryable, error.status_code, error.provider, error.retry_after) == (retryable, status, "anthropic", None)
    assert error.message == f"HTTP {status} {reason} from /ollama/api/chat: details here"


@pytest.mark.parametrize(
    ("status", "header", "retryable"),
    [(400, "true", True), (503, "false", False), (429, "FALSE", False), (401, "True", True), (500, "maybe", True), (400, "", False)],
)
def test_x_should_retry_overrides_the_default(status: int, header: str, retryable: bool) -> None:
    error = error_for_status(_reply(status, headers={"x-should-retry": header}), provider="openai", detail="d")
    assert error.retryable is retryable


def test_explicit_retryable_overrides_x_should_retry() -> None:
    response = _reply(503, headers={"x-should-retry": "true"})
    assert error_for_status(response, provider="ollama", detail="d", retryable=False).retryable is False


def test_explicit_kind_overrides_the_class() -> None:
    error = error_for_status(_reply(404), provider="ollama", detail="model 'x' not found", kind=ModelNotFoundError)
    assert type(error) is ModelNotFoundError
    assert (error.retryable, error.status_code) == (False, 404)


def test_explicit_kind_keeps_default_retryability_of_the_status() -> None:
    error = error_for_status(_reply(429), provider="openai", detail="quota", kind=LLMResponseException)
    assert (type(error), error.retryable) == (LLMResponseException, True)


def test_retry_after_is_read_from_headers() -> None:
    error = error_for_status(_reply(429, headers={"retry-after": "4"}), provider="openai", detail="slow down")
    assert error.retry_after == 4.0


def test_explicit_retry_after_overrides_headers() -> None:
    response = _reply(429, headers={"retry-after": "4"})
    assert error_for_status(response, provider="gemini", detail="d", retry_after=12.0).retry_after == 12.0


# -- translate_transport_errors ----------------------------------------------------------


def _httpx_exception_classes() -> list[type[Exception]]:
    found = []
    for name in httpx.__all__:
        value = getattr(httpx, name)
        if isinstance(value, type) and issubclass(value, Exception):
            found.append(value)
    return found


def _instantiate(cls: type[Exception]) -> Exception:
    parameters = inspect.signature(cls.__init__).parameters
    kwargs: dict[str, Any] = {}
    if "request" in parameters:
        kwargs["request"] = REQUEST
    if "response" in parameters:
        kwargs["response"] = _response(500)
    args = ["synthetic failure"] if "message" in parameters else []
    return cls(*args, **kwargs)


def test_every_httpx_exception_class_is_found() -> None:
    names = {cls.__name__ for cls in _httpx_exception_classes()}
    assert {"HTTPError", "ConnectError", "ReadTimeout", "StreamClosed", "CookieConflict", "InvalidURL"} <= names
    assert len(names) >= 28


@pytest.mark.parametrize("cls", _httpx_exception_classes(), ids=lambda cls: cls.__name__)
def test_every_httpx_exception_is_translated_with_its_cause(cls: type[Exception]) -> None:
    original = _instantiate(cls)
    with pytest.raises(LLMException) as caught:
        with translate_transport_errors("ollama", target="http://gpu-box:11434", timeout=5.0):
            raise original
    assert caught.value.__cause__ is original
    assert caught.value.provider == "ollama"
    assert "http://gpu-box:11434" in caught.value.message


@pytest.mark.parametrize(
    ("cls", "kind", "retryable"),
    [
        (httpx.ConnectTimeout, LLMTimeoutException, True),
        (httpx.ReadTimeout, LLMTimeoutException, True),
        (httpx.WriteTimeout, LLMTimeoutException, True),
        (httpx.PoolTimeout, LLMTimeoutException, True),
        (httpx.ConnectError, LLMConnectionException, True),
        (httpx.ReadError, LLMConnectionException, True),
        (httpx.WriteError, LLMConnectionException, True),
        (httpx.RemoteProtocolError, LLMConnectionException, True),
        (httpx.ProxyError, LLMConnectionException, True),
        (httpx.UnsupportedProtocol, LLMConnectionException, False),
        (httpx.InvalidURL, LLMConnectionException, False),
        (httpx.DecodingError, LLMResponseException, False),
        (httpx.TooManyRedirects, LLMResponseException, False),
        (httpx.LocalProtocolError, LLMResponseException, False),
    ],
)
def test_translation_classes(cls: type[Exception], kind: type[LLMException], retryable: bool) -> None:
    with pytest.raises(LLMException) as caught:
        with translate_transport_errors("ollama", target="http://h", timeout=5.0):
            raise _instantiate(cls)
    assert (type(caught.value), caught.value.retryable) == (kind, retryable)


def test_timeout_message_names_target_and_seconds() -> None:
    with pytest.raises(LLMTimeoutException) as caught:
        with translate_transport_errors("ollama", target="http://h:1", timeout=2.5):
            raise httpx.ReadTimeout("timed out", request=REQUEST)
    assert str(caught.value) == "[ollama] no answer from http://h:1 within 2.5 s (ReadTimeout)"


def test_connect_error_message_suggests_checking_the_server() -> None:
    with pytest.raises(LLMConnectionException) as caught:
        with translate_transport_errors("ollama", target="http://h:1", timeout=2.5):
            raise httpx.ConnectError("[Errno 111] Connection refused", request=REQUEST)
    assert caught.value.message == "cannot connect to http://h:1: [Errno 111] Connection refused; is the server running?"


def test_non_httpx_errors_pass_through() -> None:
    with pytest.raises(KeyError):
        with translate_transport_errors("ollama", target="http://h", timeout=1.0):
            raise KeyError("bug")


# -- redaction and error details ---------------------------------------------------------


def test_error_reply_parses_the_body_once_and_keeps_it() -> None:
    reply = error_reply(_response(404, body=b'{"error": "gone"}'), lambda body: body.get("error"), redactor())
    assert (reply.status, reply.reason, reply.path, reply.body, reply.detail) == (
        404,
        "Not Found",
        "/ollama/api/chat",
        {"error": "gone"},
        "gone",
    )


def test_error_reply_of_a_body_that_is_not_json_has_no_parsed_body() -> None:
    reply = error_reply(_response(502, body=b"<html>bad gateway</html>"), lambda body: "never called", redactor())
    assert (reply.body, reply.detail) == (None, "<html>bad gateway</html>")


def test_redactor_masks_every_secret_longest_first() -> None:
    redact = redactor("abc", None, "", "abcdef")
    assert redact("x abcdef y abc z") == "x ********** y ********** z"


def test_redactor_without_secrets_is_identity() -> None:
    assert redactor()("Bearer sk-anything") == "Bearer sk-anything"


def test_error_detail_from_json() -> None:
    response = _response(404, body=b'{"error": "model \'x\' not found"}')
    assert error_reply(response, lambda body: body.get("error"), redactor()).detail == "model 'x' not found"


def test_error_detail_falls_back_to_raw_text() -> None:
    response = _response(502, body=b"  <html>bad gateway</html>\n")
    assert error_reply(response, lambda body: None, redactor()).detail == "<html>bad gateway</html>"


def test_error_detail_of_an_empty_body() -> None:
    assert error_reply(_response(500), lambda body: None, redactor()).detail == "(empty body)"


def test_error_detail_is_redacted() -> None:
    response = _response(401, body=f'{{"error": "invalid key {KEY}"}}'.encode())
    assert error_reply(response, lambda body: body["error"], redactor(KEY)).detail == "invalid key **********"


def test_error_detail_is_truncated() -> None:
    response = _response(500, body=b"e" * 600)
    assert error_reply(response, lambda body: None, redactor()).detail == "e" * 500 + "..."


def test_error_detail_never_leaks_part_of_a_secret_cut_by_truncation() -> None:
    response = _response(401, body=("e" * 480 + KEY).encode())
    detail = error_reply(response, lambda body: None, redactor(KEY)).detail
    assert KEY[:20] not in detail


# -- safe_url ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://localhost:11434", "http://localhost:11434"),
        ("https://user:pa55@gpu-box:11434/ollama", "https://**********@gpu-box:11434/ollama"),
        ("https://token@host/a@b", "https://**********@host/a@b"),
        ("http://a:b@c@host:1/", "http://**********@host:1/"),
        ("not a url", "not a url"),
    ],
)
def test_safe_url_masks_credentials(url: str, shown: str) -> None:
    assert safe_url(url) == shown
