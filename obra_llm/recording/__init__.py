"""Record and replay for both transports: HTTP cassettes (vcrpy) and CLI transcripts.

Nothing here is imported by ``import obra_llm``; vcrpy is needed only when recording or
replaying HTTP.
"""

from obra_llm.recording.mode import ENV_VAR, RECORD_MODES, RecordMode, resolve_record_mode

__all__ = ["ENV_VAR", "RECORD_MODES", "RecordMode", "resolve_record_mode"]
