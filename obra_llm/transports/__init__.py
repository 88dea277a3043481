"""Transports: how bytes reach an LLM. They know nothing about providers."""
