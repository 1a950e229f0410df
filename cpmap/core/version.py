"""The package version (also in pyproject.toml; part of every cache key)."""

__version__ = "0.1.0"
