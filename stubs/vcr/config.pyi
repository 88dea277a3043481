from collections.abc import Callable, Iterable
from typing import Any

from vcr.cassette import CassetteContextDecorator
from vcr.request import Request

class VCR:
    def __init__(
        self,
        *,
        serializer: str = ...,
        cassette_library_dir: str | None = ...,
        record_mode: str = ...,
        match_on: Iterable[str] = ...,
        decode_compressed_response: bool = ...,
        record_on_exception: bool = ...,
        filter_headers: Iterable[str | tuple[str, str | None]] = ...,
        filter_query_parameters: Iterable[str | tuple[str, str | None]] = ...,
        filter_post_data_parameters: Iterable[str | tuple[str, str | None]] = ...,
        before_record_request: Callable[[Request], Request | None] | None = ...,
        before_record_response: Callable[[dict[str, Any]], dict[str, Any] | None] | None = ...,
        ignore_localhost: bool = ...,
        ignore_hosts: Iterable[str] = ...,
        skip_patchers: Iterable[str] = ...,
        drop_unused_requests: bool = ...,
    ) -> None: ...
    def use_cassette(self, path: str | None = ..., **kwargs: Any) -> CassetteContextDecorator: ...
    def register_matcher(self, name: str, matcher: Callable[[Request, Request], None]) -> None: ...
    def register_persister(self, persister: Any) -> None: ...
