"""Fault checks that use only the public API, so they also run against an old revision's ``obra_llm``.

The fault suite's own files import test support added since the issue was filed, so they cannot
be collected on the revision an issue was seen on. These scripts can: put that revision's
``obra_llm`` first on ``PYTHONPATH`` and run one; it prints each case and exits 1 when any fails.
"""
