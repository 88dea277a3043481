"""``count_tokens`` on a provider class gives what ``estimate_tokens`` gives once initialized."""

from __future__ import annotations

import pytest

from obra_llm.demo import DEMO_CONFIGS, RECORDING_FOLDERS, replayed_provider
from obra_llm.protocol import offline_counter
from obra_llm.recording.library import recordings_root
from obra_llm.registry import REGISTRY

TEXT = "Rate this change from 0 to 10: def add(a, b): return a + b  # naïve"
COUNTERS = sorted(name for name in DEMO_CONFIGS if name not in RECORDING_FOLDERS and offline_counter(REGISTRY[name]))


@pytest.mark.parametrize("name", COUNTERS)
def test_the_class_counts_as_the_initialized_provider_estimates(name: str) -> None:
    counter = offline_counter(REGISTRY[name])
    assert counter is not None
    with replayed_provider(recordings_root(), name) as (llm, _):
        assert counter.count_tokens(TEXT, DEMO_CONFIGS[name]) == llm.estimate_tokens(TEXT)


@pytest.mark.parametrize("name", COUNTERS)
def test_the_default_model_is_the_uninitialized_estimate(name: str) -> None:
    counter = offline_counter(REGISTRY[name])
    assert counter is not None
    assert counter.count_tokens(TEXT, {"type": name}) == REGISTRY[name]().estimate_tokens(TEXT)
