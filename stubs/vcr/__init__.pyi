# Minimal typing for vcrpy 9.4, which ships no type information (see docs/recording.md).
from vcr.config import VCR as VCR

def use_cassette(path: str | None = ..., **kwargs: object) -> object: ...
