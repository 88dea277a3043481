"""Structured answers from a real model: llama-server constrains its decoding to the schema.

The ``llamacpp`` preset sends the schema as llama.cpp documents it (``response_format``
``{"type": "json_schema", "schema": ...}``), which the server turns into a grammar. A 135M model
asked for JSON without one answers prose or broken JSON, so an answer that parses and conforms
on the first attempt (no repair asked) shows the grammar was applied. The repairs are switched
off: a non-conforming answer fails the test instead of being asked again.
"""

from __future__ import annotations

import attrs
import jsonschema
import pytest

from obra_llm import create_llm
from obra_llm.demo_prompts import QUALITY_CHECK_PROMPT, QUALITY_CHECK_SYSTEM
from obra_llm.protocol import SupportsClose, SupportsStructured
from obra_llm.structured import between, generate_as
from tests.support.live_server import REVIEW_SCHEMA, LiveServer, skip_unless_installed

pytestmark = pytest.mark.live
skip_unless_installed()

@attrs.frozen
class Review:
    score: int = attrs.field(metadata=between(0, 10))
    accept: bool


def test_the_answer_conforms_to_the_schema_on_the_first_attempt(live: LiveServer) -> None:
    llm = create_llm(live.config("llamacpp", structured_repairs=0, max_tokens=128))
    assert isinstance(llm, SupportsStructured)

    value = llm.generate_structured(QUALITY_CHECK_PROMPT, REVIEW_SCHEMA, system=QUALITY_CHECK_SYSTEM)

    jsonschema.validate(value, REVIEW_SCHEMA)
    assert llm.metrics["structured_repairs"] == 0 and llm.metrics["errors"] == 0
    assert llm.metrics["completion_tokens"] < 128, "the JSON ended by itself, before the cap"
    if isinstance(llm, SupportsClose):
        llm.close()


def test_generate_as_builds_the_class_from_a_constrained_answer(live: LiveServer) -> None:
    llm = create_llm(live.config("llamacpp", structured_repairs=0, max_tokens=64))

    review = generate_as(llm, QUALITY_CHECK_PROMPT, Review, system=QUALITY_CHECK_SYSTEM)

    assert isinstance(review, Review)
    assert 0 <= review.score <= 10 and isinstance(review.accept, bool)
    if isinstance(llm, SupportsClose):
        llm.close()
