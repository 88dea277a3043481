from typing import Any

class FilesystemPersister:
    @classmethod
    def load_cassette(cls, cassette_path: str, serializer: Any) -> tuple[Any, ...]: ...
    @staticmethod
    def save_cassette(cassette_path: str, cassette_dict: dict[str, Any], serializer: Any) -> None: ...
