"""``FallbackLLM``: an ordered chain of providers behind one ``LLMPlugin``, under one deadline.

A call tries the members in order. It moves on from a member only for the failure classes
configured (``obra_llm.fallback.failures``), skips members cooling down after such a failure
(``obra_llm.fallback.cooldown``), never starts a member with too little of the chain's
deadline left, and gives each member what is left as its budget (``obra_llm.calls.within_budget``),
so that a member's own retries cannot outlast the chain. A stream moves on only before its
first piece reached the caller. Members are used only through the ``LLMPlugin`` Protocol
and the declared optional surface, so any registered type, HTTP or CLI, can be one.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from typing import Any, ClassVar, NamedTuple, Self, TypeVar, Unpack, cast

import attrs

from obra_llm.calls import current_budget, within_budget
from obra_llm.config.convert import parse_settings
from obra_llm.errors import ConfigError, LLMConnectionException, LLMException, LLMTimeoutException
from obra_llm.fallback.cooldown import Admission, Cooldowns
from obra_llm.fallback.counters import ChainCounters, FallbackMetrics
from obra_llm.fallback.failures import classify
from obra_llm.fallback.settings import FallbackSettings, member_type
from obra_llm.protocol import (
    GenerateOptions,
    LLMPlugin,
    ModelInfo,
    ProviderKind,
    SupportsClose,
    SupportsDiagnosis,
    offline_counter,
    provider_class,
)
from obra_llm.tokens import estimate_tokens

__all__ = ["FallbackLLM"]

logger = logging.getLogger(__name__)

_PROVIDER = "fallback"
T = TypeVar("T")

#: How to ask one member for an answer: ``generate`` here, a structured call elsewhere.
MemberCall = Callable[[LLMPlugin, GenerateOptions], T]


class _Member(NamedTuple):
    """One member: its name in metrics and messages, the provider, or why it could not start."""

    name: str
    llm: LLMPlugin | None
    down: str | None = None
    #: Whether it honours the call budget (obra_llm's providers); others get the budget as ``timeout``.
    budgeted: bool = True


@attrs.frozen
class _Chain:
    """What ``initialize`` builds once: settings, members, and the state shared by all calls."""

    settings: FallbackSettings
    members: tuple[_Member, ...]
    moves_on: frozenset[str]
    cooldowns: Cooldowns
    counters: ChainCounters
    #: The first member's provider when it started and honours the budget: ``_answer`` tries it straight away.
    first: LLMPlugin | None


class FallbackLLM:
    """The ``fallback`` provider: ``members`` tried in order (see ``docs/fallback.md``)."""

    settings_type: ClassVar[type[FallbackSettings]] = FallbackSettings
    kind: ClassVar[ProviderKind] = "chain"
    #: Where member types are found; ``None`` is obra_llm's ``REGISTRY`` (``over`` binds another).
    registry: ClassVar[Mapping[str, type[LLMPlugin]] | None] = None

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._chain: _Chain | None = None
        #: The first member ``member_problems`` found able to serve: described until a call answers.
        self._found_serving: int | None = None

    @classmethod
    def over(cls, registry: Mapping[str, type[LLMPlugin]]) -> type[FallbackLLM]:
        """A ``FallbackLLM`` class whose members come from ``registry`` (your own types too).

        ``registry = REGISTRY | {"mine": MyLLM}; registry |= {"fallback": FallbackLLM.over(registry)}``
        """
        bound = dict(registry)
        settings = attrs.frozen(kw_only=True)(type("FallbackSettings", (FallbackSettings,), {"member_registry": bound}))
        return cast("type[FallbackLLM]", type(cls.__name__, (cls,), {"settings_type": settings, "registry": bound}))

    def __repr__(self) -> str:
        if self._chain is None:
            return "FallbackLLM(uninitialized)"
        return f"FallbackLLM(members={[member.name for member in self._chain.members]!r})"

    # -- the LLMPlugin interface -------------------------------------------------------

    def initialize(self, config: Mapping[str, Any], /) -> None:
        """Validate the chain and every member (all problems at once), then initialize each member.

        A member that cannot start (its CLI is not installed) is kept as *down*: calls skip
        it and ``obra-llm check`` names it. A member's ``ConfigError`` fails the chain.
        """
        settings = parse_settings(self.settings_type, config, provider=_PROVIDER)
        self.close()
        members = _start_members(config["members"], self._member_types())
        self._chain = _Chain(
            settings=settings,
            members=members,
            moves_on=settings.moves_on(),
            cooldowns=Cooldowns(len(members), clock=self._clock),
            counters=ChainCounters([member.name for member in members]),
            first=members[0].llm if members and members[0].budgeted else None,
        )
        self._found_serving = None
        logger.debug("fallback chain ready: %s", " -> ".join(member.name for member in members))

    def generate(self, prompt: str, /, **options: Unpack[GenerateOptions]) -> str:
        """The first member's answer that the chain did not have to move on from."""
        return self.call(lambda llm, checked: llm.generate(prompt, **checked), options)

    def call(self, member_call: MemberCall[T], options: GenerateOptions) -> T:
        """``member_call(member, options)`` on the first member that answers; counted as one chain call.

        The one call path for whole answers: ``generate`` is one use, a structured answer another.
        """
        chain = self._chain or self._ready()
        clock = self._clock
        started = clock()
        try:
            index, result = self._answer(chain, member_call, options, self._deadline_at(chain, started))
        except Exception as error:
            self._record_failure(chain, started, error)
            raise
        chain.counters.answered(index, (clock() - started) * 1000.0)
        return result

    def generate_structured(self, prompt: str, schema: Mapping[str, Any], /, **options: Unpack[GenerateOptions]) -> Any:
        """The first member's answer conforming to ``schema`` (``SupportsStructured``), through ``call``.

        A member that is an obra_llm provider constrains and validates it itself; any other gets
        the prompt fallback (``obra_llm.structured.structured_answer``). A member whose answer
        does not conform raises ``StructuredAnswerError`` (class ``bad_response``: the chain moves on
        for it only when ``fallback_on`` says so).
        """
        from obra_llm.structured import structured_answer  # deferred: the validator loads only for structured calls

        return self.call(lambda llm, checked: structured_answer(llm, prompt, schema, checked), options)

    def generate_stream(self, prompt: str, /, **options: Unpack[GenerateOptions]) -> Generator[str, None, None]:
        """The answer as the serving member streams it; a stream moves on only before its first piece."""
        return self._stream(self._ready(), prompt, options)

    def is_available(self) -> bool:
        """Whether any member not cooling down is available (asked in order, stopping at the first)."""
        chain = self._ready()
        for index, member in enumerate(chain.members):
            if member.llm is not None and chain.cooldowns.state(index).name != "cooling" and member.llm.is_available():
                return True
        return False

    def availability_problem(self) -> str | None:
        """``None`` when some member can serve, else every member's problem."""
        problems = self.member_problems()
        if any(problem is None for _, problem in problems):
            return None
        return "no member of the fallback chain can serve: " + "; ".join(f"{name}: {problem}" for name, problem in problems)

    def member_problems(self) -> list[tuple[str, str | None]]:
        """Each member's name and what stops it serving now (``None``: it can), in chain order."""
        chain = self._ready()
        problems = [(member.name, self._member_problem(chain, index, member)) for index, member in enumerate(chain.members)]
        self._found_serving = next((index for index, (_, problem) in enumerate(problems) if problem is None), None)
        return problems

    def get_model_info(self) -> ModelInfo:
        """The member that answered the last call (else one found serving, else the first that started), and the chain."""
        chain = self._ready()
        last = chain.counters.last_served
        started = [index for index, member in enumerate(chain.members) if member.llm is not None]
        shown = next((index for index in (last, self._found_serving, *started) if index is not None), None)
        member_info: Mapping[str, Any] = {}
        if shown is not None:
            llm = chain.members[shown].llm
            member_info = llm.get_model_info() if llm is not None else {}
        details = {
            "members": [member.name for member in chain.members],
            "answered_last": chain.members[last].name if last is not None else None,
            "described": chain.members[shown].name if shown is not None else None,
            "states": {member.name: chain.cooldowns.state(index).name for index, member in enumerate(chain.members)},
            "down": {member.name: member.down for member in chain.members if member.down},
            "structured": _structured_mode(member_info),
            "member": dict(member_info),
        }
        return {
            "provider": _PROVIDER,
            "model_name": str(member_info.get("model_name", "")),
            "type": self.kind,
            "execution_mode": "subprocess" if member_info.get("execution_mode") == "subprocess" else "http",
            "context_length": _context_length(member_info),
            "details": details,
        }

    @property
    def metrics(self) -> FallbackMetrics:
        """The chain's calls, errors, timeouts and latency; the members' tokens; and the split per member."""
        if self._chain is None:
            return ChainCounters([]).snapshot([])
        chain = self._chain
        members = [dict(member.llm.metrics) if member.llm is not None else {} for member in chain.members]
        return chain.counters.snapshot(members)

    def estimate_tokens(self, text: str, /) -> int:
        """The first member's estimate (the first that started; obra_llm's default tokenizer if none did)."""
        chain = self._ready()
        for member in chain.members:
            if member.llm is not None:
                return member.llm.estimate_tokens(text)
        return estimate_tokens(text, "")

    @classmethod
    def count_tokens(cls, text: str, config: Mapping[str, Any], /) -> int:
        """What ``estimate_tokens`` gives, from the config alone: the first member's count, with no key or binary."""
        members = config.get("members")
        first = members[0] if isinstance(members, list) and members else None
        if isinstance(first, Mapping):
            counter = offline_counter(cls._member_types().get(member_type(first)))
            if counter is not None:
                return counter.count_tokens(text, first)
        return estimate_tokens(text, "")

    def close(self) -> None:
        """Close every member that holds resources; ``initialize`` makes the chain usable again."""
        if self._chain is not None:
            _close_members(self._chain.members)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- the chain -----------------------------------------------------------------------

    def _answer(
        self, chain: _Chain, member_call: MemberCall[T], options: GenerateOptions, deadline_at: float
    ) -> tuple[int, T]:
        """The index of the member that answered, and its answer; raises when none does.

        The usual call, a trusted first member with time left, goes to that member straight
        away; ``_serve`` walks the chain for any other, and after that member failed.
        """
        first = chain.first
        if first is not None and chain.cooldowns.trusted(0):
            left = deadline_at - self._clock()
            if left > 0 and left >= chain.settings.min_member_time:
                try:
                    return 0, within_budget(left, member_call, first, options)
                except LLMException as error:
                    return self._serve(chain, member_call, options, deadline_at, first_failed=error)
        return self._serve(chain, member_call, options, deadline_at)

    def _serve(
        self,
        chain: _Chain,
        member_call: MemberCall[T],
        options: GenerateOptions,
        deadline_at: float,
        *,
        first_failed: LLMException | None = None,
    ) -> tuple[int, T]:
        """``_answer`` member by member (``first_failed``: how the first member, tried already, failed)."""
        passed: list[str] = []
        last_error: LLMException | None = None
        last_line = 0
        previous: int | None = None
        if first_failed is not None:
            self._move_on(chain, 0, "trusted", first_failed, deadline_at, passed)
            last_error, previous = first_failed, 0
        clock, cooldowns, counters, min_member_time = self._clock, chain.cooldowns, chain.counters, chain.settings.min_member_time
        members = chain.members
        for index in range(0 if first_failed is None else 1, len(members)):
            member = members[index]
            llm = member.llm
            if llm is None:
                counters.skipped(index)
                passed.append(f"{member.name} skipped: it could not start ({member.down})")
                continue
            left = deadline_at - clock()
            if left <= 0 or left < min_member_time:
                raise _with_notes(self._out_of_time(chain, member.name, left), passed) from last_error
            admission = cooldowns.admit(index)
            if admission is None:
                counters.skipped(index)
                state = cooldowns.state(index)
                passed.append(f"{member.name} skipped: cooling down ({state.seconds_left:.3g} s left)")
                continue
            if previous is not None:
                counters.step(previous, index)
            try:
                result = within_budget(left, member_call, llm, options if member.budgeted else _with_timeout(options, left))
            except LLMException as error:
                self._move_on(chain, index, admission, error, deadline_at, passed)
                last_error, last_line, previous = error, len(passed) - 1, index
                continue
            except BaseException:
                cooldowns.released(index, admission)
                raise
            if admission == "trial":
                cooldowns.passed(index, admission)
            return index, result
        if last_error is not None:
            last_error.add_note("fallback: every member of the chain failed or was skipped")
            raise _with_notes(last_error, passed[:last_line] + passed[last_line + 1 :])
        raise self._nobody_to_try(chain, passed)

    def _move_on(
        self, chain: _Chain, index: int, admission: Admission, error: LLMException, deadline_at: float, passed: list[str]
    ) -> None:
        """Member ``index`` failed with ``error``: raise it unless the chain moves on for its class, else cool the member and note it."""
        chain.counters.failed(index)
        failure = classify(error)
        if failure not in chain.moves_on:
            chain.cooldowns.passed(index, admission)
            raise _with_notes(error, passed)
        self._cool(chain, index, admission, error, deadline_at)
        name = chain.members[index].name
        logger.info("fallback: %s failed (%s), moving on: %s", name, failure, error)
        passed.append(f"{name} failed ({failure}): {error}")

    def _stream(self, chain: _Chain, prompt: str, options: GenerateOptions) -> Generator[str, None, None]:
        started = self._clock()
        deadline_at = self._deadline_at(chain, started)
        items: Iterator[str] | None = None
        serving: int | None = None

        def open_and_peek(llm: LLMPlugin, checked: GenerateOptions) -> tuple[Iterator[str], str | None]:
            stream = llm.generate_stream(prompt, **checked)
            try:
                return stream, next(stream, None)
            except BaseException:
                _close_stream(stream)
                raise

        try:
            serving, (items, first) = self._answer(chain, open_and_peek, options, deadline_at)
            chain.counters.serving(serving)
            if first is not None:
                yield first
                clock = self._clock
                for piece in items:
                    if clock() > deadline_at:
                        msg = f"the fallback chain's deadline of {chain.settings.deadline:g} s ran out mid-stream"
                        raise LLMTimeoutException(msg, provider=_PROVIDER, retryable=False)
                    yield piece
        except GeneratorExit:
            chain.counters.ended(self._elapsed_ms(started))
            raise
        except Exception as error:
            if serving is not None and isinstance(error, LLMException) and classify(error) in chain.moves_on:
                self._cool(chain, serving, None, error, deadline_at)
            self._record_failure(chain, started, error)
            raise
        finally:
            if items is not None:
                _close_stream(items)
        chain.counters.ended(self._elapsed_ms(started))

    def _cool(self, chain: _Chain, index: int, admission: Admission | None, error: LLMException, deadline_at: float) -> None:
        """Start member ``index``'s cooldown, unless it was the chain's own deadline that ran out."""
        if self._clock() >= deadline_at:
            if admission is not None:
                chain.cooldowns.released(index, admission)
            return
        settings = chain.settings
        asked = min(error.retry_after or 0.0, settings.cooldown_max)
        chain.cooldowns.failed(index, admission, max(settings.cooldown, asked))

    def _member_problem(self, chain: _Chain, index: int, member: _Member) -> str | None:
        if member.llm is None:
            return f"could not start: {member.down}"
        state = chain.cooldowns.state(index)
        if state.name == "cooling":
            return f"cooling down after a failure ({state.seconds_left:.3g} s left)"
        if isinstance(member.llm, SupportsDiagnosis):
            return member.llm.availability_problem()
        return None if member.llm.is_available() else "is_available() returned False"

    def _out_of_time(self, chain: _Chain, name: str, left: float) -> LLMTimeoutException:
        settings = chain.settings
        msg = (
            f"the fallback chain's deadline of {settings.deadline:g} s has {max(left, 0.0):.3g} s left, less than "
            f"min_member_time={settings.min_member_time:g} s, so {name} was not started"
        )
        return LLMTimeoutException(msg, provider=_PROVIDER, retryable=False)

    def _nobody_to_try(self, chain: _Chain, passed: list[str]) -> LLMConnectionException:
        waits = [state.seconds_left for state in map(chain.cooldowns.state, range(len(chain.members))) if state.name == "cooling"]
        msg = "no member of the fallback chain could be tried: " + "; ".join(passed)
        return LLMConnectionException(msg, provider=_PROVIDER, retryable=bool(waits), retry_after=min(waits) if waits else None)

    def _deadline_at(self, chain: _Chain, started: float) -> float:
        """When this call must end: the chain's deadline, or an outer chain's budget if shorter."""
        outer = current_budget()
        return started + (chain.settings.deadline if outer is None else min(chain.settings.deadline, outer))

    def _record_failure(self, chain: _Chain, started: float, error: BaseException) -> None:
        chain.counters.ended(self._elapsed_ms(started), failed=True, timed_out=isinstance(error, LLMTimeoutException))

    def _elapsed_ms(self, started: float) -> float:
        return (self._clock() - started) * 1000.0

    @classmethod
    def _member_types(cls) -> Mapping[str, type[LLMPlugin]]:
        if cls.registry is not None:
            return cls.registry
        from obra_llm.registry import REGISTRY  # deferred: the registry lists this class

        return REGISTRY

    def _ready(self) -> _Chain:
        if self._chain is None:
            msg = "FallbackLLM is not initialized: call initialize(config) first"
            raise RuntimeError(msg)
        return self._chain


def _structured_mode(member_info: Mapping[str, Any]) -> str:
    """How the described member answers a structured call: its own mode, else the prompt fallback."""
    details = member_info.get("details")
    mode = details.get("structured") if isinstance(details, Mapping) else None
    return mode if isinstance(mode, str) else "instructions"


def _start_members(configs: list[Mapping[str, Any]], registry: Mapping[str, type[LLMPlugin]]) -> tuple[_Member, ...]:
    """Initialize every member from its config as written; one ``ConfigError`` for all their problems."""
    from obra_llm.registry import create_llm  # deferred: the registry lists the fallback provider

    names = _member_names(configs)
    members: list[_Member] = []
    problems: list[str] = []
    for index, (name, config) in enumerate(zip(names, configs, strict=True)):
        try:
            llm = create_llm(config, registry=registry)
        except ConfigError as error:
            path = f"$.members[{index}]"
            problems += [problem.replace("@ $.", f"@ {path}.") for problem in error.problems]
            continue
        except LLMException as error:
            logger.warning("fallback: member %s could not start and will be skipped: %s", name, error)
            members.append(_Member(name, None, down=error.message))
            continue
        members.append(_Member(name, llm, budgeted=provider_class(type(llm)) is not None))
    if problems:
        _close_members(members)
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise ConfigError(f"invalid fallback configuration:\n{lines}", problems=problems)
    return tuple(members)


def _close_members(members: Iterable[_Member]) -> None:
    for member in members:
        llm: LLMPlugin | None = member.llm
        if llm is not None and isinstance(llm, SupportsClose):
            llm.close()


def _member_names(configs: list[Mapping[str, Any]]) -> list[str]:
    """Each member's type, numbered from the second of a type on (``ollama``, ``ollama#2``)."""
    seen: dict[str, int] = {}
    names = []
    for config in configs:
        llm_type = member_type(config)
        seen[llm_type] = seen.get(llm_type, 0) + 1
        names.append(llm_type if seen[llm_type] == 1 else f"{llm_type}#{seen[llm_type]}")
    return names


def _with_timeout(options: GenerateOptions, left: float) -> GenerateOptions:
    """The caller's options for a member that cannot see the budget: it gets the budget as its ``timeout``."""
    return cast("GenerateOptions", {**options, "timeout": min(options.get("timeout", math.inf), left)})


def _with_notes(error: LLMException, passed: list[str]) -> LLMException:
    for line in passed:
        error.add_note(f"fallback: {line}")
    return error


def _close_stream(stream: Iterator[str]) -> None:
    if isinstance(stream, Generator):
        stream.close()


def _context_length(info: Mapping[str, Any]) -> int | None:
    value = info.get("context_length")
    return value if isinstance(value, int) and not isinstance(value, bool) else None
