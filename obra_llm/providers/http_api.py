"""The ``LLMPlugin`` methods once, for every HTTP provider; each provider supplies a wire.

``HttpLLM`` does everything that is not translation the same way for every HTTP API:
settings, the pooled endpoint, retries and metrics, mapping a non-2xx answer (read and
parsed once, then handed to the wire), feeding a stream's bytes to the wire, availability,
model info and closing. The call path runs one way: ``HttpLLM`` -> ``CallRunner`` ->
``HttpEndpoint`` -> the httpx transport; the endpoint returns responses and knows no
provider. A provider module then holds its wire and a two-line class binding it::

    class AnthropicLLM(HttpLLM[AnthropicSettings]):
        wire = AnthropicWire()
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Generator, Mapping
from typing import Any, ClassVar, Generic, Literal, TypedDict, TypeVar, Unpack

import attrs
import httpx

from obra_llm.calls import CallRunner, Completion, StreamItems, untranslated
from obra_llm.config.convert import parse_settings
from obra_llm.config.settings import CommonSettings
from obra_llm.errors import LLMConnectionException, LLMException, LLMResponseException
from obra_llm.options import Call, resolve_call
from obra_llm.protocol import GenerateOptions, ModelInfo, ProviderKind
from obra_llm.providers.http_wire import HttpSettings, HttpWire
from obra_llm.providers.lifecycle import PROBE_TIMEOUT, Lifecycle
from obra_llm.redaction import redacted
from obra_llm.retry import RetryPolicy
from obra_llm.structured import Answer, refuse_streamed, structured_call
from obra_llm.transports.endpoint import HttpEndpoint, WireRequest
from obra_llm.transports.http import error_reply, redactor, redirect_refused

__all__ = ["PROBE_TIMEOUT", "HttpLLM", "Seams"]

logger = logging.getLogger(__name__)

S = TypeVar("S", bound=HttpSettings)

#: Seconds a model list may take (a hosted API's full list is bigger than a probe's answer).
LIST_TIMEOUT = 10.0


class Seams(TypedDict, total=False):
    """What tests (and unusual deployments) may inject into an HTTP provider."""

    transport: httpx.BaseTransport
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    environ: Mapping[str, str]


class HttpLLM(Lifecycle["_Ready[S]"], Generic[S]):
    """An HTTP API provider: the ``LLMPlugin`` methods over the class's ``wire``.

    The constructor does no I/O; ``initialize`` validates the config, resolves credentials
    and builds the pooled client; calls are retried per policy and counted in ``metrics``.
    """

    wire: ClassVar[HttpWire[Any]]
    #: The settings class (the wire's), for the registry and docs.
    settings_type: ClassVar[type[CommonSettings]]
    kind: ClassVar[ProviderKind] = "http"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "wire" in cls.__dict__:
            cls.settings_type = cls.wire.settings_type

    def __init__(self, **seams: Unpack[Seams]) -> None:
        self._transport = seams.get("transport")
        self._clock = seams.get("clock", time.monotonic)
        self._sleep = seams.get("sleep", time.sleep)
        self._environ = seams.get("environ")
        self._state: _Ready[S] | None = None
        self._closed = False
        self._info: ModelInfo | None = None

    def __repr__(self) -> str:
        state = self._state
        shown = f"model={state.settings.model!r}, endpoint={state.endpoint.target!r}" if state else "uninitialized"
        return f"{type(self).__name__}({shown})"

    # -- the LLMPlugin interface -------------------------------------------------------

    def initialize(self, config: Mapping[str, Any], /) -> None:
        """Validate ``config``, resolve credentials and build the HTTP client; nothing is sent."""
        wire = self.wire
        settings = self._settings(config)
        access = wire.access(settings, os.environ if self._environ is None else self._environ)
        self.close()
        endpoint = HttpEndpoint(
            provider=wire.provider,
            base_url=access.base_url,
            timeout=settings.timeout,
            headers=access.headers,
            transport=self._transport,
            max_body_bytes=settings.max_response_bytes,
            max_line_bytes=settings.max_line_bytes,
        )
        policy = RetryPolicy.from_settings(settings, timeout=settings.timeout)
        calls = CallRunner(policy, clock=self._clock, sleep=self._sleep)
        redact = redactor(*access.secrets)
        self._state = _Ready(settings, endpoint, calls, redact, _provider_named(wire.provider, redact))
        self._closed = False
        self._info = None
        logger.debug("%s provider ready: model %s at %s", wire.provider, settings.model, endpoint.target)

    def generate(self, prompt: str, /, **options: Unpack[GenerateOptions]) -> str:
        """The whole answer to ``prompt`` (one non-streamed request, retried per policy).

        With ``json_schema`` the answer is the validated JSON text (``obra_llm.structured``).
        """
        state, call = self._call(options)
        if call.json_schema is None:
            return state.calls.complete(self._attempt(state, call, prompt), timeout=call.timeout).text
        return self._structured(state, call, call.json_schema, prompt).text

    def generate_structured(self, prompt: str, schema: Mapping[str, Any], /, **options: Unpack[GenerateOptions]) -> Any:
        """The parsed JSON value of an answer conforming to ``schema`` (``SupportsStructured``)."""
        state, call = self._call({**options, "json_schema": schema})
        return self._structured(state, call, schema, prompt).value

    def _structured(self, state: _Ready[S], call: Call, schema: Mapping[str, Any], prompt: str) -> Answer:
        return structured_call(
            state.calls, schema, prompt, mode=self.wire.structured_mode, repairs=state.settings.structured_repairs,
            provider=self.wire.provider, timeout=call.timeout, ask=lambda text: self._attempt(state, call, text),
        )

    def generate_stream(self, prompt: str, /, **options: Unpack[GenerateOptions]) -> Generator[str, None, None]:
        """Yield the answer as the API streams it; options are checked before any I/O."""
        state, call = self._call(options)
        refuse_streamed(call.json_schema, self.wire.provider)
        request = self.wire.chat(state.settings, prompt, call, stream=True)
        return state.calls.stream(lambda left: self._stream(state, request, min(call.timeout, left)), timeout=call.timeout)

    @property
    def provider_name(self) -> str:
        return self.wire.provider

    def availability_problem(self) -> str | None:
        """Why calls cannot succeed now (with the fix), or ``None`` when they can."""
        state = self._ready()
        probe = self.wire.probe(state.settings)
        try:
            body = self._request(state, probe, PROBE_TIMEOUT)
        except LLMConnectionException as error:
            return f"{error.message} ({self.wire.identity.unreachable_hint})"
        except LLMException as error:
            return f"{state.endpoint.target}{probe.path} failed: {error.message}"
        problem = self.wire.probe_problem(body, state.settings)  # made from a 200 body: outside the boundary
        return None if problem is None else state.redact(problem)

    def list_models(self) -> list[str] | None:
        """The model ids the server offers (one request), or ``None`` when the API lists none."""
        state = self._ready()
        request = self.wire.list_request(state.settings)
        if request is None:
            return None
        names = self.wire.model_names(self._request(state, request, min(state.settings.timeout, LIST_TIMEOUT)))
        return [state.redact(name) for name in names]

    def get_model_info(self) -> ModelInfo:
        """Model name, endpoint and context length (from the API where it says, else a table)."""
        state = self._ready()
        if self._info is not None:
            return self._info
        request = self.wire.model_request(state.settings)
        body: Any | None = None
        failed = False
        if request is not None:
            try:
                body = self._request(state, request, PROBE_TIMEOUT)
            except LLMException as error:
                logger.debug("%s model info request failed, using fallbacks: %s", self.wire.provider, error)
                failed = True
        facts = self.wire.model_facts(body, state.settings)
        info: ModelInfo = {
            "provider": self.wire.provider,
            "model_name": state.settings.model,
            "type": self.kind,
            "execution_mode": "http",
            "context_length": facts.context_length,
            "endpoint": state.endpoint.target,
            "details": redacted({**facts.details, "structured": self.wire.structured_mode.name}, state.redact),
        }
        if not failed:
            self._info = info
        return info

    def estimate_tokens(self, text: str, /) -> int:
        """Offline estimate; see the provider's wire for what it approximates."""
        return self.wire.estimate_tokens(text, self._state.settings if self._state else None)

    @classmethod
    def count_tokens(cls, text: str, config: Mapping[str, Any], /) -> int:
        """``estimate_tokens`` for ``config``'s model without ``initialize``: no key, no connection needed."""
        return cls.wire.estimate_tokens(text, cls._settings(config))

    @classmethod
    def _settings(cls, config: Mapping[str, Any]) -> S:
        """``config`` validated, the provider's default model filled in (no key resolved, nothing sent)."""
        wire = cls.wire
        settings: S = parse_settings(wire.settings_type, config, provider=wire.provider)
        return settings if settings.model else attrs.evolve(settings, model=wire.identity.default_model)

    def close(self) -> None:
        """Close the HTTP connection pool; ``initialize`` makes the provider usable again."""
        if self._state is not None and not self._closed:
            self._state.endpoint.close()
        super().close()

    # -- one request, one way down and back ------------------------------------------------

    def _call(self, options: GenerateOptions) -> tuple[_Ready[S], Call]:
        """The ready state and this call's resolved options (checked before any I/O)."""
        state = self._ready()
        return state, resolve_call(state.settings, self.wire.check_options(options, state.settings))

    def _attempt(self, state: _Ready[S], call: Call, prompt: str) -> Callable[[float], Completion]:
        """One non-streamed attempt at ``prompt``; its request is built now, so a bad one fails before sending."""
        request = self.wire.chat(state.settings, prompt, call, stream=False)
        process = self.wire.process_response

        def attempt(left: float) -> Completion:
            with state.boundary:
                return process(self._request(state, request, min(call.timeout, left)))

        return attempt

    def _request(self, state: _Ready[S], request: WireRequest, timeout: float) -> Any:
        """The parsed JSON body of a 2xx answer to ``request``; anything else raises."""
        with state.boundary:
            response = state.endpoint.send(request, timeout=timeout)
            if not response.is_success:
                raise self._error(state, response)
            try:
                return response.json()
            except ValueError as error:
                msg = f"{state.endpoint.target} answered HTTP {response.status_code} with a body that is not JSON"
                raise LLMResponseException(msg, status_code=response.status_code) from error

    def _stream(self, state: _Ready[S], request: WireRequest, timeout: float) -> StreamItems:
        """The wire's stream items from a streamed answer; the rest of the body is drained for reuse."""
        with state.boundary:
            opened = state.endpoint.open(request, timeout=timeout)
            try:
                if not opened.response.is_success:
                    raise self._error(state, opened.read())
                with opened.reading():
                    for item in self.wire.process_stream(opened.chunks()):
                        if item:  # a text piece or the end; "" is a keep-alive's nothing
                            yield item
                            opened.progressed()  # the next piece's wait starts now: the caller's pause is not the server's
                opened.drain()
            finally:
                opened.close()

    def _error(self, state: _Ready[S], response: httpx.Response) -> LLMException:
        """The wire's exception for a non-2xx ``response`` (its body already read), parsed once; a 3xx is refused."""
        if 300 <= response.status_code < 400:
            return redirect_refused(response)
        return self.wire.map_error(error_reply(response, self.wire.error_text, state.redact), state.settings)



@attrs.define
class _provider_named:
    """The one boundary every failure of a request leaves through: the provider name attached, secrets masked.

    An ``LLMException`` gets the provider (when it has none) and its message and notes
    redacted (the key, and its base64 and URL-encoded forms: a server may echo any of them
    in a body, a stream line or an error event). Any other ``Exception`` leaves as an
    ``LLMException`` with its text redacted and the original's chain dropped.
    """

    provider: str
    redact: Callable[[str], str]

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: object) -> Literal[False]:
        if isinstance(error, LLMException):
            if not error.provider:
                error.provider = self.provider
            message = self.redact(error.message)
            if message != error.message:
                error.message, error.args = message, (message,)
            notes = getattr(error, "__notes__", None)
            if notes:
                error.__notes__ = [self.redact(note) for note in notes]
        elif error is not None and untranslated(error):
            msg = self.redact(f"unexpected {type(error).__name__} during the call: {error}")
            raise LLMException(msg, provider=self.provider, retryable=False) from None
        return False


@attrs.frozen
class _Ready(Generic[S]):
    """What ``initialize`` builds once: validated settings, the endpoint, the call runner, the
    redactor, and the boundary every request's failure leaves through."""

    settings: S
    endpoint: HttpEndpoint
    calls: CallRunner
    redact: Callable[[str], str]
    boundary: _provider_named
