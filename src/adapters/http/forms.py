"""Form encoding with nested keys, as Stripe wants it (``metadata[patient_ref]=...``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


__all__ = ["encode_form"]


def encode_form(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """
    Flatten nested mappings and sequences into ``key[sub][0]`` pairs; None values are left out.

    ``encode_form({"metadata": {"a": "1"}, "items": [{"q": 2}]})`` gives
    ``[("metadata[a]", "1"), ("items[0][q]", "2")]``. Booleans become ``true`` / ``false``.
    """
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        _flatten(key, value, pairs)
    return pairs


def _flatten(prefix: str, value: Any, pairs: list[tuple[str, str]]) -> None:
    if value is None:
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{prefix}[{key}]", item, pairs)
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
        for index, item in enumerate(value):
            _flatten(f"{prefix}[{index}]", item, pairs)
    elif isinstance(value, bool):
        pairs.append((prefix, "true" if value else "false"))
    else:
        pairs.append((prefix, str(value)))
