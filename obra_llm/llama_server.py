"""A real model on this machine: llama.cpp's ``llama-server`` with SmolLM2-135M-Instruct, on loopback.

It serves the OpenAI chat-completions, Anthropic Messages and OpenAI Responses APIs, so the
``llamacpp``, ``openai`` and ``anthropic`` providers and the Codex CLI can reach a real model with no account
(``obra-llm demo --live``, the live tests, real recordings). ``scripts/install-llama.sh`` builds
the pinned server and installs the pinned model under ``.tools/llama``; ``find_install`` finds
them there or at ``$OBRA_LLM_LLAMA_SERVER`` / ``$OBRA_LLM_LLAMA_MODEL``.

A server started by ``running_server`` listens on 127.0.0.1 on a free port, samples
deterministically (fixed seed, temperature 0), and is stopped with its whole process group when
the block ends, or at interpreter exit if the block never gets to end.
"""

from __future__ import annotations

import atexit
import functools
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx

__all__ = [
    "CODEX_PROVIDER",
    "INSTALL_HINT",
    "LOCAL_KEY",
    "MODEL_ALIAS",
    "MODEL_NAME",
    "LlamaInstall",
    "LlamaServer",
    "LlamaServerError",
    "find_install",
    "provider_config",
    "running_server",
]

#: The id the server serves the model under (what ``model`` must say in a config).
MODEL_ALIAS = "smollm2-135m"
#: The model every recording made against this server names in its provenance.
MODEL_NAME = "SmolLM2-135M-Instruct"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SERVER_VARIABLE, MODEL_VARIABLE = "OBRA_LLM_LLAMA_SERVER", "OBRA_LLM_LLAMA_MODEL"
INSTALL_HINT = f"run scripts/install-llama.sh (or set ${SERVER_VARIABLE} and ${MODEL_VARIABLE})"
#: Sent as the API key: llama-server checks none.
LOCAL_KEY = "sk-local"
_TOOLS = Path(__file__).resolve().parent.parent / ".tools" / "llama"
_STOP_GRACE = 5.0


class LlamaServerError(RuntimeError):
    """The local server is not installed, did not start in time, or stopped answering."""


@attrs.frozen
class LlamaInstall:
    """Where the server binary and the model file are."""

    server: Path
    model: Path


@attrs.frozen(kw_only=True)
class LlamaServer:
    """A running server: its base URL, what it is, and its process id."""

    url: str
    pid: int
    #: llama.cpp's own build id from ``/props`` (``b11434-...``).
    build: str
    #: The context window the server allots each request, from ``/props``.
    context_length: int

    @property
    def label(self) -> str:
        """How recordings made against this server state their source."""
        return f"real server: llama.cpp {self.build} + {MODEL_NAME}"


#: Where each provider reaches llama-server's APIs, and whether it needs a key (``llamacpp`` is keyless).
_API_ROOTS: Mapping[str, tuple[str, bool]] = {"llamacpp": ("/v1", False), "openai": ("/v1", True), "anthropic": ("", True)}


#: The name the Codex CLI's config gives the server (``model_providers.<name>``).
CODEX_PROVIDER = "llama-server"


def provider_config(provider: str, url: str, model: str = MODEL_ALIAS) -> dict[str, Any]:
    """A ``create_llm`` config for ``llamacpp``, ``openai``, ``anthropic`` or ``openai-codex`` on the server at ``url``.

    The key is a placeholder (the server checks none): a key from the environment is never
    sent to a custom host, so the config carries one. The Codex CLI gets the server as a
    keyless custom model provider on its Responses API, with the CLI's own retries off.
    """
    if provider == "openai-codex":
        server = {"name": CODEX_PROVIDER, "base_url": f"{url}/v1", "wire_api": "responses"}
        retries_off = {"request_max_retries": 0, "stream_max_retries": 0}
        overrides = {"model_provider": CODEX_PROVIDER, f"model_providers.{CODEX_PROVIDER}": server | retries_off}
        return {"type": provider, "model": model, "config_overrides": overrides}
    root, keyed = _API_ROOTS[provider]
    config = {"type": provider, "base_url": f"{url}{root}", "model": model}
    return config | {"api_key": LOCAL_KEY} if keyed else config


def find_install(environ: Mapping[str, str] | None = None) -> LlamaInstall:
    """The installed server and model, or ``LlamaServerError`` saying what is missing and how to install it."""
    env = os.environ if environ is None else environ
    server = Path(env.get(SERVER_VARIABLE) or _TOOLS / "bin" / "llama-server")
    configured_model = env.get(MODEL_VARIABLE)
    models = [Path(configured_model)] if configured_model else sorted(_TOOLS.glob(f"model-*/**/{MODEL_FILE}"))
    if not os.access(server, os.X_OK):
        msg = f"llama-server is not installed at {server}: {INSTALL_HINT}"
        raise LlamaServerError(msg)
    if not models or not models[-1].is_file():
        where = models[0] if models else _TOOLS / f"model-*/{MODEL_FILE}"
        msg = f"the {MODEL_NAME} model is not installed at {where}: {INSTALL_HINT}"
        raise LlamaServerError(msg)
    return LlamaInstall(server=server, model=models[-1])


@contextmanager
def running_server(
    install: LlamaInstall,
    *,
    seed: int = 42,
    context_length: int = 8192,
    threads: int = 1,
    ready_timeout: float = 60.0,
    max_output_tokens: int | None = None,
) -> Iterator[LlamaServer]:
    """Start the server, wait until ``/health`` answers, yield it, and stop it whatever happens.

    One slot (``--parallel 1``) gets the whole context, which the Codex CLI's long prompt needs.
    One thread by default: on a busy machine (CI, shared cores) two threads that wait on each other
    at every step were measured 20 times slower (1 token/s against 23 with load 10 on 2 cores).
    ``max_output_tokens`` caps the answer of every request that names no cap of its own
    (``--n-predict``; a request's ``max_tokens`` still wins): the Codex CLI cannot send one.
    """
    port = _free_port()
    argv = [
        str(install.server),
        *("--model", str(install.model), "--alias", MODEL_ALIAS),
        *("--host", "127.0.0.1", "--port", str(port)),
        *("--seed", str(seed), "--temp", "0"),
        *("--ctx-size", str(context_length), "--parallel", "1", "--threads", str(threads)),
        "--no-webui",
        *(("--n-predict", str(max_output_tokens)) if max_output_tokens is not None else ()),
    ]
    # LLAMA_ARG_* variables would override these flags: the server gets none of them.
    environ = {name: value for name, value in os.environ.items() if not name.startswith("LLAMA_ARG_")}
    with tempfile.TemporaryFile(prefix="llama-server-", suffix=".log") as log:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=environ, start_new_session=True
        )
        stop = functools.partial(_stop, process)
        atexit.register(stop)
        try:
            url = f"http://127.0.0.1:{port}"
            props = _wait_until_ready(url, process, log, ready_timeout)
            settings = props.get("default_generation_settings", {})
            yield LlamaServer(
                url=url, pid=process.pid, build=str(props.get("build_info", "unknown")), context_length=int(settings["n_ctx"])
            )
        finally:
            stop()
            atexit.unregister(stop)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Any, timeout: float) -> dict[str, Any]:
    """``/props`` once ``/health`` says 200 (the model is loaded); a clear error with the log tail otherwise."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=5.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                msg = f"llama-server exited with code {process.returncode} before it was ready:\n{_tail(log)}"
                raise LlamaServerError(msg)
            try:
                if client.get("/health").status_code == 200:
                    props: dict[str, Any] = client.get("/props").json()
                    return props
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    msg = f"llama-server did not become ready within {timeout:g} s:\n{_tail(log)}"
    raise LlamaServerError(msg)


def _tail(log: Any, lines: int = 20) -> str:
    log.seek(0)
    text: str = log.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group, SIGKILL after a grace period; always reaped."""
    for sig, wait in ((signal.SIGTERM, _STOP_GRACE), (signal.SIGKILL, None)):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
