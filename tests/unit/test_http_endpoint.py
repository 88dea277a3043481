"""``HttpEndpoint``: what each request carries, what it does not, and how the transport is chosen.

The endpoint builds requests itself and hands them to an httpx transport (no ``httpx.Client``),
so what the client used to guarantee is checked here: URLs under the base path, headers,
timeouts, no redirects, no cookies, environment proxies, and errors translated with their cause.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from obra_llm import __version__
from obra_llm.errors import ConfigError, LLMConnectionException
from obra_llm.transports.endpoint import HttpEndpoint, WireRequest
from obra_llm.transports.http import environment_proxy, safe_url
from tests.support.wire_server import Json, Reply, Request, WireServer

KEY = "sk-test-Hq2Lm9Xv7Tb4Nc1Rz8Wd"
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def _endpoint(
    handler: Callable[[httpx.Request], httpx.Response],
    *,
    base_url: str = "http://gpu-box:11434/ollama/",
    timeout: float = 120.0,
    headers: dict[str, str] | None = None,
) -> HttpEndpoint:
    return HttpEndpoint(
        provider="ollama",
        base_url=base_url,
        timeout=timeout,
        headers=headers,
        transport=httpx.MockTransport(handler),
    )


def _recording(seen: list[httpx.Request], reply: httpx.Response | None = None) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return reply if reply is not None else httpx.Response(200, json={"ok": True})

    return handle


@pytest.fixture
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for variable in _PROXY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    return monkeypatch


# -- what a request carries ---------------------------------------------------------------


def test_paths_are_joined_under_the_base_path_and_params_are_kept_apart() -> None:
    seen: list[httpx.Request] = []
    endpoint = _endpoint(_recording(seen))
    endpoint.send(WireRequest("/api/tags", method="GET"), timeout=120.0)
    endpoint.send(WireRequest("/api/chat", json={}, params={"alt": "sse"}), timeout=120.0)
    endpoint.send(WireRequest("/api/chat", json={}, params={"alt": "json"}), timeout=120.0)
    endpoint.send(WireRequest("/api/chat", json={}), timeout=120.0)
    assert [str(request.url) for request in seen] == [
        "http://gpu-box:11434/ollama/api/tags",
        "http://gpu-box:11434/ollama/api/chat?alt=sse",
        "http://gpu-box:11434/ollama/api/chat?alt=json",
        "http://gpu-box:11434/ollama/api/chat",
    ]


def test_headers_are_the_defaults_plus_the_providers_own() -> None:
    seen: list[httpx.Request] = []
    endpoint = _endpoint(_recording(seen), headers={"authorization": f"Bearer {KEY}", "accept": "text/event-stream"})
    endpoint.send(WireRequest("/api/chat", json={"model": "m", "prompt": "é"}), timeout=120.0)
    headers = seen[0].headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["accept"] == "text/event-stream"  # a provider's header wins over the default
    assert headers["user-agent"] == f"obra-llm/{__version__} httpx/{httpx.__version__}"
    assert headers["host"] == "gpu-box:11434"
    assert headers["content-type"] == "application/json"
    assert seen[0].content == '{"model":"m","prompt":"é"}'.encode()
    assert headers["content-length"] == str(len(seen[0].content))


def test_a_request_without_body_sends_none() -> None:
    seen: list[httpx.Request] = []
    _endpoint(_recording(seen)).send(WireRequest("/api/tags", method="GET"), timeout=120.0)
    assert seen[0].content == b""
    assert "content-type" not in seen[0].headers


def test_the_configured_timeout_caps_connecting_at_ten_seconds() -> None:
    seen: list[httpx.Request] = []
    _endpoint(_recording(seen), timeout=120.0).send(WireRequest("/api/tags", method="GET"), timeout=120.0)
    assert seen[0].extensions["timeout"] == {"connect": 10.0, "read": 120.0, "write": 120.0, "pool": 120.0}


def test_a_shorter_attempt_gets_its_own_timeout() -> None:
    seen: list[httpx.Request] = []
    endpoint = _endpoint(_recording(seen), timeout=120.0)
    endpoint.send(WireRequest("/api/tags", method="GET"), timeout=2.5)
    endpoint.send(WireRequest("/api/tags", method="GET"), timeout=120.0)
    assert seen[0].extensions["timeout"] == {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}
    assert seen[1].extensions["timeout"]["read"] == 120.0


def test_redirects_are_not_followed() -> None:
    seen: list[httpx.Request] = []
    endpoint = _endpoint(_recording(seen, httpx.Response(302, headers={"location": "http://elsewhere/"})))
    assert endpoint.send(WireRequest("/api/tags", method="GET"), timeout=120.0).status_code == 302
    assert len(seen) == 1


def test_cookies_are_neither_kept_nor_sent() -> None:
    seen: list[httpx.Request] = []
    endpoint = _endpoint(_recording(seen, httpx.Response(200, json={}, headers={"set-cookie": "session=abc; Path=/"})))
    endpoint.send(WireRequest("/api/tags", method="GET"), timeout=120.0)
    endpoint.send(WireRequest("/api/tags", method="GET"), timeout=120.0)
    assert "cookie" not in seen[1].headers


# -- errors -------------------------------------------------------------------------------


def test_a_transport_failure_is_translated_with_its_cause() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(LLMConnectionException) as caught:
        _endpoint(refuse).send(WireRequest("/api/tags", method="GET"), timeout=120.0)
    assert caught.value.message == "cannot connect to http://gpu-box:11434/ollama/: refused; is the server running?"
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_an_error_status_is_returned_unmapped_with_its_body_read() -> None:
    reply = httpx.Response(401, json={"error": "invalid key"})
    response = _endpoint(_recording([], reply)).send(WireRequest("/api/chat", json={}), timeout=120.0)
    assert (response.status_code, response.json(), response.is_closed) == (401, {"error": "invalid key"}, True)


def test_an_open_stream_yields_the_body_as_it_arrives_and_drains_the_rest() -> None:
    reply = httpx.Response(200, content=iter([b"one\n", b"two\n", b"three\n"]))
    opened = _endpoint(_recording([], reply)).open(WireRequest("/api/chat", json={}), timeout=120.0)
    chunks = opened.chunks()
    assert next(chunks) == b"one\n"
    opened.drain()
    opened.close()
    assert list(chunks) == [] and opened.response.is_closed


def test_a_failure_while_reading_a_stream_is_translated() -> None:
    def broken_body() -> Iterator[bytes]:
        yield b"partial"
        raise httpx.RemoteProtocolError("peer closed connection")

    opened = _endpoint(_recording([], httpx.Response(200, content=broken_body()))).open(WireRequest("/api/chat"), timeout=120.0)
    with pytest.raises(LLMConnectionException, match="connection to http://gpu-box:11434/ollama/ broke: peer closed"), opened.reading():
        list(opened.chunks())
    opened.close()


# -- proxies from the environment ------------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "url", "expected"),
    [
        ({}, "http://gpu-box:11434", None),
        ({"http_proxy": "http://proxy:3128"}, "http://gpu-box:11434", "http://proxy:3128"),
        ({"HTTP_PROXY": "proxy:3128"}, "http://gpu-box:11434", "http://proxy:3128"),
        ({"http_proxy": "http://proxy:3128"}, "https://api.anthropic.com", None),
        ({"https_proxy": "http://proxy:3128"}, "https://api.anthropic.com", "http://proxy:3128"),
        ({"all_proxy": "socks5://proxy:1080"}, "https://api.anthropic.com", "socks5://proxy:1080"),
        ({"https_proxy": "http://proxy:3128", "no_proxy": "anthropic.com"}, "https://api.anthropic.com", None),
        ({"https_proxy": "http://proxy:3128", "no_proxy": "other.com, .example"}, "https://api.anthropic.com", "http://proxy:3128"),
        ({"http_proxy": "http://proxy:3128", "no_proxy": "gpu-box:11434"}, "http://gpu-box:11434/ollama", None),
        ({"http_proxy": "http://proxy:3128", "no_proxy": "gpu-box:8080"}, "http://gpu-box:11434", "http://proxy:3128"),
        ({"http_proxy": "http://proxy:3128", "no_proxy": "::1"}, "http://[::1]:11434", None),
        ({"http_proxy": "http://proxy:3128", "no_proxy": "*"}, "http://gpu-box:11434", None),
    ],
)
def test_environment_proxy(
    no_proxy_environment: pytest.MonkeyPatch, environment: dict[str, str], url: str, expected: str | None
) -> None:
    for variable, value in environment.items():
        no_proxy_environment.setenv(variable, value)
    assert environment_proxy(url) == expected


class _Proxy(WireServer):
    """Answers every request itself, as a forward proxy that reached the origin would."""

    def route(self, request: Request) -> Reply:
        return Json(200, {"via": "proxy"})


def _tags_over_real_sockets(base_url: str) -> Any:
    """``GET /api/tags`` from an endpoint with its default transport (chosen from the environment)."""
    endpoint = HttpEndpoint(
        provider="ollama",
        base_url=base_url,
        timeout=5.0,
    )
    try:
        return endpoint.send(WireRequest("/api/tags", method="GET"), timeout=5.0).json()
    finally:
        endpoint.close()


def test_requests_go_through_the_proxy_the_environment_names(no_proxy_environment: pytest.MonkeyPatch) -> None:
    with _Proxy() as proxy:
        no_proxy_environment.setenv("HTTP_PROXY", proxy.url)
        body = _tags_over_real_sockets("http://llm.invalid:11434")
    assert body == {"via": "proxy"}
    assert [request.path for request in proxy.requests] == ["http://llm.invalid:11434/api/tags"]


def test_no_proxy_connects_directly(no_proxy_environment: pytest.MonkeyPatch) -> None:
    with _Proxy() as origin:
        no_proxy_environment.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        no_proxy_environment.setenv("NO_PROXY", "127.0.0.1")
        body = _tags_over_real_sockets(origin.url)
    assert body == {"via": "proxy"}
    assert [request.path for request in origin.requests] == ["/api/tags"]


@pytest.mark.parametrize(
    ("proxy", "problem"),
    [
        ("ftp://user:hunter2@proxy:21", "its scheme is not http, https, socks5 or socks5h"),
        ("socks5://proxy:1080", "a SOCKS proxy needs the socksio package (pip install 'httpx[socks]')"),
    ],
)
def test_an_unusable_proxy_is_a_config_error_naming_the_variable(
    no_proxy_environment: pytest.MonkeyPatch, proxy: str, problem: str
) -> None:
    no_proxy_environment.setenv("HTTPS_PROXY", proxy)
    with pytest.raises(ConfigError) as caught:
        _tags_over_real_sockets("https://api.example.com/v1")
    assert str(caught.value) == (
        f"the proxy {safe_url(proxy)} that HTTPS_PROXY or ALL_PROXY sets for https://api.example.com/v1 cannot be used: {problem}"
    )
    assert "hunter2" not in str(caught.value)
    assert caught.value.problems[0].endswith("@ $HTTPS_PROXY")
