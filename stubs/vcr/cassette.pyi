from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from vcr.request import Request

_F = TypeVar("_F", bound=Callable[..., Any])
_T = TypeVar("_T")

class Cassette:
    play_count: int
    all_played: bool
    record_mode: str
    write_protected: bool
    requests: list[Request]
    responses: list[dict[str, Any]]
    def get_metadata(self, key: str, default: _T) -> Any: ...
    def __len__(self) -> int: ...

class CassetteContextDecorator:
    def __enter__(self) -> Cassette: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def __call__(self, function: _F) -> _F: ...
