"""Where the shipped recordings live: ``$OBRA_LLM_RECORDINGS``, the wheel, or the source tree."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["recordings_root"]

_ENV_VAR = "OBRA_LLM_RECORDINGS"


def recordings_root() -> Path:
    """The folder holding ``http/<provider>/`` cassettes and ``cli/<tool>/`` transcripts.

    An installed wheel carries them as ``obra_llm/_recordings``; a source checkout (or an
    editable install) has them in ``cassettes/`` beside the package.
    """
    configured = os.environ.get(_ENV_VAR)
    if configured:
        return Path(configured)
    package = Path(__file__).resolve().parent.parent
    packaged = package / "_recordings"
    return packaged if packaged.is_dir() else package.parent / "cassettes"
