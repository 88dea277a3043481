"""What an HTTP provider declares: its identity (data) and its wire (translation, with defaults).

``Identity`` is who a provider is: name, label, default base URL, default model, where its
key comes from and how it is sent, its docs. ``HttpWire`` is the translation between
obra_llm and one HTTP API; a subclass overrides only what differs from the defaults here
(option limits, token estimation, model-info request, error text). ``HttpLLM``
(``obra_llm.providers.http_api``) reads both and does all the I/O.

Keys go only where they belong: a provider's key variables are read only when the request
goes to that provider's own default origin. A custom ``base_url`` gets a key only from
``api_key`` or ``api_key_env`` in the config, so ``type: openai`` pointed at another vendor
can never send ``$OPENAI_API_KEY`` there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

import attrs
import httpx

from obra_llm.calls import Completion, StreamItems
from obra_llm.config.constraints import MAX_COUNT, between, env_variable, header_value, http_url, is_header_safe
from obra_llm.config.secret import Secret
from obra_llm.config.settings import CommonSettings
from obra_llm.errors import AuthenticationError, ConfigError, LLMException, LLMResponseException
from obra_llm.options import ALL_OPTIONS, Call, options_refused, validate_options
from obra_llm.protocol import GenerateOptions
from obra_llm.structured import INSTRUCTIONS, StructuredMode
from obra_llm.tokens import estimate_tokens
from obra_llm.transports.endpoint import MAX_BODY_BYTES, MAX_LINE_BYTES, WireRequest
from obra_llm.transports.http import ErrorReply, error_for_status, safe_url

__all__ = ["Access", "HttpSettings", "HttpWire", "Identity", "ModelFacts", "ModelListing", "answer_object", "resolve_key"]

logger = logging.getLogger(__name__)

S = TypeVar("S", bound="HttpSettings")

#: How many models ``list_models`` asks for: its one request gets one page, up to this many.
_LIST_PAGE_SIZE = 1000


@attrs.frozen(kw_only=True)
class Identity:
    """Who an HTTP provider is, declared once and read by the shared code.

    ``key_variables`` are the environment variables its key is read from (first set wins),
    only for requests to ``base_url``'s origin; ``key_header`` and ``key_scheme`` say how the
    key travels (``authorization: Bearer <key>``, or ``x-api-key: <key>`` with an empty
    scheme). ``key_required`` is false for servers that run without a key.
    """

    name: str
    label: str
    base_url: str
    default_model: str
    docs: str
    key_variables: tuple[str, ...] = ()
    key_header: str = "authorization"
    key_scheme: str = "Bearer"
    key_required: bool = True
    unreachable_hint: str = "check base_url and the network"

    def url(self, settings: HttpSettings) -> str:
        """The base URL a provider with ``settings`` talks to."""
        return settings.base_url or self.base_url

    def is_home(self, url: str) -> bool:
        """Whether ``url`` is on this provider's own default origin (scheme, host and port)."""
        return _origin(url) == _origin(self.base_url)

    def key_hint(self) -> str:
        """How to give a key, for error messages."""
        variables = " or ".join(f"${name}" for name in self.key_variables)
        return f"api_key / api_key_env in the llm config{f', or {variables}' if variables else ''}"


@attrs.frozen(kw_only=True)
class HttpSettings(CommonSettings):
    """Keys every HTTP provider accepts: where the API is and where its key comes from.

    ``base_url`` unset means the provider's default (``endpoint`` and ``api_url`` are old
    names of it). ``api_key`` is the key itself (``${VAR}`` references work);
    ``api_key_env`` names a variable to read it from instead. ``max_response_bytes`` bounds
    a whole answer's decoded body (64 MiB), ``max_line_bytes`` one line of a stream (16 MiB).
    """

    base_url: str | None = attrs.field(default=None, metadata=http_url())
    max_response_bytes: int = attrs.field(default=MAX_BODY_BYTES, metadata=between(1024, MAX_COUNT))
    max_line_bytes: int = attrs.field(default=MAX_LINE_BYTES, metadata=between(1024, MAX_COUNT))
    api_key: Secret | None = attrs.field(default=None, metadata=header_value())
    api_key_env: str | None = attrs.field(default=None, metadata=env_variable())


@attrs.frozen
class Access:
    """Where a provider's API is and how to authenticate: headers, and the secrets in them."""

    base_url: str
    headers: Mapping[str, str] = attrs.Factory(dict)
    secrets: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class ModelListing:
    """Where an API lists its models: the probe asks it for one entry, ``list_models`` for a full page.

    ``key`` is the answer's field holding the entries (``key_optional``: an empty list may be
    left out, as Gemini's is) and ``id_field`` each entry's field holding the model's id;
    ``page_size_param`` is the query parameter bounding a page (``None``: the whole list comes back).
    """

    path: str
    key: str
    id_field: str = "id"
    page_size_param: str | None = None
    key_optional: bool = False

    def request(self, page_size: int) -> WireRequest:
        """The GET for a page of at most ``page_size`` entries (the whole list where the API does not page)."""
        params = {self.page_size_param: str(page_size)} if self.page_size_param else None
        return WireRequest(self.path, method="GET", params=params)

    def names(self, body: Any) -> list[str]:
        """The string ``id_field`` of each entry under ``key``: the model ids, whatever the API calls them."""
        entries = body.get(self.key) if isinstance(body, Mapping) else None
        if not isinstance(entries, list):
            return []
        field = self.id_field
        return [entry[field] for entry in entries if isinstance(entry, Mapping) and isinstance(entry.get(field), str)]


@attrs.frozen
class ModelFacts:
    """What the API says about the model; ``context_length`` ``None`` when it does not say."""

    context_length: int | None
    details: Mapping[str, Any] = attrs.Factory(dict)


def resolve_key(identity: Identity, settings: HttpSettings, environ: Mapping[str, str]) -> str | None:
    """The key to send, or ``None`` to send none; ``ConfigError`` when a required key is missing.

    In order: ``api_key``; the variable ``api_key_env`` names; the provider's own variables,
    only when the base URL is the provider's default origin.
    """
    if settings.api_key is not None and settings.api_key.reveal():
        return settings.api_key.reveal()
    if settings.api_key_env:
        return _key_from(settings.api_key_env, environ, required=True, provider=identity.name, path="$.api_key_env")
    url = identity.url(settings)
    if identity.is_home(url):
        for variable in identity.key_variables:
            key = _key_from(variable, environ, required=False, provider=identity.name, path=f"${variable}")
            if key:
                return key
    if not identity.key_required:
        return None
    if not identity.is_home(url):
        logger.debug("%s: no key configured for %s, sending none", identity.name, safe_url(url))
        return None
    variables = identity.key_variables or ("THE_KEY",)
    msg = (
        f"no API key for {identity.name}: set {' or '.join(variables)}, or api_key: ${{{variables[0]}}} "
        "in the llm config (api_key_env: NAME reads another variable)"
    )
    raise ConfigError(msg, problems=[f"{msg} @ $.api_key"])


def _key_from(variable: str, environ: Mapping[str, str], *, required: bool, provider: str, path: str) -> str | None:
    value = environ.get(variable)
    if value and not is_header_safe(value):
        msg = f"the API key in {variable} is not printable ASCII, so it cannot be sent in an HTTP header (value hidden)"
        raise ConfigError(msg, problems=[f"{msg} @ {path}"])
    if not value and required:
        msg = f"api_key_env names {variable}, which is not set (or empty) in the environment of {provider}"
        raise ConfigError(msg, problems=[f"{msg} @ {path}"])
    return value or None


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host, parsed.port


def answer_object(body: Any, *, label: str, provider: str) -> dict[str, Any]:
    """``body`` when the API answered with a JSON object, as every API here does; else a clear error."""
    if not isinstance(body, dict):
        msg = f"{label} answered with JSON that is not an object: {type(body).__name__}"
        raise LLMResponseException(msg, provider=provider)
    return body


class HttpWire(Generic[S]):
    """Translation between obra_llm and one HTTP API. No I/O: ``HttpLLM`` sends and receives.

    Subclasses declare ``identity``, ``settings_type`` and ``model_listing`` and implement
    ``chat``, ``process_response`` and ``process_stream``; everything else has a default
    that fits most APIs.
    """

    identity: Identity
    settings_type: type[S]
    #: The ``generate()`` options the API can honour; others are refused, never dropped.
    supported_options: frozenset[str] = ALL_OPTIONS
    temperature_range: tuple[float, float] = (0.0, 2.0)
    #: The most stop sequences a request may carry (``None``: no documented limit).
    max_stop: int | None = None
    #: The model list: a one-entry page of it is the probe, a full page ``list_models``.
    model_listing: ModelListing
    #: Context windows by model-id prefix, for APIs that do not state them.
    context_lengths: Mapping[str, int] = {}
    #: How ``chat`` sends a call's ``json_schema``: the API's constrained mode, or instructions in the prompt.
    structured_mode: StructuredMode = INSTRUCTIONS

    @property
    def provider(self) -> str:
        """The provider's name, in errors and metrics."""
        return self.identity.name

    # -- the request ---------------------------------------------------------------------------

    def access(self, settings: S, environ: Mapping[str, str]) -> Access:
        """Base URL, headers and secrets: the key (``resolve_key``) plus ``extra_headers``."""
        identity = self.identity
        key = resolve_key(identity, settings, environ)
        headers = dict(self.extra_headers(settings))
        if key is not None:
            headers[identity.key_header] = f"{identity.key_scheme} {key}" if identity.key_scheme else key
        return Access(identity.url(settings), headers, (key,) if key else ())

    def extra_headers(self, settings: S) -> Mapping[str, str]:
        """Headers every request carries besides the key (an API version, say)."""
        return {}

    def check_options(self, options: Mapping[str, Any], settings: S) -> GenerateOptions:
        """Validate per-call options against the declared limits and ``option_problems``; reject (never drop) the rest."""
        checked = validate_options(
            options,
            provider=self.provider,
            supported=self.supported_options,
            temperature_range=self.temperature_range,
            max_stop=self.max_stop,
        )
        problems = self.option_problems(checked)
        if problems:
            raise options_refused(self.provider, problems)
        return checked

    def option_problems(self, options: GenerateOptions) -> list[str]:
        """What the API refuses among options that pass the shared checks (``name=value: reason`` each)."""
        return []

    def chat(self, settings: S, prompt: str, call: Call, *, stream: bool) -> WireRequest:
        """The generation request (streamed or not) for ``prompt`` under ``call``'s options."""
        raise NotImplementedError

    def probe(self, settings: S) -> WireRequest:
        """The cheapest authenticated request, for ``is_available``: a one-entry page of the model list."""
        return self.model_listing.request(page_size=1)

    def list_request(self, settings: S) -> WireRequest | None:
        """The request listing the server's models (``obra-llm models``; ``None``: it lists none)."""
        return self.model_listing.request(page_size=_LIST_PAGE_SIZE)

    def model_request(self, settings: S) -> WireRequest | None:
        """The request that describes the model, or ``None`` when the API has none."""
        return None

    def model_names(self, body: Any) -> list[str]:
        """The model ids in the answer to ``list_request``, in the server's order."""
        return self.model_listing.names(body)

    # -- the answer ------------------------------------------------------------------------------

    def process_response(self, body: Any) -> Completion:
        """The answer, usage and stop reason from a non-streamed response body."""
        raise NotImplementedError

    def process_stream(self, chunks: Iterator[bytes]) -> StreamItems:
        """Text pieces, then a ``StreamEnd``, from the raw body chunks of a streamed response."""
        raise NotImplementedError

    def probe_problem(self, body: Any, settings: S) -> str | None:
        """What the probe's answer says is wrong (e.g. the model is missing), or ``None``.

        The default: the answer must be an object whose ``model_listing.key`` holds a list.
        """
        listing = self.model_listing
        listed = body.get(listing.key, [] if listing.key_optional else None) if isinstance(body, dict) else None
        if isinstance(listed, list):
            return None
        where = f"{safe_url(self.identity.url(settings))}{self.probe(settings).path}"
        return f"{where} did not answer with {self.identity.label}'s model list"

    def model_facts(self, body: Any | None, settings: S) -> ModelFacts:
        """Context length and details from ``model_request``'s answer (``None``: not asked or failed).

        The default: ``context_lengths``' entry for the model.
        """
        return ModelFacts(self.table_context(settings.model))

    def table_context(self, model: str) -> int | None:
        """The ``context_lengths`` entry of the longest prefix ``model`` starts with.

        For models an API does not describe; a dated id (``gpt-4o-2024-08-06``) finds its family.
        """
        matches = [prefix for prefix in self.context_lengths if model.startswith(prefix)]
        return self.context_lengths[max(matches, key=len)] if matches else None

    def estimate_tokens(self, text: str, settings: S | None) -> int:
        """Offline token estimate with tiktoken for the model (``o200k_base`` for models it does not know)."""
        return estimate_tokens(text, settings.model if settings else self.identity.default_model)

    # -- errors ------------------------------------------------------------------------------------

    def error_text(self, body: Any) -> str | None:
        """The human message inside a parsed error body, if there is one."""
        return None

    def map_error(self, reply: ErrorReply, settings: S) -> LLMException:
        """The exception for a non-2xx reply; the default classes by status, with the key hint on 401/403."""
        if reply.status in (401, 403):
            hint = f"{reply.detail} (check {self.identity.key_hint()})"
            return error_for_status(reply, provider=self.provider, detail=hint, kind=AuthenticationError, retryable=False)
        return error_for_status(reply, provider=self.provider)
