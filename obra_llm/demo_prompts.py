"""The quality-check prompt the demo and the integration tests send to every provider.

It is the orchestrator's main job in miniature: judge a change and give a 0-10 score.
"""

from __future__ import annotations

__all__ = ["QUALITY_CHECK_PROMPT", "QUALITY_CHECK_SYSTEM"]

QUALITY_CHECK_SYSTEM = "You review code changes. Answer with 'SCORE: <0-10>' on the first line, then one sentence."

QUALITY_CHECK_PROMPT = """Rate the quality of this change from 0 to 10.

Task: make parse_port reject values outside 1-65535.

diff --git a/net.py b/net.py
@@ def parse_port(text):
-    return int(text)
+    port = int(text)
+    if not 1 <= port <= 65535:
+        raise ValueError(f"port out of range: {port}")
+    return port
"""
