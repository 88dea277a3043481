"""Which configuration file the command line reads, and why.

The order users of llm and LiteLLM expect: ``--config``, then ``$OBRA_LLM_CONFIG``, then
``config/config.yaml`` in the working directory, then ``config.yaml`` in the user
config folder (the platform's convention). No file at all means the built-in defaults.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

import attrs

from obra_llm.errors import ConfigError

__all__ = ["ENV_VAR", "WORKING_DIRECTORY_FILE", "ConfigSource", "example_config", "find_config", "user_config_dir"]

ENV_VAR = "OBRA_LLM_CONFIG"
#: Relative to the working directory: where a checkout (and the orchestrator) keeps it.
WORKING_DIRECTORY_FILE = Path("config") / "config.yaml"
_APP = "obra-llm"


@attrs.frozen
class ConfigSource:
    """The file in use (``None``: built-in defaults) and how it was chosen, for ``check``."""

    path: Path | None
    reason: str
    searched: tuple[Path, ...] = ()

    def describe(self) -> str:
        """One line: the file and why, or the defaults and where no file was found."""
        if self.path is not None:
            return f"{self.path} ({self.reason})"
        return f"built-in defaults (no file at {', '.join(str(path) for path in self.searched)})"


def user_config_dir(environ: Mapping[str, str] | None = None, platform: str = sys.platform, home: Path | None = None) -> Path:
    """``obra-llm``'s folder under the user's config directory, by platform convention.

    Linux and other Unixes: ``$XDG_CONFIG_HOME`` or ``~/.config``; macOS:
    ``~/Library/Application Support``; Windows: ``%APPDATA%``.
    """
    env = os.environ if environ is None else environ
    base = home if home is not None else Path.home()
    if platform == "win32":
        return Path(env.get("APPDATA") or base / "AppData" / "Roaming") / _APP
    if platform == "darwin":
        return base / "Library" / "Application Support" / _APP
    return Path(env.get("XDG_CONFIG_HOME") or base / ".config") / _APP


def find_config(
    explicit: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user_dir: Path | None = None,
) -> ConfigSource:
    """The configuration file to read: the first of the four places that names or holds one.

    A file named by ``--config`` or ``$OBRA_LLM_CONFIG`` must exist (a typo must not fall
    back to defaults silently); the two searched places are simply skipped when empty.
    """
    env = os.environ if environ is None else environ
    for named, reason in ((explicit, "--config"), (env.get(ENV_VAR) or None, f"${ENV_VAR}")):
        if named is not None:
            path = Path(named).expanduser()
            if not path.is_file():
                msg = f"configuration file {path} (from {reason}) does not exist"
                raise ConfigError(msg)
            return ConfigSource(path, reason)
    local = (cwd if cwd is not None else Path.cwd()) / WORKING_DIRECTORY_FILE
    user = (user_dir if user_dir is not None else user_config_dir(env)) / "config.yaml"
    for path, reason in ((local, "working directory"), (user, "user config folder")):
        if path.is_file():
            return ConfigSource(path, reason)
    return ConfigSource(None, "built-in defaults", searched=(local, user))


def example_config() -> Path:
    """The commented example configuration: in the wheel, or ``config/default_config.yaml`` of a checkout."""
    package = Path(__file__).resolve().parent.parent
    packaged = package / "_examples" / "config.yaml"
    return packaged if packaged.is_file() else package.parent / "config" / "default_config.yaml"
