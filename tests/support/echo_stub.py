"""A Responses stub that answers each request with a tag read from that request.

``ResponsesStub`` answers every request with the same ``answer``; concurrent runs sharing
one stub could then not tell whose answer is whose. This subclass finds ``tag`` (a regular
expression) in each request's input and answers ``echo <tag>``, with usage derived from the
tag's number, so that mixed-up answers and miscounted tokens both show.

The handler appends each request to ``requests`` and then asks for ``events()`` on the
same thread, so a thread-local carries the request from one to the other, race-free.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from typing import Any

from tests.support.responses_stub import ResponsesStub

__all__ = ["EchoResponsesStub", "echo_usage"]


def echo_usage(number: int) -> tuple[int, int]:
    """``(input_tokens, output_tokens)`` the stub reports for the tag numbered ``number``."""
    return 100 + number, 10 + number


class _Requests(list[dict[str, Any]]):
    """The stub's request log, which also remembers each handler thread's own request."""

    def __init__(self, local: threading.local) -> None:
        super().__init__()
        self._local = local

    def append(self, request: dict[str, Any]) -> None:
        self._local.request = request
        super().append(request)


class EchoResponsesStub(ResponsesStub):
    """Answers ``echo <tag>`` where ``tag`` matches ``pattern`` (its group 1 is the number)."""

    def __init__(self, pattern: str = r"run-(\d+)-[0-9a-f]{8}") -> None:
        super().__init__()
        self._pattern = re.compile(pattern)
        self._local = threading.local()
        self.requests = _Requests(self._local)

    def events(self, schema: dict[str, Any] | None = None) -> list[tuple[str, dict[str, Any]]]:
        request: dict[str, Any] = getattr(self._local, "request", {})
        found = self._pattern.search(json.dumps(request.get("input", ""), ensure_ascii=False))
        if found is None:
            return super().events(schema)
        view = copy.copy(self)  # shares the server; only the answer and usage differ
        view.answer = f"echo {found.group(0)}"
        view.input_tokens, view.output_tokens = echo_usage(int(found.group(1)))
        return ResponsesStub.events(view)
