"""``FallbackSettings``: the chain's own keys, and every member validated up front at its path.

Members are checked with their own settings classes when the chain's config is parsed, so
``load_config`` reports ``... @ $.llm.members[1].model`` before anything is built.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from obra_llm.config.constraints import seconds
from obra_llm.config.convert import parse_settings
from obra_llm.config.settings import CommonSettings
from obra_llm.errors import ConfigError
from obra_llm.fallback.failures import MOVE_ON_DEFAULTS
from obra_llm.protocol import LLMPlugin, provider_class

__all__ = ["FallbackSettings", "member_type"]

#: Keys every provider has that mean nothing for a chain: each member sets its own.
_PER_MEMBER = tuple(field.name for field in attrs.fields(CommonSettings) if field.name != "type")


@attrs.frozen(kw_only=True)
class FallbackSettings(CommonSettings):
    """Keys of the ``fallback`` provider (``docs/fallback.md``).

    ``members`` are provider configs tried in order, each with its own ``type`` and keys
    (its own retries included). ``deadline`` bounds a whole call across the chain; a member
    is not started with less than ``min_member_time`` left. A member that failed in a way
    the chain moves on for is skipped for ``cooldown`` seconds, longer when it asked to wait
    longer (its ``retry_after``, up to ``cooldown_max``), then tried by one call before it is
    trusted again. ``fallback_on`` turns failure classes on or off over the defaults.
    """

    #: Where member types are looked up; ``None`` means obra_llm's ``REGISTRY`` (see ``FallbackLLM.over``).
    member_registry: ClassVar[Mapping[str, type[LLMPlugin]] | None] = None

    model: str = ""
    members: Any = attrs.field(repr=False)
    fallback_on: dict[str, bool] = attrs.field(factory=dict)
    deadline: float = attrs.field(default=300.0, metadata=seconds())
    min_member_time: float = attrs.field(default=1.0, metadata=seconds(inclusive=True))
    cooldown: float = attrs.field(default=60.0, metadata=seconds(inclusive=True))
    cooldown_max: float = attrs.field(default=3600.0, metadata=seconds(inclusive=True))

    def moves_on(self) -> frozenset[str]:
        """The failure classes this chain moves on for: the defaults overlaid with ``fallback_on``."""
        chosen = dict[str, bool](MOVE_ON_DEFAULTS.items())
        chosen.update(self.fallback_on)
        return frozenset(name for name, on in chosen.items() if on)

    def problems(self) -> list[str]:
        """Chain keys that belong on members, unknown failure classes, and every member's own problems."""
        defaults = attrs.fields_dict(type(self))
        problems = [
            f"{name} is set per member, not on the chain (a fallback has no {name} of its own): move it into each member @ $.{name}"
            for name in _PER_MEMBER
            if getattr(self, name) != defaults[name].default
        ]
        for name in self.fallback_on:
            if name not in MOVE_ON_DEFAULTS:
                close = difflib.get_close_matches(name, list(MOVE_ON_DEFAULTS), n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(MOVE_ON_DEFAULTS)}"
                problems.append(f"unknown failure class {name!r} ({hint}) @ $.fallback_on.{name}")
        if self.cooldown_max < self.cooldown:
            problems.append(
                f"cooldown_max={self.cooldown_max:g} is shorter than cooldown={self.cooldown:g}: raise it @ $.cooldown_max"
            )
        return problems + _member_problems(self.members, type(self).member_registry)


def member_type(member: Mapping[str, Any]) -> str:
    """The provider type a member config names (the registry's default when it names none)."""
    from obra_llm.registry import DEFAULT_TYPE  # deferred: the registry lists the fallback provider

    return str(member.get("type") or DEFAULT_TYPE)


def _member_problems(members: Any, registry: Mapping[str, type[LLMPlugin]] | None) -> list[str]:
    if registry is None:
        from obra_llm.registry import REGISTRY  # deferred: the registry lists the fallback provider

        registry = REGISTRY
    if not isinstance(members, list) or not members:
        shown = "an empty list" if isinstance(members, list) else f"a {type(members).__name__}"
        return [f"members must be a non-empty list of provider configs (each a mapping with its type), not {shown} @ $.members"]
    problems: list[str] = []
    for index, member in enumerate(members):
        path = f"$.members[{index}]"
        if not isinstance(member, Mapping):
            problems.append(f"a member must be a provider config (a mapping of keys to values), not {type(member).__name__} @ {path}")
            continue
        llm_type = member_type(member)
        if llm_type not in registry:
            problems.append(f"Invalid LLM type: {llm_type}. Available: {sorted(registry)} @ {path}.type")
            continue
        declared = provider_class(registry[llm_type])
        if declared is None:
            continue  # a plugin of your own: it validates its config when initialized
        try:
            parse_settings(declared.settings_type, _escaped(member), provider=llm_type, root=path)
        except ConfigError as error:
            problems += error.problems
    return problems


def _escaped(value: Any) -> Any:
    """``value`` with every ``$`` doubled: members arrive ``${VAR}``-expanded, and must not be expanded twice."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, Mapping):
        return {key: _escaped(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_escaped(item) for item in value]
    return value
