"""The ``obra-llm`` command line: one module per job.

``app`` parses and reports failures; ``settings`` builds the configuration (file, ecosystem
variables, flags); ``inspect`` lists and checks providers; ``ask`` sends prompts and counts
tokens; ``setup`` has ``init``, ``completion`` and ``demo``; ``output`` prints for people
and for scripts. Exit codes are in ``status``; docs/cli.md documents everything.
"""

from obra_llm.cli.app import main

__all__ = ["main"]
