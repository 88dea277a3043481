"""``read_llm_section``: read an orchestrator-style YAML file and return its ``llm`` block.

Validation needs the provider's settings class, which the registry knows: ``obra_llm.load_config``
(in ``obra_llm.registry``) reads with this function, then validates.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from obra_llm.errors import ConfigError

__all__ = ["MAX_BRACKETS", "MAX_FILE_BYTES", "LlmSection", "read_llm_section"]

#: A configuration file is a few hundred bytes; one past this size is refused unread.
MAX_FILE_BYTES = 256 * 1024
#: Flow collections (``[...]``, ``{...}``) a file may open.
MAX_BRACKETS = 100


class LlmSection(NamedTuple):
    """The ``llm`` section of a file, as written, with where it came from for error messages."""

    section: dict[str, Any]
    source: str
    root: str


def read_llm_section(path: str | os.PathLike[str]) -> LlmSection:
    """The ``llm`` section of the YAML file at ``path`` (a file without an ``llm`` key is the section)."""
    import yaml  # deferred: keeps `import obra_llm` light

    where = os.fspath(path)
    try:
        with Path(path).open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            msg = f"configuration file {where} is larger than {MAX_FILE_BYTES} bytes: is it the right file?"
            raise ConfigError(msg)
        brackets = data.count(b"[") + data.count(b"{")
        if brackets > MAX_BRACKETS:
            # PyYAML's scanner is quadratic in flow nesting: refuse before it starts.
            msg = f"configuration file {where} opens {brackets} [ or {{ brackets; a configuration needs at most {MAX_BRACKETS}"
            raise ConfigError(msg)
        document = yaml.safe_load(data.decode("utf-8"))
    except OSError as error:
        msg = f"cannot read configuration file {where}: {error.strerror or error}"
        raise ConfigError(msg) from error
    except UnicodeDecodeError as error:
        msg = f"configuration file {where} is not UTF-8 text ({error.reason} at byte {error.start})"
        raise ConfigError(msg) from error
    except yaml.YAMLError as error:
        msg = f"configuration file {where} is not valid YAML: {_bounded(str(error))}"
        raise ConfigError(msg) from error
    except RecursionError as error:
        msg = f"configuration file {where} nests its values too deeply to be a configuration"
        raise ConfigError(msg) from error
    if document is None:
        msg = f"configuration file {where} is empty: write an `llm:` section (`obra-llm init` writes an example)"
        raise ConfigError(msg)
    if not isinstance(document, Mapping):
        msg = f"configuration file {where} must hold a mapping, not {type(document).__name__}"
        raise ConfigError(msg)
    section = document.get("llm", document)
    if not isinstance(section, Mapping):
        msg = f"the 'llm' section of {where} must be a mapping, not {type(section).__name__}"
        raise ConfigError(msg)
    return LlmSection(dict(section), where, "$.llm" if "llm" in document else "$")


def _bounded(text: str, limit: int = 1000) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
