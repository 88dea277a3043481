"""The one record-mode switch shared by HTTP cassettes and CLI transcripts."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal, TypeGuard, get_args

from obra_llm.errors import ConfigError

__all__ = ["ENV_VAR", "RECORD_MODES", "RecordMode", "resolve_record_mode"]

#: ``none`` replays only (an unrecorded call fails, naming it); ``once`` records what has no
#: recording yet; ``new_episodes`` replays what matches and records the rest; ``all``
#: re-records everything against the real peer.
RecordMode = Literal["none", "once", "new_episodes", "all"]
RECORD_MODES: tuple[RecordMode, ...] = get_args(RecordMode)
ENV_VAR = "OBRA_LLM_RECORD_MODE"


def _is_mode(value: str) -> TypeGuard[RecordMode]:
    return value in RECORD_MODES


def resolve_record_mode(option: str | None = None, environ: Mapping[str, str] | None = None) -> RecordMode:
    """The mode from an explicit option, else ``$OBRA_LLM_RECORD_MODE``, else ``none``.

    Under CI (``$CI`` set) only ``none`` is allowed: CI must never reach a real service.
    """
    env = os.environ if environ is None else environ
    chosen = option or env.get(ENV_VAR) or "none"
    if not _is_mode(chosen):
        msg = f"record mode {chosen!r} is not valid: expected one of {list(RECORD_MODES)} (from --record-mode or ${ENV_VAR})"
        raise ConfigError(msg)
    if chosen != "none" and env.get("CI"):
        msg = f"record mode {chosen!r} is refused under CI (the CI variable is set): CI only replays"
        raise ConfigError(msg)
    return chosen
