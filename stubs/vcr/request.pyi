class Request:
    method: str
    uri: str
    body: bytes | None
    headers: dict[str, str]
    @property
    def host(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def query(self) -> list[tuple[str, str]]: ...
