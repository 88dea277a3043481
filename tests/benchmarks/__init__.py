"""Benchmarks against a local stub server: ``python -m tests.benchmarks`` (not collected by pytest)."""
