"""Test support: local servers and helpers shared by the test suites."""
