"""A provider's wire driven the way ``HttpLLM`` drives it, for translation tests without I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from obra_llm.errors import LLMException
from obra_llm.options import resolve_call
from obra_llm.providers.http_wire import HttpSettings, HttpWire
from obra_llm.transports.http import error_reply, redactor

__all__ = ["mapped_error", "request_body"]


def request_body(wire: HttpWire[Any], settings: HttpSettings, prompt: str, options: Mapping[str, Any], *, stream: bool) -> Any:
    """The JSON body the wire builds for ``prompt`` with ``options`` (checked and merged as a call would)."""
    call = resolve_call(settings, wire.check_options(options, settings))
    return wire.chat(settings, prompt, call, stream=stream).json


def mapped_error(wire: HttpWire[Any], response: httpx.Response, settings: HttpSettings) -> LLMException:
    """The exception the wire maps a non-2xx ``response`` to (its body read and parsed once)."""
    response.read()
    return wire.map_error(error_reply(response, wire.error_text, redactor()), settings)
