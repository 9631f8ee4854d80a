"""Errors of the application layer."""

from __future__ import annotations


__all__ = ["ConfigurationError"]


class ConfigurationError(ValueError):
    """The container cannot be built from this configuration; the message says what is missing."""
