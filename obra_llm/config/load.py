"""``load_config``: read an orchestrator-style YAML file and return its validated ``llm`` block."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from obra_llm.errors import ConfigError

__all__ = ["load_config"]


def load_config(path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the ``llm`` section of the YAML file at ``path``, validated.

    A file without an ``llm`` key is taken to be the section itself. Validation uses the
    settings class of the provider named by ``type`` (default ``ollama``) and reports every
    problem at once, naming the file: unknown keys, wrong types, values out of range and
    unset ``${VAR}`` references. The section is returned as written: references are
    expanded once, when the provider is initialized, so secrets are not copied into it.
    """
    import yaml  # deferred: keeps `import obra_llm` light

    from obra_llm.registry import validate_config

    where = os.fspath(path)
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        msg = f"cannot read configuration file {where}: {error.strerror or error}"
        raise ConfigError(msg) from error
    except yaml.YAMLError as error:
        msg = f"configuration file {where} is not valid YAML: {error}"
        raise ConfigError(msg) from error
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        msg = f"configuration file {where} must hold a mapping, not {type(document).__name__}"
        raise ConfigError(msg)
    section = document.get("llm", document)
    if not isinstance(section, Mapping):
        msg = f"the 'llm' section of {where} must be a mapping, not {type(section).__name__}"
        raise ConfigError(msg)
    validate_config(section, source=where, root="$.llm" if "llm" in document else "$", environ=environ)
    return dict(section)
