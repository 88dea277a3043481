"""``keep_alive`` takes what Ollama parses (a Go duration or seconds); anything else is refused up front."""

from __future__ import annotations

import pytest

from obra_llm import ConfigError
from obra_llm.registry import validate_config


@pytest.mark.parametrize("value", ["10m", "1h30m", "-1m", "-1", "0", "2.5s", 300, -1, 0.5])
def test_durations_and_seconds_are_accepted(value: object) -> None:
    validate_config({"type": "ollama", "keep_alive": value})


@pytest.mark.parametrize("value", ["forever", "10 minutes", "m", "1d", True])
def test_anything_else_names_the_key_and_the_allowed_forms(value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config({"type": "ollama", "keep_alive": value})
    assert "@ $.keep_alive" in str(caught.value)
    assert "duration" in str(caught.value) or "expected" in str(caught.value)
