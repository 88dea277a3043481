"""``providers`` and ``check``: what is configured, from which file, and whether it works."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import Any

from obra_llm.cli.output import emit_json, error_object
from obra_llm.cli.settings import Resolved, resolve, type_suggestion
from obra_llm.cli.status import EXIT_OK, EXIT_PROVIDER, EXIT_USAGE
from obra_llm.errors import ConfigError, LLMException, PluginNotFoundError
from obra_llm.protocol import LLMPlugin, SupportsClose, SupportsDiagnosis, SupportsMembers, SupportsModelList, provider_class
from obra_llm.registry import REGISTRY, create_llm, lookup

__all__ = ["availability_problem", "check", "close", "models", "providers"]

logger = logging.getLogger("obra_llm.cli")


def providers(args: argparse.Namespace) -> int:
    """Every registered type with its transport; the configured one says whether it is available."""
    resolved = resolve(args)
    available = _available(resolved.config)
    listed = []
    for name, provider in REGISTRY.items():
        declared = provider_class(provider)
        configured = name == resolved.llm_type
        listed.append(
            {
                "type": name,
                "kind": declared.kind if declared is not None else None,
                "configured": configured,
                "available": available if configured else None,
            }
        )
    if args.json:
        emit_json({"ok": True, "config_file": _file(resolved), "providers": listed})
        return EXIT_OK
    for entry in listed:
        status = ""
        if entry["configured"]:
            status = "configured, " + ("available" if available else "NOT available (run `obra-llm check`)")
        print(f"{entry['type']:<14} {entry['kind'] or '?':<5} {status}".rstrip())
    return EXIT_OK


def models(args: argparse.Namespace) -> int:
    """The models the configured server offers (one request), the configured one marked.

    A provider that cannot list (a CLI) shows the configured model and says so.
    """
    resolved = resolve(args)
    configured = resolved.model()
    listed: list[str] | None = None
    if isinstance(lookup(resolved.llm_type), SupportsModelList):  # the class: a CLI need not even be installed
        llm = create_llm(resolved.config)
        try:
            listed = llm.list_models() if isinstance(llm, SupportsModelList) else None
        finally:
            close(llm)
    if args.json:
        emit_json(
            {
                "ok": True,
                "provider": resolved.llm_type,
                "configured": configured,
                "listed": listed is not None,
                "models": listed if listed is not None else [configured],
            }
        )
        return EXIT_OK
    if listed is None:
        print(f"{configured or '(the tool default)'}  (configured; {resolved.llm_type} does not list its models)")
        return EXIT_OK
    for name in listed:
        print(f"{name}{'  (configured)' if name == configured else ''}")
    if configured not in listed:
        print(f"obra-llm: the configured model {configured!r} is not among them", file=sys.stderr)
    return EXIT_OK


def check(args: argparse.Namespace) -> int:
    """Each step on its own line: ``ok`` or ``FAIL`` with the cause and the fix (or one JSON object)."""
    steps: list[dict[str, Any]] = []
    resolved: Resolved | None = None

    def step(name: str, ok: bool, detail: str) -> None:
        steps.append({"step": name, "ok": ok, "detail": detail})
        if not args.json:
            print(f"{'ok  ' if ok else 'FAIL'}  {name}: {detail}")

    code = EXIT_OK
    try:
        resolved = resolve(args)
        step("config file", True, resolved.source.describe())
        code = _check_provider(resolved, step)
    except ConfigError as error:
        hint = type_suggestion(error.llm_type) if isinstance(error, PluginNotFoundError) else None
        step("configuration", False, _one_line(error) + (f" ({hint})" if hint else ""))
        code = EXIT_USAGE
        if args.json:
            steps[-1]["error"] = error_object(error, code)
    if args.json:
        emit_json(
            {
                "ok": code == EXIT_OK,
                "exit_code": code,
                "config_file": _file(resolved) if resolved else None,
                "type": resolved.llm_type if resolved else None,
                "steps": steps,
            }
        )
    return code


def _check_provider(resolved: Resolved, step: Callable[[str, bool, str], None]) -> int:
    try:
        llm = create_llm(resolved.config)
    except LLMException as error:
        step(f"cannot start {resolved.llm_type}", False, error.message)
        return EXIT_PROVIDER
    try:
        step("configuration", True, f"type {resolved.llm_type}, model {resolved.model() or '(provider default)'}")
        problem = _members_problem(llm, step) if isinstance(llm, SupportsMembers) else availability_problem(llm)
        if problem:
            step("not usable", False, problem)
            return EXIT_PROVIDER
        step("available", True, "calls can be sent")
        info = llm.get_model_info()
        context = info.get("context_length")
        step("model info", True, f"{info.get('model_name') or '(default)'}, context length {context or 'unknown'}")
    finally:
        close(llm)
    return EXIT_OK


def _members_problem(llm: SupportsMembers, step: Callable[[str, bool, str], None]) -> str | None:
    """A chain: one step per member, then which would serve; ``None`` when one would."""
    members = llm.member_problems()
    for name, problem in members:
        step(f"member {name}", problem is None, problem or "available")
    serving = next((name for name, problem in members if problem is None), None)
    if serving is None:
        return "no member of the chain can serve"
    step("serving", True, f"{serving} would serve")
    return None


def availability_problem(llm: LLMPlugin) -> str | None:
    """Why calls cannot succeed now (the provider's own diagnosis when it has one), or ``None``."""
    if isinstance(llm, SupportsDiagnosis):
        return llm.availability_problem()
    return None if llm.is_available() else "is_available() returned False"


def close(llm: LLMPlugin) -> None:
    """Release what the provider holds, when it holds anything."""
    if isinstance(llm, SupportsClose):
        llm.close()


def _available(config: dict[str, Any]) -> bool:
    try:
        llm = create_llm(config)
    except (ConfigError, LLMException) as error:
        logger.info("the configured provider cannot start: %s", error)
        return False
    try:
        return llm.is_available()
    finally:
        close(llm)


def _file(resolved: Resolved) -> dict[str, Any]:
    source = resolved.source
    return {"path": str(source.path) if source.path else None, "reason": source.reason}


def _one_line(error: ConfigError) -> str:
    """A ConfigError on one line (several problems joined)."""
    if len(error.problems) > 1:
        return "; ".join(str(problem) for problem in error.problems)
    return " ".join(str(error).split())
