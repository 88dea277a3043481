"""One local server for every OpenAI-compatible preset, generated from the preset's declaration.

The presets (``groq``, ``vllm``, ``llamacpp``...) speak OpenAI's chat completions with a few
documented differences, each cited in the preset's module docstring. ``Flavor`` states those
differences as data; ``CompatibleWireServer`` is ``OpenAIWireServer`` served under the
preset's own base path, with the preset's key rule (keyless servers accept no key) and its
flavor: how streamed usage arrives and how an unknown model is answered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs
import httpx

from obra_llm.providers.http_api import HttpLLM
from tests.support.chat_completions_wire import CREATED, DEFAULT_KEY, QUALITY_ANSWER, Answer
from tests.support.openai_wire import OpenAIWireServer, error_reply, stream_reply
from tests.support.wire_server import Json, Reply, Request, Sse, sse_event

__all__ = ["CompatibleWireServer", "Flavor"]


@attrs.frozen
class Flavor:
    """How a compatible server differs from OpenAI's.

    ``usage``: ``asked`` (only with ``stream_options.include_usage``, as OpenAI), ``always``
    (a last usage chunk whatever is asked), ``x_groq`` (Groq's ``x_groq.usage`` on the final
    chunk). ``unknown_model``: ``model_not_found`` (404 with that code), ``does_not_exist``
    (404 "The model `X` does not exist."), ``invalid_id`` (OpenRouter's 400), ``any`` (the
    server answers with the model it loaded, as llama.cpp does).
    """

    usage: Literal["asked", "always", "x_groq"] = "asked"
    unknown_model: Literal["model_not_found", "does_not_exist", "invalid_id", "any"] = "does_not_exist"
    #: What ``GET /models`` states about the served model (``max_model_len``, ``meta``...).
    card: Mapping[str, Any] = attrs.Factory(dict)
    #: The structured form the server takes: OpenAI's ``json_schema``, llama.cpp's ``json_object`` with a
    #: top-level ``schema`` (``tools/server/README.md``), or ``json_object`` only (DeepSeek's JSON mode).
    structured: Literal["json_schema", "llamacpp", "json_object"] = "json_schema"


class CompatibleWireServer(OpenAIWireServer):
    """``OpenAIWireServer`` as the preset ``llm`` declares it: its base path, key rule, models and flavor."""

    def __init__(
        self,
        llm: type[HttpLLM[Any]],
        flavor: Flavor,
        *,
        key: str = DEFAULT_KEY,
        default_answer: Answer = QUALITY_ANSWER,
    ) -> None:
        super().__init__(key=key, default_answer=default_answer)
        identity = llm.wire.identity
        self.prefix = httpx.URL(identity.base_url).path.rstrip("/").removesuffix("/v1")
        self.keyless = not identity.key_required
        self.flavor = flavor
        self.model = identity.default_model

    def route(self, request: Request) -> Reply:
        if self.keyless and "authorization" not in request.headers:
            request = attrs.evolve(request, headers={**request.headers, "authorization": f"Bearer {self.key}"})
        return super().route(request)

    def models(self) -> Mapping[str, Mapping[str, Any]]:
        card = {"id": self.model, "object": "model", "created": CREATED, "owned_by": "local", **self.flavor.card}
        return {self.model: card}

    def unknown_model(self, model: str, *, generating: bool) -> Reply:
        kind = self.flavor.unknown_model
        if kind == "any" and generating:
            return self.completion({"model": self.model}, self.default_answer)
        if kind == "invalid_id":
            return Json(400, {"error": {"code": 400, "message": f"{model} is not a valid model ID"}})
        if kind == "does_not_exist":
            return error_reply(404, f"The model `{model}` does not exist.", type="NotFoundError")
        return super().unknown_model(model, generating=generating)

    def _generate(self, body: Any) -> Reply:
        if self.flavor.unknown_model == "any" and isinstance(body, dict) and body.get("model") not in self.models():
            body = {**body, "model": self.model}
        return super()._generate(body)

    def response_schema(self, response_format: Any, messages: Any) -> Mapping[str, Any] | Reply:
        """The flavor's form only: another one is refused as the real server refuses it."""
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        form = self.flavor.structured
        if form == "llamacpp" and kind == "json_object" and isinstance(response_format.get("schema"), dict):
            schema: Mapping[str, Any] = response_format["schema"]
            return schema
        if form == "json_object" and kind != "json_object":
            return self.refuse(f"This response_format type is unavailable now: {kind!r}")
        if form == "llamacpp":
            return self.refuse("response_format must be a json_object carrying a 'schema' (llama.cpp's form)")
        return super().response_schema(response_format, messages)

    def stream(self, body: Mapping[str, Any], answer: Answer) -> Sse:
        usage = self.flavor.usage
        if usage == "asked":
            return super().stream(body, answer)
        streamed = stream_reply(answer, model=str(body["model"]), include_usage=True)
        if usage == "always":
            return streamed
        return attrs.evolve(streamed, frames=_usage_under_x_groq(streamed.frames))


def _usage_under_x_groq(frames: Sequence[str]) -> list[str]:
    """Groq's form: the usage chunk's ``usage`` moves under ``x_groq`` of the final delta chunk."""
    *content, finish, usage_frame, done = frames
    usage = json.loads(usage_frame.removeprefix("data: ").strip())["usage"]
    final = json.loads(finish.removeprefix("data: ").strip())
    final.pop("usage", None)
    final["x_groq"] = {"id": "req_01groq", "usage": usage}
    return [*content, sse_event(final), done]
