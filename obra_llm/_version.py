"""The version, in one place: the package root and the user agent read it from here."""

__all__ = ["__version__"]

__version__ = "0.1.0"
