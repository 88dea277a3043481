"""The exit codes of ``obra-llm`` (docs/cli.md lists them)."""

__all__ = ["EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PROVIDER", "EXIT_USAGE"]

#: Success.
EXIT_OK = 0
#: The provider failed, or (``check``) is not usable.
EXIT_PROVIDER = 1
#: The command line, the configuration, or the environment (a missing package) is wrong.
EXIT_USAGE = 2
#: Ctrl-C.
EXIT_INTERRUPTED = 130
